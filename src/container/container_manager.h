// Containers: create (rootfs + OCI spec + conmon), start, stop, remove, exits, recovery.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "config/config.h"
#include "container/container.h"
#include "image/image_provider.h"
#include "image/snapshotter.h"
#include "oci/monitor.h"
#include "oci/runtime.h"
#include "runtime/v1/api.pb.h"
#include "sandbox/sandbox_manager.h"
#include "store/record_dir.h"

namespace tether {

struct ExecSyncResult {
  std::string stdout_data, stderr_data;
  int exit_code = 0;
  bool timed_out = false;
};

class ContainerManager {
 public:
  // Called with every state change (for GetContainerEvents).
  using EventSink = std::function<void(const ContainerRecord&, runtime::v1::ContainerEventType)>;

  ContainerManager(const Config& config, std::shared_ptr<SandboxManager> sandboxes,
                   std::shared_ptr<ImageProvider> images, std::shared_ptr<Snapshotter> snapshots,
                   std::shared_ptr<Monitor> monitor, SandboxManager::Runtimes runtimes);

  absl::Status Init();  // directories, records, recovery; registers the sandbox hooks

  absl::StatusOr<std::string> Create(const std::string& sandbox_id,
                                     const runtime::v1::ContainerConfig& config,
                                     const runtime::v1::PodSandboxConfig& sandbox_config);
  absl::Status Start(const std::string& id);
  absl::Status Stop(const std::string& id, int64_t timeout_seconds);  // NOT_FOUND is fine
  absl::Status Remove(const std::string& id);                         // NOT_FOUND is fine
  absl::StatusOr<std::shared_ptr<Container>> Get(const std::string& id_or_prefix) const;
  std::vector<std::shared_ptr<Container>> List() const;
  absl::StatusOr<ExecSyncResult> ExecSync(const std::string& id,
                                          const std::vector<std::string>& cmd,
                                          int64_t timeout_seconds);
  absl::Status UpdateResources(const std::string& id,
                               const runtime::v1::LinuxContainerResources& resources);
  absl::Status ReopenLog(const std::string& id);
  // From the exit watcher: true when `id` was one of ours.
  bool OnExit(const std::string& id, int exit_code);
  void SetEventSink(EventSink sink) { events_ = std::move(sink); }
  // Chain ids used by any container (image garbage collection must keep them).
  std::vector<std::string> ChainIdsInUse() const;
  std::shared_ptr<OciRuntime> RuntimeOf(const ContainerRecord& r) const;
  // Whether a runtime can make recursive read-only mounts (probed once with `features`).
  bool SupportsRro(const std::string& runtime_name) const;
  // Tests: called by the exit handling between the EXITED state in memory and its record write.
  void SetExitRecordHookForTesting(std::function<void(const std::string& id)> hook) {
    exit_record_hook_ = std::move(hook);
  }
  // Tests: called by OnExit once it has found the container, before it looks at its state.
  void SetExitSeenHookForTesting(std::function<void(const std::string& id)> hook) {
    exit_seen_hook_ = std::move(hook);
  }

 private:
  absl::StatusOr<std::string> DoCreate(const std::string& sandbox_id,
                                       const runtime::v1::ContainerConfig& config,
                                       const runtime::v1::PodSandboxConfig& sandbox_config);
  absl::Status StopLocked(Container& c, int64_t timeout_seconds);
  absl::Status RemoveLocked(Container& c);
  void Cleanup(const ContainerRecord& r);
  // For a record no Container holds yet (CreateContainer).
  absl::Status Persist(const ContainerRecord& r) const { return records_.Write(r.id, r.ToJson()); }
  // Writes `c`'s record as it is now; nothing once it was removed (see Container::record_mu_).
  absl::Status PersistCurrent(Container& c);
  absl::Status PersistCurrentLocked(Container& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.record_mu_);
  absl::Status RemoveRecord(Container& c);
  void Publish(const ContainerRecord& r, runtime::v1::ContainerEventType type);
  void MarkExited(Container& c, int exit_code);
  void Recover();
  void RecoverStarted(Container& c);
  absl::Status StopAllIn(const std::string& sandbox_id);
  absl::Status RemoveAllIn(const std::string& sandbox_id);

  const Config& config_;
  std::shared_ptr<SandboxManager> sandboxes_;
  std::shared_ptr<ImageProvider> images_;
  std::shared_ptr<Snapshotter> snapshots_;
  std::shared_ptr<Monitor> monitor_;
  SandboxManager::Runtimes runtimes_;
  RecordDir records_;
  std::string bundles_;  // <state>/containers
  EventSink events_;
  std::map<std::string, bool> rro_;  // by runtime name, filled by Init
  std::function<void(const std::string&)> exit_record_hook_;
  std::function<void(const std::string&)> exit_seen_hook_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Container>> containers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> names_ ABSL_GUARDED_BY(mu_);  // name key → id
};

}  // namespace tether
