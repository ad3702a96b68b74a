// The container's device nodes and the cgroup rules that allow them.
#include "absl/strings/str_cat.h"
#include "oci/container_spec_parts.h"

namespace tether::spec_internal {

using nlohmann::json;

namespace {

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

}  // namespace

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

}  // namespace tether::spec_internal
