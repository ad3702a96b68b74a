// "A restart loses nothing": 20 pods of 2 containers run, tetherd is killed with SIGKILL, some
// containers exit on their own while it is down, and the restarted daemon must list every pod and
// container with the right state, report the exits that happened meanwhile with their codes,
// keep the logs flowing, and still exec, stop and remove everything without leaving a trace.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/id.h"
#include "util/proc.h"

namespace tether::e2e {
namespace {

using runtime::v1::CONTAINER_CREATED;
using runtime::v1::CONTAINER_EXITED;
using runtime::v1::CONTAINER_RUNNING;
using runtime::v1::SANDBOX_READY;

constexpr int kPods = 20;
constexpr int kQuitters = 5;  // pods 0..4: the second container exits while tetherd is down

// Prints "tick N" every 0.2 s; says "bye" and exits 0 on SIGTERM.
std::vector<std::string> TickerCommand() {
  return {"sh", "-c",
          "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); "
          "sleep 0.2; done"};
}

// Waits (without busy work for tetherd) until /trigger/go exists, then exits with `code`.
std::vector<std::string> QuitterCommand(int code) {
  return {"sh", "-c", absl::StrCat("while [ ! -e /trigger/go ]; do sleep 0.1; done; exit ", code)};
}

// Idles until SIGTERM, then exits 0 at once (the trap interrupts `wait`).
std::vector<std::string> IdleCommand() {
  return {"sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"};
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// Processes whose command line mentions `needle` (conmon names the daemon's dirs), minus `skip`.
std::vector<std::string> ProcessesMentioning(const std::string& needle, pid_t skip) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    int pid;
    if (!absl::SimpleAtoi(e.path().filename().string(), &pid) || pid == skip || pid == getpid()) {
      continue;
    }
    auto cmd = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (!cmd.ok()) continue;
    std::string c = *cmd;
    for (auto& ch : c) {
      if (ch == '\0') ch = ' ';
    }
    if (absl::StrContains(c, needle)) out.push_back(absl::StrCat(pid, ": ", c));
  }
  return out;
}

struct PodUnderTest {
  std::string id;
  runtime::v1::PodSandboxConfig config;
  std::string ticker, second;  // container ids
  std::string trigger_dir;     // host dir mounted at /trigger in the second container
  bool quits = false;
  int exit_code = 0;  // what the second container exits with (quitters only)
};

class RestartE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
  }

  std::vector<runtime::v1::Container> ListContainers(
      const runtime::v1::ContainerFilter& filter = {}) {
    runtime::v1::ListContainersRequest req;
    *req.mutable_filter() = filter;
    runtime::v1::ListContainersResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().ListContainers(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.containers().begin(), resp.containers().end()};
  }

  std::vector<runtime::v1::PodSandbox> ListPods() {
    runtime::v1::ListPodSandboxResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().ListPodSandbox(&ctx, {}, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.items().begin(), resp.items().end()};
  }

  std::unique_ptr<Daemon> daemon_;
};

TEST_F(RestartE2E, Kill9LosesNothing) {
  auto& d = *daemon_;
  const std::string log_root = absl::StrCat(E2ELogRoot(), "/restart-", NewId().substr(0, 8));
  const auto mounts_before = MountsMentioning(d.base());

  // 20 pods, each with a ticker and a second container that idles or (pods 0..4) quits later.
  std::vector<PodUnderTest> pods(kPods);
  for (int i = 0; i < kPods; ++i) {
    auto& p = pods[i];
    std::string name = absl::StrCat("restart-", i);
    p.config = PodConfig(name);
    p.config.set_log_directory(absl::StrCat(log_root, "/", name));
    auto id = d.RunPod(name, &p.config);
    ASSERT_TRUE(id.ok()) << id.status() << d.Log();
    p.id = *id;
    auto ticker = d.CreateContainer(
        p.id, ContainerConfig("ticker", TestImage("busybox"), TickerCommand()), p.config);
    ASSERT_TRUE(ticker.ok()) << ticker.status();
    p.ticker = *ticker;
    ASSERT_TRUE(d.StartContainer(p.ticker).ok());
    p.quits = i < kQuitters;
    p.exit_code = p.quits ? 10 + i : 0;
    auto second = ContainerConfig(p.quits ? "quitter" : "idle", TestImage("busybox"),
                                  p.quits ? QuitterCommand(p.exit_code) : IdleCommand());
    if (p.quits) {
      p.trigger_dir = absl::StrCat(d.base(), "/trigger-", i);
      ASSERT_TRUE(MakeDirs(p.trigger_dir).ok());
      auto* m = second.add_mounts();
      m->set_container_path("/trigger");
      m->set_host_path(p.trigger_dir);
    }
    auto sid = d.CreateContainer(p.id, second, p.config);
    ASSERT_TRUE(sid.ok()) << sid.status();
    p.second = *sid;
    ASSERT_TRUE(d.StartContainer(p.second).ok());
  }
  // One more pod holds a container that is created but not started when tetherd dies.
  auto late_config = PodConfig("restart-late");
  late_config.set_log_directory(absl::StrCat(log_root, "/late"));
  auto late_pod = d.RunPod("restart-late", &late_config);
  ASSERT_TRUE(late_pod.ok()) << late_pod.status();
  auto late = d.CreateContainer(
      *late_pod, ContainerConfig("late", TestImage("busybox"), TickerCommand()), late_config);
  ASSERT_TRUE(late.ok()) << late.status();

  // Everything runs; remember each container's pid and log path.
  std::map<std::string, int> pid_of;
  std::map<std::string, std::string> log_of;
  std::map<std::string, int64_t> started_before;
  for (const auto& p : pods) {
    for (const auto& cid : {p.ticker, p.second}) {
      auto s = d.ContainerStatus(cid);
      ASSERT_TRUE(s.ok()) << s.status();
      ASSERT_EQ(s->status().state(), CONTAINER_RUNNING) << cid;
      pid_of[cid] = nlohmann::json::parse(s->info().at("info"))["pid"];
      log_of[cid] = s->status().log_path();
      started_before[cid] = s->status().started_at();
    }
  }
  ASSERT_TRUE(Eventually([&] { return FileSize(log_of[pods.back().ticker]) > 0; }, 10));

  // Crash. While tetherd is down the quitters exit with their codes and conmon records them.
  d.Kill9();
  const int64_t down_at = absl::ToUnixNanos(absl::Now());
  for (const auto& p : pods) {
    if (p.quits) {
      ASSERT_TRUE(WriteFileAtomic(p.trigger_dir + "/go", "go\n").ok());
    }
  }
  for (const auto& p : pods) {
    if (!p.quits) continue;
    // conmon writes <state>/exits/<id> once it has reaped the process.
    ASSERT_TRUE(Eventually([&] { return PathExists(d.state() + "/exits/" + p.second); }, 20))
        << "container " << p.second << " did not exit while tetherd was down";
  }
  std::map<std::string, int64_t> log_size_at_restart;
  for (const auto& p : pods) log_size_at_restart[p.ticker] = FileSize(log_of[p.ticker]);
  const int64_t up_at = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(d.Start().ok()) << d.Log();

  // Every pod is listed and READY.
  auto listed_pods = ListPods();
  EXPECT_EQ(listed_pods.size(), static_cast<size_t>(kPods + 1));
  std::set<std::string> pod_ids;
  for (const auto& item : listed_pods) {
    pod_ids.insert(item.id());
    EXPECT_EQ(item.state(), SANDBOX_READY) << item.id();
  }
  for (const auto& p : pods) EXPECT_TRUE(pod_ids.count(p.id)) << p.id;
  EXPECT_TRUE(pod_ids.count(*late_pod));

  // Every container is listed with the right state.
  auto listed = ListContainers();
  EXPECT_EQ(listed.size(), static_cast<size_t>(2 * kPods + 1));
  std::map<std::string, runtime::v1::Container> by_id;
  for (const auto& c : listed) by_id[c.id()] = c;
  for (const auto& p : pods) {
    ASSERT_TRUE(by_id.count(p.ticker)) << p.ticker;
    ASSERT_TRUE(by_id.count(p.second)) << p.second;
    EXPECT_EQ(by_id[p.ticker].state(), CONTAINER_RUNNING) << p.ticker;
    EXPECT_EQ(by_id[p.ticker].pod_sandbox_id(), p.id);
    EXPECT_EQ(by_id[p.second].state(), p.quits ? CONTAINER_EXITED : CONTAINER_RUNNING) << p.second;
    EXPECT_EQ(by_id[p.second].metadata().name(), p.quits ? "quitter" : "idle");
  }
  ASSERT_TRUE(by_id.count(*late));
  EXPECT_EQ(by_id[*late].state(), CONTAINER_CREATED);
  runtime::v1::ContainerFilter running;
  running.mutable_state()->set_state(CONTAINER_RUNNING);
  EXPECT_EQ(ListContainers(running).size(), static_cast<size_t>(2 * kPods - kQuitters));

  // The exits that happened while tetherd was down, with their codes and times.
  for (const auto& p : pods) {
    if (!p.quits) continue;
    auto s = d.ContainerStatus(p.second);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->status().state(), CONTAINER_EXITED);
    EXPECT_EQ(s->status().exit_code(), p.exit_code) << p.second;
    EXPECT_EQ(s->status().reason(), "Error");
    EXPECT_EQ(s->status().started_at(), started_before[p.second]);
    EXPECT_GE(s->status().finished_at(), down_at) << "finished before the crash?";
    EXPECT_LE(s->status().finished_at(), up_at) << "finished after the restart?";
    EXPECT_GT(s->status().finished_at(), s->status().started_at());
  }

  // Logs keep flowing: each ticker's file grows after the restart, in CRI format, with no
  // tick missing across the downtime.
  const std::regex cri_line(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) stdout [FP] tick (\d+)$)");
  for (const auto& p : pods) {
    const std::string& path = log_of[p.ticker];
    const int64_t at_restart = log_size_at_restart[p.ticker];
    ASSERT_TRUE(Eventually([&] { return FileSize(path) > at_restart + 100; }, 10))
        << path << " stopped growing after the restart";
    auto log = ReadFile(path);
    ASSERT_TRUE(log.ok());
    int expect = 0;
    int64_t offset = 0, new_lines = 0;
    for (absl::string_view line : absl::StrSplit(*log, '\n', absl::SkipEmpty())) {
      std::smatch m;
      std::string l(line);
      if (!std::regex_match(l, m, cri_line)) {
        if (offset + static_cast<int64_t>(l.size()) + 1 > static_cast<int64_t>(log->size())) {
          break;  // a line still being written
        }
        ADD_FAILURE() << path << ": not a CRI log line: " << l;
        break;
      }
      EXPECT_EQ(std::stoi(m[3].str()), expect) << path << ": a tick is missing";
      expect = std::stoi(m[3].str()) + 1;
      if (offset >= at_restart) ++new_lines;
      offset += static_cast<int64_t>(l.size()) + 1;
    }
    EXPECT_GE(new_lines, 1) << path;
  }

  // ExecSync in a running container of every pod.
  for (const auto& p : pods) {
    auto e = d.Exec(p.ticker, {"sh", "-c", "echo alive; exit 3"}, 10);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->stdout(), "alive\n");
    EXPECT_EQ(e->exit_code(), 3);
  }

  // The created container starts after the restart.
  ASSERT_TRUE(d.StartContainer(*late).ok());
  EXPECT_EQ(d.ContainerStatus(*late)->status().state(), CONTAINER_RUNNING);

  // StopContainer: the stop signal reaches the ticker, the exit is noticed and recorded.
  for (const auto& p : pods) {
    ASSERT_TRUE(d.StopContainer(p.ticker, 10).ok());
    auto s = d.ContainerStatus(p.ticker);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->status().state(), CONTAINER_EXITED);
    EXPECT_EQ(s->status().exit_code(), 0) << "SIGTERM did not reach " << p.ticker;
    EXPECT_EQ(s->status().reason(), "Completed");
    EXPECT_FALSE(ProcessAlive(pid_of[p.ticker], 0));
  }
  auto last = ReadFile(log_of[pods[3].ticker]);
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(absl::StrContains(*last, " stdout F bye\n"));

  // RemoveContainer in half the pods; StopPodSandbox + RemovePodSandbox take the rest.
  for (int i = 0; i < kPods; i += 2) {
    ASSERT_TRUE(d.StopContainer(pods[i].second, 10).ok());
    ASSERT_TRUE(d.RemoveContainer(pods[i].second).ok());
    ASSERT_TRUE(d.RemoveContainer(pods[i].ticker).ok());
    EXPECT_EQ(d.ContainerStatus(pods[i].ticker).status().code(), absl::StatusCode::kNotFound);
  }
  std::vector<std::string> all_pods;
  for (const auto& p : pods) all_pods.push_back(p.id);
  all_pods.push_back(*late_pod);
  for (const auto& id : all_pods) {
    runtime::v1::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    runtime::v1::StopPodSandboxResponse resp;
    grpc::ClientContext ctx;
    auto st = d.runtime().StopPodSandbox(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    auto ps = d.PodStatus(id, false);
    ASSERT_TRUE(ps.ok());
    EXPECT_EQ(ps->status().state(), runtime::v1::SANDBOX_NOTREADY);
  }
  for (const auto& id : all_pods) {
    runtime::v1::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    runtime::v1::RemovePodSandboxResponse resp;
    grpc::ClientContext ctx;
    auto st = d.runtime().RemovePodSandbox(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  // Nothing is left: no pods, containers, processes, mounts, pins or per-object files.
  EXPECT_TRUE(ListPods().empty());
  EXPECT_TRUE(ListContainers().empty());
  for (const auto& [cid, pid] : pid_of) EXPECT_FALSE(ProcessAlive(pid, 0)) << cid;
  for (const auto& line : ProcessesMentioning(d.base(), d.pid())) ADD_FAILURE() << line;
  EXPECT_EQ(MountsMentioning(d.base()), mounts_before);
  for (const char* dir : {"/netns", "/exits", "/sockets", "/sandboxes", "/containers"}) {
    auto ls = Sh({"ls", "-A", d.state() + dir});
    ASSERT_TRUE(ls.ok()) << dir;
    EXPECT_EQ(*ls, "") << d.state() << dir << " still holds files";
  }
  for (const char* dir : {"/sandboxes", "/containers"}) {
    auto ls = Sh({"ls", "-A", d.root() + dir});
    ASSERT_TRUE(ls.ok()) << dir;
    EXPECT_EQ(*ls, "") << d.root() << dir << " still holds records";
  }
  (void)RemoveAll(log_root);
}

}  // namespace
}  // namespace tether::e2e
