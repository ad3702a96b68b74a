// A container's OCI runtime spec (config.json), built from a CRI CreateContainer request, the
// image's config and the sandbox it joins. Everything the container sees is decided here and
// nowhere else. The rules follow containerd's CRI plugin (internal/cri/server/container_create*.go
// and internal/cri/opts); where tether differs, the comment says so.
//
// BuildContainerSpec is a pure function of its input except for a few reads of the host and the
// image, all made through `SpecHost` so that tests can feed them: the image's /etc/passwd and
// /etc/group, seccomp profile files, AppArmor's list of loaded profiles, symlinks in host paths,
// device nodes and the propagation of host mounts.
//
// One concern a file: container_spec.cc ties together spec_process.cc (args, env, cwd, image
// config), spec_users.{h,cc} (user and groups from the image's /etc/passwd and /etc/group),
// spec_security.cc (capabilities, AppArmor, SELinux, masked and read-only paths),
// spec_seccomp.{h,cc} (profile choice and resolution), spec_mounts.cc, spec_devices.cc,
// spec_namespaces.cc, spec_resources.cc and spec_host.{h,cc} (host reads and features);
// container_spec_parts.h declares the pieces for the builder.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "oci/spec_host.h"
#include "oci/spec_seccomp.h"
#include "oci/spec_users.h"
#include "runtime/v1/api.pb.h"

namespace tether {

// The parts of an OCI image config ("config" object) that shape a container.
struct ImageConfigInfo {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir;
  std::string user;  // "uid", "uid:gid", "name", "name:group", ...
  std::string stop_signal;
  std::map<std::string, std::string> labels;

  // Accepts the whole image config document ({"architecture": ..., "config": {...}}) or only its
  // "config" object. Missing fields stay empty; wrongly typed ones are INVALID_ARGUMENT.
  static absl::StatusOr<ImageConfigInfo> FromOciImageConfig(const nlohmann::json& j);
};

// ---- The spec -----------------------------------------------------------------------------------

// What the container joins.
struct SandboxInfo {
  std::string id;
  std::string netns_path;  // the pinned network namespace; "" = host network
  int pause_pid = 0;       // the pause's pid (host PID namespace): its ipc/uts/pid are joined
  bool host_network = false;
  bool host_ipc = false;
  bool host_pid = false;
  // HOSTNAME for the container when the sandbox config has no hostname; "" =
  // ContainerSpecInput::node_hostname.
  std::string hostname;
  // Files bind-mounted on /etc/hostname, /etc/resolv.conf and /etc/hosts; "" or missing = skip.
  std::string hostname_path;
  std::string resolv_conf_path;
  std::string hosts_path;
  // The pod's /dev/shm (a tmpfs on the host); with host_ipc and "" the host's /dev/shm.
  std::string shm_path;
  std::string cgroup_parent;               // the sandbox config's linux.cgroup_parent
  std::string cgroup_driver = "cgroupfs";  // "cgroupfs" | "systemd"
};

struct ContainerSpecInput {
  std::string id;
  const runtime::v1::ContainerConfig* config = nullptr;           // required
  const runtime::v1::PodSandboxConfig* sandbox_config = nullptr;  // required
  SandboxInfo sandbox;
  ImageConfigInfo image;
  // io.kubernetes.cri.image-name; "" = config.image.image.
  std::string image_name;
  std::string rootfs;  // absolute path of the mounted root filesystem (overlay)
  // Where to read etc/passwd and etc/group; "" = rootfs.
  std::string image_rootfs_for_users;
  // tetherd's own oom_score_adj: a lower value needs CAP_SYS_RESOURCE, so it is the floor.
  int own_oom_score_adj = 0;
  // The host's current bounding set (CurrentBoundingCapabilities()): what a privileged container
  // or "add ALL" gets, and what an added capability must be in. Empty: every known capability,
  // unchecked.
  std::vector<std::string> bounding_caps;
  // The RuntimeDefault seccomp profile file; "" = the built-in copy of
  // configs/seccomp/default.json (kDefaultSeccompProfile).
  std::string default_seccomp_profile_path;
  // AppArmor profile for RuntimeDefault when AppArmor is enabled; "" = none (unconfined), since
  // tether loads no profile of its own.
  std::string apparmor_default_profile;
  // The target container's pid, for PID NamespaceMode TARGET.
  int target_pid = 0;
  // HOSTNAME when the pod sets no hostname (host network): the node's name.
  std::string node_hostname;
  // containerd creates a missing bind-mount source directory; false = INVALID_ARGUMENT.
  bool create_missing_host_paths = false;
  HostFeatures features;
  SpecHost* host = nullptr;  // nullptr = the real host
};

// The complete OCI runtime spec. Errors: INVALID_ARGUMENT for a bad request field (named),
// FAILED_PRECONDITION when the host lacks what the request needs (AppArmor profile, rro mounts,
// shared mount propagation), UNIMPLEMENTED for CRI features tether does not have (image volumes,
// CDI devices, id-mapped mounts).
absl::StatusOr<nlohmann::json> BuildContainerSpec(const ContainerSpecInput& in);

}  // namespace tether
