// The pod runner (tetherctl play) end to end: Pod manifests driven through a real tetherd, the
// order checked from the runtime's own ContainerStatus timestamps.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "tests/e2e/harness.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

namespace pr = ::tether::podrunner;

class PodRunnerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok()) << daemon_->Log();
    client_ = std::make_unique<pr::GrpcRuntimeClient>(&daemon_->runtime(), &daemon_->images());
  }

  // The manifest with IMAGE replaced by the test busybox.
  pr::PodManifest Manifest(const std::string& yaml) {
    auto pod = pr::ParseManifest(absl::StrReplaceAll(yaml, {{"IMAGE", TestImage("busybox")}}));
    EXPECT_TRUE(pod.ok()) << pod.status();
    return pod.ok() ? *pod : pr::PodManifest{};
  }

  pr::RunnerOptions Options() {
    pr::RunnerOptions o;
    o.poll_interval = absl::Milliseconds(50);
    o.volume_root = daemon_->base() + "/play-volumes";
    o.log_root = daemon_->base() + "/pod-logs";
    o.on_status = [this](const pr::PodStatusRow& row) {
      std::lock_guard<std::mutex> l(mu_);
      statuses_.push_back(row.status);
    };
    o.on_event = [this](const pr::PodEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    };
    return o;
  }

  bool SawStatus(const std::string& status) {
    std::lock_guard<std::mutex> l(mu_);
    return std::find(statuses_.begin(), statuses_.end(), status) != statuses_.end();
  }

  std::vector<absl::Time> Started(const std::string& container) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<absl::Time> out;
    for (const auto& e : events_) {
      if (e.reason == "Started" && absl::EndsWith(e.object, "/" + container)) out.push_back(e.time);
    }
    return out;
  }

  // Runs the runner on a thread; stops it when `stop_when` holds (or after `seconds`).
  absl::StatusOr<pr::PodPhase> RunUntil(pr::PodRunner& runner, std::function<bool()> stop_when,
                                        int seconds = 60) {
    std::atomic<bool> done{false};
    absl::StatusOr<pr::PodPhase> phase;
    std::thread t([&] {
      phase = runner.Run();
      done = true;
    });
    absl::Time deadline = absl::Now() + absl::Seconds(seconds);
    while (!done && absl::Now() < deadline) {
      if (stop_when && stop_when()) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    runner.Stop();
    t.join();
    return phase;
  }

  std::map<std::string, runtime::v1::ContainerStatus> StatusesByName(const std::string& pod_id) {
    std::map<std::string, runtime::v1::ContainerStatus> out;
    auto list = client_->ListContainers(pod_id);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return out;
    for (const auto& c : *list) {
      auto s = client_->ContainerStatus(c.id());
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) out[c.metadata().name()] = *s;
    }
    return out;
  }

  int PodCount() {
    auto pods = client_->ListPodSandbox({});
    EXPECT_TRUE(pods.ok()) << pods.status();
    return pods.ok() ? static_cast<int>(pods->size()) : -1;
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<pr::GrpcRuntimeClient> client_;
  std::mutex mu_;
  std::vector<std::string> statuses_;
  std::vector<pr::PodEvent> events_;
};

TEST_F(PodRunnerE2E, InitSidecarsAndShutdownInKubeletOrder) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: ordered, namespace: play}
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: init1, image: IMAGE, command: [sh, -c, "sleep 0.3; echo init1"]}
  - {name: init2, image: IMAGE, command: [sh, -c, "sleep 0.3; echo init2"]}
  - {name: sidecar, image: IMAGE, command: [sleep, "1000"], restartPolicy: Always}
  containers:
  - {name: app1, image: IMAGE, command: [sleep, "1000"]}
  - {name: app2, image: IMAGE, command: [sleep, "1000"]}
)");
  pr::RunnerOptions o = Options();
  o.remove = false;  // keep the stopped containers to read their timestamps
  pr::PodRunner runner(client_.get(), pod, o);
  auto phase = RunUntil(runner, [&] { return SawStatus("Running"); });
  ASSERT_TRUE(phase.ok()) << phase.status() << daemon_->Log();
  EXPECT_EQ(*phase, pr::PodPhase::kRunning);
  EXPECT_TRUE(SawStatus("Init:0/3"));
  EXPECT_TRUE(SawStatus("Running"));

  auto st = StatusesByName(runner.sandbox_id());
  ASSERT_EQ(st.size(), 5u);
  for (const auto& [name, s] : st) {
    EXPECT_EQ(s.state(), runtime::v1::CONTAINER_EXITED) << name;
    EXPECT_EQ(s.labels().at(pr::kContainerNameLabel), name);
    EXPECT_EQ(s.labels().at(pr::kPodNameLabel), "ordered");
    EXPECT_EQ(s.labels().at(pr::kPodNamespaceLabel), "play");
    EXPECT_EQ(s.labels().at(pr::kPodUidLabel), runner.uid());
  }
  EXPECT_EQ(st["init1"].exit_code(), 0);
  EXPECT_EQ(st["init2"].exit_code(), 0);
  // init1 finished before init2 started; init2 before the sidecar.
  EXPECT_LE(st["init1"].finished_at(), st["init2"].started_at());
  EXPECT_LE(st["init2"].finished_at(), st["sidecar"].started_at());
  // The sidecar was running before the regular containers started.
  EXPECT_LT(st["sidecar"].started_at(), st["app1"].started_at());
  EXPECT_LT(st["sidecar"].started_at(), st["app2"].started_at());
  // Shutdown: the regular containers stopped before the sidecar.
  EXPECT_LT(st["app1"].finished_at(), st["sidecar"].finished_at());
  EXPECT_LT(st["app2"].finished_at(), st["sidecar"].finished_at());
  auto sandbox = client_->PodSandboxStatus(runner.sandbox_id());
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  EXPECT_EQ(sandbox->state(), runtime::v1::SANDBOX_NOTREADY);
  EXPECT_EQ(sandbox->labels().at(pr::kPodNameLabel), "ordered");
  // The init container's log went where kubelet puts it.
  auto log = std::filesystem::path(o.log_root) / absl::StrCat("play_ordered_", runner.uid()) /
             "init1" / "0.log";
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  EXPECT_TRUE(absl::EndsWith(line, "init1")) << log << ": " << line;
}

TEST_F(PodRunnerE2E, FailingInitWithRestartNeverFailsThePod) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: broken-init}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init1, image: IMAGE, command: [sh, -c, "exit 3"]}
  containers:
  - {name: app, image: IMAGE, command: [sleep, "1000"]}
)");
  pr::PodRunner runner(client_.get(), pod, Options());
  auto phase = RunUntil(runner, nullptr);
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(*phase, pr::PodPhase::kFailed);
  EXPECT_TRUE(SawStatus("Init:Error"));
  EXPECT_TRUE(Started("app").empty());
  EXPECT_EQ(PodCount(), 0);  // torn down
}

TEST_F(PodRunnerE2E, BackOffGrows) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: crashy}
spec:
  containers:
  - {name: app, image: IMAGE, command: [sh, -c, "exit 1"]}
)");
  pr::RunnerOptions o = Options();
  o.backoff_base = absl::Milliseconds(300);
  pr::PodRunner runner(client_.get(), pod, o);
  auto phase = RunUntil(runner, [&] { return Started("app").size() >= 4; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto starts = Started("app");
  ASSERT_GE(starts.size(), 4u);
  // Each restart waits at least its back-off (300, 600, 1200 ms) and the waits grow. No upper
  // bound: a loaded machine may be late (the exact delays are unit-tested with a fake clock).
  std::vector<absl::Duration> gaps;
  for (int i = 0; i < 3; ++i) {
    gaps.push_back(starts[i + 1] - starts[i]);
    EXPECT_GE(gaps.back(), absl::Milliseconds(300) * (1 << i)) << i;
  }
  EXPECT_GT(gaps[2], gaps[0]);
  EXPECT_TRUE(SawStatus("CrashLoopBackOff"));
  EXPECT_EQ(PodCount(), 0);
}

// Through the tetherctl binary: a malformed manifest is refused naming the field, and nothing is
// made; a pod that completes exits 0 with its status rows.
TEST_F(PodRunnerE2E, TetherctlPlay) {
  const std::string dir = daemon_->base() + "/manifests";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bad.yaml") << R"(apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers:
  - {name: a, image: busybox}
  - {name: b}
)";
  auto bad =
      RunProcess({.argv = {TETHERCTL_PATH, "-r", daemon_->socket(), "play", dir + "/bad.yaml"},
                  .timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad->err, "spec.containers[1].image: is required")) << bad->err;
  EXPECT_EQ(PodCount(), 0);

  std::ofstream(dir + "/done.yaml") << absl::StrReplaceAll(R"(apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  containers:
  - {name: a, image: IMAGE, command: [sh, -c, "echo hi"]}
)",
                                                           {{"IMAGE", TestImage("busybox")}});
  auto ok = RunProcess(
      {.argv = {TETHERCTL_PATH, "-r", daemon_->socket(), "play", "--events", "--volume-root",
                daemon_->base() + "/v", "--log-root", daemon_->base() + "/l", dir + "/done.yaml"},
       .timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->exit_code, 0) << ok->out << ok->err;
  EXPECT_TRUE(absl::StrContains(ok->out, "Completed")) << ok->out;
  EXPECT_TRUE(absl::StrContains(ok->out, "Started")) << ok->out;
  EXPECT_EQ(PodCount(), 0);
}

}  // namespace
}  // namespace tether::e2e
