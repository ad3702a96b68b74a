// Stats end to end: ContainerStats, ListContainerStats, PodSandboxStats and ListPodSandboxStats
// over a real tetherd, with containers that allocate memory, burn CPU and write files.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

using runtime::v1::ContainerStats;
using runtime::v1::PodSandboxStats;

constexpr uint64_t kMiB = 1 << 20;

// Holds 32 MiB in a shell variable, then idles until SIGTERM.
std::vector<std::string> HogCommand() {
  return {"sh", "-c",
          "x=$(yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | head -c 33554432); echo ready; "
          "trap 'exit 0' TERM; while true; do sleep 1; done"};
}

// `count` UDP datagrams of `size` bytes from the host to `ip` (the pod answers with ICMP errors).
void SendUdp(const std::string& ip, int count, size_t size) {
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9);  // discard
  ASSERT_EQ(inet_pton(AF_INET, ip.c_str(), &addr.sin_addr), 1) << ip;
  std::string payload(size, 'x');
  for (int i = 0; i < count; ++i) {
    (void)sendto(fd.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                 sizeof addr);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class StatsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
  }

  std::string Pod(runtime::v1::PodSandboxConfig* config) { return StartedPod(*daemon_, config); }

  std::string Run(const std::string& pod, const runtime::v1::PodSandboxConfig& pod_config,
                  const runtime::v1::ContainerConfig& config) {
    return StartedContainer(*daemon_, pod, pod_config, config);
  }

  grpc::Status CStats(const std::string& id, ContainerStats* out) {
    runtime::v1::ContainerStatsRequest req;
    req.set_container_id(id);
    runtime::v1::ContainerStatsResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().ContainerStats(&ctx, req, &resp);
    if (out) *out = resp.stats();
    return st;
  }

  std::vector<ContainerStats> CList(const runtime::v1::ContainerStatsFilter& filter) {
    runtime::v1::ListContainerStatsRequest req;
    *req.mutable_filter() = filter;
    runtime::v1::ListContainerStatsResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().ListContainerStats(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.stats().begin(), resp.stats().end()};
  }

  grpc::Status PStats(const std::string& id, PodSandboxStats* out) {
    runtime::v1::PodSandboxStatsRequest req;
    req.set_pod_sandbox_id(id);
    runtime::v1::PodSandboxStatsResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().PodSandboxStats(&ctx, req, &resp);
    if (out) *out = resp.stats();
    return st;
  }

  std::vector<PodSandboxStats> PList(const runtime::v1::PodSandboxStatsFilter& filter) {
    runtime::v1::ListPodSandboxStatsRequest req;
    *req.mutable_filter() = filter;
    runtime::v1::ListPodSandboxStatsResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().ListPodSandboxStats(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.stats().begin(), resp.stats().end()};
  }

  std::unique_ptr<Daemon> daemon_;
};

TEST_F(StatsE2E, ContainerCpuMemoryAndWritableLayer) {
  auto& d = *daemon_;
  auto pc = PodConfig("stats");
  auto pod = Pod(&pc);
  auto cfg = ContainerConfig("hog", TestImage("busybox"), HogCommand());
  (*cfg.mutable_annotations())["note"] = "hello";
  auto cid = Run(pod, pc, cfg);
  ASSERT_FALSE(cid.empty());

  // The first answer has no rate yet: there is no previous sample.
  ContainerStats s;
  ASSERT_TRUE(CStats(cid, &s).ok()) << d.Log();
  EXPECT_EQ(s.attributes().id(), cid);
  EXPECT_EQ(s.attributes().metadata().name(), "hog");
  EXPECT_EQ(s.attributes().labels().at("container"), "hog");
  EXPECT_EQ(s.attributes().annotations().at("note"), "hello");
  ASSERT_TRUE(s.has_cpu());
  EXPECT_GT(s.cpu().timestamp(), 0);
  EXPECT_FALSE(s.cpu().has_usage_nano_cores());
  ASSERT_TRUE(s.has_memory());
  EXPECT_EQ(s.writable_layer().fs_id().mountpoint(), d.root() + "/snapshots");
  auto first_sample = std::chrono::steady_clock::now();

  // Working set and RSS: the 32 MiB the shell holds once it has read them all. The working set
  // (which counts page cache too) can pass 24 MiB while the shell still reads: wait for both.
  ASSERT_TRUE(Eventually(
      [&] {
        return CStats(cid, &s).ok() && s.memory().working_set_bytes().value() > 24 * kMiB &&
               s.memory().rss_bytes().value() > 24 * kMiB;
      },
      30))
      << s.DebugString();
  EXPECT_GE(s.memory().usage_bytes().value(), s.memory().working_set_bytes().value());
  EXPECT_GT(s.memory().page_faults().value(), 0u);
  EXPECT_FALSE(s.memory().has_available_bytes()) << "no memory limit was set";

  // CPU: burn some in the container's cgroup (exec joins it) and see the counter grow.
  uint64_t cpu_before = s.cpu().usage_core_nano_seconds().value();
  EXPECT_GT(cpu_before, 0u);
  auto burn = d.Exec(cid, {"sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"}, 120);
  ASSERT_TRUE(burn.ok()) << burn.status();
  std::this_thread::sleep_until(first_sample + std::chrono::milliseconds(1200));
  ASSERT_TRUE(CStats(cid, &s).ok());
  EXPECT_GT(s.cpu().usage_core_nano_seconds().value(), cpu_before + 20'000'000)
      << "expected at least 20 ms more CPU";
  EXPECT_TRUE(s.cpu().has_usage_nano_cores()) << "a rate once there is a previous sample";

  // Writable layer: the cache (walked in the background) shows a 5 MiB file after a refresh.
  ASSERT_TRUE(
      Eventually([&] { return CStats(cid, &s).ok() && s.writable_layer().timestamp() > 0; }, 10));
  uint64_t bytes_before = s.writable_layer().used_bytes().value();
  uint64_t inodes_before = s.writable_layer().inodes_used().value();
  int64_t walked_before = s.writable_layer().timestamp();
  auto write = d.Exec(cid, {"sh", "-c", "head -c 5242880 /dev/zero > /big && sync"}, 60);
  ASSERT_TRUE(write.ok() && write->exit_code() == 0) << write.status();
  ASSERT_TRUE(Eventually(
      [&] {
        return CStats(cid, &s).ok() &&
               s.writable_layer().used_bytes().value() >= bytes_before + 5 * kMiB;
      },
      30))
      << s.writable_layer().DebugString();
  EXPECT_GT(s.writable_layer().inodes_used().value(), inodes_before);
  EXPECT_GT(s.writable_layer().timestamp(), walked_before);

  // Errors: unknown id, empty id.
  EXPECT_EQ(CStats("00000000deadbeef", nullptr).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CStats("", nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(StatsE2E, ListFiltersAndStoppedContainers) {
  auto& d = *daemon_;
  auto pc1 = PodConfig("one");
  auto pod1 = Pod(&pc1);
  auto pc2 = PodConfig("two");
  auto pod2 = Pod(&pc2);
  auto a = Run(pod1, pc1, ContainerConfig("a", TestImage("busybox"), {"sleep", "1000"}));
  auto done = Run(pod1, pc1, ContainerConfig("done", TestImage("busybox"), {"true"}));
  auto b = Run(pod2, pc2, ContainerConfig("b", TestImage("busybox"), {"sleep", "1000"}));
  ASSERT_TRUE(d.WaitExited(done).ok());

  auto ids = [](const std::vector<ContainerStats>& v) {
    std::set<std::string> out;
    for (const auto& s : v) out.insert(s.attributes().id());
    return out;
  };
  runtime::v1::ContainerStatsFilter f;
  EXPECT_EQ(ids(CList(f)), (std::set<std::string>{a, done, b}));
  f.set_id(a.substr(0, 12));
  EXPECT_EQ(ids(CList(f)), (std::set<std::string>{a}));
  f.Clear();
  f.set_pod_sandbox_id(pod1.substr(0, 12));
  EXPECT_EQ(ids(CList(f)), (std::set<std::string>{a, done}));
  f.Clear();
  (*f.mutable_label_selector())["container"] = "b";
  EXPECT_EQ(ids(CList(f)), (std::set<std::string>{b}));
  f.set_pod_sandbox_id(pod1);
  EXPECT_TRUE(CList(f).empty()) << "b is not in pod one";
  f.Clear();
  (*f.mutable_label_selector())["container"] = "nope";
  EXPECT_TRUE(CList(f).empty());

  // Running: cpu and memory. Exited: attributes and the writable layer only (as containerd).
  f.Clear();
  for (const auto& s : CList(f)) {
    bool running = s.attributes().id() != done;
    EXPECT_EQ(s.has_cpu(), running) << s.attributes().metadata().name();
    EXPECT_EQ(s.has_memory(), running) << s.attributes().metadata().name();
    EXPECT_TRUE(s.has_writable_layer());
    EXPECT_EQ(s.attributes().metadata().name(), s.attributes().labels().at("container"));
  }
  // A single ContainerStats of a container that is not running is an error.
  EXPECT_EQ(CStats(done, nullptr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(CStats(a.substr(0, 10), nullptr).ok()) << "a unique prefix resolves";
}

TEST_F(StatsE2E, PodStatsSumContainersAndCountNetwork) {
  auto& d = *daemon_;
  auto pc = PodConfig("netpod");
  auto pod = Pod(&pc);
  auto hog = Run(pod, pc, ContainerConfig("hog", TestImage("busybox"), HogCommand()));
  auto idle = Run(pod, pc, ContainerConfig("idle", TestImage("busybox"), {"sleep", "1000"}));
  auto other_pc = PodConfig("quiet");
  auto other = Pod(&other_pc);

  PodSandboxStats p;
  ASSERT_TRUE(Eventually(
      [&] {
        return PStats(pod, &p).ok() && p.linux().memory().working_set_bytes().value() > 24 * kMiB;
      },
      30))
      << p.DebugString() << d.Log();
  EXPECT_EQ(p.attributes().id(), pod);
  EXPECT_EQ(p.attributes().metadata().name(), "netpod");
  EXPECT_EQ(p.attributes().labels().at("app"), "netpod");
  EXPECT_GT(p.linux().cpu().usage_core_nano_seconds().value(), 0u);
  // pause + sh (hog) + sleep (idle), at least (hog's `sleep 1` comes and goes).
  EXPECT_GE(p.linux().process().process_count().value(), 3u);
  ASSERT_EQ(p.linux().containers_size(), 2);
  std::set<std::string> names;
  for (const auto& c : p.linux().containers()) names.insert(c.attributes().metadata().name());
  EXPECT_EQ(names, (std::set<std::string>{"hog", "idle"}));

  // Network: eth0 of the pod's namespace, as the pause sees it.
  ASSERT_TRUE(p.linux().has_network());
  EXPECT_EQ(p.linux().network().default_interface().name(), "eth0");
  uint64_t rx_before = p.linux().network().default_interface().rx_bytes().value();
  std::string ip = d.PodStatus(pod)->status().network().ip();
  ASSERT_FALSE(ip.empty());
  SendUdp(ip, 10, 1000);
  ASSERT_TRUE(Eventually(
      [&] {
        return PStats(pod, &p).ok() &&
               p.linux().network().default_interface().rx_bytes().value() >= rx_before + 10000;
      },
      10))
      << p.linux().network().DebugString();
  EXPECT_GT(p.linux().network().default_interface().tx_bytes().value(), 0u)
      << "the pod answered with ICMP port unreachable";

  // List: filters by id prefix and labels; only ready pods.
  auto ids = [](const std::vector<PodSandboxStats>& v) {
    std::set<std::string> out;
    for (const auto& s : v) out.insert(s.attributes().id());
    return out;
  };
  runtime::v1::PodSandboxStatsFilter f;
  EXPECT_EQ(ids(PList(f)), (std::set<std::string>{pod, other}));
  f.set_id(pod.substr(0, 12));
  EXPECT_EQ(ids(PList(f)), (std::set<std::string>{pod}));
  f.Clear();
  (*f.mutable_label_selector())["app"] = "quiet";
  auto quiet = PList(f);
  ASSERT_EQ(ids(quiet), (std::set<std::string>{other}));
  EXPECT_EQ(quiet[0].linux().containers_size(), 0);
  EXPECT_GE(quiet[0].linux().process().process_count().value(), 1u) << "the pause";
  (*f.mutable_label_selector())["app"] = "nope";
  EXPECT_TRUE(PList(f).empty());

  // A stopped pod has no stats; an unknown one is NOT_FOUND.
  {
    runtime::v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(other);
    runtime::v1::StopPodSandboxResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().StopPodSandbox(&ctx, req, &resp).ok());
  }
  f.Clear();
  EXPECT_EQ(ids(PList(f)), (std::set<std::string>{pod}));
  EXPECT_EQ(PStats(other, nullptr).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(PStats("00000000deadbeef", nullptr).error_code(), grpc::StatusCode::NOT_FOUND);

  // tetherctl stats / statsp, as crictl's: a table from two samples, or the answer as JSON.
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {TETHERCTL_PATH, "--runtime-endpoint", "unix://" + d.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProcess({.argv = argv, .timeout = std::chrono::seconds(60)});
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().ToString());
    return r.ok() ? r->out : std::string();
  };
  std::string table = ctl({"stats", "-s", "1", "-p", pod});
  EXPECT_TRUE(absl::StrContains(table, "CPU %")) << table;
  EXPECT_TRUE(absl::StrContains(table, hog.substr(0, 13))) << table;
  EXPECT_TRUE(absl::StrContains(table, idle.substr(0, 13))) << table;
  std::string pods = ctl({"statsp", "-o", "json", pod});
  auto json = nlohmann::json::parse(pods, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << pods;
  ASSERT_EQ(json["stats"].size(), 1u) << pods;
  EXPECT_EQ(json["stats"][0]["attributes"]["id"], pod) << pods;
}

// With a cgroup_parent the pod's numbers come from its own cgroup (the pause's parent).
TEST_F(StatsE2E, PodCgroupParent) {
  auto& d = *daemon_;
  std::string parent = absl::StrCat("/tether-e2e-stats-", NewId().substr(0, 8));
  auto pc = PodConfig("parented");
  pc.mutable_linux()->set_cgroup_parent(parent);
  auto pod = Pod(&pc);
  ASSERT_FALSE(pod.empty());
  auto hog = Run(pod, pc, ContainerConfig("hog", TestImage("busybox"), HogCommand()));
  auto status = d.ContainerStatus(hog);
  ASSERT_TRUE(status.ok());

  PodSandboxStats p;
  ASSERT_TRUE(Eventually(
      [&] {
        return PStats(pod, &p).ok() && p.linux().memory().working_set_bytes().value() > 24 * kMiB;
      },
      30))
      << p.DebugString() << d.Log();
  EXPECT_GT(p.linux().cpu().usage_core_nano_seconds().value(), 0u);
  EXPECT_GE(p.linux().process().process_count().value(), 2u);  // pause, sh (and its sleeps)
  ASSERT_EQ(p.linux().containers_size(), 1);
  // The pod's cgroup holds the container's: at least as much memory.
  EXPECT_GE(p.linux().memory().usage_bytes().value(),
            p.linux().containers(0).memory().usage_bytes().value());

  // Clean up: remove the pod, then the parent cgroups runc made for it.
  {
    runtime::v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(pod);
    runtime::v1::RemovePodSandboxResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.runtime().RemovePodSandbox(&ctx, req, &resp).ok());
  }
  if (PathExists("/sys/fs/cgroup/cgroup.controllers")) {
    rmdir(("/sys/fs/cgroup" + parent).c_str());
  } else {
    for (const char* ctrl : {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                             "memory", "net_cls", "net_prio", "perf_event", "pids", "rdma",
                             "systemd", "misc", "unified", "cpu,cpuacct", "net_cls,net_prio"}) {
      rmdir(absl::StrCat("/sys/fs/cgroup/", ctrl, parent).c_str());
    }
  }
}

}  // namespace
}  // namespace tether::e2e
