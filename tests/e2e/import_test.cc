// tetherctl import end to end: archives built at test time from the test images' OCI layouts
// (tests/images/build.sh, run by the registry fixture) are imported through the tetherctl
// binary into a real tetherd, and containers run from them; a corrupt archive fails cleanly.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "image/digest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

namespace fs = std::filesystem;

class ImportE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    layout_ = std::string(TETHER_TEST_REGISTRY_DIR) + "/build/busybox";
    if (!fs::exists(layout_ + "/index.json")) GTEST_SKIP() << "no OCI layout at " << layout_;
    if (!Sh({"skopeo", "--version"}).ok()) GTEST_SKIP() << "skopeo is not installed";
    work_ = fs::temp_directory_path() / ("tether-import-e2e-" + NewId().substr(0, 12));
    ASSERT_TRUE(MakeDirs(work_, 0700).ok());
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
  }
  void TearDown() override {
    daemon_.reset();
    if (!work_.empty()) fs::remove_all(work_);
  }

  // tetherctl import ARGS... against our daemon.
  ProcessResult Import(std::vector<std::string> args) {
    std::vector<std::string> argv = {TETHERCTL_PATH, "--runtime-endpoint",
                                     "unix://" + daemon_->socket(), "import"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProcess({.argv = argv, .timeout = std::chrono::seconds(120)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ProcessResult{};
  }
  absl::StatusOr<runtime::v1::Image> Status(const std::string& ref) {
    runtime::v1::ImageStatusRequest req;
    req.mutable_image()->set_image(ref);
    runtime::v1::ImageStatusResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->images().ImageStatus(&ctx, req, &resp);
    if (!st.ok()) return absl::InternalError(st.error_message());
    if (!resp.has_image()) return absl::NotFoundError(ref);
    return resp.image();
  }
  size_t ImageCount() {
    runtime::v1::ListImagesResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(daemon_->images().ListImages(&ctx, {}, &resp).ok());
    return static_cast<size_t>(resp.images_size());
  }
  size_t CountEntries(const std::string& dir) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      ++n;
    }
    return n;
  }
  // Runs `cmd` in a fresh container of `image` and returns its log.
  std::string RunOnce(const std::string& image, std::vector<std::string> cmd) {
    auto pc = PodConfig("imp-" + std::to_string(counter_++));
    auto pod = daemon_->RunPod(pc.metadata().name(), &pc);
    EXPECT_TRUE(pod.ok()) << pod.status();
    if (!pod.ok()) return "";
    auto cid = daemon_->CreateContainer(*pod, ContainerConfig("c", image, std::move(cmd)), pc);
    EXPECT_TRUE(cid.ok()) << cid.status();
    if (!cid.ok()) return "";
    EXPECT_TRUE(daemon_->StartContainer(*cid).ok());
    auto s = daemon_->WaitExited(*cid);
    EXPECT_TRUE(s.ok()) << s.status();
    auto log = ReadFile(s.ok() ? s->log_path() : "");
    return log.ok() ? *log : "";
  }

  std::string layout_, work_;
  std::unique_ptr<Daemon> daemon_;
  int counter_ = 0;
};

TEST_F(ImportE2E, DockerSaveTarballFromSkopeo) {
  std::string archive = work_ + "/busybox-docker.tar";
  auto made = Sh({"skopeo", "copy", "--quiet", "oci:" + layout_ + ":1",
                  "docker-archive:" + archive + ":tether.test/imported/docker:v1"});
  ASSERT_TRUE(made.ok()) << made.status();
  ProcessResult r = Import({archive});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "Imported image sha256:")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "tether.test/imported/docker:v1")) << r.out;
  auto img = Status("tether.test/imported/docker:v1");
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->repo_tags_size(), 1);
  EXPECT_EQ(img->repo_tags(0), "tether.test/imported/docker:v1");
  EXPECT_TRUE(absl::StrContains(r.out, img->id())) << r.out;
  EXPECT_GT(img->size(), 500000u);
  std::string log =
      RunOnce("tether.test/imported/docker:v1", {"sh", "-c", "cat /var/www/index.html"});
  EXPECT_TRUE(absl::StrContains(log, "F hello from tether\n")) << log;
  EXPECT_EQ(CountEntries(daemon_->root() + "/import"), 0u) << "the spool is gone";
}

TEST_F(ImportE2E, OciLayoutTarAndDirectoryWithTag) {
  std::string archive = work_ + "/busybox-oci.tar";
  auto made = Sh({"tar", "-C", layout_, "-cf", archive, "."});
  ASSERT_TRUE(made.ok()) << made.status();
  ProcessResult r = Import({archive, "--tag", "tether.test/imported/oci:v1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "tether.test/imported/oci:v1")) << r.out;
  auto img = Status("tether.test/imported/oci:v1");
  ASSERT_TRUE(img.ok()) << img.status();
  // The layout's ref.name is a bare tag ("1"): the image's only name is the one given.
  ASSERT_EQ(img->repo_tags_size(), 1);
  EXPECT_EQ(img->repo_tags(0), "tether.test/imported/oci:v1");
  // The id is the config's digest, as for a pull of the same image.
  auto index = ReadFile(layout_ + "/index.json");
  ASSERT_TRUE(index.ok());
  std::string manifest_digest = nlohmann::json::parse(*index)["manifests"][0]["digest"];
  auto manifest = ReadFile(layout_ + "/blobs/sha256/" + manifest_digest.substr(7));
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(img->id(), nlohmann::json::parse(*manifest)["config"]["digest"]);
  std::string log = RunOnce("tether.test/imported/oci:v1", {"echo", "imported from an OCI tar"});
  EXPECT_TRUE(absl::StrContains(log, "F imported from an OCI tar\n")) << log;

  // The layout directory itself (tetherctl packs it), adding a second tag to the same image.
  r = Import({layout_, "--tag", "tether.test/imported/dir:v2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto again = Status("tether.test/imported/dir:v2");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id(), img->id());
  EXPECT_EQ(again->repo_tags_size(), 2);
  EXPECT_EQ(ImageCount(), 1u);
  // -q prints the ids only.
  r = Import({layout_, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, img->id() + "\n");
  EXPECT_EQ(CountEntries(daemon_->root() + "/import"), 0u);
}

TEST_F(ImportE2E, CorruptArchivesFailCleanly) {
  // A copy of the layout whose layer blob is damaged (same size, other bytes).
  std::string bad = work_ + "/bad-layout";
  fs::copy(layout_, bad, fs::copy_options::recursive);
  auto index = ReadFile(bad + "/index.json");
  ASSERT_TRUE(index.ok());
  std::string manifest_digest = nlohmann::json::parse(*index)["manifests"][0]["digest"];
  auto manifest = ReadFile(bad + "/blobs/sha256/" + manifest_digest.substr(7));
  ASSERT_TRUE(manifest.ok());
  std::string layer_digest = nlohmann::json::parse(*manifest)["layers"][0]["digest"];
  std::string layer_path = bad + "/blobs/sha256/" + layer_digest.substr(7);
  auto layer = ReadFile(layer_path);
  ASSERT_TRUE(layer.ok());
  std::string damaged = *layer;
  damaged[damaged.size() / 2] ^= 0x55;
  ASSERT_TRUE(WriteFileAtomic(layer_path, damaged).ok());
  std::string archive = work_ + "/bad-oci.tar";
  ASSERT_TRUE(Sh({"tar", "-C", bad, "-cf", archive, "."}).ok());

  size_t blobs_before = CountEntries(daemon_->root() + "/content/blobs/sha256");
  ProcessResult r = Import({archive, "--tag", "tether.test/imported/bad:v1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "InvalidArgument")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, layer_digest)) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "content has digest")) << r.err;

  // A docker save tarball cut in the middle of its data.
  std::string docker = work_ + "/busybox-docker.tar";
  ASSERT_TRUE(Sh({"skopeo", "copy", "--quiet", "oci:" + layout_ + ":1",
                  "docker-archive:" + docker + ":tether.test/imported/cut:v1"})
                  .ok());
  auto whole = ReadFile(docker);
  ASSERT_TRUE(whole.ok());
  ASSERT_TRUE(WriteFileAtomic(docker, whole->substr(0, whole->size() / 2)).ok());
  r = Import({docker});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "InvalidArgument")) << r.err;

  // Not an archive at all.
  ASSERT_TRUE(WriteFileAtomic(work_ + "/junk", "definitely not a tar").ok());
  r = Import({work_ + "/junk"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "InvalidArgument")) << r.err;

  // No image, no spool, no leftover blobs or layers.
  EXPECT_EQ(ImageCount(), 0u);
  EXPECT_FALSE(Status("tether.test/imported/bad:v1").ok());
  EXPECT_EQ(CountEntries(daemon_->root() + "/import"), 0u);
  EXPECT_EQ(CountEntries(daemon_->root() + "/content/blobs/sha256"), blobs_before);
  EXPECT_EQ(CountEntries(daemon_->root() + "/snapshots/layers"), 0u);
  EXPECT_EQ(CountEntries(daemon_->root() + "/content/ingest"), 0u);
}

// import_max_bytes in tetherd's config bounds what a client may send: a larger archive is
// refused while it arrives (RESOURCE_EXHAUSTED naming the limit), and nothing is kept.
TEST_F(ImportE2E, ArchiveAboveTheConfiguredLimitIsRefused) {
  daemon_.reset();
  daemon_ = std::make_unique<Daemon>(DaemonOptions{.import_max_bytes = 100000});
  ASSERT_TRUE(daemon_->Start().ok());
  std::string archive = work_ + "/busybox-docker.tar";
  ASSERT_TRUE(Sh({"skopeo", "copy", "--quiet", "oci:" + layout_ + ":1",
                  "docker-archive:" + archive + ":tether.test/imported/big:v1"})
                  .ok());
  ASSERT_GT(fs::file_size(archive), 100000u);
  ProcessResult r = Import({archive});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "ResourceExhausted")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "import limit of 100000 bytes")) << r.err;
  EXPECT_EQ(ImageCount(), 0u);
  EXPECT_EQ(CountEntries(daemon_->root() + "/import"), 0u);
  EXPECT_EQ(CountEntries(daemon_->root() + "/content/blobs/sha256"), 0u);
}

}  // namespace
}  // namespace tether::e2e
