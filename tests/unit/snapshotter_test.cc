// Snapshotter: chain ids, verified atomic commits, and overlay root filesystems (root only) with
// whiteouts and opaque directories, through every mounting strategy.
#include "image/snapshotter.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "image/digest.h"
#include "util/file.h"
#include "util/id.h"
#include "util/mount.h"

namespace tether {
namespace {

struct TarEntry {
  std::string path;
  std::string data;  // regular file content
  bool dir = false;
};

la_ssize_t Append(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

// An uncompressed tar layer.
std::string Layer(const std::vector<TarEntry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &out, nullptr, Append, nullptr);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_filetype(e, t.dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, t.dir ? 0755 : 0644);
    archive_entry_set_size(e, t.dir ? 0 : static_cast<la_int64_t>(t.data.size()));
    archive_write_header(a, e);
    if (!t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tether-snap-" + NewId().substr(0, 12));
    ASSERT_TRUE(MakeDirs(dir_).ok());
    snap_ = std::make_unique<Snapshotter>(dir_ + "/snapshots");
    ASSERT_TRUE(snap_->Init().ok());
  }
  void TearDown() override {
    for (const auto& m : mounts_) Unmount(m, true).IgnoreError();
    std::filesystem::remove_all(dir_);
  }

  // Writes the layer blob; returns {path, diff id}.
  std::pair<std::string, std::string> Blob(const std::vector<TarEntry>& entries) {
    std::string tar = Layer(entries);
    std::string path = dir_ + "/blob-" + NewId().substr(0, 8);
    EXPECT_TRUE(WriteFileAtomic(path, tar).ok());
    return {path, Sha256Digest(tar)};
  }

  // Commits layers bottom to top; returns their chain ids.
  std::vector<std::string> CommitAll(const std::vector<std::vector<TarEntry>>& layers) {
    std::vector<std::string> blobs, diff_ids;
    for (const auto& l : layers) {
      auto [path, diff_id] = Blob(l);
      blobs.push_back(path);
      diff_ids.push_back(diff_id);
    }
    auto chains = Snapshotter::ChainIds(diff_ids);
    for (size_t i = 0; i < chains.size(); ++i) {
      auto st = snap_->Commit(chains[i], blobs[i], diff_ids[i]);
      EXPECT_TRUE(st.ok()) << st;
    }
    return chains;
  }

  size_t IngestCount() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator(dir_ + "/snapshots/ingest")) {
      ++n;
    }
    return n;
  }

  static bool Root() { return geteuid() == 0; }

  std::string dir_;
  std::unique_ptr<Snapshotter> snap_;
  std::vector<std::string> mounts_;
};

TEST(ChainIdTest, FollowsTheImageSpec) {
  const std::string d1 = "sha256:" + std::string(63, '0') + "1";
  const std::string d2 = "sha256:" + std::string(63, '0') + "2";
  const std::string d3 = "sha256:" + std::string(63, '0') + "3";
  // Computed with sha256sum.
  const std::string c2 = "sha256:e0213565073dd272477933ef550455db21856966e444074f1492aef0939305ac";
  const std::string c3 = "sha256:af4149e65a6923bb39782a876ce40a7c3b08fc85ec732e9efcc661d9399016d0";
  EXPECT_EQ(Snapshotter::ChainId({d1, d2, d3}, 0), d1);
  EXPECT_EQ(Snapshotter::ChainId({d1, d2, d3}, 1), c2);
  EXPECT_EQ(Snapshotter::ChainId({d1, d2, d3}, 2), c3);
  EXPECT_EQ(Snapshotter::ChainId({d1, d2, d3}, 3), "");
  EXPECT_EQ(Snapshotter::ChainIds({d1, d2, d3}), (std::vector<std::string>{d1, c2, c3}));
  EXPECT_TRUE(Snapshotter::ChainIds({}).empty());
}

TEST_F(SnapshotterTest, CommitVerifiesTheDiffId) {
  if (!Root()) GTEST_SKIP() << "needs root";
  auto [blob, diff_id] = Blob({{.path = "f", .data = "x"}});
  const std::string wrong = Sha256Digest("something else");
  auto st = snap_->Commit(diff_id, blob, wrong);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_FALSE(snap_->Has(diff_id));
  EXPECT_EQ(IngestCount(), 0u);

  ASSERT_TRUE(snap_->Commit(diff_id, blob, diff_id).ok());
  EXPECT_TRUE(snap_->Has(diff_id));
  EXPECT_EQ(*ReadFile(snap_->DirOf(diff_id) + "/f"), "x");
  EXPECT_EQ(snap_->List(), std::vector<std::string>{diff_id});
  EXPECT_TRUE(snap_->Commit(diff_id, blob, diff_id).ok());  // again: already there

  ASSERT_TRUE(snap_->Remove(diff_id).ok());
  EXPECT_FALSE(snap_->Has(diff_id));
  EXPECT_TRUE(snap_->List().empty());
  EXPECT_TRUE(snap_->Remove(diff_id).ok());
  EXPECT_EQ(IngestCount(), 0u);
  EXPECT_EQ(snap_->Commit("bad", blob, diff_id).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(snap_->DirOf("sha256:../x"), "");
}

TEST_F(SnapshotterTest, ConcurrentCommitsOfOneChain) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::vector<TarEntry> entries;
  for (int i = 0; i < 200; ++i) entries.push_back({.path = "d/f" + std::to_string(i), .data = "y"});
  auto [blob, diff_id] = Blob(entries);
  std::vector<absl::Status> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = snap_->Commit(diff_id, blob, diff_id); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(snap_->Has(diff_id));
  EXPECT_EQ(snap_->List().size(), 1u);
  EXPECT_EQ(IngestCount(), 0u);
  EXPECT_TRUE(PathExists(snap_->DirOf(diff_id) + "/d/f199"));
}

TEST_F(SnapshotterTest, InitClearsInterruptedUnpacks) {
  ASSERT_TRUE(MakeDirs(dir_ + "/snapshots/ingest/abc-123/fs/usr").ok());
  Snapshotter again(dir_ + "/snapshots");
  ASSERT_TRUE(again.Init().ok());
  EXPECT_EQ(IngestCount(), 0u);
}

class OverlayTest : public SnapshotterTest,
                    public ::testing::WithParamInterface<Snapshotter::MountMethod> {};

TEST_P(OverlayTest, TwoLayersWithWhiteoutAndOpaqueDir) {
  if (!Root()) GTEST_SKIP() << "needs root";
  snap_->set_mount_method_for_testing(GetParam());
  auto chains = CommitAll({
      {{.path = "a", .data = "lower a"},
       {.path = "b", .data = "lower b"},
       {.path = "dir/x", .data = "x"},
       {.path = "opq/old", .data = "old"}},
      {{.path = ".wh.a"},
       {.path = "c", .data = "upper c"},
       {.path = "opq/", .dir = true},
       {.path = "opq/.wh..wh..opq"},
       {.path = "opq/new", .data = "new"}},
  });
  ASSERT_EQ(chains.size(), 2u);
  const std::string rootfs = dir_ + "/state/containers/c1/rootfs";
  auto mounted = snap_->PrepareContainer("c1", chains, rootfs);
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  mounts_.push_back(rootfs);
  EXPECT_EQ(*mounted, rootfs);
  EXPECT_TRUE(IsMountPoint(rootfs));

  EXPECT_FALSE(PathExists(rootfs + "/a"));  // whited out
  EXPECT_EQ(*ReadFile(rootfs + "/b"), "lower b");
  EXPECT_EQ(*ReadFile(rootfs + "/c"), "upper c");
  EXPECT_EQ(*ReadFile(rootfs + "/dir/x"), "x");
  EXPECT_FALSE(PathExists(rootfs + "/opq/old"));  // hidden by the opaque dir
  EXPECT_EQ(*ReadFile(rootfs + "/opq/new"), "new");

  // Writes go to the container's upper dir; layers stay untouched.
  ASSERT_TRUE(WriteFileAtomic(rootfs + "/written", "by container").ok());
  ASSERT_TRUE(RemoveFile(rootfs + "/b").ok());
  const std::string upper = snap_->UpperDirOf("c1");
  EXPECT_EQ(*ReadFile(upper + "/written"), "by container");
  EXPECT_EQ(*ReadFile(snap_->DirOf(chains[0]) + "/b"), "lower b");
  EXPECT_FALSE(PathExists(snap_->DirOf(chains[1]) + "/written"));
  auto usage = Snapshotter::Usage(upper);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(usage->second, 3u);  // upper itself, written, the whiteout for b

  // A retried Prepare is fine.
  EXPECT_TRUE(snap_->PrepareContainer("c1", chains, rootfs).ok());

  ASSERT_TRUE(snap_->RemoveContainer("c1", rootfs).ok());
  EXPECT_FALSE(IsMountPoint(rootfs));
  EXPECT_FALSE(PathExists(upper));
  EXPECT_FALSE(PathExists(dir_ + "/snapshots/containers/c1"));
  EXPECT_FALSE(PathExists(rootfs));
  EXPECT_TRUE(snap_->RemoveContainer("c1", rootfs).ok());  // idempotent
}

TEST_P(OverlayTest, NoLayers) {
  if (!Root()) GTEST_SKIP() << "needs root";
  snap_->set_mount_method_for_testing(GetParam());
  const std::string rootfs = dir_ + "/rootfs-empty";
  auto mounted = snap_->PrepareContainer("empty", {}, rootfs);
  ASSERT_TRUE(mounted.ok()) << mounted.status();
  mounts_.push_back(rootfs);
  EXPECT_TRUE(std::filesystem::is_empty(rootfs));
  ASSERT_TRUE(WriteFileAtomic(rootfs + "/f", "x").ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/snapshots/empty"));
  ASSERT_TRUE(snap_->RemoveContainer("empty", rootfs).ok());
}

INSTANTIATE_TEST_SUITE_P(Methods, OverlayTest,
                         ::testing::Values(Snapshotter::MountMethod::kAuto,
                                           Snapshotter::MountMethod::kNewApi,
                                           Snapshotter::MountMethod::kLegacy,
                                           Snapshotter::MountMethod::kLegacyRelative));

TEST_F(SnapshotterTest, ManyLayersBeyondTheMountOptionPage) {
  if (!Root()) GTEST_SKIP() << "needs root";
  std::vector<std::vector<TarEntry>> layers;
  for (int i = 0; i < 50; ++i) {
    layers.push_back({{.path = "l" + std::to_string(i), .data = std::to_string(i)},
                      {.path = "top", .data = std::to_string(i)}});
  }
  auto chains = CommitAll(layers);
  using M = Snapshotter::MountMethod;
  for (M m : {M::kAuto, M::kLegacyRelative, M::kLegacy}) {
    snap_->set_mount_method_for_testing(m);
    const std::string rootfs = dir_ + "/rootfs-many";
    auto mounted = snap_->PrepareContainer("many", chains, rootfs);
    if (m == M::kLegacy) {  // 50 absolute paths do not fit a page
      EXPECT_EQ(mounted.status().code(), absl::StatusCode::kFailedPrecondition) << mounted.status();
      EXPECT_FALSE(PathExists(dir_ + "/snapshots/containers/many"));
      continue;
    }
    ASSERT_TRUE(mounted.ok()) << mounted.status();
    mounts_.push_back(rootfs);
    EXPECT_EQ(*ReadFile(rootfs + "/l0"), "0");
    EXPECT_EQ(*ReadFile(rootfs + "/l49"), "49");
    EXPECT_EQ(*ReadFile(rootfs + "/top"), "49");  // the top layer wins
    ASSERT_TRUE(snap_->RemoveContainer("many", rootfs).ok());
  }
}

TEST_F(SnapshotterTest, PrepareChecksItsInputs) {
  const std::string rootfs = dir_ + "/rootfs";
  EXPECT_EQ(snap_->PrepareContainer("../x", {}, rootfs).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(snap_->PrepareContainer("c", {Sha256Digest("nope")}, rootfs).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(dir_ + "/snapshots/containers/c"));
}

TEST_F(SnapshotterTest, UsageCountsBlocksAndInodesOnce) {
  const std::string d = dir_ + "/usage";
  ASSERT_TRUE(MakeDirs(d + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(d + "/sub/big", std::string(100000, 'u')).ok());
  ASSERT_EQ(link((d + "/sub/big").c_str(), (d + "/hard").c_str()), 0);
  auto usage = Snapshotter::Usage(d);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GE(usage->first, 100000u);
  EXPECT_LT(usage->first, 200000u);  // the hardlink is not counted twice
  EXPECT_EQ(usage->second, 3u);      // usage, sub, big
  EXPECT_EQ(Snapshotter::Usage(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tether
