// BuildContainerSpec: the container's OCI spec from its pieces (container_spec_parts.h), in the
// order containerd checks them, so that the first bad field is the one reported.
#include "oci/container_spec.h"

#include "absl/strings/str_cat.h"
#include "oci/container_spec_parts.h"
#include "oci/spec_common.h"

namespace tether {

using nlohmann::json;
namespace v1 = runtime::v1;
using spec_internal::AddMaskedAndReadonlyPaths;
using spec_internal::Apparmor;
using spec_internal::ContainerCapabilities;
using spec_internal::Devices;
using spec_internal::IsAbs;
using spec_internal::Mounts;
using spec_internal::Namespaces;
using spec_internal::OomScoreAdj;
using spec_internal::ProcessArgs;
using spec_internal::ProcessEnv;
using spec_internal::Resources;
using spec_internal::Seccomp;
using spec_internal::SelinuxLabel;
using spec_internal::WorkingDir;

absl::StatusOr<json> BuildContainerSpec(const ContainerSpecInput& in) {
  if (in.config == nullptr || in.sandbox_config == nullptr) {
    return absl::InvalidArgumentError("container spec: config and sandbox_config are required");
  }
  if (!IsAbs(in.rootfs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("container spec: rootfs must be an absolute path: \"", in.rootfs, "\""));
  }
  static SpecHost real_host;
  SpecHost* host = in.host ? in.host : &real_host;
  const v1::ContainerConfig& c = *in.config;
  const v1::LinuxContainerSecurityContext& sc = c.linux().security_context();
  const bool privileged = sc.privileged();
  if (privileged && !in.sandbox_config->linux().security_context().privileged()) {
    return absl::InvalidArgumentError(
        "privileged: no privileged container allowed in a sandbox that is not privileged");
  }
  if (c.cdi_devices_size() > 0) {
    return absl::UnimplementedError("CDI_devices: CDI devices are not supported");
  }

  // Process.
  auto args = ProcessArgs(c, in.image);
  if (!args.ok()) return args.status();

  auto env = ProcessEnv(in);
  if (!env.ok()) return env.status();
  auto cwd = WorkingDir(in);
  if (!cwd.ok()) return cwd.status();

  // User: from the image's user database.
  const std::string users_root =
      in.image_rootfs_for_users.empty() ? in.rootfs : in.image_rootfs_for_users;
  auto users = ReadImageUsers(*host, users_root);
  if (!users.ok()) return users.status();
  auto user = ResolveUser(sc, in.image.user, *users);
  if (!user.ok()) return user.status();

  auto caps = ContainerCapabilities(sc, in.bounding_caps);
  if (!caps.ok()) return caps.status();

  auto oom = OomScoreAdj(in);
  if (!oom.ok()) return oom.status();

  json process = {
      {"terminal", c.tty()},
      {"user", {{"uid", user->uid}, {"gid", user->gid}, {"additionalGids", user->additional_gids}}},
      {"args", *args},
      {"env", *env},
      {"cwd", *cwd},
      {"capabilities", {{"bounding", *caps}, {"effective", *caps}, {"permitted", *caps}}},
      {"noNewPrivileges", sc.no_new_privs()},
      {"oomScoreAdj", *oom},
  };

  // AppArmor and SELinux.
  auto apparmor = Apparmor(in, sc, host);
  if (!apparmor.ok()) return apparmor.status();
  if (!privileged && !apparmor->empty()) process["apparmorProfile"] = *apparmor;
  auto selinux_label = SelinuxLabel(in, sc);
  if (!selinux_label.ok()) return selinux_label.status();
  if (!selinux_label->empty()) process["selinuxLabel"] = *selinux_label;

  // Mounts.
  std::string rootfs_propagation;
  auto mounts = Mounts(in, privileged, host, &rootfs_propagation);
  if (!mounts.ok()) return mounts.status();

  // Linux.
  auto pod_userns = PodUserns(in.sandbox_config->linux().security_context().namespace_options(),
                              "sandbox_config.linux.security_context.namespace_options");
  if (!pod_userns.ok()) return pod_userns.status();
  auto namespaces = Namespaces(in, privileged, *pod_userns);
  if (!namespaces.ok()) return namespaces.status();

  json resources = json::object();
  json device_rules = json::array({{{"allow", privileged}, {"access", "rwm"}}});
  json devices = json::array();
  if (auto st = Devices(in, privileged, host, &devices, &device_rules); !st.ok()) return st;
  resources["devices"] = std::move(device_rules);
  if (auto st = Resources(in, &resources); !st.ok()) return st;

  json linux_spec = {
      {"namespaces", *namespaces},
      {"resources", std::move(resources)},
      {"cgroupsPath", CgroupsPathFor(in.sandbox.cgroup_driver, in.sandbox.cgroup_parent, in.id)},
  };
  if (*pod_userns) {
    linux_spec["uidMappings"] = OciIdMappings((*pod_userns)->uids);
    linux_spec["gidMappings"] = OciIdMappings((*pod_userns)->gids);
  }
  if (!devices.empty()) linux_spec["devices"] = std::move(devices);
  if (!rootfs_propagation.empty()) linux_spec["rootfsPropagation"] = rootfs_propagation;
  AddMaskedAndReadonlyPaths(sc, &linux_spec);
  auto seccomp = Seccomp(in, sc, *caps, host);
  if (!seccomp.ok()) return seccomp.status();
  if (!seccomp->is_null()) linux_spec["seccomp"] = std::move(*seccomp);

  // Annotations: the request's, then ours (which a request cannot override).
  json annotations = json::object();
  for (const auto& [k, v] : c.annotations()) annotations[k] = v;
  const auto& md = in.sandbox_config->metadata();
  annotations["io.kubernetes.cri.container-type"] = "container";
  annotations["io.kubernetes.cri.container-name"] = c.metadata().name();
  annotations["io.kubernetes.cri.sandbox-id"] = in.sandbox.id;
  annotations["io.kubernetes.cri.sandbox-name"] = md.name();
  annotations["io.kubernetes.cri.sandbox-namespace"] = md.namespace_();
  annotations["io.kubernetes.cri.sandbox-uid"] = md.uid();
  annotations["io.kubernetes.cri.image-name"] =
      in.image_name.empty() ? c.image().image() : in.image_name;

  return json{
      {"ociVersion", "1.0.2-dev"},
      {"process", std::move(process)},
      {"root", {{"path", in.rootfs}, {"readonly", sc.readonly_rootfs()}}},
      {"mounts", std::move(*mounts)},
      {"linux", std::move(linux_spec)},
      {"annotations", std::move(annotations)},
  };
}

}  // namespace tether
