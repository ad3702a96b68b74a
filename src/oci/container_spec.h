// A container's OCI runtime spec (config.json), built from a CRI CreateContainer request, the
// image's config and the sandbox it joins. Everything the container sees is decided here and
// nowhere else. The rules follow containerd's CRI plugin (internal/cri/server/container_create*.go
// and internal/cri/opts); where tether differs, the comment says so.
//
// BuildContainerSpec is a pure function of its input except for a few reads of the host and the
// image, all made through `SpecHost` so that tests can feed them: the image's /etc/passwd and
// /etc/group, seccomp profile files, AppArmor's list of loaded profiles, symlinks in host paths,
// device nodes and the propagation of host mounts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
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

// ---- Users and groups of the image --------------------------------------------------------------

struct PasswdEntry {
  std::string name;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  int64_t gid = 0;
  std::vector<std::string> members;
};

// The image's user database. A std::nullopt list means the file is absent from the image.
struct PasswdInfo {
  std::optional<std::vector<PasswdEntry>> passwd;
  std::optional<std::vector<GroupEntry>> group;

  // Parses /etc/passwd and /etc/group text (nullopt: the file does not exist). Malformed lines
  // are skipped, as libcontainer/user does.
  static PasswdInfo Parse(const std::optional<std::string>& passwd_text,
                          const std::optional<std::string>& group_text);

  // First match, as getpwnam(3) would find it; nullptr when absent.
  const PasswdEntry* FindUserByName(const std::string& name) const;
  const PasswdEntry* FindUserById(int64_t uid) const;
  const GroupEntry* FindGroupByName(const std::string& name) const;
};

struct ResolvedUser {
  int64_t uid = 0;
  int64_t gid = 0;
  // Sorted and unique; always holds `gid` (containerd's ensureAdditionalGids).
  std::vector<int64_t> additional_gids;
};

// containerd's user rules:
// - the user string is run_as_username or run_as_user, with ":<run_as_group>" when that is set;
//   run_as_group without either is INVALID_ARGUMENT; without any of them the image's User;
// - "uid": gid from the uid's passwd entry, else 0; "name": from passwd, missing is an error;
//   "a:b": each part a number or a name looked up in passwd / group (missing is an error);
//   uids and gids must lie in [0, 2^31-1];
// - additional gids: the primary gid, plus (SupplementalGroupsPolicy Merge) every group in
//   /etc/group listing the user (run_as_username, else run_as_user's or the image user's
//   passwd name) as a member, plus supplemental_groups.
// Errors are INVALID_ARGUMENT and name the user.
absl::StatusOr<ResolvedUser> ResolveUser(const runtime::v1::LinuxContainerSecurityContext& sc,
                                         const std::string& image_user, const PasswdInfo& db);

// ---- Host reads ---------------------------------------------------------------------------------

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

// ---- Seccomp ------------------------------------------------------------------------------------

// Turns a seccomp profile in moby's format (archMap; per-rule "includes"/"excludes" on caps,
// arches and minKernel; "name" or "names"; "comment") into an OCI linux.seccomp object: keeps
// the rules whose conditions hold for a container with bounding set `caps` on this architecture
// and kernel, and strips the extensions. A plain OCI profile passes through unchanged. Returns a
// null JSON when the profile has neither defaultAction nor syscalls (moby: seccomp disabled).
// `arch` is a Go/moby architecture name ("amd64", "arm64", ...); empty means this machine's.
absl::StatusOr<nlohmann::json> ResolveSeccompProfile(const nlohmann::json& profile,
                                                     const std::vector<std::string>& caps,
                                                     const HostFeatures& host,
                                                     const std::string& arch = "");

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
// shared mount propagation), UNIMPLEMENTED for CRI features tether does not have (user
// namespaces, image volumes, CDI devices, id-mapped mounts).
absl::StatusOr<nlohmann::json> BuildContainerSpec(const ContainerSpecInput& in);

}  // namespace tether
