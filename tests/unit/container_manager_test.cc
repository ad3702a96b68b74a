// ContainerManager with a fake runtime, monitor, network and images: stop and remove against the
// exit handling, and what a restart finds in the state directory.
#include "container/container_manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
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

class NoImages : public ImageProvider {
 public:
  absl::StatusOr<ResolvedImage> ResolveForContainer(const std::string& ref) override {
    return absl::NotFoundError(ref);
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
    (void)RemoveAll(dir_);
  }

  // A fresh ContainerManager over the same directories, as after a daemon restart.
  void StartManager() {
    manager_.reset();
    manager_ = std::make_shared<ContainerManager>(config_, sandboxes_, std::make_shared<NoImages>(),
                                                  snapshots_, monitor_,
                                                  SandboxManager::Runtimes{{"runc", runtime_}});
    ASSERT_TRUE(manager_->Init().ok());
  }

  // Host network and IPC: no netns or shm mount.
  std::string RunPod(const std::string& name) {
    runtime::v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_metadata()->set_namespace_("unit");
    c.mutable_metadata()->set_uid("uid-" + name);
    auto* ns = c.mutable_linux()->mutable_security_context()->mutable_namespace_options();
    ns->set_network(runtime::v1::NODE);
    ns->set_ipc(runtime::v1::NODE);
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

}  // namespace
}  // namespace tether
