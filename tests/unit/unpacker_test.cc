// UnpackLayer / DiffIdOf: layers crafted entry by entry with libarchive's writer (owners, modes,
// xattrs, links, devices, whiteouts), in gzip, zstd and plain tar; malicious layers must never
// write outside the target.
#include "image/unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <clocale>
#include <filesystem>
#include <optional>

#include "image/digest.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/process.h"

namespace tether {
namespace {

struct TarEntry {
  std::string path;
  unsigned type = AE_IFREG;
  unsigned perm = 0644;
  std::string data;
  int64_t uid = 0, gid = 0;
  std::string symlink;   // target of a symlink
  std::string hardlink;  // target of a hardlink
  unsigned major = 0, minor = 0;
  time_t mtime = 1600000000;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

la_ssize_t AppendToString(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// An uncompressed pax tar of `entries`, padded to libarchive's default 10 KiB block.
// Names are written as UTF-8 pax records, as Go's archive/tar (docker, buildkit) writes them.
std::string BuildTar(const std::vector<TarEntry>& entries) {
  std::string out;
  std::string old_locale = setlocale(LC_CTYPE, nullptr);
  setlocale(LC_CTYPE, "C.UTF-8");
  archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_open(a, &out, nullptr, AppendToString, nullptr);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, t.path.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.perm);
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    if (!t.symlink.empty()) archive_entry_set_symlink(e, t.symlink.c_str());
    if (!t.hardlink.empty()) archive_entry_set_hardlink(e, t.hardlink.c_str());
    if (t.type == AE_IFCHR || t.type == AE_IFBLK) {
      archive_entry_set_rdevmajor(e, t.major);
      archive_entry_set_rdevminor(e, t.minor);
    }
    for (const auto& [k, v] : t.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_entry_set_size(
        e, t.type == AE_IFREG && t.hardlink.empty() ? static_cast<la_int64_t>(t.data.size()) : 0);
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (!t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  setlocale(LC_CTYPE, old_locale.c_str());
  return out;
}

// `data` compressed with libarchive's "gzip" or "zstd" filter.
std::string Compress(const std::string& data, const std::string& filter) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, AppendToString, nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "data");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::optional<std::string> GetXattr(const std::string& path, const std::string& name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

class UnpackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tether-unpack-" + NewId().substr(0, 12));
    ASSERT_TRUE(MakeDirs(dir_).ok());
    target_ = dir_ + "/target";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteBlob(const std::string& data, const std::string& name = "layer") {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomic(path, data).ok());
    return path;
  }

  static bool Root() { return geteuid() == 0; }

  std::string dir_, target_;
};

std::vector<TarEntry> RichLayer() {
  std::vector<TarEntry> e;
  e.push_back({.path = "./", .type = AE_IFDIR, .perm = 0755});
  e.push_back({.path = "bin/", .type = AE_IFDIR, .perm = 0755});
  e.push_back({.path = "bin/su", .perm = 04755, .data = "#!su", .mtime = 1500000000});
  e.push_back({.path = "bin/sh", .type = AE_IFLNK, .perm = 0777, .symlink = "/bin/busybox"});
  e.push_back({.path = "home/user/",
               .type = AE_IFDIR,
               .perm = 0750,
               .uid = 1000,
               .gid = 1001,
               .mtime = 1400000000});
  e.push_back({.path = "home/user/notes", .perm = 0600, .data = "hi", .uid = 1000, .gid = 1001});
  e.push_back({.path = "etc/hosts", .data = "127.0.0.1 localhost\n"});
  e.push_back({.path = "etc/hosts.link", .hardlink = "etc/hosts"});
  e.push_back({.path = "dev/null", .type = AE_IFCHR, .perm = 0666, .major = 1, .minor = 3});
  e.push_back({.path = "dev/sda", .type = AE_IFBLK, .perm = 0660, .major = 8, .minor = 0});
  e.push_back({.path = "run/fifo", .type = AE_IFIFO, .perm = 0600});
  e.push_back(
      {.path = "data/x",
       .data = "xattrs",
       .xattrs = {
           {"user.color", "blue"}, {"trusted.overlay.redirect", "/etc"}, {"trusted.mine", "1"}}});
  e.push_back({.path = "gone/.wh.file", .perm = 0600});
  e.push_back({.path = "opq/", .type = AE_IFDIR, .perm = 0711});
  e.push_back({.path = "opq/.wh..wh..opq"});
  e.push_back({.path = "newopq/.wh..wh..opq"});  // its directory was never listed
  e.push_back({.path = "deep/implicit/parents/file", .data = "deep"});
  e.push_back({.path = "sparse-ish", .data = std::string(100000, '\0') + "end"});
  e.push_back({.path = "donn\xc3\xa9"
                       "es/\xc3\xbc.txt",
               .data = "utf8"});
  e.push_back({.path = ".wh..wh.plnk/123", .data = "aufs"});  // aufs metadata: skipped
  return e;
}

TEST_F(UnpackerTest, KeepsOwnersModesLinksDevicesXattrsAndWhiteouts) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string tar = BuildTar(RichLayer());
  std::string blob = WriteBlob(Compress(tar, "gzip"));
  auto diff_id = UnpackLayer(blob, target_);
  ASSERT_TRUE(diff_id.ok()) << diff_id.status();
  EXPECT_EQ(*diff_id, Sha256Digest(tar));
  EXPECT_EQ(*DiffIdOf(blob), *diff_id);

  struct stat st;
  const std::string t = target_;
  ASSERT_EQ(lstat((t + "/bin/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_mtime, 1500000000);
  EXPECT_EQ(*ReadFile(t + "/bin/su"), "#!su");

  ASSERT_EQ(lstat((t + "/bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(std::filesystem::read_symlink(t + "/bin/sh"), "/bin/busybox");

  ASSERT_EQ(lstat((t + "/home/user").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtime, 1400000000);  // kept although a child was created after it
  ASSERT_EQ(lstat((t + "/home/user/notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  struct stat a, b;
  ASSERT_EQ(lstat((t + "/etc/hosts").c_str(), &a), 0);
  ASSERT_EQ(lstat((t + "/etc/hosts.link").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);

  ASSERT_EQ(lstat((t + "/dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(lstat((t + "/dev/sda").c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode));
  ASSERT_EQ(lstat((t + "/run/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));

  EXPECT_EQ(GetXattr(t + "/data/x", "user.color"), "blue");
  EXPECT_EQ(GetXattr(t + "/data/x", "trusted.mine"), "1");
  EXPECT_EQ(GetXattr(t + "/data/x", "trusted.overlay.redirect"), std::nullopt);  // dropped

  // Whiteout: a 0/0 character device named after the hidden file.
  ASSERT_EQ(lstat((t + "/gone/file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(PathExists(t + "/gone/.wh.file"));
  // Opaque directories.
  EXPECT_EQ(GetXattr(t + "/opq", "trusted.overlay.opaque"), "y");
  ASSERT_EQ(lstat((t + "/opq").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_FALSE(PathExists(t + "/opq/.wh..wh..opq"));
  EXPECT_EQ(GetXattr(t + "/newopq", "trusted.overlay.opaque"), "y");

  EXPECT_EQ(*ReadFile(t + "/deep/implicit/parents/file"), "deep");
  ASSERT_EQ(lstat((t + "/deep/implicit").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(ReadFile(t + "/sparse-ish")->size(), 100003u);
  EXPECT_EQ(*ReadFile(t + "/donn\xc3\xa9"
                          "es/\xc3\xbc.txt"),
            "utf8");
  EXPECT_FALSE(PathExists(t + "/.wh..wh.plnk"));
}

TEST_F(UnpackerTest, GzipZstdAndPlainGiveTheSameTreeAndDiffId) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string tar = BuildTar({{.path = "a/b", .data = "b"}, {.path = "c", .data = "c"}});
  const std::string want = Sha256Digest(tar);
  for (const std::string filter : {"gzip", "zstd", "none"}) {
    SCOPED_TRACE(filter);
    std::string blob = WriteBlob(filter == "none" ? tar : Compress(tar, filter), filter);
    std::string target = target_ + "-" + filter;
    auto diff_id = UnpackLayer(blob, target);
    ASSERT_TRUE(diff_id.ok()) << diff_id.status();
    EXPECT_EQ(*diff_id, want);
    EXPECT_EQ(*DiffIdOf(blob), want);
    EXPECT_EQ(*ReadFile(target + "/a/b"), "b");
    EXPECT_EQ(*ReadFile(target + "/c"), "c");
  }
}

TEST_F(UnpackerTest, EmptyLayers) {
  if (!Root()) GTEST_SKIP() << "needs root";
  // The "empty layer" of many images: gzip of the two zero end-of-archive blocks.
  const std::string zeros(1024, '\0');
  auto r = UnpackLayer(WriteBlob(Compress(zeros, "gzip")), target_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
  EXPECT_TRUE(std::filesystem::is_empty(target_));
  // A zero-byte blob.
  r = UnpackLayer(WriteBlob(""), target_ + "-0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, Sha256Digest(""));
}

TEST_F(UnpackerTest, DiffIdWithoutRoot) {
  std::string tar = BuildTar({{.path = "f", .data = "data"}});
  EXPECT_EQ(*DiffIdOf(WriteBlob(Compress(tar, "gzip"))), Sha256Digest(tar));
  EXPECT_EQ(DiffIdOf(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(UnpackerTest, LaterEntriesReplaceEarlierOnes) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string outside = dir_ + "/outside-file";
  ASSERT_TRUE(WriteFileAtomic(outside, "original").ok());
  std::string tar = BuildTar({
      {.path = "f", .data = "first"},
      {.path = "f", .data = "second"},
      {.path = "d/x", .data = "x"},
      {.path = "d", .data = "now a file"},  // replaces the directory
      // A file replaced by a symlink pointing out, then written again: must not follow it.
      {.path = "s", .data = "one"},
      {.path = "s", .type = AE_IFLNK, .symlink = outside},
      {.path = "s", .data = "two"},
  });
  auto diff_id = UnpackLayer(WriteBlob(tar), target_);
  ASSERT_TRUE(diff_id.ok()) << diff_id.status();
  EXPECT_EQ(*ReadFile(target_ + "/f"), "second");
  EXPECT_EQ(*ReadFile(target_ + "/d"), "now a file");
  EXPECT_EQ(*ReadFile(target_ + "/s"), "two");
  EXPECT_EQ(*ReadFile(outside), "original");
}

// --- Malicious layers -------------------------------------------------------------------------

TEST_F(UnpackerTest, DotDotIsRejectedAndTheTargetRemoved) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string tar = BuildTar({{.path = "ok", .data = "fine"}, {.path = "../escape", .data = "x"}});
  auto r = UnpackLayer(WriteBlob(tar), target_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(r.status().message()).find("../escape"), std::string::npos) << r.status();
  EXPECT_FALSE(PathExists(dir_ + "/escape"));
  EXPECT_FALSE(PathExists(target_));
  // Also in the middle of a path.
  r = UnpackLayer(WriteBlob(BuildTar({{.path = "a/../../b", .data = "x"}})), target_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UnpackerTest, AbsolutePathsLandInside) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string tar = BuildTar({{.path = "/abs/path", .data = "inside"}});
  ASSERT_TRUE(UnpackLayer(WriteBlob(tar), target_).ok());
  EXPECT_EQ(*ReadFile(target_ + "/abs/path"), "inside");
}

TEST_F(UnpackerTest, WritesThroughSymlinksStayInside) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string outside = dir_ + "/outside-" + NewId().substr(0, 8);
  ASSERT_TRUE(MakeDirs(outside).ok());
  // An absolute symlink to a real host directory: resolved inside the target, where it does not
  // exist; refused.
  auto r = UnpackLayer(WriteBlob(BuildTar({
                           {.path = "evil", .type = AE_IFLNK, .symlink = outside},
                           {.path = "evil/pwned", .data = "owned"},
                       })),
                       target_);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(PathExists(outside + "/pwned"));
  EXPECT_TRUE(std::filesystem::is_empty(outside));
  EXPECT_FALSE(PathExists(target_));

  // A relative symlink climbing out: clamped at the target's root.
  r = UnpackLayer(WriteBlob(BuildTar({
                      {.path = "up", .type = AE_IFLNK, .symlink = "../../../../../../.."},
                      {.path = "up/pwned", .data = "owned"},
                      {.path = "host", .type = AE_IFLNK, .symlink = dir_},
                  })),
                  target_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*ReadFile(target_ + "/pwned"), "owned");
  EXPECT_FALSE(PathExists("/pwned"));
  EXPECT_TRUE(std::filesystem::is_empty(outside));
  // The symlink itself is stored as-is.
  EXPECT_EQ(std::filesystem::read_symlink(target_ + "/up"), "../../../../../../..");

  // An absolute symlink whose target exists inside the layer: followed inside.
  std::string t2 = target_ + "2";
  r = UnpackLayer(WriteBlob(BuildTar({
                      {.path = "realdir/", .type = AE_IFDIR, .perm = 0755},
                      {.path = "link", .type = AE_IFLNK, .symlink = "/realdir"},
                      {.path = "link/file", .data = "through"},
                  })),
                  t2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*ReadFile(t2 + "/realdir/file"), "through");
}

TEST_F(UnpackerTest, HardlinksCannotReachOutside) {
  if (!Root()) GTEST_SKIP() << "needs root";
  struct stat before;
  ASSERT_EQ(stat("/etc/passwd", &before), 0);
  for (const std::vector<TarEntry>& layer : std::vector<std::vector<TarEntry>>{
           {{.path = "link", .hardlink = "../../etc/passwd"}},
           {{.path = "link", .hardlink = "/etc/passwd"}},
           {{.path = "etcl", .type = AE_IFLNK, .symlink = "/etc"},
            {.path = "link", .hardlink = "etcl/passwd"}},
       }) {
    auto r = UnpackLayer(WriteBlob(BuildTar(layer)), target_);
    EXPECT_FALSE(r.ok()) << layer.back().hardlink;
    EXPECT_FALSE(PathExists(target_));
  }
  struct stat after;
  ASSERT_EQ(stat("/etc/passwd", &after), 0);
  EXPECT_EQ(before.st_nlink, after.st_nlink);
}

TEST_F(UnpackerTest, CorruptStreamsAreDataLoss) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::string gz = Compress(BuildTar({{.path = "f", .data = std::string(50000, 'x')}}), "gzip");
  auto r = UnpackLayer(WriteBlob(gz.substr(0, gz.size() / 2)), target_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_FALSE(PathExists(target_));
  r = UnpackLayer(WriteBlob(Compress(std::string(4096, 'j'), "gzip")), target_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_FALSE(PathExists(target_));
}

TEST_F(UnpackerTest, TargetMustBeEmpty) {
  ASSERT_TRUE(WriteFileAtomic(target_ + "-full", "").ok());
  ASSERT_TRUE(MakeDirs(target_).ok());
  ASSERT_TRUE(WriteFileAtomic(target_ + "/x", "").ok());
  auto r = UnpackLayer(WriteBlob(BuildTar({{.path = "f", .data = "x"}})), target_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(PathExists(target_ + "/x"));  // not ours to remove
}

// Throughput on a ~50 MB layer (informational; set TETHER_UNPACK_BENCH=1 to run).
TEST_F(UnpackerTest, Throughput) {
  if (!Root() || getenv("TETHER_UNPACK_BENCH") == nullptr) GTEST_SKIP();
  // Like a real layer: many small files, some large ones; about a third incompressible.
  std::vector<TarEntry> entries;
  uint64_t x = 88172645463325252ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  size_t total = 0;
  for (int i = 0; total < (50u << 20); ++i) {
    size_t size = (i % 100 == 0) ? (2u << 20) : static_cast<size_t>(next() % 16384);
    std::string data;
    data.reserve(size + 64);
    while (data.size() < size) {
      if (i % 3 == 0) {
        uint64_t r = next();
        data.append(reinterpret_cast<const char*>(&r), sizeof r);
      } else {
        data += "word" + std::to_string(next() % 1000) + (next() % 8 == 0 ? "\n" : " ");
      }
    }
    data.resize(size);
    entries.push_back(
        {.path = "d" + std::to_string(i % 97) + "/f" + std::to_string(i), .data = std::move(data)});
    total += size;
  }
  std::string tar = BuildTar(entries);
  auto seconds_since = [](std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (const std::string filter : {"none", "gzip", "zstd"}) {
    std::string blob = WriteBlob(filter == "none" ? tar : Compress(tar, filter), filter);
    std::string target = target_ + "-" + filter;
    // Baseline first: GNU tar extracting the same blob (same owners, xattrs).
    ASSERT_TRUE(MakeDirs(target + "-gnutar").ok());
    auto start = std::chrono::steady_clock::now();
    auto gnu = RunChecked(
        {.argv = {"tar", "--xattrs", "--same-owner", "-xpf", blob, "-C", target + "-gnutar"}});
    double tar_secs = seconds_since(start);
    ASSERT_TRUE(gnu.ok()) << gnu.status();
    start = std::chrono::steady_clock::now();
    auto r = UnpackLayer(blob, target);
    double secs = seconds_since(start);
    ASSERT_TRUE(r.ok()) << r.status();
    start = std::chrono::steady_clock::now();
    ASSERT_TRUE(DiffIdOf(blob).ok());
    double hash_secs = seconds_since(start);
    spdlog::info(
        "{}: {} files, {:.1f} MB tar, {:.1f} MB blob: UnpackLayer {:.2f}s = {:.0f} MB/s; "
        "GNU tar {:.2f}s = {:.0f} MB/s; DiffIdOf alone {:.2f}s",
        filter, entries.size(), tar.size() / 1e6, std::filesystem::file_size(blob) / 1e6, secs,
        tar.size() / 1e6 / secs, tar_secs, tar.size() / 1e6 / tar_secs, hash_secs);
  }
}

}  // namespace
}  // namespace tether
