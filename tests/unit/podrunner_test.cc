// The pod runner (tetherctl play): manifest parsing and validation, CRI configs, and the state
// machine over a fake CRI client and a fake clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "podrunner_fakes.h"
#include "tetherctl/cli.h"

namespace tether::podrunner {
namespace {

using fake::PodWith;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// --- manifests -------------------------------------------------------------------------------

constexpr char kFullPod[] = R"(
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: 11111111-2222-4333-8444-555555555555
  labels: {app: web}
  annotations: {note: hi}
spec:
  hostname: front
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  shareProcessNamespace: true
  hostIPC: true
  dnsConfig:
    nameservers: [1.1.1.1]
    searches: [example.com]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  securityContext:
    runAsUser: 1000
    supplementalGroups: [5]
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
  volumes:
  - name: cache
    emptyDir: {}
  - name: host
    hostPath: {path: /srv/data, type: DirectoryOrCreate}
  initContainers:
  - name: setup
    image: busybox:1.36
    command: [sh, -c, "echo hi"]
  - name: proxy
    image: busybox
    restartPolicy: Always
  containers:
  - name: app
    image: registry.example/app@sha256:abc
    imagePullPolicy: Never
    args: [serve]
    workingDir: /srv
    env: [{name: MODE, value: prod}, {name: EMPTY}]
    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP}]
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: host, mountPath: /data, readOnly: true}
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: "0.25"}
    securityContext:
      runAsGroup: 2000
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {add: [NET_ADMIN], drop: [ALL]}
    livenessProbe: {exec: {command: ["true"]}}
)";

TEST(PodManifestTest, ParsesAFullPod) {
  auto pod = ParseManifest(kFullPod);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->name, "web");
  EXPECT_EQ(pod->namespace_, "shop");
  EXPECT_EQ(pod->hostname, "front");
  EXPECT_EQ(pod->restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(pod->termination_grace_period_seconds, 5);
  EXPECT_TRUE(pod->share_process_namespace);
  EXPECT_THAT(pod->dns_options, ElementsAre("ndots:2", "edns0"));
  EXPECT_EQ(pod->sysctls.at("net.ipv4.ip_unprivileged_port_start"), "0");
  ASSERT_EQ(pod->init_containers.size(), 2u);
  EXPECT_FALSE(pod->init_containers[0].sidecar);
  EXPECT_TRUE(pod->init_containers[1].sidecar);
  // Default pull policies: a tag → IfNotPresent; no tag (latest) → Always.
  EXPECT_EQ(pod->init_containers[0].pull_policy, PullPolicy::kIfNotPresent);
  EXPECT_EQ(pod->init_containers[1].pull_policy, PullPolicy::kAlways);
  const ContainerSpec& app = pod->containers[0];
  EXPECT_EQ(app.pull_policy, PullPolicy::kNever);
  EXPECT_EQ(app.cpu_limit_millis, 500);
  EXPECT_EQ(app.cpu_request_millis, 250);
  EXPECT_EQ(app.memory_limit_bytes, 128 * 1024 * 1024);
  EXPECT_EQ(app.allow_privilege_escalation, false);
  EXPECT_TRUE(pod->warnings.empty());
  ASSERT_TRUE(app.liveness_probe.has_value());
  EXPECT_THAT(app.liveness_probe->handler.command, ElementsAre("true"));
}

TEST(PodManifestTest, DeploymentTemplate) {
  auto pod = ParseManifest(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: c, image: busybox:1}]
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->name, "api");
  EXPECT_EQ(pod->namespace_, "prod");
  EXPECT_EQ(pod->labels.at("app"), "api");
  EXPECT_EQ(pod->hostname, "api");
}

std::string ErrorOf(const std::string& yaml) {
  auto pod = ParseManifest(yaml);
  EXPECT_FALSE(pod.ok());
  if (pod.ok()) return "";
  EXPECT_EQ(pod.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(pod.status().message());
}

TEST(PodManifestTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(PodWith("  containers: [{name: a, image: x}, {name: b}]")),
            "spec.containers[1].image: is required");
  EXPECT_EQ(ErrorOf(PodWith("  containers: []")), "spec.containers: is required");
  EXPECT_EQ(ErrorOf("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: x}]}"),
            "metadata.name: is required");
  EXPECT_EQ(ErrorOf(PodWith("  containers: [{name: A_b, image: x}]")).substr(0, 24),
            "spec.containers[0].name:");
  EXPECT_THAT(ErrorOf(PodWith("  containers: [{name: a, image: x, env: [{name: K, valueFrom: "
                              "{fieldRef: {fieldPath: metadata.name}}}]}]")),
              HasSubstr("spec.containers[0].env[0].valueFrom: is not supported"));
  EXPECT_THAT(ErrorOf(PodWith("  volumes: [{name: v, secret: {secretName: c}}]\n"
                              "  containers: [{name: a, image: x}]")),
              HasSubstr("spec.volumes[0]: only emptyDir, hostPath and configMap"));
  EXPECT_THAT(ErrorOf(PodWith("  containers: [{name: a, image: x, volumeMounts: [{name: nope, "
                              "mountPath: /x}]}]")),
              HasSubstr("spec.containers[0].volumeMounts[0].name: volume \"nope\""));
  EXPECT_EQ(ErrorOf(PodWith("  restartPolicy: Sometimes\n  containers: [{name: a, image: x}]")),
            "spec.restartPolicy: must be Always, OnFailure or Never");
  EXPECT_EQ(ErrorOf(PodWith("  containers: [{name: a, image: x, restartPolicy: Always}]")),
            "spec.containers[0].restartPolicy: is only allowed on init containers");
  EXPECT_EQ(ErrorOf(PodWith("  initContainers: [{name: i, image: x, restartPolicy: Never}]\n"
                            "  containers: [{name: a, image: x}]")),
            "spec.initContainers[0].restartPolicy: must be Always (a sidecar) or unset");
  EXPECT_EQ(
      ErrorOf(PodWith("  containers: [{name: a, image: x, resources: {limits: {cpu: lots}}}]")),
      "spec.containers[0].resources.limits.cpu: \"lots\" is not a CPU quantity");
  EXPECT_EQ(ErrorOf(PodWith("  containers: [{name: a, image: x}, {name: a, image: y}]")),
            "spec.containers[1].name: duplicate container name \"a\"");
  EXPECT_EQ(ErrorOf(PodWith("  containers: [{name: a, image: x, ports: [{containerPort: 0}]}]")),
            "spec.containers[0].ports[0].containerPort: must be between 1 and 65535");
  EXPECT_EQ(ErrorOf(PodWith("  hostNetwork: maybe\n  containers: [{name: a, image: x}]")),
            "spec.hostNetwork: must be true or false");
  EXPECT_THAT(ErrorOf("apiVersion: v1\nkind: Service\nmetadata: {name: s}"), HasSubstr("kind:"));
  EXPECT_THAT(ErrorOf("kind: Pod\n  bad: [indent"), HasSubstr("not valid YAML"));
}

TEST(PodManifestTest, Quantities) {
  EXPECT_EQ(*ParseCpuMillis("100m"), 100);
  EXPECT_EQ(*ParseCpuMillis("1.5"), 1500);
  EXPECT_EQ(*ParseCpuMillis("2"), 2000);
  EXPECT_EQ(*ParseMemoryBytes("1Gi"), 1024LL * 1024 * 1024);
  EXPECT_EQ(*ParseMemoryBytes("1G"), 1000000000LL);
  EXPECT_EQ(*ParseMemoryBytes("1e6"), 1000000LL);
  EXPECT_EQ(*ParseMemoryBytes("512"), 512);
  EXPECT_FALSE(ParseMemoryBytes("Mi").ok());
  EXPECT_FALSE(ParseCpuMillis("-1").ok());
}

// --- CRI configs -----------------------------------------------------------------------------

TEST(PodConfigTest, Sandbox) {
  auto pod = ParseManifest(kFullPod);
  ASSERT_TRUE(pod.ok());
  auto c = SandboxConfig(*pod, pod->uid, "/logs");
  EXPECT_EQ(c.metadata().name(), "web");
  EXPECT_EQ(c.metadata().namespace_(), "shop");
  EXPECT_EQ(c.metadata().uid(), pod->uid);
  EXPECT_EQ(c.hostname(), "front");
  EXPECT_EQ(c.log_directory(), "/logs/shop_web_" + pod->uid);
  EXPECT_THAT(c.dns_config().servers(), ElementsAre("1.1.1.1"));
  EXPECT_THAT(c.dns_config().searches(), ElementsAre("example.com"));
  EXPECT_THAT(c.dns_config().options(), ElementsAre("ndots:2", "edns0"));
  ASSERT_EQ(c.port_mappings_size(), 1);  // only ports with a hostPort
  EXPECT_EQ(c.port_mappings(0).container_port(), 80);
  EXPECT_EQ(c.port_mappings(0).host_port(), 8080);
  const auto& ns = c.linux().security_context().namespace_options();
  EXPECT_EQ(ns.pid(), runtime::v1::POD);
  EXPECT_EQ(ns.ipc(), runtime::v1::NODE);
  EXPECT_EQ(ns.network(), runtime::v1::POD);
  EXPECT_EQ(c.linux().sysctls().at("net.ipv4.ip_unprivileged_port_start"), "0");
  EXPECT_EQ(c.labels().at("app"), "web");
  EXPECT_EQ(c.labels().at(kPodNameLabel), "web");
  EXPECT_EQ(c.labels().at(kPodNamespaceLabel), "shop");
  EXPECT_EQ(c.labels().at(kPodUidLabel), pod->uid);
  EXPECT_EQ(c.annotations().at("note"), "hi");
}

TEST(PodConfigTest, Container) {
  auto pod = ParseManifest(kFullPod);
  ASSERT_TRUE(pod.ok());
  auto c = ContainerConfigFor(*pod, pod->containers[0], "spec.containers[0]", "U", 2, "/vol");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metadata().name(), "app");
  EXPECT_EQ(c->metadata().attempt(), 2u);
  EXPECT_THAT(c->args(), ElementsAre("serve"));
  EXPECT_EQ(c->working_dir(), "/srv");
  ASSERT_EQ(c->envs_size(), 2);
  EXPECT_EQ(c->envs(0).key(), "MODE");
  EXPECT_EQ(c->envs(0).value(), "prod");
  ASSERT_EQ(c->mounts_size(), 2);
  EXPECT_EQ(c->mounts(0).host_path(), "/vol/U/volumes/cache");
  EXPECT_EQ(c->mounts(0).container_path(), "/cache");
  EXPECT_FALSE(c->mounts(0).readonly());
  EXPECT_EQ(c->mounts(1).host_path(), "/srv/data");
  EXPECT_TRUE(c->mounts(1).readonly());
  EXPECT_EQ(c->log_path(), "app/2.log");
  const auto& r = c->linux().resources();
  EXPECT_EQ(r.cpu_period(), 100000);
  EXPECT_EQ(r.cpu_quota(), 50000);
  EXPECT_EQ(r.cpu_shares(), 256);
  EXPECT_EQ(r.memory_limit_in_bytes(), 128 * 1024 * 1024);
  const auto& sc = c->linux().security_context();
  EXPECT_EQ(sc.run_as_user().value(), 1000);  // from the pod
  EXPECT_EQ(sc.run_as_group().value(), 2000);
  EXPECT_TRUE(sc.readonly_rootfs());
  EXPECT_TRUE(sc.no_new_privs());
  EXPECT_THAT(sc.capabilities().add_capabilities(), ElementsAre("NET_ADMIN"));
  EXPECT_THAT(sc.capabilities().drop_capabilities(), ElementsAre("ALL"));
  EXPECT_THAT(sc.supplemental_groups(), ElementsAre(5));
  EXPECT_EQ(sc.namespace_options().pid(), runtime::v1::POD);
  EXPECT_EQ(c->labels().at(kContainerNameLabel), "app");
  EXPECT_EQ(c->labels().at(kPodNameLabel), "web");
  EXPECT_EQ(c->labels().at(kPodNamespaceLabel), "shop");
  EXPECT_EQ(c->labels().at(kPodUidLabel), "U");
}

TEST(PodConfigTest, RunAsNonRootRefusesRoot) {
  auto pod = ParseManifest(
      PodWith("  securityContext: {runAsNonRoot: true}\n"
              "  containers: [{name: a, image: x, securityContext: {runAsUser: 0}}]"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto c = ContainerConfigFor(*pod, pod->containers[0], "spec.containers[0]", "U", 0, "/v");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("spec.containers[0].securityContext.runAsNonRoot"));
}

TEST(PodConfigTest, BackOffDoublesUpToTheCap) {
  std::vector<int64_t> seconds;
  for (int n = 0; n < 7; ++n) {
    seconds.push_back(absl::ToInt64Seconds(BackOffDelay(absl::Seconds(10), absl::Minutes(5), n)));
  }
  EXPECT_THAT(seconds, ElementsAre(10, 20, 40, 80, 160, 300, 300));
}

// --- the runner over a fake runtime ----------------------------------------------------------

using fake::Attempt;
using fake::FakeClock;
using fake::FakeRuntime;

class PodRunnerTest : public ::testing::Test {
 protected:
  PodRunnerTest() : runtime_(&clock_) {
    volume_root_ = absl::StrCat(::testing::TempDir(), "/podrunner-", getpid());
  }
  ~PodRunnerTest() override { std::filesystem::remove_all(volume_root_); }

  RunnerOptions Options() {
    RunnerOptions o;
    o.clock = &clock_;
    o.poll_interval = absl::Milliseconds(10);
    o.backoff_base = absl::Milliseconds(100);
    o.volume_root = volume_root_;
    o.log_root = "/logs";
    o.on_event = [this](const PodEvent& e) { events_.push_back(e); };
    o.on_status = [this](const PodStatusRow& r) { statuses_.push_back(r.status); };
    return o;
  }

  PodManifest Manifest(const std::string& spec) {
    auto pod = ParseManifest(PodWith(spec));
    EXPECT_TRUE(pod.ok()) << pod.status();
    return pod.ok() ? *pod : PodManifest{};
  }

  // Runs `pod` on a thread of its own, stopping it once `stop_when` holds.
  absl::StatusOr<PodPhase> RunUntil(PodRunner& runner, const std::function<bool()>& stop_when) {
    std::atomic<bool> done{false};
    absl::StatusOr<PodPhase> phase;
    std::thread t([&] {
      phase = runner.Run();
      done = true;
    });
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done && absl::Now() < deadline) {
      if (stop_when && stop_when()) runner.Stop();
      absl::SleepFor(absl::Milliseconds(1));
    }
    runner.Stop();
    t.join();
    return phase;
  }

  std::vector<absl::Time> EventTimes(const std::string& reason, const std::string& container) {
    std::vector<absl::Time> out;
    for (const auto& e : events_) {
      if (e.reason == reason && absl::EndsWith(e.object, "/" + container)) out.push_back(e.time);
    }
    return out;
  }

  FakeClock clock_;
  FakeRuntime runtime_;
  std::string volume_root_;
  std::vector<PodEvent> events_;
  std::vector<std::string> statuses_;
};

constexpr char kOrderedPod[] = R"(  initContainers:
  - {name: init1, image: busybox:1}
  - {name: init2, image: busybox:1}
  - {name: side1, image: busybox:1, restartPolicy: Always}
  - {name: side2, image: busybox:1, restartPolicy: Always}
  containers:
  - {name: app1, image: busybox:1}
  - {name: app2, image: busybox:1}
)";

TEST_F(PodRunnerTest, KubeletOrder) {
  runtime_.scripts["init1"] = {{absl::Seconds(1), 0}};
  runtime_.scripts["init2"] = {{absl::Seconds(1), 0}};
  PodRunner runner(&runtime_, Manifest(kOrderedPod), Options());
  auto phase = RunUntil(runner, [&] { return runtime_.AllRunning({"app1", "app2"}); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(*phase, PodPhase::kRunning);

  auto at = [&](const std::string& call) {
    int i = runtime_.IndexOf(call);
    EXPECT_GE(i, 0) << call;
    return i;
  };
  EXPECT_EQ(at("RunPodSandbox p"), 0);
  EXPECT_LT(at("RunPodSandbox p"), at("Create init1"));
  // init1 exited (0) before init2 was created: by the fake's clock.
  auto init1 = runtime_.Named("init1");
  auto init2 = runtime_.Named("init2");
  ASSERT_EQ(init1.size(), 1u);
  ASSERT_EQ(init2.size(), 1u);
  EXPECT_LE(init1[0].finished, init2[0].created);
  EXPECT_LE(init2[0].finished, runtime_.Named("side1")[0].created);
  // Sidecars in order, each running before the next; both before the regular containers.
  EXPECT_LT(at("Start side1"), at("Create side2"));
  EXPECT_LT(at("Start side2"), at("Create app1"));
  EXPECT_LT(at("Start side2"), at("Create app2"));
  // Shutdown: regular containers, then sidecars in reverse, then the sandbox.
  EXPECT_LT(at("Stop app1"), at("Stop side2"));
  EXPECT_LT(at("Stop app2"), at("Stop side2"));
  EXPECT_LT(at("Stop side2"), at("Stop side1"));
  EXPECT_LT(at("Stop side1"), at("StopPodSandbox"));
  EXPECT_LT(at("StopPodSandbox"), at("RemovePodSandbox"));
  EXPECT_EQ(runtime_.Count("Stop init1"), 0);  // already exited
  // The image (busybox:1, IfNotPresent) was pulled once.
  EXPECT_EQ(runtime_.Count("Pull busybox:1"), 1);
  // The status went Pending → Init:0/4 → ... → Running.
  EXPECT_EQ(statuses_.front(), "Pending");
  EXPECT_THAT(statuses_, ::testing::Contains("Init:0/4"));
  EXPECT_THAT(statuses_, ::testing::Contains("Init:1/4"));
  EXPECT_THAT(statuses_, ::testing::Contains("Running"));
  // Events as kubelet names them.
  EXPECT_EQ(EventTimes("Pulling", "init1").size(), 1u);
  EXPECT_EQ(EventTimes("Pulled", "init2").size(), 1u);  // "already present"
  EXPECT_EQ(EventTimes("Started", "app1").size(), 1u);
  EXPECT_EQ(EventTimes("Killing", "side1").size(), 1u);
}

TEST_F(PodRunnerTest, SidecarRestartsWhileTheAppRuns) {
  runtime_.scripts["side1"] = {
      {absl::Hours(100), 0}, {absl::Milliseconds(500), 1}, {absl::InfiniteDuration(), 0}};
  runtime_.scripts["side1"][0].run = absl::Seconds(2);
  PodRunner runner(&runtime_,
                   Manifest("  initContainers: [{name: side1, image: x:1, restartPolicy: Always}]\n"
                            "  containers: [{name: app1, image: x:1}]"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.Named("side1").size() >= 3; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(runtime_.Named("app1").size(), 1u);  // the app was not restarted
  EXPECT_EQ(runtime_.Count("Create side1"), 3);
}

// A pod without init containers never shows "Init:0/0": as kubectl, Pending, then
// ContainerCreating until its containers run.
TEST_F(PodRunnerTest, NoInitContainersNoInitStatus) {
  PodRunner runner(&runtime_, Manifest("  containers: [{name: app1, image: x:1}]"), Options());
  auto phase = RunUntil(runner, [&] { return !runtime_.Named("app1").empty(); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  for (const auto& s : statuses_) EXPECT_FALSE(absl::StartsWith(s, "Init:")) << s;
  EXPECT_THAT(statuses_, ::testing::Contains("Running"));
}

TEST_F(PodRunnerTest, InitFailureWithRestartNeverFailsThePod) {
  runtime_.scripts["init1"] = {{absl::Milliseconds(200), 3}};
  PodRunner runner(&runtime_,
                   Manifest("  restartPolicy: Never\n"
                            "  initContainers: [{name: init1, image: x:1}]\n"
                            "  containers: [{name: app1, image: x:1}]"),
                   Options());
  auto phase = RunUntil(runner, nullptr);
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(*phase, PodPhase::kFailed);
  EXPECT_EQ(runtime_.Count("Create init1"), 1);
  EXPECT_EQ(runtime_.Count("Create app1"), 0);
  EXPECT_EQ(statuses_.back(), "Init:Error");
  EXPECT_GE(runtime_.IndexOf("RemovePodSandbox"), 0);
}

TEST_F(PodRunnerTest, InitFailureRestartsWithBackOff) {
  runtime_.scripts["init1"] = {{absl::Milliseconds(50), 1},
                               {absl::Milliseconds(50), 1},
                               {absl::Milliseconds(50), 1},
                               {absl::Milliseconds(50), 0}};
  PodRunner runner(&runtime_,
                   Manifest("  initContainers: [{name: init1, image: x:1}]\n"
                            "  containers: [{name: app1, image: x:1}]"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.AllRunning({"app1"}); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(runtime_.Count("Create init1"), 4);
  auto init1 = runtime_.Named("init1");
  ASSERT_EQ(init1.size(), 4u);
  for (int i = 1; i < 4; ++i) {
    absl::Duration gap = init1[i].started - init1[i - 1].finished;
    absl::Duration want = absl::Milliseconds(100) * (1 << (i - 1));
    EXPECT_GE(gap, want) << i;
    EXPECT_LT(gap, want + absl::Milliseconds(30)) << i;
  }
  EXPECT_THAT(statuses_, ::testing::Contains("Init:CrashLoopBackOff"));
  EXPECT_FALSE(EventTimes("BackOff", "init1").empty());
}

TEST_F(PodRunnerTest, BackOffGrowsAndCaps) {
  runtime_.scripts["app1"] = {{absl::ZeroDuration(), 1}};
  RunnerOptions o = Options();
  o.backoff_cap = absl::Milliseconds(800);
  PodRunner runner(&runtime_, Manifest("  containers: [{name: app1, image: x:1}]"), o);
  auto phase = RunUntil(runner, [&] { return runtime_.Named("app1").size() >= 7; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto starts = EventTimes("Started", "app1");
  ASSERT_GE(starts.size(), 7u);
  // 100, 200, 400, 800, 800, 800 ms (+ at most two polls to see the exit and restart).
  const int want_ms[] = {100, 200, 400, 800, 800, 800};
  for (int i = 0; i < 6; ++i) {
    absl::Duration gap = starts[i + 1] - starts[i];
    EXPECT_GE(gap, absl::Milliseconds(want_ms[i])) << i;
    EXPECT_LE(gap, absl::Milliseconds(want_ms[i] + 30)) << i;
  }
  EXPECT_THAT(statuses_, ::testing::Contains("CrashLoopBackOff"));
  // The current and one earlier attempt are kept; older ones are removed as it goes.
  EXPECT_GE(runtime_.Count("Remove app1"), 5);
}

TEST_F(PodRunnerTest, RestartPolicies) {
  {
    // OnFailure: a failure is restarted, success completes the pod.
    runtime_.scripts["app1"] = {{absl::Milliseconds(100), 2}, {absl::Milliseconds(100), 0}};
    PodRunner runner(&runtime_,
                     Manifest("  restartPolicy: OnFailure\n"
                              "  containers: [{name: app1, image: x:1}]"),
                     Options());
    auto phase = RunUntil(runner, nullptr);
    ASSERT_TRUE(phase.ok()) << phase.status();
    EXPECT_EQ(*phase, PodPhase::kSucceeded);
    EXPECT_EQ(runtime_.Count("Create app1"), 2);
    EXPECT_EQ(statuses_.back(), "Completed");
  }
  {
    // Never: a failure fails the pod; the sidecar is stopped with it.
    FakeRuntime rt(&clock_);
    rt.scripts["app1"] = {{absl::Milliseconds(100), 2}};
    PodRunner runner(&rt,
                     Manifest("  restartPolicy: Never\n"
                              "  initContainers: [{name: s, image: x:1, restartPolicy: Always}]\n"
                              "  containers: [{name: app1, image: x:1}]"),
                     Options());
    auto phase = RunUntil(runner, nullptr);
    ASSERT_TRUE(phase.ok()) << phase.status();
    EXPECT_EQ(*phase, PodPhase::kFailed);
    EXPECT_EQ(rt.Count("Create app1"), 1);
    EXPECT_EQ(rt.Count("Stop s"), 1);
  }
  {
    // Always: even a success is restarted.
    FakeRuntime rt(&clock_);
    rt.scripts["app1"] = {{absl::Milliseconds(100), 0}};
    PodRunner runner(&rt, Manifest("  containers: [{name: app1, image: x:1}]"), Options());
    auto phase = RunUntil(runner, [&] { return rt.Named("app1").size() >= 3; });
    ASSERT_TRUE(phase.ok()) << phase.status();
    EXPECT_EQ(*phase, PodPhase::kRunning);
  }
}

TEST_F(PodRunnerTest, PullPolicies) {
  runtime_.present_images = {"have:1", "latest-one"};
  PodRunner runner(&runtime_,
                   Manifest("  containers:\n"
                            "  - {name: a, image: have:1}\n"
                            "  - {name: b, image: latest-one}\n"
                            "  - {name: c, image: want:1}\n"
                            "  - {name: d, image: have:1, imagePullPolicy: Always}"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.AllRunning({"a", "b", "c", "d"}); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(runtime_.Count("Pull latest-one"), 1);  // no tag: Always
  EXPECT_EQ(runtime_.Count("Pull want:1"), 1);      // IfNotPresent, absent
  EXPECT_EQ(runtime_.Count("Pull have:1"), 1);      // only d's (Always)
}

TEST_F(PodRunnerTest, NeverPullOfAnAbsentImageFails) {
  PodRunner runner(&runtime_,
                   Manifest("  containers: [{name: a, image: nope:1, imagePullPolicy: Never}]"),
                   Options());
  auto phase = RunUntil(runner, nullptr);
  ASSERT_FALSE(phase.ok());
  EXPECT_THAT(phase.status().message(), HasSubstr("imagePullPolicy is Never"));
  EXPECT_GE(runtime_.IndexOf("RemovePodSandbox"), 0);  // cleaned up
}

TEST_F(PodRunnerTest, EmptyDirsAreMadeAndRemoved) {
  PodManifest pod = Manifest(
      "  volumes: [{name: scratch, emptyDir: {}}]\n"
      "  containers: [{name: a, image: x:1, volumeMounts: [{name: scratch, mountPath: /s}]}]");
  pod.uid = "uid-1";
  PodRunner runner(&runtime_, pod, Options());
  bool existed = false;
  auto phase = RunUntil(runner, [&] {
    if (!runtime_.AllRunning({"a"})) return false;
    existed = std::filesystem::is_directory(volume_root_ + "/uid-1/volumes/scratch");
    return true;
  });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_TRUE(existed);
  EXPECT_FALSE(std::filesystem::exists(volume_root_ + "/uid-1"));
}

// A malformed manifest is refused before any connection: the endpoint does not exist.
TEST(PlayCommandTest, MalformedManifestMakesNoCall) {
  std::string path = absl::StrCat(::testing::TempDir(), "/bad-pod-", getpid(), ".yaml");
  std::ofstream(path) << PodWith("  containers: [{name: a, image: x}, {name: b}]");
  std::ostringstream out, err;
  const char* argv[] = {"tetherctl", "-r", "unix:///nonexistent/tether.sock", "play", path.c_str()};
  int code = ctl::RunCli(5, argv, out, err);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(err.str(), HasSubstr("spec.containers[1].image: is required"));
  EXPECT_THAT(err.str(), ::testing::Not(HasSubstr("connect")));
  std::filesystem::remove(path);
}

// The play-*.yaml examples are valid manifests.
TEST(PodManifestTest, ExamplesParse) {
  auto dir = std::filesystem::path(__FILE__).parent_path() / "../../examples";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!absl::StartsWith(entry.path().filename().string(), "play-")) continue;
    auto pods = LoadManifests(entry.path().string());
    EXPECT_TRUE(pods.ok()) << pods.status();
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace tether::podrunner
