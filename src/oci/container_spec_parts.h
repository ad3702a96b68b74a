// The pieces BuildContainerSpec (container_spec.cc) puts together, one concern a file. Internal to
// src/oci: each takes the builder's input and returns its part of the spec, or an error that names
// the request field. Nothing here touches the host except through `SpecHost`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "oci/container_spec.h"
#include "oci/userns.h"
#include "runtime/v1/api.pb.h"

namespace tether::spec_internal {

inline bool IsAbs(const std::string& p) { return !p.empty() && p[0] == '/'; }

// ---- spec_process.cc: args, env, working directory ----------------------------------------------

// A JSON list of strings (null: empty); `what` names it in the error.
absl::StatusOr<std::vector<std::string>> StringList(const nlohmann::json& j, const char* what);
// Kubernetes' command/args rules, as containerd's WithProcessArgs.
absl::StatusOr<std::vector<std::string>> ProcessArgs(const runtime::v1::ContainerConfig& c,
                                                     const ImageConfigInfo& image);
// containerd's replaceOrAppendEnvValues: a later value of a key replaces the earlier one in
// place; an entry without "=" unsets the key.
std::vector<std::string> MergeEnv(std::vector<std::string> defaults,
                                  const std::vector<std::string>& overrides);
// PATH (and TERM with a tty) and HOSTNAME, then the image's env, then the request's.
absl::StatusOr<std::vector<std::string>> ProcessEnv(const ContainerSpecInput& in);
// The request's working_dir, else the image's, else "/".
absl::StatusOr<std::string> WorkingDir(const ContainerSpecInput& in);

// ---- spec_security.cc: capabilities, AppArmor, SELinux, masked and read-only paths -------------

// containerd's WithCapabilities (see spec_security.cc).
absl::StatusOr<std::vector<std::string>> ContainerCapabilities(
    const runtime::v1::LinuxContainerSecurityContext& sc, const std::vector<std::string>& bounding);
// containerd's generateSecurityProfile for the deprecated string fields. nullopt: unset.
absl::StatusOr<std::optional<runtime::v1::SecurityProfile>> ProfileFromDeprecatedPath(
    const std::string& field, const std::string& path);
// The deprecated seccomp_profile_path field, still sent by older kubelets.
const std::string& DeprecatedSeccompPath(const runtime::v1::LinuxContainerSecurityContext& sc);
// The AppArmor profile; "" = none.
absl::StatusOr<std::string> Apparmor(const ContainerSpecInput& in,
                                     const runtime::v1::LinuxContainerSecurityContext& sc,
                                     SpecHost* host);
// process.selinuxLabel; "" = none.
absl::StatusOr<std::string> SelinuxLabel(const ContainerSpecInput& in,
                                         const runtime::v1::LinuxContainerSecurityContext& sc);
// linux.maskedPaths and linux.readonlyPaths of an unprivileged container (the request's or the
// defaults); a privileged one gets neither.
void AddMaskedAndReadonlyPaths(const runtime::v1::LinuxContainerSecurityContext& sc,
                               nlohmann::json* linux_spec);

// ---- spec_seccomp.cc: which seccomp profile
// ------------------------------------------------------

// containerd's GenerateSeccompSpecOpts. A null JSON: no seccomp.
absl::StatusOr<nlohmann::json> Seccomp(const ContainerSpecInput& in,
                                       const runtime::v1::LinuxContainerSecurityContext& sc,
                                       const std::vector<std::string>& caps, SpecHost* host);

// ---- spec_mounts.cc
// ------------------------------------------------------------------------------

// The spec's "mounts": containerd's defaults, the sandbox's files and the request's bind mounts.
// Sets `rootfs_propagation` when a mount needs shared or slave propagation.
absl::StatusOr<nlohmann::json> Mounts(const ContainerSpecInput& in, bool privileged, SpecHost* host,
                                      std::string* rootfs_propagation);

// ---- spec_devices.cc
// -----------------------------------------------------------------------------

// linux.devices and the cgroup device rules for the request's devices (all of the host's for a
// privileged container).
absl::Status Devices(const ContainerSpecInput& in, bool privileged, SpecHost* host,
                     nlohmann::json* devices, nlohmann::json* rules);

// ---- spec_namespaces.cc
// --------------------------------------------------------------------------

// linux.namespaces: the pod's (the pause's) or the target container's, per namespace_options.
// The pod's user namespace, when it has one, is joined through the pause.
absl::StatusOr<nlohmann::json> Namespaces(const ContainerSpecInput& in, bool privileged,
                                          const std::optional<UsernsMappings>& pod_userns);

// ---- spec_resources.cc
// ---------------------------------------------------------------------------

// linux.resources from the request's linux.resources (cpu, memory, hugepages, unified).
absl::Status Resources(const ContainerSpecInput& in, nlohmann::json* res);
// process.oomScoreAdj: the request's, never below tetherd's own.
absl::StatusOr<int> OomScoreAdj(const ContainerSpecInput& in);

}  // namespace tether::spec_internal
