#include <gtest/gtest.h>

#include <filesystem>

#include "store/record_dir.h"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

namespace tether {
namespace {

std::string TempDir() {
  std::string d = std::filesystem::temp_directory_path() / ("tether-unit-" + NewId().substr(0, 8));
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

TEST(Id, NewIdIs64HexAndUnique) {
  auto a = NewId(), b = NewId();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_TRUE(LooksLikeIdPrefix(a));
  EXPECT_NE(a, b);
  EXPECT_FALSE(LooksLikeIdPrefix("xyz"));
  EXPECT_FALSE(LooksLikeIdPrefix(""));
}

TEST(Process, CapturesOutputAndExitCode) {
  auto r = RunProcess({.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(Process, FeedsStdin) {
  auto r = RunProcess({.argv = {"cat"}, .stdin_data = std::string(200000, 'x')});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 200000u);
}

TEST(Process, TimeoutKills) {
  auto r = RunProcess({.argv = {"sleep", "10"}, .timeout = std::chrono::milliseconds(100)});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->term_signal, 9);
}

TEST(Process, MissingProgramIsNotFound) {
  auto r = RunProcess({.argv = {"/nonexistent/prog"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(Process, OutputCap) {
  auto r = RunProcess({.argv = {"/bin/sh", "-c", "head -c 100000 /dev/zero"}, .output_cap = 1000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(File, AtomicWriteAndRead) {
  auto d = TempDir();
  ASSERT_TRUE(WriteFileAtomic(d + "/f", "one").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/f", "two").ok());
  EXPECT_EQ(*ReadFile(d + "/f"), "two");
  EXPECT_EQ(ReadFile(d + "/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(RemoveAll(d).ok());
  EXPECT_FALSE(PathExists(d));
}

TEST(RecordDir, WriteLoadRemoveAndCrashLeftovers) {
  auto d = TempDir();
  RecordDir rd(d + "/records");
  ASSERT_TRUE(rd.Init().ok());
  ASSERT_TRUE(rd.Write("a", {{"x", 1}}).ok());
  ASSERT_TRUE(rd.Write("b", {{"x", 2}}).ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/records/c.json", "{not json").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/records/d.json.tmp-123", "{}").ok());
  std::vector<std::string> errors;
  auto all = rd.LoadAll(&errors);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_FALSE(PathExists(d + "/records/d.json.tmp-123"));
  ASSERT_TRUE(rd.Remove("a").ok());
  ASSERT_TRUE(rd.Remove("a").ok());
  EXPECT_EQ(rd.LoadAll().size(), 1u);
  EXPECT_TRUE(RemoveAll(d).ok());
}

}  // namespace
}  // namespace tether
