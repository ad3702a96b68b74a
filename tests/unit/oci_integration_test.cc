// Root-only: the pause under conmon + runc (and crun when installed), end to end through
// BuildSandboxSpec, Conmon and RuncCli. Skips without root, runc or conmon.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "oci/conmon.h"
#include "oci/runc_cli.h"
#include "oci/sandbox_spec.h"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

namespace tether {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kConmon[] = "/usr/bin/conmon";

std::string PausePath() {
  if (const char* p = std::getenv("TETHER_PAUSE"); p && *p) return p;
#ifdef TETHER_PAUSE_PATH
  return TETHER_PAUSE_PATH;
#else
  return "";
#endif
}

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

// The test process is a child subreaper (see SetUp), so conmon's daemon, orphaned by its first
// process, becomes our child: reap it here, or see it is gone.
bool ProcessGone(int pid) {
  int st;
  if (waitpid(pid, &st, WNOHANG) == pid) return true;
  return kill(pid, 0) != 0;
}

// crun refuses hybrid cgroup hosts whose cgroup2 hierarchy holds controllers (hugetlb here).
bool UnsupportedHost(const absl::Status& s) {
  return s.message().find("hybrid mode not supported") != std::string::npos;
}

absl::StatusOr<ProcessResult> RunTool(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.timeout = std::chrono::seconds(10);
  return RunProcess(o);
}

template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class OciIntegration : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    runtime_path_ = GetParam();
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    // Without this conmon is reparented to the machine's init, which may never reap it.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    subreaper_ = true;
    if (access(runtime_path_.c_str(), X_OK) != 0) GTEST_SKIP() << runtime_path_ << " missing";
    if (access(kConmon, X_OK) != 0) GTEST_SKIP() << "conmon missing";
    pause_ = PausePath();
    if (pause_.empty() || access(pause_.c_str(), X_OK) != 0) {
      GTEST_SKIP() << "tether-pause not found (set TETHER_PAUSE)";
    }
    char tmpl[] = "/tmp/tether-oci-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    id_ = NewId();
    bundle_ = tmp_ + "/bundle";
    rootfs_ = bundle_ + "/rootfs";
    for (const char* d : {"proc", "dev", "sys", "dev/shm", "etc"}) {
      ASSERT_TRUE(MakeDirs(rootfs_ + "/" + d).ok());
    }
    fs::copy_file(pause_, rootfs_ + "/pause");
    fs::permissions(rootfs_ + "/pause", fs::perms(0755));

    auto adj = ReadFile("/proc/self/oom_score_adj");
    ASSERT_TRUE(adj.ok());
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*adj), &oom_score_adj_));

    runtime_ = std::make_unique<RuncCli>(runtime_path_, tmp_ + "/runtime-root");
  }

  void TearDown() override {
    if (subreaper_) {
      if (runtime_) (void)runtime_->Delete(id_, true);
      // A conmon left by a failed assertion exits once its container is gone.
      auto deadline = Clock::now() + std::chrono::seconds(2);
      int st;
      while (waitpid(-1, &st, WNOHANG) >= 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    }
    if (tmp_.empty()) return;
    for (const char* ctrl : {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices",
                             "freezer", "systemd", "unified", ""}) {
      std::string base = std::string("/sys/fs/cgroup/") + ctrl;
      rmdir((base + "/tether-test/" + id_).c_str());
      rmdir((base + "/tether-test").c_str());
    }
    EXPECT_TRUE(RemoveAll(tmp_).ok());
  }

  SandboxSpecInput SpecInput() {
    SandboxSpecInput in;
    in.id = id_;
    in.hostname = "tether-test";
    in.rootfs = rootfs_;
    in.netns_path = "";  // host network
    in.cgroups_path = "/tether-test/" + id_;
    in.oom_score_adj = oom_score_adj_;
    return in;
  }

  void WriteConfig(const SandboxSpecInput& in) {
    ASSERT_TRUE(ValidateSandboxSpecInput(in).ok());
    ASSERT_TRUE(WriteFileAtomic(bundle_ + "/config.json", BuildSandboxSpec(in).dump(2)).ok());
  }

  MonitorSpec Monitor() {
    MonitorSpec m;
    m.id = id_;
    m.name = "pause";
    m.bundle_dir = bundle_;
    m.log_path = tmp_ + "/logs/pause.log";
    m.exit_dir = tmp_ + "/exits";
    m.persist_dir = tmp_ + "/persist/" + id_;
    m.socket_dir = tmp_ + "/socks";
    m.runtime_path = runtime_path_;
    m.runtime_root = runtime_->root();
    return m;
  }

  // Creates, starts, runs `check(pid)` on the running pause, then stops and deletes it.
  void RunPause(const SandboxSpecInput& in, const std::function<void(int)>& check) {
    WriteConfig(in);
    Conmon conmon(kConmon, "info");
    auto started = conmon.Create(Monitor());
    if (UnsupportedHost(started.status())) GTEST_SKIP() << started.status();
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_TRUE(runtime_->Start(id_).ok());
    auto st = runtime_->State(id_);
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->status, "running");
    check(st->pid);
    EXPECT_TRUE(runtime_->Kill(id_, SIGKILL).ok());
    EXPECT_TRUE(WaitFor([&] { return PathExists(tmp_ + "/exits/" + id_); }));
    auto code = ReadFile(tmp_ + "/exits/" + id_);
    EXPECT_TRUE(code.ok());
    if (code.ok()) {
      EXPECT_EQ(*code, "137");  // 128 + SIGKILL
    }
    EXPECT_TRUE(runtime_->Delete(id_).ok());
    EXPECT_TRUE(WaitFor([&] { return ProcessGone(started->monitor_pid); }));
  }

  std::string runtime_path_, pause_, tmp_, id_, bundle_, rootfs_;
  int oom_score_adj_ = 0;
  bool subreaper_ = false;
  std::unique_ptr<RuncCli> runtime_;
};

TEST_P(OciIntegration, PauseLifecycle) {
  WriteConfig(SpecInput());
  Conmon conmon(kConmon, "info");
  MonitorSpec m = Monitor();

  int fds_before = CountOpenFds();
  auto t0 = Clock::now();
  auto started = conmon.Create(m);
  auto t1 = Clock::now();
  if (UnsupportedHost(started.status())) GTEST_SKIP() << started.status();
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(CountOpenFds(), fds_before) << "Create leaked descriptors";
  EXPECT_GT(started->container_pid, 0);
  EXPECT_GT(started->monitor_pid, 0);
  EXPECT_EQ(started->attach_socket_path, m.socket_dir + "/" + id_ + "/attach");
  EXPECT_TRUE(PathExists(started->attach_socket_path));

  auto st = runtime_->State(id_);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->status, "created");
  EXPECT_EQ(st->pid, started->container_pid);

  auto t2 = Clock::now();
  ASSERT_TRUE(runtime_->Start(id_).ok());
  auto t3 = Clock::now();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::cout << "[ timing   ] " << runtime_path_ << ": Conmon::Create " << ms(t1 - t0)
            << " ms, Start " << ms(t3 - t2) << " ms\n";
  RecordProperty("create_ms", static_cast<int>(ms(t1 - t0)));
  RecordProperty("start_ms", static_cast<int>(ms(t3 - t2)));

  st = runtime_->State(id_);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->status, "running");
  ASSERT_GT(st->pid, 0);

  // PID 1 in its own PID namespace.
  auto status = ReadFile("/proc/" + std::to_string(st->pid) + "/status");
  ASSERT_TRUE(status.ok());
  std::string nspid;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "NSpid:")) nspid = std::string(line);
  }
  std::vector<std::string> ids = absl::StrSplit(nspid, '\t', absl::SkipWhitespace());
  ASSERT_EQ(ids.size(), 2u) << nspid;
  EXPECT_EQ(ids.back(), "1");

  EXPECT_EQ(runtime_->Start(id_).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime_->Delete(id_, /*force=*/false).code(), absl::StatusCode::kFailedPrecondition);

  // Idempotent verbs on a live container.
  EXPECT_TRUE(runtime_->Update(id_, {{"cpu", {{"shares", 512}}}}).ok());

  ASSERT_TRUE(runtime_->Kill(id_, SIGTERM).ok());
  std::string exit_file = m.exit_dir + "/" + id_;
  ASSERT_TRUE(WaitFor([&] { return PathExists(exit_file); })) << "no exit file";
  auto code = ReadFile(exit_file);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, "0");
  auto persisted = ReadFile(m.persist_dir + "/exit");
  ASSERT_TRUE(persisted.ok());
  EXPECT_EQ(*persisted, "0");

  st = runtime_->State(id_);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->status, "stopped");
  EXPECT_TRUE(runtime_->Kill(id_, SIGKILL).ok()) << "kill of a stopped container";

  ASSERT_TRUE(runtime_->Delete(id_).ok());
  EXPECT_EQ(runtime_->State(id_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(runtime_->Delete(id_).ok()) << "delete is idempotent";
  EXPECT_TRUE(runtime_->Kill(id_, SIGKILL).ok()) << "kill of an unknown container";
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(started->monitor_pid); })) << "conmon still alive";
}

TEST_P(OciIntegration, MissingCommandFailsWithRuntimeMessage) {
  SandboxSpecInput in = SpecInput();
  in.args = {"/does-not-exist"};
  WriteConfig(in);
  Conmon conmon(kConmon, "info");

  int fds_before = CountOpenFds();
  auto started = conmon.Create(Monitor());
  EXPECT_EQ(CountOpenFds(), fds_before) << "Create leaked descriptors";
  ASSERT_FALSE(started.ok());
  if (UnsupportedHost(started.status())) GTEST_SKIP() << started.status();
  std::cout << "[ error    ] " << started.status() << "\n";
  EXPECT_NE(started.status().message().find("does-not-exist"), std::string::npos)
      << started.status();
  EXPECT_EQ(runtime_->State(id_).status().code(), absl::StatusCode::kNotFound);
  auto conmon_pid = ReadFile(bundle_ + "/conmon.pid");
  ASSERT_TRUE(conmon_pid.ok());
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*conmon_pid, &pid));
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(pid); })) << "conmon still alive";
}

TEST_P(OciIntegration, PodNetworkNamespaceSysctlsAndShm) {
  if (access("/usr/sbin/ip", X_OK) != 0) GTEST_SKIP() << "iproute2 missing";
  std::string netns = "tether-test-" + id_.substr(0, 12);
  auto add = RunTool({"/usr/sbin/ip", "netns", "add", netns});
  ASSERT_TRUE(add.ok() && add->ok()) << (add.ok() ? add->Describe() : add.status().ToString());
  SandboxSpecInput in = SpecInput();
  in.netns_path = "/run/netns/" + netns;
  in.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "42"}};
  in.shm_path = tmp_ + "/shm";
  ASSERT_TRUE(MakeDirs(in.shm_path).ok());
  ASSERT_TRUE(WriteFileAtomic(in.shm_path + "/marker", "x").ok());
  RunPause(in, [&](int pid) {
    struct stat want, got;
    ASSERT_EQ(stat(in.netns_path.c_str(), &want), 0);
    ASSERT_EQ(stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &got), 0);
    EXPECT_EQ(want.st_ino, got.st_ino) << "pause is not in the pod's network namespace";
    auto sysctl = RunTool({"/usr/sbin/ip", "netns", "exec", netns, "cat",
                           "/proc/sys/net/ipv4/ip_unprivileged_port_start"});
    ASSERT_TRUE(sysctl.ok());
    EXPECT_EQ(sysctl->out, "42\n");
    EXPECT_TRUE(PathExists("/proc/" + std::to_string(pid) + "/root/dev/shm/marker"));
    auto hostname = RunTool({"/usr/bin/nsenter", "-t", std::to_string(pid), "-u", "/bin/hostname"});
    ASSERT_TRUE(hostname.ok());
    EXPECT_EQ(hostname->out, "tether-test\n");
  });
  (void)RunTool({"/usr/sbin/ip", "netns", "del", netns});
}

TEST_P(OciIntegration, PrivilegedPauseKeepsRuntimeCapabilities) {
  SandboxSpecInput in = SpecInput();
  in.privileged = true;
  in.privileged_capabilities = CurrentBoundingCapabilities();
  in.uid = 0;
  in.gid = 0;
  RunPause(in, [&](int pid) {
    auto status = ReadFile("/proc/" + std::to_string(pid) + "/status");
    ASSERT_TRUE(status.ok());
    auto ours = ReadFile("/proc/self/status");
    ASSERT_TRUE(ours.ok());
    auto field = [](const std::string& text, const std::string& key) {
      size_t at = text.find(key);
      return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
    };
    std::string bnd = field(*ours, "CapBnd:");
    EXPECT_EQ(field(*status, "CapEff:").substr(7), bnd.substr(7)) << *status;
  });
}

TEST_P(OciIntegration, RuntimeVerbsOnUnknownContainer) {
  EXPECT_EQ(runtime_->State("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runtime_->Start("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(runtime_->Kill("nope", SIGTERM, /*all=*/true).ok());
  EXPECT_TRUE(runtime_->Delete("nope").ok());
  EXPECT_EQ(runtime_->Update("nope", nlohmann::json::object()).code(), absl::StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, OciIntegration,
                         ::testing::Values("/usr/bin/runc", "/usr/bin/crun"),
                         [](const auto& info) { return fs::path(info.param).filename().string(); });

}  // namespace
}  // namespace tether
