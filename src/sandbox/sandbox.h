// A pod sandbox: the pause process and the namespaces it holds, as tetherd knows and records it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"
#include "util/shared_json.h"

namespace tether {

enum class SandboxState { kCreating, kReady, kNotReady };
const char* SandboxStateName(SandboxState s);

// Everything about a sandbox that survives a daemon restart. Written atomically as one record
// before the side effect it describes becomes visible.
struct SandboxRecord {
  std::string id;
  runtime::v1::PodSandboxConfig config;
  std::string runtime_handler;  // as requested ("" = default)
  std::string runtime_name;     // the configured runtime it resolved to
  SandboxState state = SandboxState::kCreating;
  int64_t created_at = 0;  // ns since epoch
  std::string netns_path;  // pinned netns; "" for host network
  std::string bundle_dir;  // config.json, hostname, resolv.conf, hosts, shm/
  std::string shm_path;    // tmpfs mount for /dev/shm; "" for host IPC
  std::string cgroup_parent;
  int pid = 0;                  // the pause's pid in the host's PID namespace
  uint64_t pid_start_time = 0;  // /proc/PID/stat starttime, to tell a reused pid
  int monitor_pid = 0;
  std::vector<std::string> ips;
  SharedJson cni_result = NullJson();
  bool network_attached = false;         // CNI ADD done and DEL not yet
  std::string pod_cidr;                  // as passed to CNI at ADD
  SharedJson runtime_spec = NullJson();  // the pause's OCI spec, for inspection
  std::string image_id;                  // the sandbox image, when configured ("" = built-in pause)
  std::vector<std::string> chain_ids;    // its snapshots (kept from garbage collection)
  // StopPodSandbox deleted the pause from the OCI runtime: a later stop or remove need not run
  // the runtime again.
  bool runtime_deleted = false;

  nlohmann::json ToJson() const;
  static absl::StatusOr<SandboxRecord> FromJson(const nlohmann::json& j);

  bool host_network() const;
  bool host_ipc() const;
  bool host_pid() const;
  // name_namespace_uid_attempt: unique among live sandboxes.
  std::string ReservationKey() const;
};

class Sandbox {
 public:
  explicit Sandbox(SandboxRecord r) : record_(std::move(r)) {}
  const std::string& id() const { return id_; }

  // A copy of the current record (its JSON documents are shared, not copied).
  SandboxRecord Snapshot() const {
    absl::MutexLock l(&mu_);
    return record_;
  }
  SandboxState state() const {
    absl::MutexLock l(&mu_);
    return record_.state;
  }
  // Serializes lifecycle operations (stop, remove) on this sandbox; CreateContainer holds it shared
  // while it creates a container in the sandbox.
  absl::Mutex& op_mutex() { return op_mu_; }

 private:
  friend class SandboxManager;
  mutable absl::Mutex mu_;
  SandboxRecord record_ ABSL_GUARDED_BY(mu_);
  bool exited_ ABSL_GUARDED_BY(mu_) = false;  // conmon reported the pause's exit
  const std::string id_ = record_.id;
  absl::Mutex op_mu_;
};

std::string ReservationKey(const runtime::v1::PodSandboxMetadata& m);

}  // namespace tether
