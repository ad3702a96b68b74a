// Pieces shared by the pause's and the containers' OCI runtime specs: capability names, the
// default masked and read-only paths, mount entries and cgroup paths.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace tether {

// "CAP_CHOWN" ... "CAP_CHECKPOINT_RESTORE", indexed by capability number (linux/capability.h).
extern const char* const kCapabilityNames[];
extern const size_t kCapabilityCount;

// containerd's defaults (oci.populateDefaultUnixSpec): paths runc masks or mounts read-only in an
// unprivileged container.
std::vector<std::string> DefaultMaskedPaths();
std::vector<std::string> DefaultReadonlyPaths();

// The names ("CAP_...") of the capabilities in this process's bounding set.
std::vector<std::string> CurrentBoundingCapabilities();

// "CAP_NET_ADMIN" for "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN"; "" when it names no known
// capability.
std::string NormalizeCapabilityName(const std::string& name);

// One entry of the spec's "mounts".
nlohmann::json OciMount(const std::string& destination, const std::string& type,
                        const std::string& source, std::vector<std::string> options);

// cgroupfs: "<parent>/<id>" (parent "/tether" when empty); systemd: "<slice>:tether:<id>", the
// slice being the parent's last path element ("system.slice" when empty), as runc expects.
std::string CgroupsPathFor(const std::string& driver, const std::string& parent,
                           const std::string& id);

}  // namespace tether
