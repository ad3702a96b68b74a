// SandboxManager with a fake runtime, monitor and network: how often the OCI runtime is run.
#include "sandbox/sandbox_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "manager_fakes.h"
#include "network/cni.h"
#include "oci/monitor.h"
#include "oci/runtime.h"
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

}  // namespace
}  // namespace tether
