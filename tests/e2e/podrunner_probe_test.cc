// The pod runner's probes, lifecycle hooks and ConfigMaps end to end: manifests driven through a
// real tetherd, probes running in the pods (exec through ExecSync, httpGet and tcpSocket to the
// pod's IP on the test bridge), restarts read back from the runtime's ContainerStatus.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

namespace pr = ::tether::podrunner;

class PodRunnerProbeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok()) << daemon_->Log();
    client_ = std::make_unique<pr::GrpcRuntimeClient>(&daemon_->runtime(), &daemon_->images());
  }

  std::string WithImage(const std::string& yaml) {
    return absl::StrReplaceAll(yaml, {{"IMAGE", TestImage("busybox")}});
  }

  pr::PodManifest Manifest(const std::string& yaml) {
    auto pod = pr::ParseManifest(WithImage(yaml));
    EXPECT_TRUE(pod.ok()) << pod.status();
    return pod.ok() ? *pod : pr::PodManifest{};
  }

  pr::RunnerOptions Options() {
    pr::RunnerOptions o;
    o.poll_interval = absl::Milliseconds(50);
    o.backoff_base = absl::Milliseconds(300);
    o.volume_root = daemon_->base() + "/play-volumes";
    o.log_root = daemon_->base() + "/pod-logs";
    o.remove = false;  // keep the stopped containers to read their statuses
    o.on_status = [this](const pr::PodStatusRow& row) {
      std::lock_guard<std::mutex> l(mu_);
      rows_.push_back(row);
    };
    o.on_event = [this](const pr::PodEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    };
    return o;
  }

  std::vector<pr::PodEvent> Events(const std::string& reason, const std::string& container) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<pr::PodEvent> out;
    for (const auto& e : events_) {
      if (e.reason == reason && absl::EndsWith(e.object, "/" + container)) out.push_back(e);
    }
    return out;
  }

  std::vector<pr::PodStatusRow> Rows() {
    std::lock_guard<std::mutex> l(mu_);
    return rows_;
  }

  std::string EventLog() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const auto& e : events_)
      absl::StrAppend(&out, e.reason, " ", e.object, " ", e.message, "\n");
    return out;
  }

  absl::StatusOr<pr::PodPhase> RunUntil(pr::PodRunner& runner, std::function<bool()> stop_when,
                                        int seconds = 90) {
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

  // The containers of the sandbox named `name`, by attempt.
  std::map<uint32_t, runtime::v1::ContainerStatus> Attempts(const std::string& pod_id,
                                                            const std::string& name) {
    std::map<uint32_t, runtime::v1::ContainerStatus> out;
    auto list = client_->ListContainers(pod_id);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return out;
    for (const auto& c : *list) {
      if (c.metadata().name() != name) continue;
      auto s = client_->ContainerStatus(c.id());
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) out[c.metadata().attempt()] = *s;
    }
    return out;
  }

  int MaxRestarts() {
    int n = 0;
    for (const auto& r : Rows()) n = std::max(n, r.restarts);
    return n;
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<pr::GrpcRuntimeClient> client_;
  std::mutex mu_;
  std::vector<pr::PodStatusRow> rows_;
  std::vector<pr::PodEvent> events_;
};

// An exec liveness probe that starts failing: the container is killed and made again, the
// restart counted in the status and in the new container's attempt.
TEST_F(PodRunnerProbeE2E, FailingExecLivenessProbeRestartsTheContainer) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: IMAGE
    command: [sh, -c, "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 1000"]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      periodSeconds: 1
      failureThreshold: 2
)");
  pr::PodRunner runner(client_.get(), pod, Options());
  auto phase = RunUntil(runner, [&] { return Events("Started", "app").size() >= 2; });
  ASSERT_TRUE(phase.ok()) << phase.status() << daemon_->Log();
  ASSERT_GE(Events("Started", "app").size(), 2u) << EventLog();

  auto unhealthy = Events("Unhealthy", "app");
  ASSERT_GE(unhealthy.size(), 2u) << EventLog();
  EXPECT_TRUE(absl::StartsWith(unhealthy[0].message, "Liveness probe failed: ")) << EventLog();
  EXPECT_TRUE(absl::StrContains(unhealthy[0].message, "/tmp/healthy")) << unhealthy[0].message;
  auto killing = Events("Killing", "app");
  ASSERT_FALSE(killing.empty());
  EXPECT_EQ(killing[0].message, "Container app failed liveness probe, will be restarted");
  EXPECT_GE(MaxRestarts(), 1);

  auto attempts = Attempts(runner.sandbox_id(), "app");
  ASSERT_TRUE(attempts.contains(0)) << EventLog();
  ASSERT_TRUE(attempts.contains(1)) << EventLog();
  // The first attempt was killed (after at least the 2 s it was healthy), not exited by itself.
  const auto& first = attempts[0];
  EXPECT_EQ(first.state(), runtime::v1::CONTAINER_EXITED);
  EXPECT_NE(first.exit_code(), 0);
  EXPECT_GE(first.finished_at() - first.started_at(), int64_t{2} * 1000 * 1000 * 1000);
  EXPECT_EQ(attempts[1].metadata().attempt(), 1u);
  EXPECT_EQ(attempts[1].annotations().at("io.kubernetes.container.restartCount"), "1");
  EXPECT_GE(attempts[1].started_at(), first.finished_at());
}

// httpGet and tcpSocket probes against busybox httpd in the pod, at the pod's IP: the startup
// probe waits for the port, readiness for /ready (404 until the file appears), liveness keeps
// passing (no restart).
TEST_F(PodRunnerProbeE2E, HttpGetAndTcpSocketProbesAgainstAServerInThePod) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: IMAGE
    command: [sh, -c, "mkdir -p /www; echo hi > /www/index.html; (sleep 3; echo ok > /www/ready) & sleep 1; exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    startupProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
      failureThreshold: 20
    readinessProbe:
      httpGet:
        path: /ready
        port: http
        httpHeaders: [{name: X-Probe, value: tether}]
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /index.html, port: 8080}
      periodSeconds: 1
)");
  pr::PodRunner runner(client_.get(), pod, Options());
  bool was_unready = false;
  std::string pod_ip;
  auto phase = RunUntil(runner, [&] {
    bool ready_after = false;
    for (const auto& r : Rows()) {  // (Rows() orders this after the runner set sandbox_id)
      if (r.status == "Running" && r.ready == 0) was_unready = true;
      if (was_unready && r.ready == 1) ready_after = true;
    }
    if (ready_after) {  // the address the probes went to, while the sandbox still has it
      auto sandbox = client_->PodSandboxStatus(runner.sandbox_id());
      if (sandbox.ok()) pod_ip = sandbox->network().ip();
    }
    return ready_after;
  });
  ASSERT_TRUE(phase.ok()) << phase.status() << daemon_->Log();
  EXPECT_TRUE(was_unready) << EventLog();
  bool ready = false;
  for (const auto& r : Rows()) ready |= r.ready == 1 && r.total == 1 && r.status == "Running";
  EXPECT_TRUE(ready) << EventLog();
  // /ready answered 404 from the pod's httpd before the file was there.
  bool saw_404 = false;
  for (const auto& e : Events("Unhealthy", "web")) {
    saw_404 |= absl::StartsWith(e.message,
                                "Readiness probe failed: HTTP probe failed with "
                                "statuscode: 404");
  }
  EXPECT_TRUE(saw_404) << EventLog();
  EXPECT_EQ(Events("Started", "web").size(), 1u) << EventLog();  // liveness never failed
  EXPECT_EQ(MaxRestarts(), 0);
  EXPECT_TRUE(absl::StartsWith(pod_ip, E2ESubnetPrefix())) << pod_ip;
}

// A failing postStart hook kills the container, which is restarted per the restart policy.
TEST_F(PodRunnerProbeE2E, FailingPostStartHookKillsTheContainer) {
  pr::PodManifest pod = Manifest(R"(
apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: IMAGE
    command: [sleep, "1000"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo no config; exit 7"]}
)");
  pr::PodRunner runner(client_.get(), pod, Options());
  auto phase = RunUntil(runner, [&] { return Events("Started", "app").size() >= 2; });
  ASSERT_TRUE(phase.ok()) << phase.status() << daemon_->Log();
  auto failed = Events("FailedPostStartHook", "app");
  ASSERT_FALSE(failed.empty()) << EventLog();
  EXPECT_TRUE(absl::StrContains(failed[0].message, "exited with 7")) << failed[0].message;
  EXPECT_TRUE(absl::StrContains(failed[0].message, "no config")) << failed[0].message;
  EXPECT_GE(MaxRestarts(), 1);
  auto attempts = Attempts(runner.sandbox_id(), "app");
  ASSERT_TRUE(attempts.contains(0));
  ASSERT_TRUE(attempts.contains(1));
  EXPECT_EQ(attempts[0].state(), runtime::v1::CONTAINER_EXITED);
  EXPECT_NE(attempts[0].exit_code(), 0);  // killed, it would have slept 1000 s
  EXPECT_LT(attempts[0].finished_at() - attempts[0].started_at(), int64_t{60} * 1000 * 1000 * 1000);
}

// preStop runs before the container is stopped, inside it.
TEST_F(PodRunnerProbeE2E, PreStopHookRunsOnShutdown) {
  const std::string out = daemon_->base() + "/prestop-out";
  pr::PodManifest pod = Manifest(absl::StrCat(R"(
apiVersion: v1
kind: Pod
metadata: {name: stopper}
spec:
  terminationGracePeriodSeconds: 5
  volumes:
  - name: out
    hostPath: {path: )",
                                              out, R"(, type: DirectoryOrCreate}
  containers:
  - name: app
    image: IMAGE
    command: [sh, -c, "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "echo prestop >> /out/log"]}
)"));
  pr::PodRunner runner(client_.get(), pod, Options());
  auto phase = RunUntil(runner, [&] { return !Events("Started", "app").empty(); });
  ASSERT_TRUE(phase.ok()) << phase.status() << daemon_->Log();
  auto log = ReadFile(out + "/log");
  ASSERT_TRUE(log.ok()) << log.status() << EventLog();
  EXPECT_EQ(*log, "prestop\nterm\n");  // the hook, then SIGTERM
  auto attempts = Attempts(runner.sandbox_id(), "app");
  ASSERT_TRUE(attempts.contains(0));
  EXPECT_EQ(attempts[0].exit_code(), 0);  // stopped by SIGTERM within the grace
  std::filesystem::remove_all(out);
}

// tetherctl play with a file of several documents: a ConfigMap (a volume and env) and two pods.
TEST_F(PodRunnerProbeE2E, TetherctlPlaysEveryPodWithTheConfigMap) {
  const std::string dir = daemon_->base() + "/manifests";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/multi.yaml") << WithImage(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  greeting: hello from a configmap
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  volumes: [{name: conf, configMap: {name: settings}}]
  containers:
  - name: cat
    image: IMAGE
    env: [{name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}]
    command: [sh, -c, "cat /etc/conf/greeting; echo; echo env=$GREETING; touch /etc/conf/x 2>/dev/null && echo writable || echo read-only"]
    volumeMounts: [{name: conf, mountPath: /etc/conf}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: second}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: done, image: IMAGE, command: ["true"]}
)");
  const std::string logs = daemon_->base() + "/l";
  auto play = RunProcess(
      {.argv = {TETHERCTL_PATH, "-r", daemon_->socket(), "play", "--events", "--volume-root",
                daemon_->base() + "/v", "--log-root", logs, dir + "/multi.yaml"},
       .timeout = std::chrono::seconds(90)});
  ASSERT_TRUE(play.ok()) << play.status();
  EXPECT_EQ(play->exit_code, 0) << play->out << play->err;
  EXPECT_TRUE(absl::StrContains(play->out, "reader")) << play->out;
  EXPECT_TRUE(absl::StrContains(play->out, "second")) << play->out;
  // Both pods completed, and were torn down.
  auto pods = client_->ListPodSandbox({});
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->size(), 0u);
  // The reader's log: the file, the env and a read-only mount.
  std::string log;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(logs)) {
    if (entry.path().filename() == "0.log" && entry.path().parent_path().filename() == "cat") {
      auto text = ReadFile(entry.path().string());
      if (text.ok()) log = *text;
    }
  }
  EXPECT_TRUE(absl::StrContains(log, "hello from a configmap")) << log;
  EXPECT_TRUE(absl::StrContains(log, "env=hello from a configmap")) << log;
  EXPECT_TRUE(absl::StrContains(log, "read-only")) << log;
  EXPECT_FALSE(absl::StrContains(log, "writable")) << log;
}

}  // namespace
}  // namespace tether::e2e
