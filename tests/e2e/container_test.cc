// Containers end to end: images from the test registry, real runc and conmon, in real pods.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/harness.h"
#include "util/file.h"
#include "util/proc.h"

namespace tether::e2e {
namespace {

using runtime::v1::CONTAINER_EXITED;
using runtime::v1::CONTAINER_RUNNING;

class ContainerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
    image_id_ = *id;
  }

  // A ready pod with the pod PID namespace shared.
  std::string Pod(const std::string& name, runtime::v1::PodSandboxConfig* config) {
    *config = SharedPidPodConfig(name);
    return StartedPod(*daemon_, config);
  }

  std::string Run(const std::string& pod, const runtime::v1::PodSandboxConfig& pod_config,
                  const runtime::v1::ContainerConfig& config) {
    return StartedContainer(*daemon_, pod, pod_config, config);
  }

  std::unique_ptr<Daemon> daemon_;
  std::string image_id_;
};

nlohmann::json Info(const runtime::v1::ContainerStatusResponse& s) {
  return nlohmann::json::parse(s.info().at("info"));
}

TEST_F(ContainerE2E, LifecycleLogsExecStopRemove) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("life", &pc);
  auto config = ContainerConfig("app", TestImage("busybox"),
                                {"sh", "-c", "echo out; echo err >&2; exec sleep 1000"});
  auto cid = Run(pod, pc, config);
  ASSERT_FALSE(cid.empty());
  auto s = d.ContainerStatus(cid);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->status().state(), CONTAINER_RUNNING);
  EXPECT_EQ(s->status().image_id(), image_id_);
  EXPECT_EQ(s->status().image().image(), TestImage("busybox"));
  EXPECT_GT(s->status().started_at(), s->status().created_at() - 1);
  int pid = Info(*s)["pid"];
  EXPECT_TRUE(ProcessAlive(pid, 0));
  // The container joined the pod's namespaces: pid 1 is the pause.
  auto cmdline = d.Exec(cid, {"cat", "/proc/1/cmdline"});
  ASSERT_TRUE(cmdline.ok()) << cmdline.status();
  EXPECT_TRUE(absl::StartsWith(cmdline->stdout(), "/pause")) << cmdline->stdout();
  auto host = d.Exec(cid, {"hostname"});
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->stdout(), "life\n");
  // ExecSync: stdout, stderr and the exit code.
  auto e = d.Exec(cid, {"sh", "-c", "echo to-out; echo to-err >&2; exit 7"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->stdout(), "to-out\n");
  EXPECT_EQ(e->stderr(), "to-err\n");
  EXPECT_EQ(e->exit_code(), 7);
  // CRI-format logs written by conmon.
  auto log = ReadFile(s->status().log_path());
  ASSERT_TRUE(log.ok()) << s->status().log_path();
  EXPECT_TRUE(absl::StrContains(*log, " stdout F out\n")) << *log;
  EXPECT_TRUE(absl::StrContains(*log, " stderr F err\n")) << *log;

  ASSERT_TRUE(d.StopContainer(cid, 5).ok());
  s = d.ContainerStatus(cid);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), CONTAINER_EXITED);
  EXPECT_EQ(s->status().exit_code(), 143);  // SIGTERM
  EXPECT_EQ(s->status().reason(), "Error");
  EXPECT_GE(s->status().finished_at(), s->status().started_at());
  EXPECT_TRUE(d.StopContainer(cid, 5).ok()) << "stop is idempotent";
  ASSERT_TRUE(d.RemoveContainer(cid).ok());
  EXPECT_EQ(d.ContainerStatus(cid).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(d.RemoveContainer(cid).ok()) << "remove is idempotent";
  EXPECT_TRUE(MountsMentioning(cid).empty());
  EXPECT_FALSE(PathExists(d.state() + "/containers/" + cid));
  EXPECT_FALSE(PathExists(d.root() + "/containers/" + cid + ".json"));
}

TEST_F(ContainerE2E, ExitCodesAndReasons) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("exits", &pc);
  auto ok = Run(pod, pc, ContainerConfig("ok", TestImage("busybox"), {"true"}));
  auto bad = Run(pod, pc, ContainerConfig("bad", TestImage("busybox"), {"sh", "-c", "exit 3"}));
  auto s1 = d.WaitExited(ok);
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_EQ(s1->exit_code(), 0);
  EXPECT_EQ(s1->reason(), "Completed");
  auto s2 = d.WaitExited(bad);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->exit_code(), 3);
  EXPECT_EQ(s2->reason(), "Error");
}

TEST_F(ContainerE2E, StopSignalFromImageAndKillAfterTimeout) {
  auto& d = *daemon_;
  ASSERT_TRUE(d.Pull(TestImage("stopsignal")).ok());
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("sig", &pc);
  // The image's StopSignal is SIGUSR1: the trap proves it arrived, then the shell exits 42.
  auto cid =
      Run(pod, pc,
          ContainerConfig("trap", TestImage("stopsignal"),
                          {"sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"}));
  usleep(300000);
  ASSERT_TRUE(d.StopContainer(cid, 10).ok());
  auto s = d.ContainerStatus(cid);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().exit_code(), 42);
  // The image's User and WorkingDir apply.
  auto who = Run(
      pod, pc,
      ContainerConfig("who", TestImage("stopsignal"), {"sh", "-c", "id -u; pwd; exec sleep 1000"}));
  usleep(300000);
  auto log = ReadFile(d.ContainerStatus(who)->status().log_path());
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, "F 1000\n")) << *log;
  EXPECT_TRUE(absl::StrContains(*log, "F /work\n")) << *log;
  // A process that ignores the stop signal is killed when the timeout runs out.
  auto stubborn =
      Run(pod, pc,
          ContainerConfig("stubborn", TestImage("busybox"),
                          {"sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"}));
  usleep(300000);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(d.StopContainer(stubborn, 1).ok());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_EQ(d.ContainerStatus(stubborn)->status().exit_code(), 137);
}

TEST_F(ContainerE2E, SecurityContext) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("sec", &pc);
  auto run_and_read = [&](const std::string& name, runtime::v1::ContainerConfig c) {
    auto cid = Run(pod, pc, c);
    auto s = d.WaitExited(cid);
    EXPECT_TRUE(s.ok()) << s.status();
    auto log = ReadFile(d.ContainerStatus(cid)->status().log_path());
    return log.ok() ? *log : std::string("<no log for ") + name + ">";
  };
  auto c = ContainerConfig("user", TestImage("busybox"), {"id"});
  c.mutable_linux()->mutable_security_context()->mutable_run_as_user()->set_value(1000);
  EXPECT_TRUE(absl::StrContains(run_and_read("user", c), "uid=1000(tester) gid=1000(tester)"));

  c = ContainerConfig("username", TestImage("busybox"), {"id"});
  c.mutable_linux()->mutable_security_context()->set_run_as_username("tester");
  EXPECT_TRUE(absl::StrContains(run_and_read("username", c), "uid=1000(tester)"));

  c = ContainerConfig("ro", TestImage("busybox"), {"sh", "-c", "touch /x || echo READONLY"});
  c.mutable_linux()->mutable_security_context()->set_readonly_rootfs(true);
  EXPECT_TRUE(absl::StrContains(run_and_read("ro", c), "F READONLY"));

  c = ContainerConfig("nocaps", TestImage("busybox"), {"grep", "CapEff", "/proc/self/status"});
  c.mutable_linux()->mutable_security_context()->mutable_capabilities()->add_drop_capabilities(
      "ALL");
  EXPECT_TRUE(absl::StrContains(run_and_read("nocaps", c), "CapEff:\t0000000000000000"));

  c = ContainerConfig("defcaps", TestImage("busybox"), {"grep", "CapEff", "/proc/self/status"});
  // containerd's default set: 0x00000000a80425fb.
  EXPECT_TRUE(absl::StrContains(run_and_read("defcaps", c), "CapEff:\t00000000a80425fb"));

  c = ContainerConfig("seccomp", TestImage("busybox"), {"grep", "Seccomp:", "/proc/self/status"});
  c.mutable_linux()->mutable_security_context()->mutable_seccomp()->set_profile_type(
      runtime::v1::SecurityProfile::RuntimeDefault);
  EXPECT_TRUE(absl::StrContains(run_and_read("seccomp", c), "Seccomp:\t2"));

  // RunAsGroup without RunAsUser is refused, and nothing is left behind.
  c = ContainerConfig("badgroup", TestImage("busybox"), {"id"});
  c.mutable_linux()->mutable_security_context()->mutable_run_as_group()->set_value(1000);
  auto bad = d.CreateContainer(pod, c, pc);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
}

TEST_F(ContainerE2E, ContainersInAPodShareNetworkAndIpc) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("trio", &pc);
  auto web = Run(pod, pc,
                 ContainerConfig("web", TestImage("busybox"),
                                 {"httpd", "-f", "-p", "8080", "-h", "/var/www"}));
  auto writer = Run(pod, pc,
                    ContainerConfig("writer", TestImage("busybox"),
                                    {"sh", "-c", "echo shared > /dev/shm/note; exec sleep 1000"}));
  auto client = Run(pod, pc, ContainerConfig("client", TestImage("busybox"), {"sleep", "1000"}));
  usleep(500000);
  auto got = d.Exec(client, {"wget", "-qO-", "http://127.0.0.1:8080/index.html"}, 10);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->stdout(), "hello from tether\n") << got->stderr();
  auto note = d.Exec(client, {"cat", "/dev/shm/note"});
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(note->stdout(), "shared\n");
  // And the pod is reachable from the host on its IP.
  std::string ip = d.PodStatus(pod)->status().network().ip();
  auto from_host = Sh({"curl", "-sS", "--max-time", "5", absl::StrCat("http://", ip, ":8080/")});
  ASSERT_TRUE(from_host.ok()) << from_host.status();
  EXPECT_EQ(*from_host, "hello from tether\n");
  (void)web;
  (void)writer;
}

TEST_F(ContainerE2E, ExecSyncTimeout) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("slow", &pc);
  auto cid = Run(pod, pc, ContainerConfig("app", TestImage("busybox"), {"sleep", "1000"}));
  auto t0 = std::chrono::steady_clock::now();
  auto e = d.Exec(cid, {"sleep", "30"}, 1);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kDeadlineExceeded) << e.status();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  // The timed-out process was killed.
  auto ps = d.Exec(cid, {"ps", "-o", "args"});
  ASSERT_TRUE(ps.ok());
  EXPECT_FALSE(absl::StrContains(ps->stdout(), "sleep 30")) << ps->stdout();
}

TEST_F(ContainerE2E, BadInputLeavesNothingBehind) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("bad", &pc);
  auto c = ContainerConfig("x", TestImage("busybox"), {"true"});
  EXPECT_EQ(d.CreateContainer("0000000000aa", c, pc).status().code(), absl::StatusCode::kNotFound);
  auto missing = ContainerConfig("x", "registry.tether.test/tether-test/nope:1", {"true"});
  EXPECT_EQ(d.CreateContainer(pod, missing, pc).status().code(), absl::StatusCode::kNotFound);
  auto m = c;
  auto* mount = m.add_mounts();
  mount->set_container_path("/data");
  mount->set_host_path("/nonexistent/tether/e2e");
  auto st = d.CreateContainer(pod, m, pc).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  m = c;
  mount = m.add_mounts();
  mount->set_container_path("relative/path");
  mount->set_host_path("/tmp");
  st = d.CreateContainer(pod, m, pc).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  auto first = d.CreateContainer(pod, c, pc);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(d.CreateContainer(pod, c, pc).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(d.RemoveContainer(*first).ok());
  // Only the sandbox's own mounts remain.
  for (const auto& line : MountsMentioning(d.state() + "/containers")) ADD_FAILURE() << line;
}

TEST_F(ContainerE2E, RestartKeepsRunningAndNoticesExitsWhileDown) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("restart", &pc);
  auto keep = Run(pod, pc, ContainerConfig("keep", TestImage("busybox"), {"sleep", "1000"}));
  auto gone = Run(pod, pc, ContainerConfig("gone", TestImage("busybox"), {"sleep", "1000"}));
  int gone_pid = Info(*d.ContainerStatus(gone))["pid"];
  d.Kill9();
  ASSERT_EQ(kill(gone_pid, SIGKILL), 0);
  for (int i = 0; i < 200 && ProcessAlive(gone_pid, 0); ++i) usleep(10000);
  ASSERT_TRUE(d.Start().ok());
  auto s = d.ContainerStatus(gone);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), CONTAINER_EXITED);
  EXPECT_EQ(s->status().exit_code(), 137);
  s = d.ContainerStatus(keep);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), CONTAINER_RUNNING);
  auto e = d.Exec(keep, {"echo", "still here"});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->stdout(), "still here\n");
  ASSERT_TRUE(d.StopContainer(keep, 0).ok());
  EXPECT_EQ(d.ContainerStatus(keep)->status().state(), CONTAINER_EXITED);
}

// StopContainer used to return before the exit watcher had written the EXITED record, so a
// RemoveContainer right after it could be overtaken by that write: the record came back and the
// removed container with it after a restart (the unit test ContainerManagerTest.
// RemoveRightAfterStopIsNotUndoneByTheExitRecord holds the exit watcher in that window). Here, the
// real thing a few times: stop then remove at once, then no record is left and a restart lists
// nothing.
TEST_F(ContainerE2E, StopThenRemoveAtOnceLeavesNoRecord) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("stoprm", &pc);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto cid = Run(
        pod, pc, ContainerConfig("c" + std::to_string(i), TestImage("busybox"), {"sleep", "1000"}));
    ASSERT_FALSE(cid.empty());
    ASSERT_TRUE(d.StopContainer(cid, 0).ok());
    ASSERT_TRUE(d.RemoveContainer(cid).ok());
    ids.push_back(cid);
  }
  for (const auto& id : ids) {
    EXPECT_FALSE(PathExists(d.root() + "/containers/" + id + ".json")) << id;
  }
  d.Terminate();
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  runtime::v1::ListContainersResponse list;
  grpc::ClientContext ctx;
  ASSERT_TRUE(d.runtime().ListContainers(&ctx, {}, &list).ok());
  EXPECT_EQ(list.containers_size(), 0);
  for (const auto& id : ids) {
    EXPECT_EQ(d.ContainerStatus(id).status().code(), absl::StatusCode::kNotFound) << id;
  }
}

// ImageFsInfo answers from memory: the image filesystem is walked in the background (at start
// and after each pull, as here after SetUp's), so the pulled image shows up within moments.
TEST_F(ContainerE2E, ImageFsInfoCountsThePulledImage) {
  auto& d = *daemon_;
  runtime::v1::ImageFsInfoResponse fs;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    fs.Clear();
    grpc::ClientContext ctx;
    ASSERT_TRUE(d.images().ImageFsInfo(&ctx, {}, &fs).ok());
    ASSERT_EQ(fs.image_filesystems_size(), 1);
    if (fs.image_filesystems(0).used_bytes().value() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  const auto& f = fs.image_filesystems(0);
  EXPECT_GT(f.used_bytes().value(), 0u);
  EXPECT_GT(f.inodes_used().value(), 0u);
  EXPECT_GT(f.timestamp(), 0);
  EXPECT_EQ(f.fs_id().mountpoint(), d.root() + "/snapshots");
  EXPECT_EQ(fs.container_filesystems_size(), 1);
}

TEST_F(ContainerE2E, OomKilled) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("oom", &pc);
  auto c = ContainerConfig("hog", TestImage("busybox"),
                           {"sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"});
  c.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(32 << 20);
  auto cid = Run(pod, pc, c);
  auto s = d.WaitExited(cid, 30);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->exit_code(), 137);
  EXPECT_EQ(s->reason(), "OOMKilled");
}

TEST_F(ContainerE2E, RemovingThePodRemovesItsContainers) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("owner", &pc);
  auto cid = Run(pod, pc, ContainerConfig("app", TestImage("busybox"), {"sleep", "1000"}));
  int pid = Info(*d.ContainerStatus(cid))["pid"];
  runtime::v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(pod);
  runtime::v1::RemovePodSandboxResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(d.runtime().RemovePodSandbox(&ctx, req, &resp).ok());
  EXPECT_EQ(d.ContainerStatus(cid).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ProcessAlive(pid, 0));
  EXPECT_TRUE(MountsMentioning(cid).empty());
}

TEST_F(ContainerE2E, GetContainerEventsStreamsTheLifecycle) {
  auto& d = *daemon_;
  runtime::v1::PodSandboxConfig pc;
  auto pod = Pod("events", &pc);
  grpc::ClientContext ctx;
  auto reader = d.runtime().GetContainerEvents(&ctx, {});
  usleep(200000);  // the subscription is in place once the stream is open
  auto cid = Run(pod, pc, ContainerConfig("app", TestImage("busybox"), {"sleep", "1000"}));
  ASSERT_TRUE(d.StopContainer(cid, 0).ok());
  ASSERT_TRUE(d.RemoveContainer(cid).ok());
  std::vector<runtime::v1::ContainerEventType> seen;
  runtime::v1::ContainerEventResponse ev;
  while (seen.size() < 4 && reader->Read(&ev)) {
    if (ev.container_id() != cid) continue;
    seen.push_back(ev.container_event_type());
    EXPECT_EQ(ev.pod_sandbox_status().id(), pod);
    EXPECT_FALSE(ev.containers_statuses().empty());
  }
  ctx.TryCancel();
  EXPECT_EQ(seen, (std::vector<runtime::v1::ContainerEventType>{
                      runtime::v1::CONTAINER_CREATED_EVENT, runtime::v1::CONTAINER_STARTED_EVENT,
                      runtime::v1::CONTAINER_STOPPED_EVENT, runtime::v1::CONTAINER_DELETED_EVENT}));
}

}  // namespace
}  // namespace tether::e2e
