// Mount points inside a container's root filesystem, made by tetherd before runc runs.
//
// runc creates a missing mount destination itself, as the container's root. In a pod with its own
// user namespace that root is an unprivileged host id that cannot write to image directories owned
// by the host's root, so tetherd makes them first, resolving every path inside the rootfs
// (openat2 RESOLVE_IN_ROOT) so that a symlink in the image never reaches a host path.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace tether {

// Creates `path` (absolute, inside `root`) as a directory or an empty file, with missing parent
// directories (0755). An existing entry of any type is left as it is.
absl::Status MakeInRoot(const std::string& root, const std::string& path, bool directory);

// For every bind mount of the OCI spec outside /dev, /proc and /sys: the destination, as a file
// when the source is one, else a directory.
absl::Status MakeBindMountTargets(const std::string& root, const nlohmann::json& spec);

}  // namespace tether
