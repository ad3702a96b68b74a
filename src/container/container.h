// A container: its CRI config, where it lives, and its state machine CREATED → RUNNING → EXITED.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"
#include "util/shared_json.h"

namespace tether {

enum class ContainerState { kCreating, kCreated, kRunning, kExited };
const char* ContainerStateName(ContainerState s);

// Everything about a container that survives a daemon restart.
struct ContainerRecord {
  std::string id;
  std::string sandbox_id;
  runtime::v1::ContainerConfig config;
  std::string image_id;   // sha256:… of the image config
  std::string image_ref;  // what the request named (as normalized), for ContainerStatus.image
  std::string image_repo_digest;       // image_ref in ContainerStatus (repo@sha256:…) or the id
  std::vector<std::string> chain_ids;  // the snapshots its rootfs stacks, bottom first
  std::string runtime_name;
  ContainerState state = ContainerState::kCreating;
  int64_t created_at = 0, started_at = 0, finished_at = 0;  // ns since epoch
  int exit_code = 0;
  std::string reason, message;
  int pid = 0;
  uint64_t pid_start_time = 0;
  int monitor_pid = 0;
  std::string bundle_dir;                // <state>/containers/<id>
  std::string rootfs;                    // <bundle>/rootfs (overlay mount)
  std::string log_path;                  // absolute; "" when the pod has no log directory
  SharedJson runtime_spec = NullJson();  // the OCI spec (immutable; replaced, never edited)
  std::string stop_signal;               // from the image
  int64_t uid = 0;
  std::string username;

  nlohmann::json ToJson() const;
  static absl::StatusOr<ContainerRecord> FromJson(const nlohmann::json& j);
};

class Container {
 public:
  explicit Container(ContainerRecord r) : record_(std::move(r)), id_(record_.id) {}
  const std::string& id() const { return id_; }
  // A copy of the current record (its JSON documents are shared, not copied).
  ContainerRecord Snapshot() const {
    absl::MutexLock l(&mu_);
    return record_;
  }
  ContainerState state() const {
    absl::MutexLock l(&mu_);
    return record_.state;
  }
  absl::Mutex& op_mutex() { return op_mu_; }

 private:
  friend class ContainerManager;
  mutable absl::Mutex mu_;
  ContainerRecord record_ ABSL_GUARDED_BY(mu_);
  // The exit is recorded: set once the EXITED record is on disk (StopContainer waits for it).
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  // An exit the exit watcher reported while the container was CREATING: CreateContainer records it
  // as it leaves CREATING. Both happen under mu_, so an exit is either kept here or seen after.
  std::optional<int> pending_exit_ ABSL_GUARDED_BY(mu_);
  const std::string id_;
  // Serializes operations on the container. CreateContainer holds it from the moment the
  // container can be found until it is CREATED (or undone), so a stop, start or exec waits for it;
  // RemoveContainer refuses a container still CREATING, as containerd does.
  absl::Mutex op_mu_;
  // Orders every write of this container's record with its removal (taken before mu_): a write
  // writes the record as it is then, and none lands once the record was removed, so an exit
  // recorded by the exit watcher while RemoveContainer runs cannot bring the record back.
  absl::Mutex record_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool record_removed_ ABSL_GUARDED_BY(record_mu_) = false;
};

}  // namespace tether
