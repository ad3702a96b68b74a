// SandboxManager with a fake runtime, monitor and network: how often the OCI runtime is run.
#include "sandbox/sandbox_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "config/config.h"
#include "manager_fakes.h"
#include "network/cni.h"
#include "oci/monitor.h"
#include "oci/runtime.h"
#include "store/record_dir.h"
#include "util/file.h"

namespace tether {
namespace {

using fake::FakeMonitor;
using fake::NoNetwork;

class CountingRuntime : public OciRuntime {
 public:
  absl::StatusOr<OciState> State(const std::string&) override {
    return absl::NotFoundError("no such container");
  }
  absl::Status Start(const std::string&) override { return absl::OkStatus(); }
  absl::Status Kill(const std::string&, int, bool) override {
    ++kills;
    return absl::OkStatus();
  }
  absl::Status Delete(const std::string&, bool) override {
    ++deletes;
    if (fail_deletes > 0) {
      --fail_deletes;
      return absl::UnavailableError("runc delete: timed out");
    }
    return absl::OkStatus();
  }
  absl::Status Update(const std::string&, const nlohmann::json&) override {
    return absl::OkStatus();
  }
  const std::string& path() const override { return path_; }
  const std::string& root() const override { return root_; }

  int kills = 0, deletes = 0, fail_deletes = 0;

 private:
  std::string path_ = "/bin/false", root_ = "/nonexistent";
};

// A network that records which attachments it was asked to tear down.
class RecordingNetwork : public NoNetwork {
 public:
  absl::Status Del(const CniAttachment& a) override {
    dels.push_back(a.container_id);
    return absl::OkStatus();
  }
  std::vector<std::string> dels;
};

class SandboxManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-sandbox-manager-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.root = dir_ + "/root";
    config_.state = dir_ + "/state";
    config_.runtimes["runc"] = {"runc", "/bin/false", ""};
    config_.Finish();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/pause", "#!/bin/true\n", 0755).ok());
    runtime_ = std::make_shared<CountingRuntime>();
    manager_ = std::make_unique<SandboxManager>(config_, std::make_shared<NoNetwork>(),
                                                std::make_shared<FakeMonitor>(),
                                                SandboxManager::Runtimes{{"runc", runtime_}});
    ASSERT_TRUE(manager_->Init(dir_ + "/pause").ok());
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  // Host network and IPC: no netns or shm mount, so no root is needed.
  std::string RunPod(const std::string& name) {
    runtime::v1::PodSandboxConfig c;
    c.mutable_metadata()->set_name(name);
    c.mutable_metadata()->set_namespace_("unit");
    c.mutable_metadata()->set_uid("uid-" + name);
    auto* ns = c.mutable_linux()->mutable_security_context()->mutable_namespace_options();
    ns->set_network(runtime::v1::NODE);
    ns->set_ipc(runtime::v1::NODE);
    auto id = manager_->Run(c, "");
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }

  std::string dir_;
  Config config_;
  std::shared_ptr<CountingRuntime> runtime_;
  std::unique_ptr<SandboxManager> manager_;
};

TEST_F(SandboxManagerTest, RemoveAfterStopDoesNotRunTheRuntimeAgain) {
  std::string id = RunPod("stop-then-remove");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(manager_->Stop(id).ok());
  EXPECT_EQ(runtime_->deletes, 1);
  ASSERT_TRUE(manager_->Stop(id).ok());  // idempotent, and nothing left to delete
  ASSERT_TRUE(manager_->Remove(id).ok());
  EXPECT_EQ(runtime_->deletes, 1);
  EXPECT_FALSE(manager_->Get(id).ok());
  EXPECT_FALSE(PathExists(config_.state + "/sandboxes/" + id));
}

TEST_F(SandboxManagerTest, RemoveWithoutStopDeletesOnce) {
  std::string id = RunPod("remove-only");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(manager_->Remove(id).ok());
  EXPECT_EQ(runtime_->deletes, 1);
  EXPECT_FALSE(manager_->Get(id).ok());
}

TEST_F(SandboxManagerTest, RemoveRetriesADeleteThatFailedAtStop) {
  std::string id = RunPod("delete-fails");
  ASSERT_FALSE(id.empty());
  runtime_->fail_deletes = 1;
  ASSERT_TRUE(manager_->Stop(id).ok());  // a failed runtime delete is logged, not fatal
  EXPECT_EQ(runtime_->deletes, 1);
  ASSERT_TRUE(manager_->Remove(id).ok());
  EXPECT_EQ(runtime_->deletes, 2);
}

TEST_F(SandboxManagerTest, RuntimeDeletedSurvivesInTheRecord) {
  SandboxRecord r;
  r.id = std::string(64, 'a');
  r.config.mutable_metadata()->set_name("n");
  r.runtime_deleted = true;
  auto back = SandboxRecord::FromJson(r.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->runtime_deleted);
  nlohmann::json old = r.ToJson();
  old.erase("runtime_deleted");  // a record written before the field existed
  auto older = SandboxRecord::FromJson(old);
  ASSERT_TRUE(older.ok());
  EXPECT_FALSE(older->runtime_deleted);
}

// RunPodSandbox writes no record between CNI ADD and READY: a crash there leaves a CREATING
// record that names no attachment (network_attached false, no IPs, no CNI result). Recovery must
// still tear the network down, delete the pause and remove the netns pin, bundle and record.
TEST_F(SandboxManagerTest, CreatingRecordWithoutAttachmentIsUndoneWithCniDel) {
  SandboxRecord r;
  r.id = std::string(64, 'b');
  r.config.mutable_metadata()->set_name("crashed");
  r.config.mutable_metadata()->set_namespace_("unit");
  r.config.mutable_metadata()->set_uid("uid-crashed");
  r.runtime_name = "runc";
  r.netns_path = config_.state + "/netns/" + r.id;
  r.bundle_dir = config_.state + "/sandboxes/" + r.id;
  ASSERT_EQ(r.state, SandboxState::kCreating);
  ASSERT_FALSE(r.network_attached);
  ASSERT_TRUE(MakeDirs(r.bundle_dir, 0711).ok());
  ASSERT_TRUE(WriteFileAtomic(r.bundle_dir + "/hostname", "crashed\n").ok());
  ASSERT_TRUE(WriteFileAtomic(r.netns_path, "").ok());  // stands in for the pin (no mount)
  RecordDir records(config_.root + "/sandboxes");
  ASSERT_TRUE(records.Write(r.id, r.ToJson()).ok());

  auto network = std::make_shared<RecordingNetwork>();
  auto runtime = std::make_shared<CountingRuntime>();
  SandboxManager restarted(config_, network, std::make_shared<FakeMonitor>(),
                           SandboxManager::Runtimes{{"runc", runtime}});
  ASSERT_TRUE(restarted.Init(dir_ + "/pause").ok());

  EXPECT_EQ(network->dels, std::vector<std::string>{r.id});
  EXPECT_EQ(runtime->deletes, 1);
  EXPECT_FALSE(PathExists(r.netns_path));
  EXPECT_FALSE(PathExists(r.bundle_dir));
  EXPECT_FALSE(records.Read(r.id).ok());
  EXPECT_FALSE(restarted.Get(r.id).ok());
  // The name is free again.
  EXPECT_TRUE(restarted.List().empty());
}

// A READY record from before a restart is kept as it is: nothing is torn down.
TEST_F(SandboxManagerTest, ReadyRecordIsNotTornDownAtRecovery) {
  std::string id = RunPod("ready");
  ASSERT_FALSE(id.empty());
  auto network = std::make_shared<RecordingNetwork>();
  auto runtime = std::make_shared<CountingRuntime>();
  SandboxManager restarted(config_, network, std::make_shared<FakeMonitor>(),
                           SandboxManager::Runtimes{{"runc", runtime}});
  ASSERT_TRUE(restarted.Init(dir_ + "/pause").ok());
  EXPECT_TRUE(network->dels.empty());
  EXPECT_EQ(runtime->deletes, 0);
  ASSERT_TRUE(restarted.Get(id).ok());
}

TEST(RecordDirTest, ReplacingARecordKeepsOneReadableVersion) {
  char tmpl[] = "/tmp/tether-record-dir-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  RecordDir records(dir + "/records");
  ASSERT_TRUE(records.Init().ok());
  ASSERT_TRUE(records.Write("x", {{"state", "CREATING"}}).ok());
  ASSERT_TRUE(records.Write("x", {{"state", "READY"}}).ok());  // replaces: no directory fsync
  ASSERT_TRUE(records.Write("x", {{"state", "NOTREADY"}}).ok());
  auto back = records.Read("x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)["state"], "NOTREADY");
  std::vector<std::string> names;  // read directly: LoadAll would delete leftover temp files
  for (const auto& e : std::filesystem::directory_iterator(dir + "/records")) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"x.json"});
  ASSERT_TRUE(records.Remove("x").ok());
  EXPECT_TRUE(records.LoadAll().empty());
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace tether
