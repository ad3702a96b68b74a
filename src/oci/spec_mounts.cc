// The container's mounts: containerd's defaults, the sandbox's files (/etc/hostname, /etc/hosts,
// /etc/resolv.conf, /dev/shm) and the request's bind mounts with their propagation.
#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "oci/container_spec_parts.h"
#include "oci/spec_common.h"

namespace tether::spec_internal {

using nlohmann::json;
namespace v1 = runtime::v1;

namespace {

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

struct CriMount {
  std::string container_path;  // as given
  std::string host_path;
  bool readonly = false;
  bool recursive_read_only = false;
  v1::MountPropagation propagation = v1::PROPAGATION_PRIVATE;
  std::vector<std::string> extra_options;  // ours: nosuid,nodev,noexec on /dev/shm
  bool skip_if_missing = false;            // sandbox files: skipped when absent
};

}  // namespace

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

}  // namespace tether::spec_internal
