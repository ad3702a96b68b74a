// "No leaks": many RunPodSandbox / 2 × (create, start, stop, remove) / StopPodSandbox /
// RemovePodSandbox cycles, after which everything tetherd makes per pod or container is back to
// where it started: mounts, netns pins, veths, cgroups, conmon (and runc) processes, files under
// the root and state dirs, IPAM reservations, and tetherd's own fds, threads and children.
//
// TETHER_LEAK_CYCLES=N overrides the number of cycles (default 200, which CI runs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/id.h"

namespace tether::e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int Cycles() {
  const char* n = getenv("TETHER_LEAK_CYCLES");
  int v;
  if (n != nullptr && absl::SimpleAtoi(n, &v) && v > 0) return v;
  return 200;
}

// Every cgroup hierarchy mounted under /sys/fs/cgroup: v1 controllers, a hybrid host's
// "unified" v2 tree, or /sys/fs/cgroup itself on a pure v2 host.
std::vector<std::string> CgroupHierarchies() {
  std::vector<std::string> out;
  if (PathExists("/sys/fs/cgroup/cgroup.procs")) return {"/sys/fs/cgroup"};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    if (e.is_symlink(ec)) continue;  // cpu,cpuacct aliases
    if (PathExists(e.path().string() + "/cgroup.procs")) out.push_back(e.path().string());
  }
  return out;
}

// Relative paths of everything below `dir` (not following symlinks, not entering other mounts
// but listing their mount points).
std::set<std::string> Tree(const std::string& dir, bool dirs_only = false) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (dirs_only && !it->is_directory(ec)) continue;
    out.insert(fs::relative(it->path(), dir, ec).string());
  }
  return out;
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

int CountEntries(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

struct Observation {
  std::set<std::string> mounts;                          // mount points mentioning the dirs
  std::set<std::string> netns_pins;                      // <state>/netns
  std::set<std::string> veths;                           // links enslaved to the test bridge
  std::map<std::string, std::set<std::string>> cgroups;  // hierarchy → dirs under the parent
  std::set<std::string> processes;                       // conmon, runc: cmdline names the dirs
  std::set<std::string> children;                        // tetherd's children (zombies too)
  std::set<std::string> files;                           // under root and state
  std::set<std::string> ip_reservations;                 // host-local's files named by IP
  int fds = 0;
  int threads = 0;
};

class LeakE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>(options_);
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
    cgroup_parent_ = absl::StrCat("/tether-e2e-leak-", NewId().substr(0, 8));
    log_root_ = absl::StrCat(E2ELogRoot(), "/leak-", NewId().substr(0, 8));
  }

  void TearDown() override {
    daemon_.reset();
    // runc leaves the parent cgroups it made for the pods (as it does under kubelet's parents).
    for (const auto& h : CgroupHierarchies()) rmdir((h + cgroup_parent_).c_str());
    (void)RemoveAll(log_root_);
  }

  Observation Observe() {
    auto& d = *daemon_;
    Observation o;
    for (const std::string& dir : {d.root(), d.state()}) {
      for (const auto& line : MountsMentioning(dir)) {
        std::vector<std::string> f = absl::StrSplit(line, ' ');
        o.mounts.insert(f.size() > 4 ? f[4] : line);
      }
    }
    o.netns_pins = Tree(d.state() + "/netns");
    auto links = Sh({"ip", "-o", "link", "show", "master", options_.bridge});
    if (links.ok()) {
      for (const auto& l : Lines(*links)) {
        std::vector<std::string> f = absl::StrSplit(l, ": ");
        o.veths.insert(f.size() > 1 ? f[1] : l);
      }
    }
    for (const auto& h : CgroupHierarchies()) o.cgroups[h] = Tree(h + cgroup_parent_, true);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
      int pid;
      if (!absl::SimpleAtoi(e.path().filename().string(), &pid) || pid == getpid()) continue;
      auto cmd = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
      auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
      if (!cmd.ok() || !stat.ok()) continue;
      std::string c = *cmd;
      for (auto& ch : c) {
        if (ch == '\0') ch = ' ';
      }
      if (pid != d.pid() && (absl::StrContains(c, d.root()) || absl::StrContains(c, d.state()))) {
        o.processes.insert(absl::StrCat(pid, ": ", c));
      }
      // stat: "pid (comm) S ppid ..."
      auto close = stat->rfind(')');
      std::vector<std::string> f = absl::StrSplit(stat->substr(close + 2), ' ');
      if (f.size() > 1 && f[1] == std::to_string(d.pid())) {
        o.children.insert(absl::StrCat(pid, " [", f[0], "]: ", c));
      }
    }
    for (const auto& [prefix, dir] : {std::pair{"root/", d.root()}, {"state/", d.state()}}) {
      for (const auto& f : Tree(dir)) o.files.insert(prefix + f);
    }
    for (const auto& f : Tree(d.base() + "/ipam")) {
      if (absl::StrContains(f, "last_reserved_ip") || absl::EndsWith(f, "lock")) continue;
      if (f.find('/') != std::string::npos) o.ip_reservations.insert(f);
    }
    o.fds = CountEntries(absl::StrCat("/proc/", d.pid(), "/fd"));
    o.threads = CountEntries(absl::StrCat("/proc/", d.pid(), "/task"));
    return o;
  }

  // One pod with two containers, through its whole life, as kubelet drives it.
  void Cycle(int n) {
    auto& d = *daemon_;
    auto pc = PodConfig(absl::StrCat("leak-", n));
    pc.set_log_directory(absl::StrCat(log_root_, "/", n));
    pc.mutable_linux()->set_cgroup_parent(cgroup_parent_);
    // A shared PID namespace: the pause is PID 1, so SIGTERM's default action ends `sleep`.
    pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
        runtime::v1::POD);
    auto t = Clock::now();
    auto pod = d.RunPod(pc.metadata().name(), &pc);
    ASSERT_TRUE(pod.ok()) << "cycle " << n << ": " << pod.status();
    Lap("1 RunPodSandbox", &t);
    std::string ids[2];
    for (int i = 0; i < 2; ++i) {
      auto c = d.CreateContainer(
          *pod, ContainerConfig(absl::StrCat("c", i), TestImage("busybox"), {"sleep", "100000"}),
          pc);
      ASSERT_TRUE(c.ok()) << "cycle " << n << ": " << c.status();
      ids[i] = *c;
      Lap("2 CreateContainer x2", &t);
      auto st = d.StartContainer(ids[i]);
      ASSERT_TRUE(st.ok()) << "cycle " << n << ": " << st;
      Lap("3 StartContainer x2", &t);
    }
    // The first stops on SIGTERM within its grace period, the second is killed at once.
    for (int i = 0; i < 2; ++i) {
      auto st = d.StopContainer(ids[i], i == 0 ? 10 : 0);
      ASSERT_TRUE(st.ok()) << "cycle " << n << ": " << st;
      Lap("4 StopContainer x2", &t);
      st = d.RemoveContainer(ids[i]);
      ASSERT_TRUE(st.ok()) << "cycle " << n << ": " << st;
      Lap("5 RemoveContainer x2", &t);
    }
    {
      runtime::v1::StopPodSandboxRequest req;
      req.set_pod_sandbox_id(*pod);
      runtime::v1::StopPodSandboxResponse resp;
      grpc::ClientContext ctx;
      auto st = d.runtime().StopPodSandbox(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << "cycle " << n << ": " << st.error_message();
      Lap("6 StopPodSandbox", &t);
    }
    {
      runtime::v1::RemovePodSandboxRequest req;
      req.set_pod_sandbox_id(*pod);
      runtime::v1::RemovePodSandboxResponse resp;
      grpc::ClientContext ctx;
      auto st = d.runtime().RemovePodSandbox(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << "cycle " << n << ": " << st.error_message();
      Lap("7 RemovePodSandbox", &t);
    }
    // kubelet removes a pod's log directory once the pod is gone.
    (void)RemoveAll(pc.log_directory());
  }

  // Adds the time since `*since` to phase `name` and restarts the clock.
  void Lap(const char* name, Clock::time_point* since) {
    auto now = Clock::now();
    phase_time_[name] += now - *since;
    *since = now;
  }

  DaemonOptions options_;
  std::unique_ptr<Daemon> daemon_;
  std::map<std::string, Clock::duration> phase_time_;
  std::string cgroup_parent_, log_root_;
};

template <typename T>
std::string Diff(const std::set<T>& before, const std::set<T>& after) {
  std::vector<std::string> out;
  for (const auto& a : after) {
    if (!before.count(a)) out.push_back("+ " + a);
  }
  for (const auto& b : before) {
    if (!after.count(b)) out.push_back("- " + b);
  }
  return absl::StrJoin(out, "\n");
}

TEST_F(LeakE2E, CyclesLeaveNothingBehind) {
  const int cycles = Cycles();
  const Observation before = Observe();
  EXPECT_TRUE(before.processes.empty()) << absl::StrJoin(before.processes, "\n");
  EXPECT_TRUE(before.veths.empty()) << absl::StrJoin(before.veths, "\n");

  auto t0 = Clock::now();
  auto lap = t0;
  for (int n = 1; n <= cycles; ++n) {
    ASSERT_NO_FATAL_FAILURE(Cycle(n));
    if (n % 50 == 0 || n == cycles) {
      auto now = Clock::now();
      std::printf(
          "[ leak ] cycles %d-%d: %.1f s (%.0f ms/cycle), total %.1f s\n", ((n - 1) / 50) * 50 + 1,
          n, std::chrono::duration<double>(now - lap).count(),
          std::chrono::duration<double, std::milli>(now - lap).count() / (n - ((n - 1) / 50) * 50),
          std::chrono::duration<double>(now - t0).count());
      std::fflush(stdout);
      lap = now;
    }
  }
  const Observation after = Observe();
  std::string phases;
  for (const auto& [name, total] : phase_time_) {
    absl::StrAppend(
        &phases, " ", name, " ",
        static_cast<int>(std::chrono::duration<double, std::milli>(total).count() / cycles),
        " ms;");
  }
  std::printf("[ leak ] mean per cycle:%s\n", phases.c_str());
  std::printf(
      "[ leak ] %d cycles; after/before: mounts %zu/%zu, netns pins %zu/%zu, veths %zu/%zu, "
      "conmon+runc processes %zu/%zu, tetherd children %zu/%zu, files %zu/%zu, "
      "ip reservations %zu/%zu, tetherd fds %d/%d, threads %d/%d, cgroup hierarchies %zu\n",
      cycles, after.mounts.size(), before.mounts.size(), after.netns_pins.size(),
      before.netns_pins.size(), after.veths.size(), before.veths.size(), after.processes.size(),
      before.processes.size(), after.children.size(), before.children.size(), after.files.size(),
      before.files.size(), after.ip_reservations.size(), before.ip_reservations.size(), after.fds,
      before.fds, after.threads, before.threads, after.cgroups.size());
  std::fflush(stdout);

  EXPECT_EQ(Diff(before.mounts, after.mounts), "") << "mounts";
  EXPECT_EQ(Diff(before.netns_pins, after.netns_pins), "") << "netns pins";
  EXPECT_EQ(Diff(before.veths, after.veths), "") << "veths";
  for (const auto& [h, dirs] : after.cgroups) {
    auto b = before.cgroups.find(h);
    EXPECT_EQ(Diff(b == before.cgroups.end() ? std::set<std::string>{} : b->second, dirs), "")
        << "cgroups under " << h << cgroup_parent_;
  }
  EXPECT_EQ(Diff(before.processes, after.processes), "") << "conmon / runc processes";
  EXPECT_EQ(Diff(before.children, after.children), "") << "tetherd's children";
  // Permanent by design, created at first use: the CNI result cache's directory (its
  // per-pod entries go with CNI DEL). The image store (content, snapshots, image records), the
  // pause root, the record/exit/socket/runtime directories and the seccomp profile exist before
  // the first cycle and are part of the baseline.
  std::set<std::string> files = after.files;
  files.erase("state/cni-cache");
  EXPECT_EQ(Diff(before.files, files), "") << "files under root and state";
  EXPECT_EQ(Diff(before.ip_reservations, after.ip_reservations), "") << "IPAM reservations";
  EXPECT_EQ(after.fds, before.fds) << "tetherd's open fds";
  EXPECT_EQ(after.threads, before.threads) << "tetherd's threads";
  runtime::v1::ListPodSandboxResponse pods;
  grpc::ClientContext ctx;
  ASSERT_TRUE(daemon_->runtime().ListPodSandbox(&ctx, {}, &pods).ok());
  EXPECT_EQ(pods.items_size(), 0);
}

}  // namespace
}  // namespace tether::e2e
