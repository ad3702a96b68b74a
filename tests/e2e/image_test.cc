// The image service end to end: pulls through the mirror configuration from the test registry.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/file.h"

namespace tether::e2e {
namespace {

class ImageE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
  }
  absl::StatusOr<runtime::v1::Image> Status(const std::string& ref) {
    runtime::v1::ImageStatusRequest req;
    req.mutable_image()->set_image(ref);
    req.set_verbose(true);
    runtime::v1::ImageStatusResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->images().ImageStatus(&ctx, req, &resp);
    if (!st.ok()) return absl::InternalError(st.error_message());
    if (!resp.has_image()) return absl::NotFoundError(ref);
    return resp.image();
  }
  std::vector<runtime::v1::Image> List() {
    runtime::v1::ListImagesResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(daemon_->images().ListImages(&ctx, {}, &resp).ok());
    return {resp.images().begin(), resp.images().end()};
  }
  grpc::Status Remove(const std::string& ref) {
    runtime::v1::RemoveImageRequest req;
    req.mutable_image()->set_image(ref);
    runtime::v1::RemoveImageResponse resp;
    grpc::ClientContext ctx;
    return daemon_->images().RemoveImage(&ctx, req, &resp);
  }
  size_t CountFiles(const std::string& dir) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++n;
    }
    return n;
  }
  // Runs `cmd` in a fresh container of `image` and returns its log.
  std::string RunOnce(const std::string& image, std::vector<std::string> cmd) {
    auto pc = PodConfig("img-" + std::to_string(counter_++));
    auto pod = daemon_->RunPod(pc.metadata().name(), &pc);
    EXPECT_TRUE(pod.ok()) << pod.status();
    auto cid = daemon_->CreateContainer(*pod, ContainerConfig("c", image, std::move(cmd)), pc);
    EXPECT_TRUE(cid.ok()) << cid.status();
    EXPECT_TRUE(daemon_->StartContainer(*cid).ok());
    auto s = daemon_->WaitExited(*cid);
    EXPECT_TRUE(s.ok()) << s.status();
    auto log = ReadFile(s.ok() ? s->log_path() : "");
    return log.ok() ? *log : "";
  }
  std::unique_ptr<Daemon> daemon_;
  int counter_ = 0;
};

TEST_F(ImageE2E, PullByTagListStatusAndKeepUpstreamName) {
  auto id = daemon_->Pull(TestImage("busybox"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(absl::StartsWith(*id, "sha256:"));
  auto img = Status(TestImage("busybox"));
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->id(), *id);
  // The image keeps its upstream name although the bytes came from the mirror.
  ASSERT_EQ(img->repo_tags_size(), 1);
  EXPECT_EQ(img->repo_tags(0), TestImage("busybox"));
  ASSERT_EQ(img->repo_digests_size(), 1);
  EXPECT_TRUE(
      absl::StartsWith(img->repo_digests(0), "registry.tether.test/tether-test/busybox@sha256:"));
  EXPECT_GT(img->size(), 500000u);
  // By id, by id prefix and by digest reference.
  EXPECT_TRUE(Status(*id).ok());
  EXPECT_TRUE(Status(id->substr(7, 12)).ok());
  EXPECT_TRUE(Status(img->repo_digests(0)).ok());
  EXPECT_EQ(List().size(), 1u);
  EXPECT_EQ(Status("registry.tether.test/tether-test/nothing:1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ImageE2E, PullByDigestAndUserFromConfig) {
  auto id = daemon_->Pull(TestImage("stopsignal"));
  ASSERT_TRUE(id.ok());
  auto img = Status(TestImage("stopsignal"));
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->uid().value(), 1000);
  std::string by_digest = img->repo_digests(0);
  ASSERT_TRUE(Remove(*id).ok());
  EXPECT_TRUE(List().empty());
  auto again = daemon_->Pull(by_digest);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *id);
  img = Status(by_digest);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->repo_tags_size(), 0) << "a pull by digest adds no tag";
}

TEST_F(ImageE2E, IndexSelectsThisPlatformAndLayersApplyWhiteouts) {
  ASSERT_TRUE(daemon_->Pull(TestImage("multiarch")).ok());
  EXPECT_TRUE(
      absl::StrContains(RunOnce(TestImage("multiarch"), {"cat", "/etc/platform"}), "F amd64\n"));
  ASSERT_TRUE(daemon_->Pull(TestImage("layers")).ok());
  std::string log = RunOnce(TestImage("layers"), {"sh", "-c", "cd /data && ls -1 . dir"});
  // Layer 2 whited out /data/a and made /data/dir opaque (hiding x); layer 3 added c.
  EXPECT_FALSE(absl::StrContains(log, "F a\n")) << log;
  EXPECT_TRUE(absl::StrContains(log, "F b\n")) << log;
  EXPECT_TRUE(absl::StrContains(log, "F c\n")) << log;
  EXPECT_TRUE(absl::StrContains(log, "F y\n")) << log;
  EXPECT_FALSE(absl::StrContains(log, "F x\n")) << log;
}

TEST_F(ImageE2E, MissingImageAndBadReference) {
  auto r = daemon_->Pull("registry.tether.test/tether-test/missing:1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  r = daemon_->Pull("Bad Reference!!");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_TRUE(List().empty());
}

TEST_F(ImageE2E, DeadlineCancelsThePullAndLeavesNoImage) {
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image(TestImage("layers"));
  runtime::v1::PullImageResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(5));
  auto st = daemon_->images().PullImage(&ctx, req, &resp);
  EXPECT_FALSE(st.ok());
  usleep(500000);  // the server-side pull notices its deadline too
  EXPECT_TRUE(List().empty());
}

TEST_F(ImageE2E, ConcurrentPullsShareOneImage) {
  std::vector<absl::StatusOr<std::string>> ids(4);
  std::vector<std::thread> threads;
  for (auto& id : ids) {
    threads.emplace_back([&] { id = daemon_->Pull(TestImage("layers")); });
  }
  for (auto& t : threads) t.join();
  for (const auto& id : ids) {
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, *ids[0]);
  }
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(ImageE2E, RemoveUntagsThenDeletesContentAndRestartKeepsImages) {
  auto bb = daemon_->Pull(TestImage("busybox"));
  auto layered = daemon_->Pull(TestImage("layers"));
  ASSERT_TRUE(bb.ok() && layered.ok());
  size_t blobs = CountFiles(daemon_->root() + "/content/blobs/sha256");
  // Images survive a restart.
  daemon_->Kill9();
  ASSERT_TRUE(daemon_->Start().ok());
  EXPECT_EQ(List().size(), 2u);
  ASSERT_TRUE(Remove(TestImage("layers")).ok());
  EXPECT_EQ(List().size(), 1u);
  EXPECT_LT(CountFiles(daemon_->root() + "/content/blobs/sha256"), blobs);
  EXPECT_TRUE(Remove(TestImage("layers")).ok()) << "removing a missing image is success";
  ASSERT_TRUE(Remove(*bb).ok());
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(CountFiles(daemon_->root() + "/content/blobs/sha256"), 0u);
}

TEST_F(ImageE2E, RemovingOneOfTwoTagsOnlyUntags) {
  const std::string second = "registry.tether.test/tether-test/busybox:2";
  auto a = daemon_->Pull(TestImage("busybox"));
  auto b = daemon_->Pull(second);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  ASSERT_EQ(List().size(), 1u);
  EXPECT_EQ(List()[0].repo_tags_size(), 2);
  ASSERT_TRUE(Remove(second).ok());
  ASSERT_EQ(List().size(), 1u);
  ASSERT_EQ(List()[0].repo_tags_size(), 1);
  EXPECT_EQ(List()[0].repo_tags(0), TestImage("busybox"));
  EXPECT_FALSE(Status(second).ok());
}

TEST_F(ImageE2E, ImageInUseKeepsItsSnapshots) {
  ASSERT_TRUE(daemon_->Pull(TestImage("busybox")).ok());
  auto pc = PodConfig("inuse");
  auto pod = daemon_->RunPod("inuse", &pc);
  ASSERT_TRUE(pod.ok());
  auto cid = daemon_->CreateContainer(
      *pod, ContainerConfig("c", TestImage("busybox"), {"sleep", "1000"}), pc);
  ASSERT_TRUE(cid.ok());
  ASSERT_TRUE(daemon_->StartContainer(*cid).ok());
  ASSERT_TRUE(Remove(TestImage("busybox")).ok());
  EXPECT_TRUE(List().empty());
  // The running container's rootfs still works.
  auto e = daemon_->Exec(*cid, {"echo", "ok"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->stdout(), "ok\n");
}

TEST(SandboxImageE2E, ConfiguredSandboxImageIsPulledAndRunsThePause) {
  REQUIRE_E2E();
  REQUIRE_REGISTRY();
  Daemon d(DaemonOptions{.sandbox_image = TestImage("pause")});
  ASSERT_TRUE(d.Start().ok());
  auto pod = d.RunPod("imgpause");
  ASSERT_TRUE(pod.ok()) << pod.status() << d.Log();
  auto s = d.PodStatus(*pod);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), runtime::v1::SANDBOX_READY);
  int pid = nlohmann::json::parse(s->info().at("info"))["pid"];
  auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  ASSERT_TRUE(cmdline.ok());
  // The image's entrypoint (sh -c 'exec sleep …') became the pause.
  EXPECT_TRUE(absl::StartsWith(*cmdline, std::string("sleep\0002147483647", 16))) << *cmdline;
  // The image was pulled through the image service and is listed.
  runtime::v1::ListImagesResponse list;
  grpc::ClientContext ctx;
  ASSERT_TRUE(d.images().ListImages(&ctx, {}, &list).ok());
  ASSERT_EQ(list.images_size(), 1);
  EXPECT_EQ(list.images(0).repo_tags(0), TestImage("pause"));
  runtime::v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(*pod);
  runtime::v1::RemovePodSandboxResponse resp;
  grpc::ClientContext c2;
  ASSERT_TRUE(d.runtime().RemovePodSandbox(&c2, req, &resp).ok());
  EXPECT_TRUE(MountsMentioning(*pod).empty());
}

}  // namespace
}  // namespace tether::e2e
