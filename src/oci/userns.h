// User namespaces for pods: CRI NamespaceMode POD with one uid and one gid mapping (what kubelet
// sends for hostUsers: false). The pause creates the user namespace, and with it the pod's network
// namespace, so that the pod's sysfs and network belong to it; containers join both.
//
// runc 1.1 has no id-mapped mounts, so layers are not remapped: image files owned by host root
// show as the overflow id (nobody) inside the pod and are readable, not writable, by its root.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"

namespace tether {

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t length = 0;
};

struct UsernsMappings {
  IdMapping uids;
  IdMapping gids;
};

// The pod's mappings when it asks for its own user namespace, nullopt for NODE (or none).
// INVALID_ARGUMENT, naming `field`, for CONTAINER/TARGET, for anything but exactly one uid and one
// gid mapping, for a mapping that leaves container id 0 unmapped, and for an empty or overflowing
// range.
absl::StatusOr<std::optional<UsernsMappings>> PodUserns(const runtime::v1::NamespaceOption& ns,
                                                        const std::string& field);

// OCI linux.uidMappings / gidMappings: [{"containerID", "hostID", "size"}].
nlohmann::json OciIdMappings(const IdMapping& m);

}  // namespace tether
