#include "oci/sandbox_spec.h"

#include "absl/strings/str_cat.h"
#include "oci/spec_common.h"

namespace tether {
namespace {

using nlohmann::json;

json Mount(const std::string& destination, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return OciMount(destination, type, source, std::move(options));
}

json Mounts(const SandboxSpecInput& in) {
  json mounts = json::array();
  mounts.push_back(Mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  if (!in.shm_path.empty()) {
    mounts.push_back(
        Mount("/dev/shm", "bind", in.shm_path, {"rbind", "ro", "nosuid", "nodev", "noexec"}));
  } else if (in.host_ipc) {
    mounts.push_back(
        Mount("/dev/shm", "bind", "/dev/shm", {"rbind", "ro", "nosuid", "nodev", "noexec"}));
  } else {
    mounts.push_back(Mount("/dev/shm", "tmpfs", "shm",
                           {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}));
  }
  if (!in.host_ipc) {
    mounts.push_back(Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  }
  // sysfs read-only in every case: with the host's network namespace it shows the host's devices.
  mounts.push_back(Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}));
  return mounts;
}

json Namespaces(const SandboxSpecInput& in) {
  json ns = json::array();
  if (!in.host_pid) ns.push_back({{"type", "pid"}});
  if (!in.host_ipc) ns.push_back({{"type", "ipc"}});
  if (!in.host_uts) ns.push_back({{"type", "uts"}});
  ns.push_back({{"type", "mount"}});
  if (in.userns) {
    ns.push_back({{"type", "user"}});
    ns.push_back({{"type", "network"}});
  } else if (!in.netns_path.empty()) {
    ns.push_back({{"type", "network"}, {"path", in.netns_path}});
  }
  return ns;
}

json Resources(const SandboxSpecInput& in) {
  json res = json::object();
  res["devices"] = json::array({{{"allow", in.privileged}, {"access", "rwm"}}});
  json cpu = json::object();
  if (in.cpu_shares) cpu["shares"] = static_cast<uint64_t>(*in.cpu_shares);
  if (in.cpu_quota) cpu["quota"] = *in.cpu_quota;
  if (in.cpu_period) cpu["period"] = *in.cpu_period;
  if (!cpu.empty()) res["cpu"] = std::move(cpu);
  if (in.memory_limit) res["memory"] = {{"limit", *in.memory_limit}};
  return res;
}

json Capabilities(const SandboxSpecInput& in) {
  json caps = json::array();
  if (in.privileged && !in.privileged_capabilities.empty()) {
    caps = in.privileged_capabilities;
  } else if (in.privileged) {
    for (size_t i = 0; i < kCapabilityCount; ++i) caps.push_back(kCapabilityNames[i]);
  }
  return json{{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
}

}  // namespace

absl::Status ValidateSandboxSpecInput(const SandboxSpecInput& in) {
  if (in.args.empty() || in.args[0].empty()) {
    return absl::InvalidArgumentError("sandbox spec: empty command");
  }
  if (in.rootfs.empty() || in.rootfs[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox spec: rootfs must be an absolute path: \"", in.rootfs, "\""));
  }
  if (!in.seccomp_profile_json.empty()) {
    json profile = json::parse(in.seccomp_profile_json, nullptr, /*allow_exceptions=*/false);
    if (profile.is_discarded() || !profile.is_object()) {
      return absl::InvalidArgumentError("sandbox spec: seccomp profile is not a JSON object");
    }
  }
  return absl::OkStatus();
}

json BuildSandboxSpec(const SandboxSpecInput& in) {
  json user = {{"uid", in.uid}, {"gid", in.gid}};
  if (!in.additional_gids.empty()) user["additionalGids"] = in.additional_gids;

  json process = {
      {"terminal", false},
      {"user", std::move(user)},
      {"args", in.args},
      {"env", in.env},
      {"cwd", "/"},
      {"capabilities", Capabilities(in)},
      {"noNewPrivileges", in.no_new_privileges},
      {"oomScoreAdj", in.oom_score_adj},
  };

  json linux_spec = {
      {"namespaces", Namespaces(in)},
      {"resources", Resources(in)},
  };
  if (in.userns) {
    linux_spec["uidMappings"] = OciIdMappings(in.userns->uids);
    linux_spec["gidMappings"] = OciIdMappings(in.userns->gids);
  }
  if (!in.cgroups_path.empty()) linux_spec["cgroupsPath"] = in.cgroups_path;
  if (!in.sysctls.empty()) linux_spec["sysctl"] = in.sysctls;
  if (!in.privileged) {
    linux_spec["maskedPaths"] = DefaultMaskedPaths();
    linux_spec["readonlyPaths"] = DefaultReadonlyPaths();
  }
  if (!in.seccomp_profile_json.empty()) {
    json profile = json::parse(in.seccomp_profile_json, nullptr, /*allow_exceptions=*/false);
    if (profile.is_discarded() || !profile.is_object()) {
      linux_spec["seccomp"] = in.seccomp_profile_json;  // the runtime refuses the spec
    } else {
      linux_spec["seccomp"] = std::move(profile);
    }
  }

  json annotations = json::object();
  for (const auto& [k, v] : in.annotations) annotations[k] = v;
  annotations["io.kubernetes.cri.container-type"] = "sandbox";
  annotations["io.kubernetes.cri.sandbox-id"] = in.id;

  json spec = {
      {"ociVersion", "1.0.2-dev"},
      {"process", std::move(process)},
      {"root", {{"path", in.rootfs}, {"readonly", in.readonly_rootfs}}},
      {"mounts", Mounts(in)},
      {"linux", std::move(linux_spec)},
      {"annotations", std::move(annotations)},
  };
  if (!in.host_uts && !in.hostname.empty()) spec["hostname"] = in.hostname;
  return spec;
}

}  // namespace tether
