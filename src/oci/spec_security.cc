// Capabilities, AppArmor, SELinux and the masked / read-only paths of a container.
#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "oci/container_spec_parts.h"
#include "oci/spec_common.h"

namespace tether::spec_internal {

using nlohmann::json;
namespace v1 = runtime::v1;

namespace {

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

// The deprecated string fields, still sent by older kubelets.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
const std::string& DeprecatedApparmorProfile(const v1::LinuxContainerSecurityContext& sc) {
  return sc.apparmor_profile();
}
#pragma GCC diagnostic pop

}  // namespace

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
const std::string& DeprecatedSeccompPath(const v1::LinuxContainerSecurityContext& sc) {
  return sc.seccomp_profile_path();
}
#pragma GCC diagnostic pop

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

absl::StatusOr<std::string> SelinuxLabel(const ContainerSpecInput& in,
                                         const v1::LinuxContainerSecurityContext& sc) {
  // Without SELinux on the host the options are ignored, as containerd's label.InitLabels does.
  if (!sc.has_selinux_options() || !in.features.selinux || sc.privileged()) return std::string();
  const auto& o = sc.selinux_options();
  bool any = !o.user().empty() || !o.role().empty() || !o.type().empty() || !o.level().empty();
  bool all = !o.user().empty() && !o.role().empty() && !o.type().empty() && !o.level().empty();
  if (any && !all) {
    return absl::FailedPreconditionError(
        "selinux_options: tether needs user, role, type and level all set (it does not "
        "allocate labels)");
  }
  if (!all) return std::string();
  return absl::StrCat(o.user(), ":", o.role(), ":", o.type(), ":", o.level());
}

void AddMaskedAndReadonlyPaths(const v1::LinuxContainerSecurityContext& sc, json* linux_spec) {
  if (sc.privileged()) return;
  (*linux_spec)["maskedPaths"] =
      sc.masked_paths_size() > 0
          ? std::vector<std::string>(sc.masked_paths().begin(), sc.masked_paths().end())
          : DefaultMaskedPaths();
  (*linux_spec)["readonlyPaths"] =
      sc.readonly_paths_size() > 0
          ? std::vector<std::string>(sc.readonly_paths().begin(), sc.readonly_paths().end())
          : DefaultReadonlyPaths();
}

}  // namespace tether::spec_internal
