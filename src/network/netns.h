// Network namespaces pinned by a bind mount, so they outlive every process in them.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace tether {

// Creates a new network namespace and bind-mounts it at `pin_path` (the file is created; its
// directory must exist). The namespace has only `lo`, down. On error nothing is left behind.
absl::Status CreatePinnedNetns(const std::string& pin_path);
// Pins the network namespace of process `pid` (one the pause created in the pod's user namespace)
// at `pin_path`, as CreatePinnedNetns does. On error nothing is left behind.
absl::Status PinNetnsOf(int pid, const std::string& pin_path);
// Unmounts and removes the pin. Missing is fine (idempotent).
absl::Status RemovePinnedNetns(const std::string& pin_path);

}  // namespace tether
