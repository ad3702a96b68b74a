// Seccomp profiles: moby's profile format resolved into an OCI linux.seccomp object.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "oci/spec_host.h"

namespace tether {

// Turns a seccomp profile in moby's format (archMap; per-rule "includes"/"excludes" on caps,
// arches and minKernel; "name" or "names"; "comment") into an OCI linux.seccomp object: keeps
// the rules whose conditions hold for a container with bounding set `caps` on this architecture
// and kernel, and strips the extensions. A plain OCI profile passes through unchanged. Returns a
// null JSON when the profile has neither defaultAction nor syscalls (moby: seccomp disabled).
// `arch` is a Go/moby architecture name ("amd64", "arm64", ...); empty means this machine's.
absl::StatusOr<nlohmann::json> ResolveSeccompProfile(const nlohmann::json& profile,
                                                     const std::vector<std::string>& caps,
                                                     const HostFeatures& host,
                                                     const std::string& arch = "");

}  // namespace tether
