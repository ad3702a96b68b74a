#include "oci/container_spec.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "oci/seccomp_default.h"
#include "oci/spec_common.h"
#include "util/fd.h"
#include "util/file.h"

namespace tether {
namespace {

using nlohmann::json;
namespace v1 = runtime::v1;

constexpr size_t kMaxUserFileBytes = 10 << 20;
constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// containerd's defaultUnixCaps(), in its order.
const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE",
  };
  return caps;
}

absl::Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

// filepath.Clean for absolute paths: no "//", ".", ".." or trailing slash.
std::string CleanPath(const std::string& path) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(p);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

int PathDepth(const std::string& clean) {
  return static_cast<int>(std::count(clean.begin(), clean.end(), '/'));
}

bool IsAbs(const std::string& p) { return !p.empty() && p[0] == '/'; }

// ---- Process ------------------------------------------------------------------------------------

// Kubernetes' command/args rules, as containerd's WithProcessArgs.
absl::StatusOr<std::vector<std::string>> ProcessArgs(const v1::ContainerConfig& c,
                                                     const ImageConfigInfo& image) {
  std::vector<std::string> command(c.command().begin(), c.command().end());
  std::vector<std::string> args(c.args().begin(), c.args().end());
  if (command.empty()) {
    if (args.empty()) args = image.cmd;
    // An entrypoint of [""] is how an image says "no entrypoint".
    if (!(image.entrypoint.size() == 1 && image.entrypoint[0].empty())) {
      command = image.entrypoint;
    }
  }
  if (command.empty() && args.empty()) {
    return absl::InvalidArgumentError(
        "no command specified: the request has no command or args and the image no entrypoint "
        "or cmd");
  }
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

// containerd's replaceOrAppendEnvValues: a later value of a key replaces the earlier one in
// place; an entry without "=" unsets the key.
std::vector<std::string> MergeEnv(std::vector<std::string> defaults,
                                  const std::vector<std::string>& overrides) {
  std::map<std::string, size_t> index;
  std::vector<std::optional<std::string>> out;
  for (auto& e : defaults) {
    index[e.substr(0, e.find('='))] = out.size();
    out.emplace_back(std::move(e));
  }
  for (const auto& e : overrides) {
    auto eq = e.find('=');
    std::string key = e.substr(0, eq);
    auto it = index.find(key);
    if (eq == std::string::npos) {
      if (it != index.end()) out[it->second].reset();
      continue;
    }
    if (it != index.end()) {
      out[it->second] = e;
    } else {
      index[key] = out.size();
      out.emplace_back(e);
    }
  }
  std::vector<std::string> result;
  for (auto& e : out) {
    if (e) result.push_back(std::move(*e));
  }
  return result;
}

// ---- Users --------------------------------------------------------------------------------------

bool ParseId(absl::string_view s, int64_t* out) {
  s = absl::StripAsciiWhitespace(s);
  return !s.empty() && absl::SimpleAtoi(s, out);
}

// strconv.Atoi semantics: a number (possibly out of range) or not a number.
enum class Numeric { kNo, kYes, kOutOfRange };
Numeric ParseUserId(const std::string& s, int64_t* out) {
  if (s.empty()) return Numeric::kNo;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return Numeric::kNo;
  for (size_t j = i; j < s.size(); ++j) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[j]))) return Numeric::kNo;
  }
  if (!absl::SimpleAtoi(s, out)) return Numeric::kOutOfRange;
  if (*out < 0 || *out > INT32_MAX) return Numeric::kOutOfRange;
  return Numeric::kYes;
}

absl::Status NoPasswd(const std::string& user) {
  return absl::InvalidArgumentError(
      absl::StrCat("user \"", user, "\": the image has no /etc/passwd to look it up in"));
}

std::vector<int64_t> SortedUnique(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// ---- Capabilities -------------------------------------------------------------------------------

void AddCap(std::vector<std::string>* caps, const std::string& c) {
  if (std::find(caps->begin(), caps->end(), c) == caps->end()) caps->push_back(c);
}

void DropCap(std::vector<std::string>* caps, const std::string& c) {
  caps->erase(std::remove(caps->begin(), caps->end(), c), caps->end());
}

bool IsAll(const std::string& c) { return absl::AsciiStrToUpper(c) == "ALL"; }

std::vector<std::string> AllCapabilities(const std::vector<std::string>& bounding) {
  if (!bounding.empty()) return bounding;
  std::vector<std::string> all;
  for (size_t i = 0; i < kCapabilityCount; ++i) all.emplace_back(kCapabilityNames[i]);
  return all;
}

// containerd's WithCapabilities: ALL is applied first, then the named additions, then the named
// drops. Names may carry the CAP_ prefix or not, in any case. Unlike containerd, an added name
// must be a known capability in the host's bounding set (runc would fail later, less clearly).
absl::StatusOr<std::vector<std::string>> ContainerCapabilities(
    const v1::LinuxContainerSecurityContext& sc, const std::vector<std::string>& bounding) {
  if (sc.privileged()) return AllCapabilities(bounding);
  std::vector<std::string> caps = DefaultCapabilities();
  if (!sc.has_capabilities()) return caps;
  const auto& c = sc.capabilities();
  const auto& add = c.add_capabilities();
  const auto& drop = c.drop_capabilities();
  if (std::any_of(add.begin(), add.end(), IsAll)) caps = AllCapabilities(bounding);
  if (std::any_of(drop.begin(), drop.end(), IsAll)) caps.clear();
  for (const auto& name : add) {
    if (IsAll(name)) continue;
    std::string n = NormalizeCapabilityName(name);
    if (n.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("capabilities.add_capabilities: unknown capability \"", name, "\""));
    }
    if (!bounding.empty() && std::find(bounding.begin(), bounding.end(), n) == bounding.end()) {
      return absl::FailedPreconditionError(absl::StrCat("capabilities.add_capabilities: ", n,
                                                        " is not in the host's bounding set, so no "
                                                        "container can get it here"));
    }
    AddCap(&caps, n);
  }
  for (const auto& name : drop) {
    // Dropping a capability this build does not know takes nothing away: not an error.
    if (std::string n = NormalizeCapabilityName(name); !n.empty()) DropCap(&caps, n);
  }
  return caps;
}

// ---- Security profiles --------------------------------------------------------------------------

// The deprecated string fields, still sent by older kubelets.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
const std::string& DeprecatedSeccompPath(const v1::LinuxContainerSecurityContext& sc) {
  return sc.seccomp_profile_path();
}
const std::string& DeprecatedApparmorProfile(const v1::LinuxContainerSecurityContext& sc) {
  return sc.apparmor_profile();
}
#pragma GCC diagnostic pop

// containerd's generateSecurityProfile for the deprecated string fields. nullopt: unset.
absl::StatusOr<std::optional<v1::SecurityProfile>> ProfileFromDeprecatedPath(
    const std::string& field, const std::string& path) {
  if (path.empty()) return std::nullopt;
  v1::SecurityProfile sp;
  if (path == "runtime/default" || path == "docker/default") {
    sp.set_profile_type(v1::SecurityProfile::RuntimeDefault);
  } else if (path == "unconfined") {
    sp.set_profile_type(v1::SecurityProfile::Unconfined);
  } else if (absl::StartsWith(path, "localhost/")) {
    sp.set_profile_type(v1::SecurityProfile::Localhost);
    sp.set_localhost_ref(path.substr(strlen("localhost/")));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(field, ": invalid profile \"", path,
                                                   "\" (want runtime/default, unconfined or "
                                                   "localhost/<path>)"));
  }
  return sp;
}

// `path` empty: the built-in RuntimeDefault profile.
absl::StatusOr<json> LoadSeccomp(const std::string& path, bool localhost, SpecHost* host,
                                 const std::vector<std::string>& caps,
                                 const HostFeatures& features) {
  const std::string name = path.empty() ? "built-in RuntimeDefault" : path;
  auto fail = [&](absl::string_view why) {
    auto msg = absl::StrCat("seccomp: profile \"", name, "\": ", why);
    return localhost ? absl::InvalidArgumentError(msg) : absl::FailedPreconditionError(msg);
  };
  std::string text = kDefaultSeccompProfile;
  if (!path.empty()) {
    auto read = host->ReadHostFile(path);
    if (!read.ok()) return fail(read.status().message());
    text = std::move(*read);
  }
  json profile = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (profile.is_discarded() || !profile.is_object()) return fail("not a JSON object");
  auto resolved = ResolveSeccompProfile(profile, caps, features);
  if (!resolved.ok()) return fail(resolved.status().message());
  return resolved;
}

// containerd's GenerateSeccompSpecOpts. A null JSON: no seccomp.
absl::StatusOr<json> Seccomp(const ContainerSpecInput& in,
                             const v1::LinuxContainerSecurityContext& sc,
                             const std::vector<std::string>& caps, SpecHost* host) {
  if (sc.privileged()) return json();
  std::optional<v1::SecurityProfile> sp;
  if (sc.has_seccomp()) {
    sp = sc.seccomp();
  } else {
    auto dep = ProfileFromDeprecatedPath("seccomp_profile_path", DeprecatedSeccompPath(sc));
    if (!dep.ok()) return dep.status();
    sp = *dep;
  }
  if (!sp) return json();  // Kubernetes' default is Unconfined unless kubelet asks otherwise
  if (!in.features.seccomp) {
    if (sp->profile_type() != v1::SecurityProfile::Unconfined) {
      return absl::FailedPreconditionError("seccomp: not supported by this host's kernel");
    }
    return json();
  }
  if (sp->profile_type() != v1::SecurityProfile::Localhost && !sp->localhost_ref().empty()) {
    return absl::InvalidArgumentError(
        "seccomp: localhost_ref must only be set if profile_type is Localhost");
  }
  switch (sp->profile_type()) {
    case v1::SecurityProfile::Unconfined:
      return json();
    case v1::SecurityProfile::RuntimeDefault:
      return LoadSeccomp(in.default_seccomp_profile_path, false, host, caps, in.features);
    case v1::SecurityProfile::Localhost: {
      std::string ref = sp->localhost_ref();
      if (absl::StartsWith(ref, "localhost/")) ref = ref.substr(strlen("localhost/"));
      if (!IsAbs(ref)) {
        return absl::InvalidArgumentError(
            absl::StrCat("seccomp: localhost_ref must be an absolute path, got \"", ref, "\""));
      }
      return LoadSeccomp(ref, true, host, caps, in.features);
    }
    default:
      return absl::InvalidArgumentError("seccomp: unknown profile_type");
  }
}

// containerd's GenerateApparmorSpecOpts, except that RuntimeDefault on a host without AppArmor
// is ignored (as CRI-O does; containerd refuses) since kubelet only asks for it where AppArmor
// is enabled. "" = no profile.
absl::StatusOr<std::string> Apparmor(const ContainerSpecInput& in,
                                     const v1::LinuxContainerSecurityContext& sc, SpecHost* host) {
  std::optional<v1::SecurityProfile> sp;
  if (sc.has_apparmor()) {
    sp = sc.apparmor();
  } else {
    auto dep = ProfileFromDeprecatedPath("apparmor_profile", DeprecatedApparmorProfile(sc));
    if (!dep.ok()) return dep.status();
    sp = *dep;
  }
  if (!sp) return std::string();
  if (sp->profile_type() != v1::SecurityProfile::Localhost && !sp->localhost_ref().empty()) {
    return absl::InvalidArgumentError(
        "apparmor: localhost_ref must only be set if profile_type is Localhost");
  }
  switch (sp->profile_type()) {
    case v1::SecurityProfile::Unconfined:
      return std::string();
    case v1::SecurityProfile::RuntimeDefault:
      if (!in.features.apparmor || sc.privileged()) return std::string();
      return in.apparmor_default_profile;
    case v1::SecurityProfile::Localhost: {
      std::string name = sp->localhost_ref();
      if (absl::StartsWith(name, "localhost/")) name = name.substr(strlen("localhost/"));
      if (!in.features.apparmor) {
        return absl::FailedPreconditionError(absl::StrCat(
            "apparmor: profile \"", name, "\" requested but AppArmor is not enabled on this host"));
      }
      if (name.empty()) return absl::InvalidArgumentError("apparmor: empty localhost_ref");
      auto profiles = host->ReadHostFile("/sys/kernel/security/apparmor/profiles");
      if (!profiles.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("apparmor: cannot list loaded profiles: ", profiles.status().message()));
      }
      for (absl::string_view line : absl::StrSplit(*profiles, '\n')) {
        if (absl::StartsWith(line, absl::StrCat(name, " ("))) return name;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("apparmor: profile \"", name, "\" is not loaded"));
    }
    default:
      return absl::InvalidArgumentError("apparmor: unknown profile_type");
  }
}

// ---- Mounts -------------------------------------------------------------------------------------

struct CriMount {
  std::string container_path;  // as given
  std::string host_path;
  bool readonly = false;
  bool recursive_read_only = false;
  v1::MountPropagation propagation = v1::PROPAGATION_PRIVATE;
  std::vector<std::string> extra_options;  // ours: nosuid,nodev,noexec on /dev/shm
  bool skip_if_missing = false;            // sandbox files: skipped when absent
};

absl::StatusOr<json> Mounts(const ContainerSpecInput& in, bool privileged, SpecHost* host,
                            std::string* rootfs_propagation) {
  const auto& c = *in.config;
  const auto& sc = c.linux().security_context();

  std::vector<CriMount> mounts;
  std::set<std::string> requested;
  for (int i = 0; i < c.mounts_size(); ++i) {
    const auto& m = c.mounts(i);
    const std::string field = absl::StrCat("mounts[", i, "]");
    if (m.has_image() && !m.image().image().empty()) {
      return absl::UnimplementedError(
          absl::StrCat(field, ": image volumes are not supported (", m.image().image(), ")"));
    }
    if (m.uidmappings_size() > 0 || m.gidmappings_size() > 0) {
      return absl::UnimplementedError(absl::StrCat(field, ": id-mapped mounts are not supported"));
    }
    if (!IsAbs(m.container_path())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".container_path must be an absolute path, got \"", m.container_path(), "\""));
    }
    if (!IsAbs(m.host_path())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".host_path must be an absolute path, got \"", m.host_path(), "\""));
    }
    if (m.recursive_read_only()) {
      if (!m.readonly()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": recursive read-only mount conflicts with a read-write mount (host_path \"",
            m.host_path(), "\")"));
      }
      if (m.propagation() != v1::PROPAGATION_PRIVATE) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": recursive read-only mount needs private propagation, got ",
                         v1::MountPropagation_Name(m.propagation())));
      }
      if (!in.features.rro_mounts) {
        return absl::FailedPreconditionError(absl::StrCat(
            field, ": recursive read-only mounts are not supported by the runtime (host_path \"",
            m.host_path(), "\")"));
      }
    }
    CriMount cm;
    cm.container_path = m.container_path();
    cm.host_path = m.host_path();
    cm.readonly = m.readonly();
    cm.recursive_read_only = m.recursive_read_only();
    cm.propagation = m.propagation();
    requested.insert(CleanPath(m.container_path()));
    mounts.push_back(std::move(cm));
  }

  // The sandbox's files, unless the request mounts something there (kubelet brings its own
  // /etc/hosts).
  auto sandbox_file = [&](const std::string& dest, const std::string& src) {
    if (src.empty() || requested.count(dest)) return;
    CriMount cm;
    cm.container_path = dest;
    cm.host_path = src;
    cm.readonly = sc.readonly_rootfs();
    cm.skip_if_missing = true;
    mounts.push_back(std::move(cm));
  };
  sandbox_file("/etc/hostname", in.sandbox.hostname_path);
  sandbox_file("/etc/hosts", in.sandbox.hosts_path);
  sandbox_file("/etc/resolv.conf", in.sandbox.resolv_conf_path);
  std::string shm = in.sandbox.shm_path;
  if (shm.empty() && in.sandbox.host_ipc) shm = "/dev/shm";
  if (!shm.empty() && !requested.count("/dev/shm")) {
    CriMount cm;
    cm.container_path = "/dev/shm";
    cm.host_path = shm;
    cm.extra_options = {"nosuid", "nodev", "noexec"};
    cm.skip_if_missing = true;
    mounts.push_back(std::move(cm));
  }

  // Parents before children; the request's order otherwise (containerd's orderedMounts).
  std::stable_sort(mounts.begin(), mounts.end(), [](const CriMount& a, const CriMount& b) {
    return PathDepth(CleanPath(a.container_path)) < PathDepth(CleanPath(b.container_path));
  });

  json binds = json::array();
  std::set<std::string> overridden;
  for (const auto& m : mounts) {
    auto resolved = host->ResolvePath(m.host_path);
    if (!resolved.ok() && absl::IsNotFound(resolved.status())) {
      if (m.skip_if_missing) continue;
      if (!in.create_missing_host_paths) {
        return absl::InvalidArgumentError(absl::StrCat("mount ", m.container_path, ": host_path \"",
                                                       m.host_path, "\" does not exist"));
      }
      if (auto st = host->MakeDirs(m.host_path); !st.ok()) return st;
      resolved = host->ResolvePath(m.host_path);
    }
    if (!resolved.ok()) {
      return absl::Status(resolved.status().code(),
                          absl::StrCat("mount ", m.container_path, ": resolve host_path \"",
                                       m.host_path, "\": ", resolved.status().message()));
    }
    const std::string& src = *resolved;

    std::vector<std::string> options = {"rbind"};
    switch (m.propagation) {
      case v1::PROPAGATION_BIDIRECTIONAL: {
        auto prop = host->MountPropagation(src);
        if (!prop.ok()) return prop.status();
        if (!absl::StrContains(*prop, "shared:")) {
          return absl::FailedPreconditionError(absl::StrCat(
              "mount ", m.container_path, ": bidirectional propagation needs host_path \"", src,
              "\" on a shared mount"));
        }
        options.push_back("rshared");
        *rootfs_propagation = "rshared";
        break;
      }
      case v1::PROPAGATION_HOST_TO_CONTAINER: {
        auto prop = host->MountPropagation(src);
        if (!prop.ok()) return prop.status();
        if (!absl::StrContains(*prop, "shared:") && !absl::StrContains(*prop, "master:")) {
          return absl::FailedPreconditionError(absl::StrCat(
              "mount ", m.container_path, ": host-to-container propagation needs host_path \"", src,
              "\" on a shared or slave mount"));
        }
        options.push_back("rslave");
        if (*rootfs_propagation != "rshared") *rootfs_propagation = "rslave";
        break;
      }
      default:
        options.push_back("rprivate");
        break;
    }
    if (m.readonly) {
      options.push_back(m.recursive_read_only ? "rro" : "ro");
    } else {
      options.push_back("rw");
    }
    options.insert(options.end(), m.extra_options.begin(), m.extra_options.end());
    overridden.insert(CleanPath(m.container_path));
    binds.push_back(OciMount(m.container_path, "bind", src, std::move(options)));
  }
  const bool dev_overridden = overridden.count("/dev") > 0;

  // containerd's defaults, minus those a bind mount replaces (and all of /dev/... when /dev is
  // replaced), then the bind mounts.
  const std::string rw = privileged ? "rw" : "ro";
  std::vector<json> defaults = {
      OciMount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      OciMount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      OciMount("/dev/pts", "devpts", "devpts",
               {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      OciMount("/dev/shm", "tmpfs", "shm",
               {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      OciMount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      OciMount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", rw}),
      OciMount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", rw}),
  };
  json out = json::array();
  for (auto& d : defaults) {
    std::string dest = d["destination"].get<std::string>();
    if (overridden.count(dest)) continue;
    if (dev_overridden && absl::StartsWith(dest, "/dev/")) continue;
    out.push_back(std::move(d));
  }
  for (auto& b : binds) out.push_back(std::move(b));
  return out;
}

// ---- Devices ------------------------------------------------------------------------------------

void AppendDevice(const HostDevice& d, const std::string& access, json* devices, json* rules) {
  std::string type(1, d.type);
  devices->push_back({{"path", d.container_path},
                      {"type", type},
                      {"major", d.major},
                      {"minor", d.minor},
                      {"fileMode", d.file_mode},
                      {"uid", d.uid},
                      {"gid", d.gid}});
  if (rules) {
    rules->push_back({{"allow", true},
                      {"type", type},
                      {"major", d.major},
                      {"minor", d.minor},
                      {"access", access}});
  }
}

absl::Status Devices(const ContainerSpecInput& in, bool privileged, SpecHost* host, json* devices,
                     json* rules) {
  const auto& c = *in.config;
  for (int i = 0; i < c.devices_size(); ++i) {
    const auto& d = c.devices(i);
    const std::string field = absl::StrCat("devices[", i, "]");
    if (!IsAbs(d.container_path())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".container_path must be an absolute path, got \"", d.container_path(), "\""));
    }
    if (!IsAbs(d.host_path())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".host_path must be an absolute path, got \"", d.host_path(), "\""));
    }
    std::string access = d.permissions().empty() ? "rwm" : d.permissions();
    if (access.find_first_not_of("rwm") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".permissions must be a combination of r, w and m, got \"",
                       d.permissions(), "\""));
    }
    auto resolved = host->ResolvePath(d.host_path());
    if (!resolved.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": host device \"", d.host_path(),
                                                     "\": ", resolved.status().message()));
    }
    auto nodes = host->Devices(*resolved, d.container_path());
    if (!nodes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": host device \"", d.host_path(), "\": ", nodes.status().message()));
    }
    for (const auto& n : *nodes) AppendDevice(n, access, devices, privileged ? nullptr : rules);
  }
  if (privileged) {
    // containerd's WithHostDevices + WithAllDevicesAllowed.
    auto nodes = host->Devices("/dev", "/dev");
    if (!nodes.ok()) return nodes.status();
    for (const auto& n : *nodes) {
      bool dup = false;
      for (const auto& d : *devices) dup = dup || d["path"] == n.container_path;
      if (!dup) AppendDevice(n, "rwm", devices, nullptr);
    }
  }
  return absl::OkStatus();
}

// ---- Namespaces ---------------------------------------------------------------------------------

absl::StatusOr<json> Namespaces(const ContainerSpecInput& in, bool privileged) {
  const auto& sb = in.sandbox;
  const auto& ns = in.config->linux().security_context().namespace_options();
  if (ns.has_userns_options() && ns.userns_options().mode() != v1::NODE) {
    return absl::UnimplementedError(
        "namespace_options.userns_options: user namespaces are not supported");
  }
  auto pause_ns = [&](const char* type) -> absl::StatusOr<std::string> {
    if (sb.pause_pid <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sandbox ", sb.id, " has no running pause to join its ", type, " namespace"));
    }
    return absl::StrCat("/proc/", sb.pause_pid, "/ns/", type);
  };
  json out = json::array();
  switch (ns.pid()) {
    case v1::CONTAINER:
      out.push_back({{"type", "pid"}});
      break;
    case v1::TARGET:
      if (in.target_pid <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("namespace_options.pid TARGET: target container \"", ns.target_id(),
                         "\" is not running"));
      }
      out.push_back({{"type", "pid"}, {"path", absl::StrCat("/proc/", in.target_pid, "/ns/pid")}});
      break;
    case v1::NODE:
      if (!sb.host_pid) {
        return absl::InvalidArgumentError(
            "namespace_options.pid NODE needs a sandbox in the host's PID namespace");
      }
      break;
    default:  // POD
      if (!sb.host_pid) {
        auto p = pause_ns("pid");
        if (!p.ok()) return p.status();
        out.push_back({{"type", "pid"}, {"path", *p}});
      }
      break;
  }
  if (!sb.host_ipc) {
    auto p = pause_ns("ipc");
    if (!p.ok()) return p.status();
    out.push_back({{"type", "ipc"}, {"path", *p}});
  }
  if (!sb.host_network) {
    auto p = pause_ns("uts");
    if (!p.ok()) return p.status();
    out.push_back({{"type", "uts"}, {"path", *p}});
  }
  out.push_back({{"type", "mount"}});
  if (!sb.host_network) {
    std::string path = sb.netns_path;
    if (path.empty()) {
      auto p = pause_ns("net");
      if (!p.ok()) return p.status();
      path = *p;
    }
    out.push_back({{"type", "network"}, {"path", path}});
  }
  // containerd: a cgroup namespace on cgroup v2 hides the host's hierarchy (not when privileged).
  if (in.features.cgroup2_unified && !privileged) out.push_back({{"type", "cgroup"}});
  return out;
}

// ---- Resources ----------------------------------------------------------------------------------

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

// "0-3,5,7-8" (cpuset.cpus / cpuset.mems syntax).
bool ValidCpuList(const std::string& s) {
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    uint32_t lo = 0, hi = 0;
    if (range.size() > 2 || !AllDigits(range[0]) || !absl::SimpleAtoi(range[0], &lo)) return false;
    if (range.size() == 2 &&
        (!AllDigits(range[1]) || !absl::SimpleAtoi(range[1], &hi) || hi < lo)) {
      return false;
    }
  }
  return true;
}

bool ValidPageSize(const std::string& s) {
  size_t digits = s.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string::npos) return false;
  std::string unit = s.substr(digits);
  return unit == "KB" || unit == "MB" || unit == "GB" || unit == "TB" || unit == "PB";
}

absl::Status Resources(const ContainerSpecInput& in, json* res) {
  if (!in.config->linux().has_resources()) return absl::OkStatus();
  const auto& r = in.config->linux().resources();
  auto bad = [](const std::string& field, int64_t v, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("resources.", field, " ", v, ": ", why));
  };
  json cpu = json::object();
  if (r.cpu_period() != 0) {
    if (r.cpu_period() < 1000 || r.cpu_period() > 1000000) {
      return bad("cpu_period", r.cpu_period(), "must be between 1000 and 1000000 (µs)");
    }
    cpu["period"] = static_cast<uint64_t>(r.cpu_period());
  }
  if (r.cpu_quota() != 0) {
    if (r.cpu_quota() != -1 && r.cpu_quota() < 1000) {
      return bad("cpu_quota", r.cpu_quota(), "must be -1 (unlimited) or at least 1000 (µs)");
    }
    cpu["quota"] = r.cpu_quota();
  }
  if (r.cpu_shares() != 0) {
    if (r.cpu_shares() < 2 || r.cpu_shares() > 262144) {
      return bad("cpu_shares", r.cpu_shares(), "must be between 2 and 262144");
    }
    cpu["shares"] = static_cast<uint64_t>(r.cpu_shares());
  }
  if (!r.cpuset_cpus().empty()) {
    if (!ValidCpuList(r.cpuset_cpus())) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.cpuset_cpus \"", r.cpuset_cpus(), "\": not a CPU list"));
    }
    cpu["cpus"] = r.cpuset_cpus();
  }
  if (!r.cpuset_mems().empty()) {
    if (!ValidCpuList(r.cpuset_mems())) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.cpuset_mems \"", r.cpuset_mems(), "\": not a node list"));
    }
    cpu["mems"] = r.cpuset_mems();
  }
  if (!cpu.empty()) (*res)["cpu"] = std::move(cpu);

  json memory = json::object();
  const int64_t limit = r.memory_limit_in_bytes();
  const int64_t swap = r.memory_swap_limit_in_bytes();
  if (limit < 0) return bad("memory_limit_in_bytes", limit, "must not be negative");
  if (swap < -1) return bad("memory_swap_limit_in_bytes", swap, "must be -1 or more");
  if (limit != 0 && swap > 0 && swap < limit) {
    return bad("memory_swap_limit_in_bytes", swap,
               "must be at least memory_limit_in_bytes (it counts memory plus swap)");
  }
  if (limit != 0) {
    memory["limit"] = limit;
    // containerd: no swap beyond the memory limit unless asked.
    if (swap == 0 && in.features.swap_controller) memory["swap"] = limit;
  }
  if (swap != 0 && in.features.swap_controller) memory["swap"] = swap;
  if (!memory.empty()) (*res)["memory"] = std::move(memory);

  if (r.hugepage_limits_size() > 0) {
    json limits = json::array();
    for (const auto& h : r.hugepage_limits()) {
      if (!ValidPageSize(h.page_size())) {
        return absl::InvalidArgumentError(absl::StrCat("resources.hugepage_limits: page_size \"",
                                                       h.page_size(), "\" is not like 2MB"));
      }
      limits.push_back({{"pageSize", h.page_size()}, {"limit", h.limit()}});
    }
    // containerd's tolerate_missing_hugetlb_controller (default true): dropped without it.
    if (in.features.hugetlb_controller) (*res)["hugepageLimits"] = std::move(limits);
  }

  if (r.unified_size() > 0) {
    if (!in.features.cgroup2_unified) {
      return absl::InvalidArgumentError(
          "resources.unified: cgroup v2 settings on a host without a unified cgroup hierarchy");
    }
    json unified = json::object();
    for (const auto& [k, v] : r.unified()) {
      if (k.empty() || k.find('/') != std::string::npos || k.find("..") != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("resources.unified: invalid cgroup file name \"", k, "\""));
      }
      unified[k] = v;
    }
    (*res)["unified"] = std::move(unified);
  }
  return absl::OkStatus();
}

// ---- Seccomp profile resolution -----------------------------------------------------------------

std::string NativeArch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "x86";
#elif defined(__arm__)
  return "arm";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "";
#endif
}

// moby's nativeToSeccomp.
std::string SeccompArchFor(const std::string& arch) {
  static const std::map<std::string, std::string> m = {
      {"x86", "SCMP_ARCH_X86"},         {"amd64", "SCMP_ARCH_X86_64"},
      {"arm", "SCMP_ARCH_ARM"},         {"arm64", "SCMP_ARCH_AARCH64"},
      {"s390", "SCMP_ARCH_S390"},       {"s390x", "SCMP_ARCH_S390X"},
      {"ppc64le", "SCMP_ARCH_PPC64LE"}, {"riscv64", "SCMP_ARCH_RISCV64"},
      {"ppc64", "SCMP_ARCH_PPC64"},     {"loongarch64", "SCMP_ARCH_LOONGARCH64"},
  };
  auto it = m.find(arch);
  return it == m.end() ? "" : it->second;
}

absl::StatusOr<bool> KernelAtLeast(const json& min, const HostFeatures& host) {
  if (!min.is_string()) return absl::InvalidArgumentError("minKernel must be a string");
  std::string s = min.get<std::string>();
  if (s.empty()) return true;
  std::vector<std::string> parts = absl::StrSplit(s, '.');
  int major = 0, minor = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &major) ||
      !absl::SimpleAtoi(parts[1], &minor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid minKernel \"", s, "\", expected \"<kernel>.<major>\""));
  }
  if (host.kernel_major == 0 && host.kernel_minor == 0) return true;
  return std::make_pair(host.kernel_major, host.kernel_minor) >= std::make_pair(major, minor);
}

absl::StatusOr<std::vector<std::string>> StringList(const json& j, const char* what) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(what, " must be a list"));
  for (const auto& e : j) {
    if (!e.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " must be a list of strings"));
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ---- Host reads: helpers ------------------------------------------------------------------------

std::string Unescape(absl::string_view s) {  // mountinfo escapes space, tab, newline, backslash
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char ch = s[i + k];
        if (ch < '0' || ch > '7') ok = false;
        v = v * 8 + (ch - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool PathUnder(const std::string& path, const std::string& mountpoint) {
  if (mountpoint == "/") return true;
  return path == mountpoint || (absl::StartsWith(path, mountpoint) &&
                                path.size() > mountpoint.size() && path[mountpoint.size()] == '/');
}

absl::StatusOr<HostDevice> DeviceAt(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus("lstat", path, errno);
  HostDevice d;
  d.path = path;
  if (S_ISCHR(st.st_mode)) {
    d.type = 'c';
  } else if (S_ISBLK(st.st_mode)) {
    d.type = 'b';
  } else if (S_ISFIFO(st.st_mode)) {
    d.type = 'p';
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a device node"));
  }
  d.major = major(st.st_rdev);
  d.minor = minor(st.st_rdev);
  d.file_mode = st.st_mode & 07777;
  d.uid = st.st_uid;
  d.gid = st.st_gid;
  return d;
}

void WalkDevices(const std::string& dir, const std::string& container_dir,
                 std::vector<HostDevice>* out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    entries.emplace_back(name, e->d_type);
  }
  closedir(d);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, type] : entries) {
    std::string path = absl::StrCat(dir == "/" ? "" : dir, "/", name);
    std::string cpath = absl::StrCat(container_dir == "/" ? "" : container_dir, "/", name);
    unsigned char t = type;
    if (t == DT_UNKNOWN) {
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) continue;
      t = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
    }
    if (t == DT_DIR) {
      static const std::set<std::string> skip = {"pts",  "shm",         "fd",   "mqueue",
                                                 ".lxc", ".lxd-mounts", ".udev"};
      if (!skip.count(name)) WalkDevices(path, cpath, out);
      continue;
    }
    if (name == "console") continue;
    auto dev = DeviceAt(path);
    if (!dev.ok()) continue;  // not a device, or gone
    dev->container_path = cpath;
    out->push_back(*dev);
  }
}

}  // namespace

// ---- ImageConfigInfo ----------------------------------------------------------------------------

absl::StatusOr<ImageConfigInfo> ImageConfigInfo::FromOciImageConfig(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("image config: not a JSON object");
  const json* c = &j;
  if (j.contains("config")) {
    c = &j["config"];
    if (c->is_null()) return ImageConfigInfo{};
    if (!c->is_object())
      return absl::InvalidArgumentError("image config: \"config\" not an object");
  }
  ImageConfigInfo out;
  auto list = [&](const char* key, std::vector<std::string>* dst) -> absl::Status {
    if (!c->contains(key)) return absl::OkStatus();
    auto l = StringList((*c)[key], key);
    if (!l.ok())
      return absl::InvalidArgumentError(absl::StrCat("image config: ", l.status().message()));
    *dst = std::move(*l);
    return absl::OkStatus();
  };
  auto str = [&](const char* key, std::string* dst) -> absl::Status {
    if (!c->contains(key) || (*c)[key].is_null()) return absl::OkStatus();
    if (!(*c)[key].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("image config: ", key, " must be a string"));
    }
    *dst = (*c)[key].get<std::string>();
    return absl::OkStatus();
  };
  for (auto st : {list("Entrypoint", &out.entrypoint), list("Cmd", &out.cmd), list("Env", &out.env),
                  str("WorkingDir", &out.working_dir), str("User", &out.user),
                  str("StopSignal", &out.stop_signal)}) {
    if (!st.ok()) return st;
  }
  if (c->contains("Labels") && (*c)["Labels"].is_object()) {
    for (const auto& [k, v] : (*c)["Labels"].items()) {
      if (v.is_string()) out.labels[k] = v.get<std::string>();
    }
  }
  return out;
}

// ---- PasswdInfo ---------------------------------------------------------------------------------

PasswdInfo PasswdInfo::Parse(const std::optional<std::string>& passwd_text,
                             const std::optional<std::string>& group_text) {
  PasswdInfo info;
  if (passwd_text) {
    info.passwd.emplace();
    for (absl::string_view line : absl::StrSplit(*passwd_text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f = absl::StrSplit(line, ':');
      if (f.size() < 4 || f[0].empty()) continue;
      PasswdEntry e;
      e.name = f[0];
      if (!ParseId(f[2], &e.uid) || !ParseId(f[3], &e.gid)) continue;
      if (f.size() > 5) e.home = f[5];
      info.passwd->push_back(std::move(e));
    }
  }
  if (group_text) {
    info.group.emplace();
    for (absl::string_view line : absl::StrSplit(*group_text, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> f = absl::StrSplit(line, ':');
      if (f.size() < 3 || f[0].empty()) continue;
      GroupEntry g;
      g.name = f[0];
      if (!ParseId(f[2], &g.gid)) continue;
      if (f.size() > 3) {
        for (absl::string_view m : absl::StrSplit(f[3], ',', absl::SkipWhitespace())) {
          g.members.emplace_back(absl::StripAsciiWhitespace(m));
        }
      }
      info.group->push_back(std::move(g));
    }
  }
  return info;
}

const PasswdEntry* PasswdInfo::FindUserByName(const std::string& name) const {
  if (!passwd) return nullptr;
  for (const auto& e : *passwd) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const PasswdEntry* PasswdInfo::FindUserById(int64_t uid) const {
  if (!passwd) return nullptr;
  for (const auto& e : *passwd) {
    if (e.uid == uid) return &e;
  }
  return nullptr;
}

const GroupEntry* PasswdInfo::FindGroupByName(const std::string& name) const {
  if (!group) return nullptr;
  for (const auto& g : *group) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

absl::StatusOr<ResolvedUser> ResolveUser(const v1::LinuxContainerSecurityContext& sc,
                                         const std::string& image_user, const PasswdInfo& db) {
  // containerd's GenerateUserString.
  std::string userstr;
  if (sc.has_run_as_user()) userstr = absl::StrCat(sc.run_as_user().value());
  if (!sc.run_as_username().empty()) userstr = sc.run_as_username();
  if (sc.has_run_as_group()) {
    if (userstr.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("run_as_group ", sc.run_as_group().value(),
                       " is specified without run_as_user or run_as_username"));
    }
    absl::StrAppend(&userstr, ":", sc.run_as_group().value());
  }
  if (userstr.empty()) userstr = image_user;

  ResolvedUser out;
  if (!userstr.empty()) {
    std::vector<std::string> parts = absl::StrSplit(userstr, ':');
    if (parts.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat("invalid user \"", userstr, "\""));
    }
    int64_t uid = 0, gid = 0;
    Numeric un = ParseUserId(parts[0], &uid);
    if (un == Numeric::kOutOfRange) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid user \"", userstr, "\": uid out of range"));
    }
    if (parts.size() == 1) {
      if (un == Numeric::kYes) {
        // A uid unknown to the image (or an image without /etc/passwd) gets gid 0.
        const PasswdEntry* e = db.FindUserById(uid);
        out.uid = uid;
        out.gid = e ? e->gid : 0;
      } else {
        if (!db.passwd) return NoPasswd(userstr);
        const PasswdEntry* e = db.FindUserByName(parts[0]);
        if (!e) {
          return absl::InvalidArgumentError(
              absl::StrCat("user \"", parts[0], "\" not found in the image's /etc/passwd"));
        }
        out.uid = e->uid;
        out.gid = e->gid;
      }
    } else {
      Numeric gn = ParseUserId(parts[1], &gid);
      if (gn == Numeric::kOutOfRange) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid user \"", userstr, "\": gid out of range"));
      }
      // An empty part is neither looked up nor an error: it stays 0 (containerd's WithUser).
      if (un == Numeric::kNo && !parts[0].empty()) {
        if (!db.passwd) return NoPasswd(parts[0]);
        const PasswdEntry* e = db.FindUserByName(parts[0]);
        if (!e) {
          return absl::InvalidArgumentError(
              absl::StrCat("user \"", parts[0], "\" not found in the image's /etc/passwd"));
        }
        uid = e->uid;
      }
      if (gn == Numeric::kNo && !parts[1].empty()) {
        if (!db.group) {
          return absl::InvalidArgumentError(absl::StrCat(
              "group \"", parts[1], "\": the image has no /etc/group to look it up in"));
        }
        const GroupEntry* g = db.FindGroupByName(parts[1]);
        if (!g) {
          return absl::InvalidArgumentError(
              absl::StrCat("group \"", parts[1], "\" not found in the image's /etc/group"));
        }
        gid = g->gid;
      }
      out.uid = uid;
      out.gid = gid;
    }
  }
  if (out.uid > INT32_MAX || out.gid > INT32_MAX || out.uid < 0 || out.gid < 0) {
    return absl::InvalidArgumentError(absl::StrCat("user \"", userstr, "\": id out of range"));
  }

  std::vector<int64_t> gids = {out.gid};
  if (sc.supplemental_groups_policy() == v1::Merge) {
    // The user whose /etc/group memberships count (containerd's containerSpecOpts).
    std::string member = "0";
    if (!sc.run_as_username().empty()) {
      member = sc.run_as_username();
    } else if (sc.has_run_as_user()) {
      member = absl::StrCat(sc.run_as_user().value());
    } else if (!image_user.empty()) {
      member = image_user.substr(0, image_user.find(':'));
    }
    int64_t n = 0;
    if (ParseUserId(member, &n) == Numeric::kYes) {
      const PasswdEntry* e = db.FindUserById(n);
      member = e ? e->name : "";
    }
    if (!member.empty() && db.group) {
      for (const auto& g : *db.group) {
        if (g.name == member) continue;  // only supplementary groups
        if (std::find(g.members.begin(), g.members.end(), member) != g.members.end()) {
          gids.push_back(g.gid);
        }
      }
    }
  } else if (sc.supplemental_groups_policy() != v1::Strict) {
    return absl::InvalidArgumentError(
        absl::StrCat("supplemental_groups_policy ",
                     static_cast<int>(sc.supplemental_groups_policy()), " is not known"));
  }
  for (int64_t g : sc.supplemental_groups()) {
    if (g < 0 || g > INT32_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("supplemental_groups: gid ", g, " out of range"));
    }
    gids.push_back(g);
  }
  out.additional_gids = SortedUnique(std::move(gids));
  return out;
}

// ---- SpecHost -----------------------------------------------------------------------------------

absl::StatusOr<std::string> SpecHost::ReadRootFile(const std::string& root,
                                                   const std::string& path) {
  Fd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus("open", root, errno);
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how));
  if (fd < 0 && errno == EXDEV) {
    // The image root may hold mounts of its own (not ours); allow crossing them.
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    fd = static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how));
  }
  if (fd < 0) {
    if (errno == ENOSYS) {
      return absl::FailedPreconditionError("openat2(2) is not available (Linux 5.6 or later)");
    }
    return ErrnoStatus("open", absl::StrCat(root, "/", rel), errno);
  }
  Fd file(fd);
  struct stat st;
  if (fstat(file.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " in the image is not a regular file"));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t r = read(file.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("read", path, errno);
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
    if (out.size() > kMaxUserFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, " in the image is larger than 10 MiB"));
    }
  }
  return out;
}

absl::StatusOr<std::string> SpecHost::ReadHostFile(const std::string& path) {
  return ReadFile(path);
}

absl::StatusOr<std::string> SpecHost::ResolvePath(const std::string& path) {
  char* r = realpath(path.c_str(), nullptr);
  if (!r) return ErrnoStatus("resolve", path, errno);
  std::string out = r;
  free(r);
  return out;
}

absl::Status SpecHost::MakeDirs(const std::string& path) { return tether::MakeDirs(path); }

absl::StatusOr<std::vector<HostDevice>> SpecHost::Devices(const std::string& host_path,
                                                          const std::string& container_path) {
  struct stat st;
  if (lstat(host_path.c_str(), &st) != 0) return ErrnoStatus("lstat", host_path, errno);
  std::vector<HostDevice> out;
  if (S_ISDIR(st.st_mode)) {
    WalkDevices(host_path, container_path, &out);
    return out;
  }
  auto d = DeviceAt(host_path);
  if (!d.ok()) return d.status();
  d->container_path = container_path;
  out.push_back(*d);
  return out;
}

absl::StatusOr<std::string> SpecHost::MountPropagation(const std::string& path) {
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info.ok()) return info.status();
  std::string best_point;
  std::string best_fields;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 7) continue;
    std::string point = Unescape(f[4]);
    if (!PathUnder(path, point)) continue;
    // Later lines win at equal length: they are mounted on top.
    if (found && point.size() < best_point.size()) continue;
    std::vector<std::string> optional;
    for (size_t i = 6; i < f.size() && f[i] != "-"; ++i) optional.emplace_back(f[i]);
    best_point = point;
    best_fields = absl::StrJoin(optional, " ");
    found = true;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no mount holds ", path));
  return best_fields;
}

// ---- Host features ------------------------------------------------------------------------------

HostFeatures ProbeHostFeatures() {
  HostFeatures f;
  struct statfs sfs;
  f.cgroup2_unified = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
  if (f.cgroup2_unified) {
    auto controllers = ReadFile("/sys/fs/cgroup/cgroup.controllers");
    f.hugetlb_controller = controllers.ok() && absl::StrContains(*controllers, "hugetlb");
    // The swap file exists in every non-root cgroup when the controller is on; check ours.
    auto self = ReadFile("/proc/self/cgroup");
    std::string rel = "/";
    if (self.ok()) {
      for (absl::string_view line : absl::StrSplit(*self, '\n')) {
        if (absl::ConsumePrefix(&line, "0::")) rel = std::string(line);
      }
    }
    f.swap_controller = PathExists(absl::StrCat("/sys/fs/cgroup", rel, "/memory.swap.max"));
  } else {
    f.hugetlb_controller = PathExists("/sys/fs/cgroup/hugetlb");
    f.swap_controller = PathExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  }
  auto aa = ReadFile("/sys/module/apparmor/parameters/enabled");
  f.apparmor = aa.ok() && absl::StartsWith(*aa, "Y") && PathExists("/sys/kernel/security/apparmor");
  f.selinux = PathExists("/sys/fs/selinux/enforce");
  auto status = ReadFile("/proc/self/status");
  f.seccomp = status.ok() && absl::StrContains(*status, "\nSeccomp:");
  struct utsname u;
  if (uname(&u) == 0) {
    std::vector<std::string> parts = absl::StrSplit(u.release, absl::ByAnyChar(".-"));
    if (parts.size() >= 2) {
      (void)absl::SimpleAtoi(parts[0], &f.kernel_major);
      (void)absl::SimpleAtoi(parts[1], &f.kernel_minor);
    }
  }
  return f;
}

bool RuntimeSupportsRro(const json& runtime_features, const HostFeatures& host) {
  if (!runtime_features.is_object() || !runtime_features.contains("mountOptions")) return false;
  const auto& opts = runtime_features["mountOptions"];
  if (!opts.is_array()) return false;
  bool listed = std::find(opts.begin(), opts.end(), json("rro")) != opts.end();
  bool kernel = host.kernel_major > 5 || (host.kernel_major == 5 && host.kernel_minor >= 12);
  return listed && kernel;
}

// ---- Seccomp ------------------------------------------------------------------------------------

absl::StatusOr<json> ResolveSeccompProfile(const json& profile,
                                           const std::vector<std::string>& caps,
                                           const HostFeatures& host, const std::string& arch_in) {
  if (!profile.is_object()) return absl::InvalidArgumentError("not a JSON object");
  const std::string arch = arch_in.empty() ? NativeArch() : arch_in;
  auto get = [&](const char* key) -> const json& {
    static const json null;
    auto it = profile.find(key);
    return it == profile.end() ? null : *it;
  };
  const json& syscalls = get("syscalls");
  if (!syscalls.is_null() && !syscalls.is_array()) {
    return absl::InvalidArgumentError("\"syscalls\" must be a list");
  }
  const json& default_action = get("defaultAction");
  if ((default_action.is_null() || default_action == "") &&
      (syscalls.is_null() || syscalls.empty())) {
    return json();  // moby: no default action and no rules = seccomp disabled
  }
  if (!default_action.is_string() || default_action.get<std::string>().empty()) {
    return absl::InvalidArgumentError("\"defaultAction\" must be a non-empty string");
  }
  if (!get("architectures").is_null() && !get("archMap").is_null() &&
      !get("architectures").empty() && !get("archMap").empty()) {
    return absl::InvalidArgumentError(
        "both \"architectures\" and \"archMap\" are specified, use one of them");
  }

  json out = json::object();
  out["defaultAction"] = default_action;
  for (const char* key : {"defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"}) {
    if (!get(key).is_null()) out[key] = get(key);
  }
  json archs = json::array();
  if (!get("architectures").is_null()) {
    auto l = StringList(get("architectures"), "architectures");
    if (!l.ok()) return l.status();
    for (auto& a : *l) archs.push_back(a);
  } else if (!get("archMap").is_null()) {
    const json& map = get("archMap");
    if (!map.is_array()) return absl::InvalidArgumentError("\"archMap\" must be a list");
    const std::string native = SeccompArchFor(arch);
    for (const auto& a : map) {
      if (!a.is_object() || !a.contains("architecture") || !a["architecture"].is_string()) {
        return absl::InvalidArgumentError("\"archMap\" entries need an \"architecture\"");
      }
      if (native.empty() || a["architecture"] != native) continue;
      archs.push_back(a["architecture"]);
      if (a.contains("subArchitectures")) {
        auto subs = StringList(a["subArchitectures"], "subArchitectures");
        if (!subs.ok()) return subs.status();
        for (auto& s : *subs) archs.push_back(s);
      }
      break;
    }
  }
  if (!archs.empty()) out["architectures"] = std::move(archs);

  json rules = json::array();
  if (syscalls.is_array()) {
    for (size_t i = 0; i < syscalls.size(); ++i) {
      const json& call = syscalls[i];
      const std::string where = absl::StrCat("syscalls[", i, "]");
      if (!call.is_object()) return absl::InvalidArgumentError(where + " is not an object");
      std::vector<std::string> names;
      if (call.contains("name") && !call["name"].is_null() && call["name"] != "") {
        if (call.contains("names") && !call["names"].is_null() && !call["names"].empty()) {
          return absl::InvalidArgumentError(where + ": both \"name\" and \"names\" are set");
        }
        if (!call["name"].is_string()) return absl::InvalidArgumentError(where + ".name");
        names.push_back(call["name"].get<std::string>());
      } else if (call.contains("names")) {
        auto l = StringList(call["names"], "names");
        if (!l.ok())
          return absl::InvalidArgumentError(where + ": " + std::string(l.status().message()));
        names = std::move(*l);
      }
      if (names.empty()) return absl::InvalidArgumentError(where + " names no syscall");
      if (!call.contains("action") || !call["action"].is_string()) {
        return absl::InvalidArgumentError(where + " has no \"action\"");
      }

      bool keep = true;
      for (const char* kind : {"excludes", "includes"}) {
        if (!keep || !call.contains(kind) || call[kind].is_null()) continue;
        const json& filter = call[kind];
        if (!filter.is_object()) return absl::InvalidArgumentError(where + "." + kind);
        const bool include = std::string(kind) == "includes";
        auto arches = StringList(filter.value("arches", json()), "arches");
        auto fcaps = StringList(filter.value("caps", json()), "caps");
        if (!arches.ok()) return arches.status();
        if (!fcaps.ok()) return fcaps.status();
        if (include) {
          if (!arches->empty() && !Contains(*arches, arch)) keep = false;
          for (const auto& c : *fcaps) {
            if (!Contains(caps, c)) keep = false;
          }
        } else {
          if (!arches->empty() && Contains(*arches, arch)) keep = false;
          for (const auto& c : *fcaps) {
            if (Contains(caps, c)) keep = false;
          }
        }
        if (filter.contains("minKernel") && !filter["minKernel"].is_null()) {
          auto at_least = KernelAtLeast(filter["minKernel"], host);
          if (!at_least.ok()) {
            return absl::InvalidArgumentError(where + ": " +
                                              std::string(at_least.status().message()));
          }
          if (include && !*at_least) keep = false;
          if (!include && *at_least) keep = false;
        }
      }
      if (!keep) continue;
      json rule = {{"names", names}, {"action", call["action"]}};
      if (call.contains("errnoRet") && !call["errnoRet"].is_null()) {
        rule["errnoRet"] = call["errnoRet"];
      }
      if (call.contains("args") && !call["args"].is_null() && !call["args"].empty()) {
        rule["args"] = call["args"];
      }
      rules.push_back(std::move(rule));
    }
  }
  out["syscalls"] = std::move(rules);
  return out;
}

// ---- BuildContainerSpec -------------------------------------------------------------------------

absl::StatusOr<json> BuildContainerSpec(const ContainerSpecInput& in) {
  if (in.config == nullptr || in.sandbox_config == nullptr) {
    return absl::InvalidArgumentError("container spec: config and sandbox_config are required");
  }
  if (!IsAbs(in.rootfs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("container spec: rootfs must be an absolute path: \"", in.rootfs, "\""));
  }
  static SpecHost real_host;
  SpecHost* host = in.host ? in.host : &real_host;
  const v1::ContainerConfig& c = *in.config;
  const v1::LinuxContainerSecurityContext& sc = c.linux().security_context();
  const bool privileged = sc.privileged();
  if (privileged && !in.sandbox_config->linux().security_context().privileged()) {
    return absl::InvalidArgumentError(
        "privileged: no privileged container allowed in a sandbox that is not privileged");
  }
  if (c.cdi_devices_size() > 0) {
    return absl::UnimplementedError("CDI_devices: CDI devices are not supported");
  }

  // Process.
  auto args = ProcessArgs(c, in.image);
  if (!args.ok()) return args.status();

  std::vector<std::string> defaults = {kDefaultPath};
  if (c.tty()) defaults.push_back("TERM=xterm");
  std::string hostname =
      !in.sandbox_config->hostname().empty() ? in.sandbox_config->hostname() : in.sandbox.hostname;
  if (hostname.empty()) hostname = in.node_hostname;
  if (!hostname.empty()) {
    defaults = MergeEnv(std::move(defaults), {absl::StrCat("HOSTNAME=", hostname)});
  }
  std::vector<std::string> env = in.image.env;
  for (int i = 0; i < c.envs_size(); ++i) {
    if (c.envs(i).key().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("envs[", i, "]: empty key"));
    }
    env.push_back(absl::StrCat(c.envs(i).key(), "=", c.envs(i).value()));
  }
  env = MergeEnv(std::move(defaults), env);

  std::string cwd = "/";
  if (!c.working_dir().empty()) {
    if (!IsAbs(c.working_dir())) {
      return absl::InvalidArgumentError(
          absl::StrCat("working_dir must be an absolute path, got \"", c.working_dir(), "\""));
    }
    cwd = c.working_dir();
  } else if (!in.image.working_dir.empty()) {
    cwd = IsAbs(in.image.working_dir) ? in.image.working_dir : "/" + in.image.working_dir;
  }

  // User: the image's user database is read only when a name needs it or groups may come from it.
  const std::string users_root =
      in.image_rootfs_for_users.empty() ? in.rootfs : in.image_rootfs_for_users;
  auto read_db = [&](const char* path) -> absl::StatusOr<std::optional<std::string>> {
    auto text = host->ReadRootFile(users_root, path);
    if (text.ok()) return std::optional<std::string>(std::move(*text));
    if (absl::IsNotFound(text.status())) return std::optional<std::string>();
    return absl::Status(text.status().code(),
                        absl::StrCat("read the image's ", path, ": ", text.status().message()));
  };
  auto passwd = read_db("/etc/passwd");
  if (!passwd.ok()) return passwd.status();
  auto group = read_db("/etc/group");
  if (!group.ok()) return group.status();
  auto user = ResolveUser(sc, in.image.user, PasswdInfo::Parse(*passwd, *group));
  if (!user.ok()) return user.status();

  auto caps = ContainerCapabilities(sc, in.bounding_caps);
  if (!caps.ok()) return caps.status();

  int oom = 0;
  if (c.linux().has_resources()) {
    int64_t req = c.linux().resources().oom_score_adj();
    if (req < -1000 || req > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.oom_score_adj ", req, ": must be between -1000 and 1000"));
    }
    oom = static_cast<int>(req);
  }
  oom = std::max(oom, in.own_oom_score_adj);

  json process = {
      {"terminal", c.tty()},
      {"user", {{"uid", user->uid}, {"gid", user->gid}, {"additionalGids", user->additional_gids}}},
      {"args", *args},
      {"env", env},
      {"cwd", cwd},
      {"capabilities", {{"bounding", *caps}, {"effective", *caps}, {"permitted", *caps}}},
      {"noNewPrivileges", sc.no_new_privs()},
      {"oomScoreAdj", oom},
  };

  // AppArmor and SELinux.
  auto apparmor = Apparmor(in, sc, host);
  if (!apparmor.ok()) return apparmor.status();
  if (!privileged && !apparmor->empty()) process["apparmorProfile"] = *apparmor;
  if (sc.has_selinux_options() && in.features.selinux && !privileged) {
    const auto& o = sc.selinux_options();
    bool any = !o.user().empty() || !o.role().empty() || !o.type().empty() || !o.level().empty();
    bool all = !o.user().empty() && !o.role().empty() && !o.type().empty() && !o.level().empty();
    if (any && !all) {
      return absl::FailedPreconditionError(
          "selinux_options: tether needs user, role, type and level all set (it does not "
          "allocate labels)");
    }
    if (all) {
      process["selinuxLabel"] =
          absl::StrCat(o.user(), ":", o.role(), ":", o.type(), ":", o.level());
    }
  }
  // Without SELinux on the host the options are ignored, as containerd's label.InitLabels does.

  // Mounts.
  std::string rootfs_propagation;
  auto mounts = Mounts(in, privileged, host, &rootfs_propagation);
  if (!mounts.ok()) return mounts.status();

  // Linux.
  auto namespaces = Namespaces(in, privileged);
  if (!namespaces.ok()) return namespaces.status();

  json resources = json::object();
  json device_rules = json::array({{{"allow", privileged}, {"access", "rwm"}}});
  json devices = json::array();
  if (auto st = Devices(in, privileged, host, &devices, &device_rules); !st.ok()) return st;
  resources["devices"] = std::move(device_rules);
  if (auto st = Resources(in, &resources); !st.ok()) return st;

  json linux_spec = {
      {"namespaces", *namespaces},
      {"resources", std::move(resources)},
      {"cgroupsPath", CgroupsPathFor(in.sandbox.cgroup_driver, in.sandbox.cgroup_parent, in.id)},
  };
  if (!devices.empty()) linux_spec["devices"] = std::move(devices);
  if (!rootfs_propagation.empty()) linux_spec["rootfsPropagation"] = rootfs_propagation;
  if (!privileged) {
    linux_spec["maskedPaths"] =
        sc.masked_paths_size() > 0
            ? std::vector<std::string>(sc.masked_paths().begin(), sc.masked_paths().end())
            : DefaultMaskedPaths();
    linux_spec["readonlyPaths"] =
        sc.readonly_paths_size() > 0
            ? std::vector<std::string>(sc.readonly_paths().begin(), sc.readonly_paths().end())
            : DefaultReadonlyPaths();
  }
  auto seccomp = Seccomp(in, sc, *caps, host);
  if (!seccomp.ok()) return seccomp.status();
  if (!seccomp->is_null()) linux_spec["seccomp"] = std::move(*seccomp);

  // Annotations: the request's, then ours (which a request cannot override).
  json annotations = json::object();
  for (const auto& [k, v] : c.annotations()) annotations[k] = v;
  const auto& md = in.sandbox_config->metadata();
  annotations["io.kubernetes.cri.container-type"] = "container";
  annotations["io.kubernetes.cri.container-name"] = c.metadata().name();
  annotations["io.kubernetes.cri.sandbox-id"] = in.sandbox.id;
  annotations["io.kubernetes.cri.sandbox-name"] = md.name();
  annotations["io.kubernetes.cri.sandbox-namespace"] = md.namespace_();
  annotations["io.kubernetes.cri.sandbox-uid"] = md.uid();
  annotations["io.kubernetes.cri.image-name"] =
      in.image_name.empty() ? c.image().image() : in.image_name;

  return json{
      {"ociVersion", "1.0.2-dev"},
      {"process", std::move(process)},
      {"root", {{"path", in.rootfs}, {"readonly", sc.readonly_rootfs()}}},
      {"mounts", std::move(*mounts)},
      {"linux", std::move(linux_spec)},
      {"annotations", std::move(annotations)},
  };
}

}  // namespace tether
