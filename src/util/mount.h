// Mounts: thin, error-reporting wrappers around mount(2)/umount2(2).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace tether {

absl::Status Mount(const std::string& source, const std::string& target, const std::string& fstype,
                   unsigned long flags, const std::string& data = "");
// Unmounts `target` (MNT_DETACH when `lazy`); not mounted or missing is fine.
absl::Status Unmount(const std::string& target, bool lazy = false);
// True when `path` is the root of a mount (its own entry in /proc/self/mountinfo).
bool IsMountPoint(const std::string& path);

}  // namespace tether
