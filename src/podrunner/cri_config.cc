// The CRI configs of a pod and its containers (pure functions of the manifest): the sandbox's
// metadata, DNS, ports, labels and namespaces; a container's command, env, mounts, resources and
// security context, as kubelet maps them.
#include "absl/strings/str_cat.h"
#include "podrunner/atomic_volume.h"
#include "podrunner/pod_runner.h"

namespace tether::podrunner {
namespace {

runtime::v1::Protocol ProtocolOf(const std::string& p) {
  if (p == "UDP") return runtime::v1::UDP;
  if (p == "SCTP") return runtime::v1::SCTP;
  return runtime::v1::TCP;
}

// kubelet's MilliCPUToQuota / MilliCPUToShares.
constexpr int64_t kCpuPeriod = 100000;
constexpr int64_t kMinQuota = 1000;
constexpr int64_t kMinShares = 2;

// The pod's namespaces, the same in its sandbox config and in each container's.
void SetNamespaceOptions(const PodManifest& pod, runtime::v1::NamespaceOption* ns) {
  ns->set_network(pod.host_network ? runtime::v1::NODE : runtime::v1::POD);
  ns->set_pid(pod.host_pid                  ? runtime::v1::NODE
              : pod.share_process_namespace ? runtime::v1::POD
                                            : runtime::v1::CONTAINER);
  ns->set_ipc(pod.host_ipc ? runtime::v1::NODE : runtime::v1::POD);
}

}  // namespace

std::string PodLogDirectory(const std::string& log_root, const PodManifest& pod,
                            const std::string& uid) {
  return absl::StrCat(log_root, "/", pod.namespace_, "_", pod.name, "_", uid);
}

std::string EmptyDirPath(const std::string& volume_root, const std::string& uid,
                         const std::string& volume) {
  return absl::StrCat(volume_root, "/", uid, "/volumes/", volume);
}

runtime::v1::PodSandboxConfig SandboxConfig(const PodManifest& pod, const std::string& uid,
                                            const std::string& log_root) {
  runtime::v1::PodSandboxConfig c;
  auto* m = c.mutable_metadata();
  m->set_name(pod.name);
  m->set_namespace_(pod.namespace_);
  m->set_uid(uid);
  m->set_attempt(0);
  c.set_hostname(pod.hostname);
  c.set_log_directory(PodLogDirectory(log_root, pod, uid));
  auto* dns = c.mutable_dns_config();
  for (const auto& s : pod.dns_nameservers) dns->add_servers(s);
  for (const auto& s : pod.dns_searches) dns->add_searches(s);
  for (const auto& s : pod.dns_options) dns->add_options(s);
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    for (const ContainerSpec& container : *list) {
      for (const ContainerPort& p : container.ports) {
        if (p.host_port == 0) continue;
        auto* pm = c.add_port_mappings();
        pm->set_protocol(ProtocolOf(p.protocol));
        pm->set_container_port(p.container_port);
        pm->set_host_port(p.host_port);
        pm->set_host_ip(p.host_ip);
      }
    }
  }
  for (const auto& [k, v] : pod.labels) (*c.mutable_labels())[k] = v;
  (*c.mutable_labels())[kPodNameLabel] = pod.name;
  (*c.mutable_labels())[kPodNamespaceLabel] = pod.namespace_;
  (*c.mutable_labels())[kPodUidLabel] = uid;
  (*c.mutable_labels())[kPlayLabel] = "true";
  for (const auto& [k, v] : pod.annotations) (*c.mutable_annotations())[k] = v;
  auto* linux = c.mutable_linux();
  for (const auto& [k, v] : pod.sysctls) (*linux->mutable_sysctls())[k] = v;
  auto* sc = linux->mutable_security_context();
  SetNamespaceOptions(pod, sc->mutable_namespace_options());
  if (pod.run_as_user) sc->mutable_run_as_user()->set_value(*pod.run_as_user);
  if (pod.run_as_group) sc->mutable_run_as_group()->set_value(*pod.run_as_group);
  for (int64_t g : pod.supplemental_groups) sc->add_supplemental_groups(g);
  // Like kubelet: the sandbox is privileged when a container is.
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    for (const ContainerSpec& container : *list) {
      if (container.privileged) sc->set_privileged(true);
    }
  }
  return c;
}

absl::StatusOr<runtime::v1::ContainerConfig> ContainerConfigFor(
    const PodManifest& pod, const ContainerSpec& ct, const std::string& field,
    const std::string& uid, uint32_t attempt, const std::string& volume_root) {
  runtime::v1::ContainerConfig c;
  c.mutable_metadata()->set_name(ct.name);
  c.mutable_metadata()->set_attempt(attempt);
  c.mutable_image()->set_image(ct.image);
  for (const auto& s : ct.command) c.add_command(s);
  for (const auto& s : ct.args) c.add_args(s);
  c.set_working_dir(ct.working_dir);
  for (const EnvVar& e : ct.env) {
    auto* kv = c.add_envs();
    kv->set_key(e.name);
    kv->set_value(e.value);
  }
  for (const VolumeMount& vm : ct.volume_mounts) {
    const Volume* volume = nullptr;
    for (const Volume& v : pod.volumes) {
      if (v.name == vm.name) volume = &v;
    }
    if (volume == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".volumeMounts: volume \"", vm.name, "\" is not in spec.volumes"));
    }
    auto* mount = c.add_mounts();
    mount->set_container_path(vm.mount_path);
    // emptyDir and configMap volumes are directories the runner makes (and fills).
    mount->set_host_path(volume->kind == Volume::Kind::kHostPath
                             ? volume->host_path
                             : EmptyDirPath(volume_root, uid, volume->name));
    mount->set_readonly(vm.read_only || volume->kind == Volume::Kind::kConfigMap);
  }
  c.set_log_path(absl::StrCat(ct.name, "/", attempt, ".log"));
  c.set_tty(ct.tty);
  c.set_stdin(ct.stdin);
  (*c.mutable_labels())[kContainerNameLabel] = ct.name;
  (*c.mutable_labels())[kPodNameLabel] = pod.name;
  (*c.mutable_labels())[kPodNamespaceLabel] = pod.namespace_;
  (*c.mutable_labels())[kPodUidLabel] = uid;
  (*c.mutable_annotations())["io.kubernetes.container.restartCount"] = absl::StrCat(attempt);
  (*c.mutable_annotations())["io.kubernetes.pod.terminationGracePeriod"] =
      absl::StrCat(pod.termination_grace_period_seconds);

  auto* linux = c.mutable_linux();
  auto* r = linux->mutable_resources();
  if (ct.cpu_limit_millis) {
    r->set_cpu_period(kCpuPeriod);
    r->set_cpu_quota(std::max(kMinQuota, *ct.cpu_limit_millis * kCpuPeriod / 1000));
  }
  // Requests default to limits, as the API server defaults them.
  std::optional<int64_t> request =
      ct.cpu_request_millis ? ct.cpu_request_millis : ct.cpu_limit_millis;
  r->set_cpu_shares(request ? std::max(kMinShares, *request * 1024 / 1000) : kMinShares);
  if (ct.memory_limit_bytes) r->set_memory_limit_in_bytes(*ct.memory_limit_bytes);

  auto* sc = linux->mutable_security_context();
  std::optional<int64_t> user = ct.run_as_user ? ct.run_as_user : pod.run_as_user;
  std::optional<int64_t> group = ct.run_as_group ? ct.run_as_group : pod.run_as_group;
  std::optional<bool> non_root = ct.run_as_non_root ? ct.run_as_non_root : pod.run_as_non_root;
  if (non_root.value_or(false) && user && *user == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ".securityContext.runAsNonRoot: the container would run as root "
                     "(runAsUser 0)"));
  }
  if (user) sc->mutable_run_as_user()->set_value(*user);
  if (group) sc->mutable_run_as_group()->set_value(*group);
  for (int64_t g : pod.supplemental_groups) sc->add_supplemental_groups(g);
  sc->set_readonly_rootfs(ct.read_only_root_filesystem);
  sc->set_privileged(ct.privileged);
  // allowPrivilegeEscalation defaults to true (no no_new_privs).
  sc->set_no_new_privs(!ct.allow_privilege_escalation.value_or(true) && !ct.privileged);
  for (const auto& cap : ct.capabilities_add) sc->mutable_capabilities()->add_add_capabilities(cap);
  for (const auto& cap : ct.capabilities_drop) {
    sc->mutable_capabilities()->add_drop_capabilities(cap);
  }
  SetNamespaceOptions(pod, sc->mutable_namespace_options());
  return c;
}

absl::StatusOr<int> WriteConfigMapVolumes(const std::vector<Volume>& volumes,
                                          const std::string& uid, const std::string& volume_root) {
  int changed = 0;
  for (const Volume& v : volumes) {
    if (v.kind != Volume::Kind::kConfigMap) continue;
    auto wrote = WriteAtomicVolume(EmptyDirPath(volume_root, uid, v.name), v.files);
    if (!wrote.ok()) {
      return absl::Status(wrote.status().code(),
                          absl::StrCat("volume ", v.name, ": ", wrote.status().message()));
    }
    changed += *wrote;
  }
  return changed;
}

}  // namespace tether::podrunner
