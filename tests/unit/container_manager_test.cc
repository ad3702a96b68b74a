// ContainerManager with a fake runtime, monitor, network and images: stop and remove against the
// exit handling and against a create in flight, and what a restart finds in the state directory.
#include "container/container_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "config/config.h"
#include "image/image_provider.h"
#include "image/snapshotter.h"
#include "manager_fakes.h"
#include "network/cni.h"
#include "oci/monitor.h"
#include "oci/runtime.h"
#include "sandbox/sandbox_manager.h"
#include "store/record_dir.h"
#include "util/file.h"
#include "util/id.h"
#include "util/proc.h"

namespace tether {
namespace {

using fake::FakeMonitor;
using fake::NoNetwork;
using ::testing::HasSubstr;

// `runc kill` stands in for the container dying: the test decides what happens.
class FakeRuntime : public OciRuntime {
 public:
  absl::StatusOr<OciState> State(const std::string&) override {
    return absl::NotFoundError("no such container");
  }
  absl::Status Start(const std::string&) override { return absl::OkStatus(); }
  absl::Status Kill(const std::string& id, int sig, bool) override {
    if (on_kill) on_kill(id, sig);
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string&, bool) override { return absl::OkStatus(); }
  absl::Status Update(const std::string&, const nlohmann::json&) override {
    return absl::OkStatus();
  }
  const std::string& path() const override { return path_; }
  const std::string& root() const override { return root_; }

  std::function<void(const std::string&, int)> on_kill;

 private:
  std::string path_ = "/bin/false", root_ = "/nonexistent";
};

// Every reference names one image without layers (its rootfs is an overlay of an empty dir).
class OneImage : public ImageProvider {
 public:
  absl::StatusOr<ResolvedImage> ResolveForContainer(const std::string& ref) override {
    ResolvedImage image;
    image.id = "sha256:" + std::string(64, 'a');
    image.name = ref;
    image.repo_digest = image.id;
    image.config = {{"config", {{"Cmd", {"/bin/sh"}}}}};
    return image;
  }
};

class ContainerManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-container-manager-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.root = dir_ + "/root";
    config_.state = dir_ + "/state";
    config_.runtimes["runc"] = {"runc", "/bin/false", ""};
    config_.Finish();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/pause", "#!/bin/true\n", 0755).ok());
    runtime_ = std::make_shared<FakeRuntime>();
    monitor_ = std::make_shared<FakeMonitor>();
    sandboxes_ = std::make_shared<SandboxManager>(config_, std::make_shared<NoNetwork>(), monitor_,
                                                  SandboxManager::Runtimes{{"runc", runtime_}});
    ASSERT_TRUE(sandboxes_->Init(dir_ + "/pause").ok());
    snapshots_ = std::make_shared<Snapshotter>(config_.root + "/snapshots");
    ASSERT_TRUE(snapshots_->Init().ok());
  }
  void TearDown() override {
    manager_.reset();
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    // A failing test may leave a container's rootfs mounted: never leave it behind.
    for (const auto& m : MountsUnderDir()) umount2(m.c_str(), MNT_DETACH);
    (void)RemoveAll(dir_);
  }

  // A fresh ContainerManager over the same directories, as after a daemon restart.
  void StartManager() {
    manager_.reset();
    manager_ = std::make_shared<ContainerManager>(config_, sandboxes_, std::make_shared<OneImage>(),
                                                  snapshots_, monitor_,
                                                  SandboxManager::Runtimes{{"runc", runtime_}});
    ASSERT_TRUE(manager_->Init().ok());
  }

  // Host network, IPC and PID: no netns, shm mount or pause to join.
  std::string RunPod(const std::string& name) {
    runtime::v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_metadata()->set_namespace_("unit");
    c.mutable_metadata()->set_uid("uid-" + name);
    auto* ns = c.mutable_linux()->mutable_security_context()->mutable_namespace_options();
    ns->set_network(runtime::v1::NODE);
    ns->set_ipc(runtime::v1::NODE);
    ns->set_pid(runtime::v1::NODE);
    auto id = sandboxes_->Run(c, "");
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }

  // A live process of ours that plays the container's init.
  pid_t SpawnSleeper() {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
    children_.push_back(pid);
    return pid;
  }
  void Reap(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::erase(children_, pid);
  }

  // The record of a RUNNING container, as a previous daemon left it; StartManager adopts it.
  std::string WriteRunningRecord(const std::string& sandbox_id, const std::string& name,
                                 pid_t pid) {
    ContainerRecord r;
    r.id = NewId();
    r.sandbox_id = sandbox_id;
    r.config.mutable_metadata()->set_name(name);
    r.runtime_name = "runc";
    r.state = ContainerState::kRunning;
    r.created_at = r.started_at = absl::ToUnixNanos(absl::Now());
    r.pid = pid;
    while ((r.pid_start_time = ProcessStartTime(pid)) == 0) {
      // The child may not be in /proc the very moment fork returns in the parent.
      std::this_thread::yield();
    }
    r.bundle_dir = config_.state + "/containers/" + r.id;
    r.rootfs = r.bundle_dir + "/rootfs";
    EXPECT_TRUE(MakeDirs(r.bundle_dir).ok());
    RecordDir records(RecordsDir());
    EXPECT_TRUE(records.Init().ok());
    EXPECT_TRUE(records.Write(r.id, r.ToJson()).ok());
    return r.id;
  }
  static runtime::v1::ContainerConfig ContainerConfig(const std::string& name) {
    runtime::v1::ContainerConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_image()->set_image("example/image:1");
    return c;
  }
  // Creates `name` in `pod` on another thread; `on_monitor` runs where conmon + `runc create`
  // would (the container is CREATING then), on that thread.
  std::thread CreateInBackground(const std::string& pod, const std::string& name,
                                 absl::StatusOr<std::string>* out,
                                 std::function<void(const std::string& id)> on_monitor) {
    monitor_->on_create = [on_monitor](const MonitorSpec& spec) { on_monitor(spec.id); };
    return std::thread([=, this] { *out = manager_->Create(pod, ContainerConfig(name), {}); });
  }
  // Holds a create of "c" in `pod` where conmon + `runc create` would run, runs `pod_op` on another
  // thread meanwhile, expects it still blocked 300 ms later, then lets the create go on. Returns
  // the create's answer; `*op_status` is the pod operation's.
  absl::StatusOr<std::string> PodOpBesideACreate(const std::string& pod,
                                                 std::function<absl::Status()> pod_op,
                                                 absl::Status* op_status) {
    absl::Notification in_monitor, release, op_done;
    absl::StatusOr<std::string> created;
    std::thread creator = CreateInBackground(pod, "c", &created, [&](const std::string&) {
      in_monitor.Notify();
      release.WaitForNotification();
    });
    if (!in_monitor.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      release.Notify();
      creator.join();
      ADD_FAILURE() << "the create never reached the monitor: " << created.status();
      return absl::DeadlineExceededError("the create never reached the monitor");
    }
    std::thread op([&] {
      *op_status = pod_op();
      op_done.Notify();
    });
    // It must not finish while the create is in flight (the old code did, at once).
    EXPECT_FALSE(op_done.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
    release.Notify();
    creator.join();
    op.join();
    return created;
  }
  // Mount points under the test's directory (a container's rootfs overlay).
  std::vector<std::string> MountsUnderDir() const {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string id, parent, dev, root, mount_point;
      fields >> id >> parent >> dev >> root >> mount_point;
      if (mount_point.rfind(dir_ + "/", 0) == 0) out.push_back(mount_point);
    }
    return out;
  }
  static std::vector<std::string> Entries(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path());
    return out;
  }
  // No container record, bundle, rootfs snapshot or mount is left.
  void ExpectNoContainerLeft() {
    EXPECT_THAT(Entries(RecordsDir()), ::testing::IsEmpty());
    EXPECT_THAT(Entries(config_.state + "/containers"), ::testing::IsEmpty());
    EXPECT_THAT(Entries(config_.root + "/snapshots/containers"), ::testing::IsEmpty());
    EXPECT_THAT(MountsUnderDir(), ::testing::IsEmpty());
  }
  std::string RecordsDir() const { return config_.root + "/containers"; }
  std::string RecordPath(const std::string& id) const { return RecordsDir() + "/" + id + ".json"; }

  std::string dir_;
  Config config_;
  std::shared_ptr<FakeRuntime> runtime_;
  std::shared_ptr<FakeMonitor> monitor_;
  std::shared_ptr<SandboxManager> sandboxes_;
  std::shared_ptr<Snapshotter> snapshots_;
  std::shared_ptr<ContainerManager> manager_;
  std::vector<pid_t> children_;
};

TEST_F(ContainerManagerTest, AdoptsARunningContainer) {
  std::string pod = RunPod("adopt");
  pid_t pid = SpawnSleeper();
  std::string id = WriteRunningRecord(pod, "c", pid);
  StartManager();
  auto c = manager_->Get(id);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->state(), ContainerState::kRunning);
}

// The exit watcher records an exit on its own thread. StopContainer used to return as soon as
// the exit was in memory, before its record was written; a RemoveContainer right after it then
// deleted the record, and the exit watcher's write brought the record back: a container that was
// removed came back after a restart. Here the exit watcher is held between the two steps until the
// removal is done (or 2 s pass, when StopContainer rightly waits for it).
TEST_F(ContainerManagerTest, RemoveRightAfterStopIsNotUndoneByTheExitRecord) {
  std::string pod = RunPod("race");
  pid_t pid = SpawnSleeper();
  std::string id = WriteRunningRecord(pod, "c", pid);
  StartManager();

  absl::Notification removed;
  std::thread exit_watcher;
  runtime_->on_kill = [&](const std::string& cid, int) {
    Reap(pid);
    exit_watcher = std::thread([this, cid] { manager_->OnExit(cid, 137); });
  };
  manager_->SetExitRecordHookForTesting(
      [&](const std::string&) { removed.WaitForNotificationWithTimeout(absl::Seconds(2)); });

  ASSERT_TRUE(manager_->Stop(id, 0).ok());
  ASSERT_TRUE(manager_->Remove(id).ok());
  removed.Notify();
  ASSERT_TRUE(exit_watcher.joinable());
  exit_watcher.join();

  EXPECT_FALSE(manager_->Get(id).ok());
  EXPECT_FALSE(PathExists(RecordPath(id))) << "the removed container's record came back";
  StartManager();  // a daemon restart finds nothing
  EXPECT_TRUE(manager_->List().empty());
  EXPECT_FALSE(PathExists(RecordPath(id)));
}

// Stop then remove at once, many times, with the exit recorded on another thread as in tetherd;
// then the state directory holds no container record and a restart lists nothing.
TEST_F(ContainerManagerTest, StopThenRemoveAtOnceLeavesNothing) {
  std::string pod = RunPod("many");
  std::vector<std::thread> exit_watchers;
  std::map<std::string, pid_t> pids;
  runtime_->on_kill = [&](const std::string& cid, int) {
    Reap(pids[cid]);
    exit_watchers.emplace_back([this, cid] { manager_->OnExit(cid, 137); });
  };
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    pid_t pid = SpawnSleeper();
    ids.push_back(WriteRunningRecord(pod, "c" + std::to_string(i), pid));
    pids[ids.back()] = pid;
  }
  StartManager();
  for (const auto& id : ids) {
    ASSERT_TRUE(manager_->Stop(id, 0).ok());
    ASSERT_TRUE(manager_->Remove(id).ok());
    ASSERT_TRUE(manager_->Stop(id, 0).ok());  // both idempotent
    ASSERT_TRUE(manager_->Remove(id).ok());
  }
  for (auto& t : exit_watchers) t.join();
  EXPECT_TRUE(manager_->List().empty());
  for (const auto& id : ids) EXPECT_FALSE(PathExists(RecordPath(id))) << id;
  StartManager();
  EXPECT_TRUE(manager_->List().empty());
}

// containerd's rule: a container still being created cannot be removed. RemoveContainer used to
// remove it under CreateContainer's feet (conmon + `runc create` in flight), and the create then
// wrote its CREATED record back: a container no call listed came back after a restart, with its
// rootfs mounted. Now the removal fails naming the state; once created, it can be removed.
TEST_F(ContainerManagerTest, RemoveWhileCreatingFailsAndTheCreateCompletes) {
  std::string pod = RunPod("rm-creating");
  StartManager();
  runtime_->on_kill = [this](const std::string& id, int) { manager_->OnExit(id, 137); };
  absl::StatusOr<std::string> created;
  absl::Status removed;
  std::thread creator = CreateInBackground(
      pod, "c", &created, [&](const std::string& id) { removed = manager_->Remove(id); });
  creator.join();
  EXPECT_EQ(removed.code(), absl::StatusCode::kFailedPrecondition) << removed;
  EXPECT_THAT(removed.message(), HasSubstr("CREATING"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto c = manager_->Get(*created);
  ASSERT_TRUE(c.ok()) << "the create completed but its container is gone: " << c.status();
  EXPECT_EQ((*c)->state(), ContainerState::kCreated);
  EXPECT_TRUE(PathExists(RecordPath(*created)));

  ASSERT_TRUE(manager_->Remove(*created).ok());
  ExpectNoContainerLeft();
  // The name is free again, and a restart finds nothing.
  auto again = manager_->Create(pod, ContainerConfig("c"), {});
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(manager_->Remove(*again).ok());
  StartManager();
  EXPECT_TRUE(manager_->List().empty());
  ExpectNoContainerLeft();
}

// RemovePodSandbox removes the pod's containers; one still being created used to be "removed"
// while its create went on, leaving its record, bundle and rootfs mount behind. Now the removal
// waits for the create in flight and then removes what it made.
TEST_F(ContainerManagerTest, RemovePodSandboxWaitsForACreateInFlight) {
  std::string pod = RunPod("rm-pod");
  StartManager();
  runtime_->on_kill = [this](const std::string& id, int) { manager_->OnExit(id, 137); };
  absl::Status removed;
  auto created = PodOpBesideACreate(
      pod, [&] { return sandboxes_->Remove(pod); }, &removed);
  EXPECT_TRUE(removed.ok()) << removed;
  ASSERT_TRUE(created.ok()) << created.status();  // the create came first: it succeeded
  EXPECT_FALSE(manager_->Get(*created).ok());     // and the pod's removal removed it
  EXPECT_FALSE(sandboxes_->Get(pod).ok());
  ExpectNoContainerLeft();
  StartManager();
  EXPECT_TRUE(manager_->List().empty());
  ExpectNoContainerLeft();
}

// StopPodSandbox stops the pod's containers; one still being created used to be skipped and then
// appear CREATED in a stopped pod. Now the stop waits for the create and stops what it made, and
// a create after the stop fails.
TEST_F(ContainerManagerTest, StopPodSandboxWaitsForACreateInFlightAndStopsIt) {
  std::string pod = RunPod("stop-pod");
  StartManager();
  runtime_->on_kill = [this](const std::string& id, int) { manager_->OnExit(id, 137); };
  absl::Status stopped;
  auto created = PodOpBesideACreate(
      pod, [&] { return sandboxes_->Stop(pod); }, &stopped);
  EXPECT_TRUE(stopped.ok()) << stopped;
  ASSERT_TRUE(created.ok()) << created.status();
  auto c = manager_->Get(*created);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->state(), ContainerState::kExited) << "a container runs on in a stopped pod";

  monitor_->on_create = nullptr;
  auto late = manager_->Create(pod, ContainerConfig("late"), {});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition) << late.status();
  ASSERT_TRUE(sandboxes_->Remove(pod).ok());
  ExpectNoContainerLeft();
}

// The exit watcher can report a container's exit while CreateContainer is still running (the
// process died right after `runc create`). That exit used to be dropped: the container then showed
// CREATED forever. Create now records it as it leaves CREATING.
TEST_F(ContainerManagerTest, ExitReportedWhileCreatingIsRecorded) {
  std::string pod = RunPod("exit-creating");
  StartManager();
  absl::StatusOr<std::string> created;
  std::thread creator = CreateInBackground(
      pod, "c", &created, [&](const std::string& id) { EXPECT_TRUE(manager_->OnExit(id, 3)); });
  creator.join();
  ASSERT_TRUE(created.ok()) << created.status();
  auto c = manager_->Get(*created);
  ASSERT_TRUE(c.ok()) << c.status();
  ContainerRecord r = (*c)->Snapshot();
  EXPECT_EQ(r.state, ContainerState::kExited);
  EXPECT_EQ(r.exit_code, 3);
  auto on_disk = ReadFile(RecordPath(*created));
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(nlohmann::json::parse(*on_disk).value("state", ""), "EXITED");
  ASSERT_TRUE(manager_->Stop(*created, 0).ok());  // returns at once: the exit is known
  ASSERT_TRUE(manager_->Remove(*created).ok());
  ExpectNoContainerLeft();
}

// OnExit looked at the state (CREATING), then Create finished, then OnExit marked the container
// as if it were still being created: the exit was lost. Here the exit watcher is held right after
// it found the container (while CREATING) until the create has returned.
TEST_F(ContainerManagerTest, ExitSeenJustBeforeTheCreateFinishesIsNotLost) {
  std::string pod = RunPod("exit-race");
  StartManager();
  absl::Notification seen, create_returned;
  manager_->SetExitSeenHookForTesting([&](const std::string&) {
    seen.Notify();
    create_returned.WaitForNotificationWithTimeout(absl::Seconds(10));
  });
  std::thread exit_watcher;
  absl::StatusOr<std::string> created;
  std::thread creator = CreateInBackground(pod, "c", &created, [&](const std::string& id) {
    exit_watcher = std::thread([this, id] { manager_->OnExit(id, 5); });
    seen.WaitForNotification();
  });
  creator.join();
  create_returned.Notify();
  exit_watcher.join();
  ASSERT_TRUE(created.ok()) << created.status();
  auto c = manager_->Get(*created);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->state(), ContainerState::kExited) << "the exit was lost";
  EXPECT_EQ((*c)->Snapshot().exit_code, 5);
  ASSERT_TRUE(manager_->Remove(*created).ok());
  ExpectNoContainerLeft();
}

}  // namespace
}  // namespace tether
