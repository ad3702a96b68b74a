// The pause container's OCI runtime spec: a pure function of the sandbox's settings.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "oci/userns.h"

namespace tether {

struct SandboxSpecInput {
  std::string id;
  std::string hostname;
  std::string rootfs;  // absolute path of the pause's root filesystem
  bool readonly_rootfs = true;
  std::vector<std::string> args = {"/pause"};
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string netns_path;  // empty: the host's network namespace, unless userns is set
  // The pod's own user namespace: the pause creates it together with a new network namespace
  // (netns_path is then ignored; the caller pins the pause's netns after creating it).
  std::optional<UsernsMappings> userns;
  bool host_ipc = false;
  bool host_pid = false;  // NamespaceMode NODE for PID
  bool host_uts = false;  // follows host network, as kubelet does
  // Host directory (tmpfs) bind-mounted read-only on /dev/shm. Empty: the host's /dev/shm with
  // host_ipc, else a private tmpfs.
  std::string shm_path;
  std::map<std::string, std::string> sysctls;
  std::string cgroups_path;  // e.g. "/kubepods/besteffort/pod123/<id>" or "slice:prefix:name"
  int oom_score_adj = -998;  // the caller clamps it to what it may set
  std::optional<int64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::optional<int64_t> memory_limit;
  int64_t uid = 65535;  // the pause runs unprivileged unless the sandbox says otherwise
  int64_t gid = 65535;
  std::vector<int64_t> additional_gids;
  bool privileged = false;
  // Privileged only: the capabilities the pause gets, normally CurrentBoundingCapabilities() (as
  // containerd's WithAllCurrentCapabilities). Empty: every capability up to CAP_CHECKPOINT_RESTORE,
  // which fails on hosts whose bounding set lacks one ("unable to apply caps").
  std::vector<std::string> privileged_capabilities;
  bool no_new_privileges = true;
  std::string seccomp_profile_json;  // empty: none
  std::map<std::string, std::string> annotations;
};

// The names ("CAP_...") of the capabilities in this process's bounding set.
std::vector<std::string> CurrentBoundingCapabilities();

// Checks what BuildSandboxSpec cannot report: args present, rootfs absolute, the seccomp profile
// (when given) a JSON object. INVALID_ARGUMENT otherwise. Call it before BuildSandboxSpec.
absl::Status ValidateSandboxSpecInput(const SandboxSpecInput& in);

// The complete OCI runtime spec (config.json) for the pause. Unprivileged: no capabilities,
// masked and read-only /proc and /sys paths, a deny-all device cgroup. Privileged: the
// given capabilities, no masked paths, all devices allowed. A seccomp
// profile that does not parse is embedded as a string so that the runtime rejects the spec (fails
// closed).
nlohmann::json BuildSandboxSpec(const SandboxSpecInput& in);

}  // namespace tether
