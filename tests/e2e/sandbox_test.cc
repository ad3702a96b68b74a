// Pod sandboxes end to end: real tetherd, runc, conmon and CNI plugins.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/proc.h"

namespace tether::e2e {
namespace {

using runtime::v1::NamespaceMode;

grpc::Status Stop(Daemon& d, const std::string& id) {
  runtime::v1::StopPodSandboxRequest req;
  req.set_pod_sandbox_id(id);
  runtime::v1::StopPodSandboxResponse resp;
  grpc::ClientContext ctx;
  return d.runtime().StopPodSandbox(&ctx, req, &resp);
}

grpc::Status Remove(Daemon& d, const std::string& id) {
  runtime::v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(id);
  runtime::v1::RemovePodSandboxResponse resp;
  grpc::ClientContext ctx;
  return d.runtime().RemovePodSandbox(&ctx, req, &resp);
}

std::vector<std::string> List(Daemon& d, const runtime::v1::PodSandboxFilter& filter = {}) {
  runtime::v1::ListPodSandboxRequest req;
  *req.mutable_filter() = filter;
  runtime::v1::ListPodSandboxResponse resp;
  grpc::ClientContext ctx;
  EXPECT_TRUE(d.runtime().ListPodSandbox(&ctx, req, &resp).ok());
  std::vector<std::string> ids;
  for (const auto& i : resp.items()) ids.push_back(i.id());
  return ids;
}

nlohmann::json Info(const runtime::v1::PodSandboxStatusResponse& s) {
  return nlohmann::json::parse(s.info().at("info"));
}

int CountVeths() {
  auto out = Sh({"ip", "-o", "link", "show", "type", "veth"});
  if (!out.ok()) return -1;
  int n = 0;
  for (char c : *out) n += c == '\n';
  return n;
}

// Nothing of the pod may remain: process, netns pin, mounts, bundle, record, exit file.
void ExpectNoTrace(Daemon& d, const std::string& id, int pid) {
  EXPECT_FALSE(ProcessAlive(pid, 0)) << "pause still running";
  EXPECT_TRUE(MountsMentioning(id).empty()) << MountsMentioning(id)[0];
  EXPECT_FALSE(PathExists(d.state() + "/netns/" + id));
  EXPECT_FALSE(PathExists(d.state() + "/sandboxes/" + id));
  EXPECT_FALSE(PathExists(d.state() + "/exits/" + id));
  EXPECT_FALSE(PathExists(d.root() + "/sandboxes/" + id + ".json"));
}

class SandboxE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    daemon_ = std::make_unique<Daemon>();
    auto st = daemon_->Start();
    ASSERT_TRUE(st.ok()) << st;
  }
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(SandboxE2E, VersionStatusAndRuntimeConfig) {
  auto& d = *daemon_;
  runtime::v1::VersionResponse v;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().Version(&ctx, {}, &v).ok());
  }
  EXPECT_EQ(v.runtime_name(), "tether");
  EXPECT_EQ(v.runtime_api_version(), "v1");
  runtime::v1::StatusRequest sreq;
  sreq.set_verbose(true);
  runtime::v1::StatusResponse s;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().Status(&ctx, sreq, &s).ok());
  }
  ASSERT_EQ(s.status().conditions_size(), 2);
  EXPECT_TRUE(s.status().conditions(0).status());
  EXPECT_EQ(s.status().conditions(1).type(), "NetworkReady");
  EXPECT_TRUE(s.status().conditions(1).status()) << s.status().conditions(1).message();
  auto info = nlohmann::json::parse(s.info().at("config"));
  EXPECT_EQ(info["root"], d.root());
  runtime::v1::RuntimeConfigResponse rc;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().RuntimeConfig(&ctx, {}, &rc).ok());
  }
  EXPECT_EQ(rc.linux().cgroup_driver(), runtime::v1::CGROUPFS);
  runtime::v1::UpdateRuntimeConfigRequest u;
  u.mutable_runtime_config()->mutable_network_config()->set_pod_cidr(E2ESubnetPrefix() + "0.0/16");
  runtime::v1::UpdateRuntimeConfigResponse ur;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().UpdateRuntimeConfig(&ctx, u, &ur).ok());
  }
  {
    grpc::ClientContext ctx;
    s.Clear();
    ASSERT_TRUE(d.runtime().Status(&ctx, sreq, &s).ok());
  }
  EXPECT_EQ(nlohmann::json::parse(s.info().at("config"))["podCIDR"], E2ESubnetPrefix() + "0.0/16");
  // Verbs Tether does not implement answer UNIMPLEMENTED with a message, never a crash.
  runtime::v1::CheckpointContainerResponse cc;
  grpc::ClientContext ctx;
  auto st = d.runtime().CheckpointContainer(&ctx, {}, &cc);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_FALSE(st.error_message().empty());
}

// Status answers from memory (tetherd watches the CNI dirs): removing the network configuration
// turns NetworkReady false and restoring it turns it true again, as with containerd.
TEST_F(SandboxE2E, NetworkReadyFollowsTheConfFile) {
  auto& d = *daemon_;
  auto network_ready = [&d](std::string* message) {
    runtime::v1::StatusResponse s;
    grpc::ClientContext ctx;
    EXPECT_TRUE(d.runtime().Status(&ctx, {}, &s).ok());
    if (s.status().conditions_size() != 2) return false;
    if (message) *message = s.status().conditions(1).message();
    return s.status().conditions(1).status();
  };
  // The watcher needs a moment after a change: waits up to 10 s for `want`.
  auto await_ready = [&](bool want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (network_ready(nullptr) != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::string message;
    return network_ready(&message) == want ? std::string() : message;
  };
  const std::string conf = d.base() + "/cni/10-e2e.conflist";
  auto text = ReadFile(conf);
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_TRUE(network_ready(nullptr));

  ASSERT_TRUE(RemoveFile(conf).ok());
  EXPECT_EQ(await_ready(false), "");
  std::string message;
  EXPECT_FALSE(network_ready(&message));
  EXPECT_TRUE(absl::StrContains(message, "no network config found")) << message;

  ASSERT_TRUE(WriteFileAtomic(conf, *text).ok());
  EXPECT_EQ(await_ready(true), "");
  EXPECT_TRUE(network_ready(&message)) << message;
  // And pods get their network again.
  auto pod = d.RunPod("net-back");
  ASSERT_TRUE(pod.ok()) << pod.status();
}

TEST(SandboxE2ENoNetwork, NetworkNotReadyWithoutCniConfig) {
  REQUIRE_E2E();
  Daemon d(DaemonOptions{.with_network = false});
  ASSERT_TRUE(d.Start().ok());
  runtime::v1::StatusResponse s;
  grpc::ClientContext ctx;
  ASSERT_TRUE(d.runtime().Status(&ctx, {}, &s).ok());
  ASSERT_EQ(s.status().conditions_size(), 2);
  EXPECT_FALSE(s.status().conditions(1).status());
  EXPECT_EQ(s.status().conditions(1).reason(), "NetworkPluginNotReady");
  EXPECT_FALSE(s.status().conditions(1).message().empty());
}

TEST_F(SandboxE2E, RunStatusStopRemoveLeavesNoTrace) {
  auto& d = *daemon_;
  int veths_before = CountVeths();
  runtime::v1::PodSandboxConfig config = PodConfig("web");
  config.mutable_dns_config()->add_servers("10.96.0.10");
  config.mutable_dns_config()->add_searches("e2e.svc.cluster.local");
  config.mutable_dns_config()->add_options("ndots:5");
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
      NamespaceMode::POD);
  (*config.mutable_linux()->mutable_sysctls())["net.ipv4.ip_unprivileged_port_start"] = "80";
  auto id = d.RunPod("web", &config);
  ASSERT_TRUE(id.ok()) << id.status() << d.Log();
  EXPECT_EQ(id->size(), 64u);

  auto status = d.PodStatus(*id);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(status->status().metadata().name(), "web");
  EXPECT_TRUE(absl::StartsWith(status->status().network().ip(), E2ESubnetPrefix()))
      << status->status().network().ip();
  EXPECT_EQ(status->status().labels().at("app"), "web");
  auto info = Info(*status);
  int pid = info["pid"].get<int>();
  ASSERT_GT(pid, 0);
  std::string netns = info["netnsPath"];
  EXPECT_TRUE(PathExists(netns));

  // The netns has eth0 with the pod's address, as `nsenter -t PID -n ip addr` shows it.
  auto addr =
      Sh({"nsenter", "-t", std::to_string(pid), "-n", "ip", "-o", "-4", "addr", "show", "eth0"});
  ASSERT_TRUE(addr.ok()) << addr.status();
  EXPECT_TRUE(absl::StrContains(*addr, status->status().network().ip())) << *addr;
  // The pause is PID 1 of the pod's PID namespace.
  auto proc_status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  ASSERT_TRUE(proc_status.ok());
  auto nspid = proc_status->substr(proc_status->find("NSpid:"));
  nspid = nspid.substr(0, nspid.find('\n'));
  EXPECT_TRUE(absl::EndsWith(nspid, "\t1")) << nspid;
  // Hostname in its UTS namespace, sysctl in its netns.
  auto hostname = Sh({"nsenter", "-t", std::to_string(pid), "-u", "hostname"});
  ASSERT_TRUE(hostname.ok());
  EXPECT_EQ(*hostname, "web\n");
  auto sysctl = Sh({"nsenter", "-t", std::to_string(pid), "-n", "cat",
                    "/proc/sys/net/ipv4/ip_unprivileged_port_start"});
  ASSERT_TRUE(sysctl.ok());
  EXPECT_EQ(*sysctl, "80\n");
  // resolv.conf and the pod's /dev/shm.
  auto resolv = ReadFile(d.state() + "/sandboxes/" + *id + "/resolv.conf");
  ASSERT_TRUE(resolv.ok());
  EXPECT_EQ(*resolv, "search e2e.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
  EXPECT_FALSE(MountsMentioning(*id + "/shm").empty());
  // The runtime spec as crictl inspectp shows it.
  bool has_net_path = false;
  for (const auto& ns : info["runtimeSpec"]["linux"]["namespaces"]) {
    if (ns["type"] == "network") has_net_path = ns["path"] == netns;
  }
  EXPECT_TRUE(has_net_path);

  ASSERT_TRUE(Stop(d, *id).ok());
  status = d.PodStatus(*id);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->status().state(), runtime::v1::SANDBOX_NOTREADY);
  EXPECT_FALSE(ProcessAlive(pid, 0));
  ASSERT_TRUE(Stop(d, *id).ok()) << "stop is idempotent";

  ASSERT_TRUE(Remove(d, *id).ok());
  EXPECT_EQ(d.PodStatus(*id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Remove(d, *id).ok()) << "remove is idempotent";
  ExpectNoTrace(d, *id, pid);
  EXPECT_EQ(CountVeths(), veths_before);
}

TEST_F(SandboxE2E, RemoveOfRunningPodStopsItFirst) {
  auto& d = *daemon_;
  auto id = d.RunPod("busy");
  ASSERT_TRUE(id.ok()) << id.status();
  int pid = Info(*d.PodStatus(*id))["pid"];
  ASSERT_TRUE(Remove(d, *id).ok());
  ExpectNoTrace(d, *id, pid);
}

TEST_F(SandboxE2E, HostNetworkPodHasNoNetnsAndNoIp) {
  auto& d = *daemon_;
  auto config = PodConfig("hostnet");
  auto* ns = config.mutable_linux()->mutable_security_context()->mutable_namespace_options();
  ns->set_network(NamespaceMode::NODE);
  ns->set_pid(NamespaceMode::NODE);
  ns->set_ipc(NamespaceMode::NODE);
  auto id = d.RunPod("hostnet", &config);
  ASSERT_TRUE(id.ok()) << id.status();
  auto status = d.PodStatus(*id);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(status->status().network().ip(), "");
  int pid = Info(*status)["pid"];
  EXPECT_EQ(*Sh({"readlink", absl::StrCat("/proc/", pid, "/ns/net")}),
            *Sh({"readlink", "/proc/self/ns/net"}));
  EXPECT_EQ(*Sh({"readlink", absl::StrCat("/proc/", pid, "/ns/pid")}),
            *Sh({"readlink", "/proc/self/ns/pid"}));
  ASSERT_TRUE(Remove(d, *id).ok());
  ExpectNoTrace(d, *id, pid);
}

TEST_F(SandboxE2E, ListFilters) {
  auto& d = *daemon_;
  auto a = d.RunPod("alpha");
  auto b = d.RunPod("beta");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(List(d).size(), 2u);
  runtime::v1::PodSandboxFilter f;
  f.set_id(a->substr(0, 12));
  EXPECT_EQ(List(d, f), std::vector<std::string>{*a});
  f.Clear();
  (*f.mutable_label_selector())["app"] = "beta";
  EXPECT_EQ(List(d, f), std::vector<std::string>{*b});
  ASSERT_TRUE(Stop(d, *b).ok());
  f.Clear();
  f.mutable_state()->set_state(runtime::v1::SANDBOX_READY);
  EXPECT_EQ(List(d, f), std::vector<std::string>{*a});
  f.mutable_state()->set_state(runtime::v1::SANDBOX_NOTREADY);
  EXPECT_EQ(List(d, f), std::vector<std::string>{*b});
  // A unique prefix works for status too.
  EXPECT_TRUE(d.PodStatus(a->substr(0, 10)).ok());
}

TEST_F(SandboxE2E, DuplicateNameIsAlreadyExists) {
  auto& d = *daemon_;
  auto a = d.RunPod("dup");
  ASSERT_TRUE(a.ok());
  auto b = d.RunPod("dup");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kAlreadyExists) << b.status();
  // Another attempt of the same pod is a different sandbox.
  auto config = PodConfig("dup");
  config.mutable_metadata()->set_attempt(1);
  auto c = d.RunPod("dup", &config);
  EXPECT_TRUE(c.ok()) << c.status();
  // After removal the name is free again.
  ASSERT_TRUE(Remove(d, *a).ok());
  auto e = d.RunPod("dup");
  EXPECT_TRUE(e.ok()) << e.status();
}

TEST_F(SandboxE2E, BadInputIsInvalidArgumentNamingTheField) {
  auto& d = *daemon_;
  auto check = [&](runtime::v1::PodSandboxConfig config, const std::string& field,
                   const std::string& handler = "") {
    runtime::v1::RunPodSandboxRequest req;
    *req.mutable_config() = config;
    req.set_runtime_handler(handler);
    runtime::v1::RunPodSandboxResponse resp;
    grpc::ClientContext ctx;
    auto st = d.runtime().RunPodSandbox(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_TRUE(absl::StrContains(st.error_message(), field)) << st.error_message();
  };
  runtime::v1::PodSandboxConfig no_meta;
  check(no_meta, "metadata");
  auto c = PodConfig("bad");
  c.mutable_dns_config()->add_servers("not-an-ip");
  check(c, "dns_config.servers[0]");
  c = PodConfig("bad");
  c.mutable_dns_config()->add_options("bad option");
  check(c, "dns_config.options[0]");
  c = PodConfig("bad");
  c.add_port_mappings()->set_container_port(70000);
  check(c, "port_mappings[0].container_port");
  check(PodConfig("bad"), "runtime_handler", "no-such-runtime");
  EXPECT_TRUE(List(d).empty());
  // Unknown ids: status is NOT_FOUND, stop and remove succeed.
  EXPECT_EQ(d.PodStatus("0123456789abcdef").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Stop(d, "0123456789abcdef").ok());
  EXPECT_TRUE(Remove(d, "0123456789abcdef").ok());
}

TEST(SandboxE2ECni, CniFailureRollsBackEverything) {
  REQUIRE_E2E();
  Daemon d(DaemonOptions{.extra_plugin_json = R"({"type": "tether-e2e-fail"})"});
  // A plugin that always fails ADD (and succeeds at DEL).
  ASSERT_TRUE(MakeDirs(d.bin_dir()).ok());
  ASSERT_TRUE(WriteFileAtomic(d.bin_dir() + "/tether-e2e-fail",
                              "#!/bin/sh\n"
                              "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                              "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,"
                              "\"msg\":\"e2e says no\"}'; exit 1\nfi\n"
                              "if [ \"$CNI_COMMAND\" = VERSION ]; then\n"
                              "  echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
                              "[\"0.4.0\",\"1.0.0\"]}'\nfi\nexit 0\n",
                              0755)
                  .ok());
  ASSERT_TRUE(d.Start().ok());
  int veths_before = CountVeths();
  auto id = d.RunPod("nonet");
  ASSERT_FALSE(id.ok());
  EXPECT_TRUE(absl::StrContains(id.status().message(), "e2e says no")) << id.status();
  EXPECT_TRUE(List(d).empty());
  EXPECT_TRUE(MountsMentioning(d.state()).empty());
  std::error_code ec;
  EXPECT_TRUE(std::filesystem::is_empty(d.state() + "/netns", ec));
  EXPECT_TRUE(std::filesystem::is_empty(d.state() + "/sandboxes", ec));
  EXPECT_TRUE(std::filesystem::is_empty(d.root() + "/sandboxes", ec));
  EXPECT_EQ(CountVeths(), veths_before);
  // The name was released: the same pod can be tried again (and fails the same way).
  auto again = d.RunPod("nonet");
  EXPECT_TRUE(absl::StrContains(again.status().message(), "e2e says no")) << again.status();
}

TEST(SandboxE2ERetry, RetryWhileFirstCallInFlightGetsTheSameSandbox) {
  REQUIRE_E2E();
  // A chained plugin that takes a while, so kubelet's retry arrives while the first call runs.
  Daemon d(DaemonOptions{.extra_plugin_json = R"({"type": "tether-e2e-slow"})"});
  ASSERT_TRUE(MakeDirs(d.bin_dir()).ok());
  ASSERT_TRUE(WriteFileAtomic(d.bin_dir() + "/tether-e2e-slow",
                              "#!/bin/sh\n"
                              "input=$(cat)\n"
                              "case \"$CNI_COMMAND\" in\n"
                              "  ADD) sleep 1; echo \"$input\" | jq -c .prevResult ;;\n"
                              "  VERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":"
                              "[\"0.4.0\",\"1.0.0\"]}' ;;\n"
                              "esac\nexit 0\n",
                              0755)
                  .ok());
  ASSERT_TRUE(d.Start().ok());
  absl::StatusOr<std::string> first, second;
  std::thread t([&] { first = d.RunPod("slow"); });
  usleep(300000);
  second = d.RunPod("slow");
  t.join();
  ASSERT_TRUE(first.ok()) << first.status() << d.Log();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(List(d).size(), 1u);
  // Once the first call has answered, the same metadata is a duplicate.
  EXPECT_EQ(d.RunPod("slow").status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SandboxE2E, RestartReadoptsRunningPodsAndNoticesDeadOnes) {
  auto& d = *daemon_;
  auto keep = d.RunPod("keep");
  auto die = d.RunPod("die");
  ASSERT_TRUE(keep.ok() && die.ok());
  int keep_pid = Info(*d.PodStatus(*keep))["pid"];
  int die_pid = Info(*d.PodStatus(*die))["pid"];
  d.Kill9();
  EXPECT_TRUE(ProcessAlive(keep_pid, 0)) << "pods outlive the daemon";
  // A pause that dies while tetherd is down.
  ASSERT_EQ(kill(die_pid, SIGKILL), 0);
  for (int i = 0; i < 200 && ProcessAlive(die_pid, 0); ++i) usleep(10000);
  ASSERT_TRUE(d.Start().ok());
  auto s1 = d.PodStatus(*keep);
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->status().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(Info(*s1)["pid"], keep_pid);
  EXPECT_TRUE(absl::StartsWith(s1->status().network().ip(), E2ESubnetPrefix()));
  auto s2 = d.PodStatus(*die);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->status().state(), runtime::v1::SANDBOX_NOTREADY);
  // The name stays reserved across the restart.
  EXPECT_EQ(d.RunPod("keep").status().code(), absl::StatusCode::kAlreadyExists);
  // And the re-adopted pods still stop and remove cleanly.
  ASSERT_TRUE(Remove(d, *keep).ok());
  ASSERT_TRUE(Remove(d, *die).ok());
  ExpectNoTrace(d, *keep, keep_pid);
  ExpectNoTrace(d, *die, die_pid);
}

TEST_F(SandboxE2E, PauseKilledWhileRunningMakesPodNotReady) {
  auto& d = *daemon_;
  auto id = d.RunPod("fragile");
  ASSERT_TRUE(id.ok());
  int pid = Info(*d.PodStatus(*id))["pid"];
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  runtime::v1::PodSandboxState state = runtime::v1::SANDBOX_READY;
  for (int i = 0; i < 500 && state == runtime::v1::SANDBOX_READY; ++i) {
    usleep(10000);
    state = d.PodStatus(*id, false)->status().state();
  }
  EXPECT_EQ(state, runtime::v1::SANDBOX_NOTREADY);
  ASSERT_TRUE(Remove(d, *id).ok());
  ExpectNoTrace(d, *id, pid);
}

TEST_F(SandboxE2E, SigtermLeavesPodsRunning) {
  auto& d = *daemon_;
  auto id = d.RunPod("survivor");
  ASSERT_TRUE(id.ok());
  int pid = Info(*d.PodStatus(*id))["pid"];
  d.Terminate();
  EXPECT_TRUE(ProcessAlive(pid, 0));
  EXPECT_FALSE(PathExists(d.socket()));
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(d.PodStatus(*id)->status().state(), runtime::v1::SANDBOX_READY);
}

}  // namespace
}  // namespace tether::e2e
