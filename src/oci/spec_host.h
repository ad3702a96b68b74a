// The reads a container spec makes of the host and of the image's root filesystem, behind
// `SpecHost` so that tests can feed them, and the host's features that change what a spec may ask
// for (cgroup mode and controllers, AppArmor, SELinux, seccomp, kernel version, rro mounts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether {

struct HostDevice {
  std::string path;  // host path of the node
  char type = 'c';   // 'c', 'b' or 'p'
  int64_t major = 0;
  int64_t minor = 0;
  uint32_t file_mode = 0;  // permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string container_path;  // where it goes; filled by Devices()
};

// Every read BuildContainerSpec makes of the host or the image goes through here. The base class
// does the real thing; tests override what they need.
class SpecHost {
 public:
  virtual ~SpecHost() = default;
  // `path` inside the image root `root`, resolved with openat2(RESOLVE_IN_ROOT) so that symlinks
  // in the image cannot reach host files. NOT_FOUND when absent; only regular files up to 10 MiB.
  virtual absl::StatusOr<std::string> ReadRootFile(const std::string& root,
                                                   const std::string& path);
  // A host file (seccomp profiles, AppArmor's profile list). NOT_FOUND when absent.
  virtual absl::StatusOr<std::string> ReadHostFile(const std::string& path);
  // `path` with every symlink resolved (realpath). NOT_FOUND when it does not exist.
  virtual absl::StatusOr<std::string> ResolvePath(const std::string& path);
  // Creates the directory and its parents (for missing bind-mount sources, when enabled).
  virtual absl::Status MakeDirs(const std::string& path);
  // The device nodes at `host_path` (already resolved): the node itself, or every node below a
  // directory (skipping pts, shm, fd, mqueue and console as containerd does), each with its
  // container_path under `container_path`. NOT_FOUND when absent, INVALID_ARGUMENT when a
  // single path is no device node.
  virtual absl::StatusOr<std::vector<HostDevice>> Devices(const std::string& host_path,
                                                          const std::string& container_path);
  // The optional fields ("shared:5", "master:3", ...) of the mount holding `path`, from
  // /proc/self/mountinfo.
  virtual absl::StatusOr<std::string> MountPropagation(const std::string& path);
};

// Facts about the host and the OCI runtime that change what the spec may ask for.
struct HostFeatures {
  bool cgroup2_unified = false;     // /sys/fs/cgroup is cgroup2: add a cgroup namespace
  bool swap_controller = false;     // memory.memsw / memory.swap.max exists
  bool hugetlb_controller = false;  // hugepage limits are dropped without it (containerd's
                                    // tolerate_missing_hugetlb_controller default)
  bool rro_mounts = false;          // the runtime supports "rro" (see RuntimeSupportsRro)
  bool apparmor = false;
  bool selinux = false;
  bool seccomp = true;
  int kernel_major = 0;  // for seccomp "minKernel" conditions; 0.0 = new enough for any
  int kernel_minor = 0;
};

// Reads cgroup mode, controllers, AppArmor, SELinux, seccomp and the kernel version from the
// running host. rro_mounts is left false: it needs the runtime's `features` output.
HostFeatures ProbeHostFeatures();

// True when `runtime_features` (the JSON of `runc features`) lists the "rro" mount option and
// the kernel has mount_setattr(2) (5.12 or later).
bool RuntimeSupportsRro(const nlohmann::json& runtime_features, const HostFeatures& host);

}  // namespace tether
