// configMap volumes written as kubelet's AtomicWriter does: a `..data` symlink swapped to a new
// timestamped directory, the user-visible paths symlinks through it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "podrunner/atomic_volume.h"
#include "util/file.h"

namespace tether::podrunner {
namespace {

namespace fs = std::filesystem;

class AtomicVolumeTest : public ::testing::Test {
 protected:
  AtomicVolumeTest() {
    dir_ = absl::StrCat(::testing::TempDir(), "/atomic-volume-", getpid(), "-", ++counter_);
  }
  ~AtomicVolumeTest() override { fs::remove_all(dir_); }

  std::string Read(const std::string& rel) {
    auto s = ReadFile(absl::StrCat(dir_, "/", rel));
    return s.ok() ? *s : "<" + std::string(s.status().message()) + ">";
  }
  std::string Link(const std::string& rel) {
    std::error_code ec;
    auto target = fs::read_symlink(absl::StrCat(dir_, "/", rel), ec);
    return ec ? "" : target.string();
  }
  // The entries of the volume's directory, sorted.
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  static inline int counter_ = 0;
  std::string dir_;
};

TEST_F(AtomicVolumeTest, WritesAVersionBehindDataAndSwapsItOnChange) {
  std::vector<VolumeFile> v1 = {{"app.conf", "port=80\n", 0644},
                                {"conf.d/extra.conf", "x=1\n", 0600},
                                {"old.txt", "bye\n", 0644}};
  auto wrote = WriteAtomicVolume(dir_, v1);
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  EXPECT_TRUE(*wrote);
  const std::string first = Link("..data");
  ASSERT_TRUE(absl::StartsWith(first, "..20")) << first;
  EXPECT_EQ(Link("app.conf"), "..data/app.conf");
  EXPECT_EQ(Link("conf.d"), "..data/conf.d");
  EXPECT_EQ(Read("app.conf"), "port=80\n");
  EXPECT_EQ(Read("conf.d/extra.conf"), "x=1\n");
  struct stat st = {};
  ASSERT_EQ(stat(absl::StrCat(dir_, "/conf.d/extra.conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Entries(),
            (std::vector<std::string>{first, "..data", "app.conf", "conf.d", "old.txt"}));

  // The same files again: nothing is written.
  wrote = WriteAtomicVolume(dir_, v1);
  ASSERT_TRUE(wrote.ok());
  EXPECT_FALSE(*wrote);
  EXPECT_EQ(Link("..data"), first);

  // A changed file, a new one, one gone: a new version, the old one removed.
  std::vector<VolumeFile> v2 = {{"app.conf", "port=8080\n", 0644},
                                {"conf.d/extra.conf", "x=1\n", 0600},
                                {"new.txt", "hi\n", 0644}};
  // A reader holding the old version open keeps reading it whole.
  std::ifstream held(absl::StrCat(dir_, "/app.conf"));
  wrote = WriteAtomicVolume(dir_, v2);
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  EXPECT_TRUE(*wrote);
  const std::string second = Link("..data");
  EXPECT_NE(second, first);
  EXPECT_EQ(Read("app.conf"), "port=8080\n");
  EXPECT_EQ(Read("new.txt"), "hi\n");
  EXPECT_EQ(Entries(),
            (std::vector<std::string>{second, "..data", "app.conf", "conf.d", "new.txt"}));
  std::string old_content((std::istreambuf_iterator<char>(held)), std::istreambuf_iterator<char>());
  EXPECT_EQ(old_content, "port=80\n");
  // A mode change alone is a change too.
  v2[2].mode = 0600;
  wrote = WriteAtomicVolume(dir_, v2);
  ASSERT_TRUE(wrote.ok());
  EXPECT_TRUE(*wrote);
}

// A volume written before versions (plain files) is taken over on its first update.
TEST_F(AtomicVolumeTest, PlainFilesGiveWayToTheVersionedLayout) {
  ASSERT_TRUE(MakeDirs(dir_ + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/a", "old a").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/sub/b", "old b").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/stale", "gone").ok());
  auto wrote = WriteAtomicVolume(dir_, {{"a", "new a", 0644}, {"sub/b", "new b", 0644}});
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  EXPECT_EQ(Link("a"), "..data/a");
  EXPECT_EQ(Read("a"), "new a");
  EXPECT_EQ(Read("sub/b"), "new b");
  EXPECT_FALSE(fs::exists(dir_ + "/stale"));
}

}  // namespace
}  // namespace tether::podrunner
