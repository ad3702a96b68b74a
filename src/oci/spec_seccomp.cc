// Seccomp: which profile a container gets (the request's choice, RuntimeDefault or a localhost
// file), and moby's profile format resolved into an OCI linux.seccomp object.
#include "oci/spec_seccomp.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "oci/container_spec_parts.h"
#include "oci/seccomp_default.h"

namespace tether {

using nlohmann::json;
namespace v1 = runtime::v1;
using spec_internal::StringList;

namespace {

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

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

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

namespace spec_internal {
namespace {

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

}  // namespace

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

}  // namespace spec_internal
}  // namespace tether
