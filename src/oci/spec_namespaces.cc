// The container's namespaces: the ones it shares with its pod (held by the pause) or with a
// target container, and its own.
#include "absl/strings/str_cat.h"
#include "oci/container_spec_parts.h"

namespace tether::spec_internal {

using nlohmann::json;
namespace v1 = runtime::v1;

absl::StatusOr<json> Namespaces(const ContainerSpecInput& in, bool privileged,
                                const std::optional<UsernsMappings>& pod_userns) {
  const auto& sb = in.sandbox;
  const auto& ns = in.config->linux().security_context().namespace_options();
  // A container lives in its pod's user namespace, or in the host's with the pod.
  if (ns.has_userns_options()) {
    const auto mode = ns.userns_options().mode();
    if (mode != v1::POD && mode != v1::NODE) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.security_context.namespace_options.userns_options.mode: ",
                       v1::NamespaceMode_Name(mode), " is not supported (POD or NODE)"));
    }
    if ((mode == v1::POD) != pod_userns.has_value()) {
      return absl::InvalidArgumentError(
          "linux.security_context.namespace_options.userns_options.mode: must match the pod's "
          "user namespace");
    }
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
  if (pod_userns) {
    auto p = pause_ns("user");
    if (!p.ok()) return p.status();
    out.push_back({{"type", "user"}, {"path", *p}});
  }
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

}  // namespace tether::spec_internal
