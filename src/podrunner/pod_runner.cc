#include "podrunner/pod_runner.h"

#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "podrunner/atomic_volume.h"
#include "podrunner/hooks.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"

namespace tether::podrunner {
namespace {

class RealClockImpl : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void Sleep(absl::Duration d) override { absl::SleepFor(d); }
};

// A random RFC 4122 version 4 UUID, as the API server gives pods.
std::string NewUid() {
  std::string hex = NewId();
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

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

bool IgnoreNotFound(const absl::Status& st) { return st.ok() || absl::IsNotFound(st); }

// Stops `regular` together, then `sidecars` one by one from the last; `stop` stops one (its
// preStop hook, then StopContainer).
void StopInOrder(const std::vector<std::string>& regular, const std::vector<std::string>& sidecars,
                 const std::function<void(const std::string&)>& killing,
                 const std::function<absl::Status(const std::string&)>& stop) {
  std::vector<std::thread> stops;
  for (const std::string& id : regular) {
    if (killing) killing(id);
    stops.emplace_back([&stop, id] {
      auto st = stop(id);
      if (!IgnoreNotFound(st)) spdlog::warn("play: stop container {}: {}", id, st.message());
    });
  }
  for (auto& t : stops) t.join();
  for (auto it = sidecars.rbegin(); it != sidecars.rend(); ++it) {
    if (killing) killing(*it);
    auto st = stop(*it);
    if (!IgnoreNotFound(st)) spdlog::warn("play: stop container {}: {}", *it, st.message());
  }
}

// How long (real time) a round of the loop waits for the probes it launched: quick ones (an exec
// of `cat`, a local HTTP GET) are applied in the same round, slow ones in a later one.
absl::Duration ProbeWait(absl::Duration poll) {
  return std::clamp(poll, absl::Milliseconds(100), absl::Seconds(1));
}

}  // namespace

Clock* RealClock() {
  static RealClockImpl clock;
  return &clock;
}

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

absl::Duration BackOffDelay(absl::Duration base, absl::Duration cap, int n) {
  absl::Duration d = base;
  for (int i = 0; i < n && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

const char* PodPhaseName(PodPhase phase) {
  switch (phase) {
    case PodPhase::kPending:
      return "Pending";
    case PodPhase::kRunning:
      return "Running";
    case PodPhase::kSucceeded:
      return "Succeeded";
    case PodPhase::kFailed:
      return "Failed";
  }
  return "Unknown";
}

// --- PodRunner -------------------------------------------------------------------------------

PodRunner::PodRunner(RuntimeClient* client, PodManifest pod, RunnerOptions options)
    : client_(client),
      pod_(std::move(pod)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()) {
  uid_ = pod_.uid.empty() ? NewUid() : pod_.uid;
  config_volumes_ = pod_.volumes;
  if (options_.prober != nullptr) {
    prober_ = options_.prober;
  } else {
    own_prober_ = std::make_unique<RuntimeProber>(client_);
    prober_ = own_prober_.get();
  }
  auto probes_of = [](const ContainerSpec& c) -> std::shared_ptr<ContainerProbes> {
    auto p = std::make_shared<ContainerProbes>(c);
    return p->empty() ? nullptr : p;
  };
  for (size_t i = 0; i < pod_.init_containers.size(); ++i) {
    const ContainerSpec& c = pod_.init_containers[i];
    inits_.push_back(Instance{.spec = &c,
                              .field = absl::StrCat("spec.initContainers[", i, "]"),
                              .role = c.sidecar ? Role::kSidecar : Role::kInit,
                              .probes = probes_of(c)});
  }
  for (size_t i = 0; i < pod_.containers.size(); ++i) {
    regular_.push_back(Instance{.spec = &pod_.containers[i],
                                .field = absl::StrCat("spec.containers[", i, "]"),
                                .role = Role::kRegular,
                                .probes = probes_of(pod_.containers[i])});
  }
}

PodRunner::~PodRunner() = default;

void PodRunner::Emit(const std::string& type, const std::string& reason, const Instance* c,
                     const std::string& message) {
  spdlog::debug("play: {} {} {}", reason, c ? c->spec->name : pod_.name, message);
  if (!options_.on_event) return;
  std::lock_guard<std::mutex> lock(event_mu_);
  PodEvent e{.time = clock_->Now(),
             .type = type,
             .reason = reason,
             .object = c ? absl::StrCat("pod/", pod_.name, "/", c->spec->name)
                         : absl::StrCat("pod/", pod_.name),
             .message = message};
  options_.on_event(e);
}

PodStatusRow PodRunner::Status() const {
  PodStatusRow row{.name = pod_.name, .started = started_};
  const int n_init = static_cast<int>(inits_.size());
  int init_completed = 0;
  bool init_backoff = false;
  for (const Instance& c : inits_) {
    row.restarts += c.restarts;
    if (c.role == Role::kSidecar) {
      ++row.total;
      if (Ready(c)) ++row.ready;
      if (c.started_once) ++init_completed;
    } else if (c.done && c.exit_code == 0) {
      ++init_completed;
    }
    if (!init_done_ && InBackOff(c)) init_backoff = true;
  }
  bool backoff = false, all_running = true, any_failed = false;
  for (const Instance& c : regular_) {
    ++row.total;
    row.restarts += c.restarts;
    if (Ready(c)) ++row.ready;
    if (c.state != State::kRunning) all_running = false;
    if (InBackOff(c)) backoff = true;
    if (c.state == State::kExited && c.exit_code != 0) any_failed = true;
  }
  if (phase_ == PodPhase::kSucceeded) {
    row.status = "Completed";
  } else if (phase_ == PodPhase::kFailed) {
    row.status = init_done_ ? (any_failed ? "Error" : "Failed") : "Init:Error";
  } else if (sandbox_id_.empty()) {
    row.status = "Pending";
  } else if (!init_done_) {
    row.status =
        init_backoff ? "Init:CrashLoopBackOff" : absl::StrCat("Init:", init_completed, "/", n_init);
  } else if (backoff) {
    row.status = "CrashLoopBackOff";
  } else if (all_running) {
    row.status = "Running";
  } else {
    bool any_waiting = false;
    for (const Instance& c : regular_) any_waiting |= c.state == State::kWaiting;
    row.status = any_waiting ? "ContainerCreating" : (any_failed ? "Error" : "Completed");
    if (!any_waiting && phase_ == PodPhase::kRunning) row.status = "Running";
  }
  if (stop_.load() && phase_ == PodPhase::kRunning) row.status = "Terminating";
  return row;
}

void PodRunner::PublishStatus() {
  PodStatusRow row = Status();
  if (row_published_ && row == last_row_) return;
  last_row_ = row;
  row_published_ = true;
  if (options_.on_status) options_.on_status(row);
}

bool PodRunner::InBackOff(const Instance& c) const {
  return c.state == State::kExited && !c.done && clock_->Now() < c.backoff_until;
}

bool PodRunner::Started(const Instance& c) const {
  return c.state == State::kRunning && (c.probes == nullptr || c.probes->started());
}

bool PodRunner::Ready(const Instance& c) const {
  return c.state == State::kRunning && (c.probes == nullptr || c.probes->ready());
}

ProbeTarget PodRunner::TargetOf(const Instance& c) const {
  return ProbeTarget{.container_id = c.id, .container_name = c.spec->name, .pod_ip = pod_ip_};
}

void PodRunner::Kill(Instance& c, int64_t grace) {
  if (c.probes) c.probes->Stop();  // not ready any more; later results are thrown away
  auto st = StopWithPreStop(client_, prober_, clock_, *c.spec, TargetOf(c), grace,
                            [&](const std::string& reason, const std::string& message) {
                              Emit("Warning", reason, &c, message);
                            });
  if (!IgnoreNotFound(st)) spdlog::warn("play: stop container {}: {}", c.id, st.message());
}

void PodRunner::PostStart(Instance& c) {
  // Run on a thread of its own so that Stop() is heard while it runs (a hook has no timeout);
  // the shutdown stops the container, which ends the hook.
  Prober* prober = prober_;
  Handler hook = *c.spec->post_start;
  ProbeTarget target = TargetOf(c);
  auto result = std::async(std::launch::async, [prober, hook, target] {
    return prober->Hook(hook, target, absl::InfiniteDuration());
  });
  while (result.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (stop_.load()) {
      abandoned_hooks_.push_back(std::move(result));
      return;
    }
  }
  absl::Status st = result.get();
  if (st.ok()) return;
  Emit("Warning", "FailedPostStartHook", &c, absl::StrCat("PostStartHook failed: ", st.message()));
  Emit("Normal", "Killing", &c,
       absl::StrCat("Container ", c.spec->name, " failed its postStart hook, will be killed"));
  Kill(c, pod_.termination_grace_period_seconds);
}

void PodRunner::RunProbes() {
  const absl::Time now = clock_->Now();
  std::vector<Instance*> probed;
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.probes == nullptr || c.state != State::kRunning || c.id.empty()) continue;
      // A running container the runner did not start itself (adopted) is probed from now on.
      if (c.probes->known_id() != c.id) c.probes->Start(c.id, now);
      c.probes->Launch(prober_, TargetOf(c), now);
      probed.push_back(&c);
    }
  }
  const absl::Time deadline = absl::Now() + ProbeWait(options_.poll_interval);
  for (Instance* c : probed) {
    ContainerProbes::Collected r = c->probes->Collect(deadline);
    for (const auto& f : r.failures) {
      Emit("Warning", "Unhealthy", c,
           absl::StrCat(
               ProbeTypeName(f.type),
               f.outcome.result == ProbeResult::kError ? " probe errored: " : " probe failed: ",
               f.outcome.output));
    }
    for (const auto& w : r.warnings) {
      Emit("Warning", "ProbeWarning", c,
           absl::StrCat(ProbeTypeName(w.type), " probe warning: ", w.outcome.output));
    }
    if (!r.kill) continue;
    Emit("Normal", "Killing", c,
         absl::StrCat("Container ", c->spec->name, " failed ",
                      absl::AsciiStrToLower(ProbeTypeName(*r.kill)), " probe, will be restarted"));
    Kill(*c, c->probes->KillGrace(*r.kill).value_or(pod_.termination_grace_period_seconds));
  }
}

absl::Status PodRunner::Up() {
  started_ = clock_->Now();
  sandbox_config_ = SandboxConfig(pod_, uid_, options_.log_root);
  // Every container's config is checked before anything is made.
  for (const auto* list : {&inits_, &regular_}) {
    for (const Instance& c : *list) {
      auto config = ContainerConfigFor(pod_, *c.spec, c.field, uid_, 0, options_.volume_root);
      if (!config.ok()) return config.status();
    }
  }
  {
    std::lock_guard<std::mutex> l(volumes_mu_);
    if (auto st = WriteConfigMapVolumes(config_volumes_, uid_, options_.volume_root); !st.ok()) {
      return st.status();
    }
  }
  for (const Volume& v : pod_.volumes) {
    if (v.kind == Volume::Kind::kConfigMap) continue;
    std::string path = v.kind == Volume::Kind::kEmptyDir
                           ? EmptyDirPath(options_.volume_root, uid_, v.name)
                           : (v.host_path_type == "DirectoryOrCreate" ? v.host_path : "");
    if (path.empty()) continue;
    if (auto st = MakeDirs(path, 0777); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("volume ", v.name, ": ", st.message()));
    }
  }
  PublishStatus();
  if (!options_.adopt_sandbox_id.empty()) return Adopt();
  auto id = client_->RunPodSandbox(sandbox_config_);
  if (!id.ok()) return id.status();
  sandbox_id_ = *id;
  phase_ = PodPhase::kPending;
  Emit("Normal", "SandboxReady", nullptr,
       absl::StrCat("Pod sandbox ", id->substr(0, 13), " is ready"));
  PublishStatus();
  return absl::OkStatus();
}

absl::StatusOr<int> PodRunner::UpdateConfigMapVolumes(std::vector<Volume> volumes) {
  std::lock_guard<std::mutex> l(volumes_mu_);
  config_volumes_ = std::move(volumes);
  return WriteConfigMapVolumes(config_volumes_, uid_, options_.volume_root);
}

absl::Status PodRunner::EnsureImage(Instance& c) {
  const ContainerSpec& s = *c.spec;
  if (s.pull_policy != PullPolicy::kAlways) {
    if (c.image_checked) return absl::OkStatus();
    auto present = client_->ImagePresent(s.image);
    if (!present.ok()) return present.status();
    if (*present) {
      Emit("Normal", "Pulled", &c,
           absl::StrCat("Container image \"", s.image, "\" already present on machine"));
      c.image_checked = true;
      return absl::OkStatus();
    }
    if (s.pull_policy == PullPolicy::kNever) {
      Emit("Warning", "ErrImageNeverPull", &c,
           absl::StrCat("Container image \"", s.image,
                        "\" is not present with pull policy of Never"));
      return absl::FailedPreconditionError(absl::StrCat(
          c.field, ".image: \"", s.image, "\" is not present and imagePullPolicy is Never"));
    }
  }
  Emit("Normal", "Pulling", &c, absl::StrCat("Pulling image \"", s.image, "\""));
  absl::Time start = clock_->Now();
  auto ref = client_->PullImage(s.image, sandbox_config_);
  if (!ref.ok()) {
    Emit("Warning", "Failed", &c,
         absl::StrCat("Failed to pull image \"", s.image, "\": ", ref.status().message()));
    return ref.status();
  }
  Emit("Normal", "Pulled", &c,
       absl::StrCat("Successfully pulled image \"", s.image, "\" in ",
                    absl::FormatDuration(clock_->Now() - start)));
  c.image_checked = true;
  return absl::OkStatus();
}

absl::Status PodRunner::StartInstance(Instance& c) {
  if (c.state == State::kRunning) return absl::OkStatus();
  if (c.state == State::kExited) {
    if (InBackOff(c)) {
      if (!c.backoff_reported) {
        Emit("Warning", "BackOff", &c,
             absl::StrCat("Back-off restarting failed container ", c.spec->name, " in pod ",
                          pod_.name, "_", pod_.namespace_, "(", uid_, ")"));
        c.backoff_reported = true;
      }
      return absl::OkStatus();
    }
  }
  if (c.created_not_started) return StartCreated(c);
  auto fail = [&](const absl::Status& st, const std::string& reason) {
    FailAttempt(c, st, reason);
    return absl::OkStatus();
  };
  if (auto st = EnsureImage(c); !st.ok()) {
    if (absl::IsFailedPrecondition(st)) return st;  // ErrImageNeverPull: nothing will change
    return fail(st, "Error pulling image");
  }
  const uint32_t attempt = c.ever_started ? static_cast<uint32_t>(c.restarts + 1) : 0;
  auto config = ContainerConfigFor(pod_, *c.spec, c.field, uid_, attempt, options_.volume_root);
  if (!config.ok()) return config.status();
  auto id = client_->CreateContainer(sandbox_id_, *config, sandbox_config_);
  if (!id.ok()) return fail(id.status(), "Error creating container");
  if (c.ever_started) {
    ++c.restarts;
    // Keep one earlier attempt (for logs --previous), remove the ones before it.
    for (const std::string& old : c.old) {
      auto st = client_->RemoveContainer(old);
      if (!IgnoreNotFound(st)) spdlog::warn("play: remove container {}: {}", old, st.message());
    }
    c.old.clear();
    if (!c.id.empty()) c.old.push_back(c.id);
  }
  c.id = *id;
  c.ever_started = true;
  c.state = State::kWaiting;
  c.backoff_reported = false;
  Emit("Normal", "Created", &c, absl::StrCat("Created container ", c.spec->name));
  return StartCreated(c);
}

absl::Status PodRunner::StartCreated(Instance& c) {
  c.created_not_started = false;
  if (auto st = client_->StartContainer(c.id); !st.ok()) {
    FailAttempt(c, st, "Error starting container");
    return absl::OkStatus();
  }
  Emit("Normal", "Started", &c, absl::StrCat("Started container ", c.spec->name));
  c.state = State::kRunning;
  c.running_since = clock_->Now();
  if (c.probes) c.probes->Start(c.id, c.running_since);
  if (c.spec->post_start) PostStart(c);
  return absl::OkStatus();
}

void PodRunner::FailAttempt(Instance& c, const absl::Status& st, const std::string& reason) {
  Emit("Warning", "Failed", &c, absl::StrCat(reason, ": ", st.message()));
  c.exit_code = 128;
  OnExit(c, /*restart=*/c.role == Role::kSidecar || pod_.restart_policy != RestartPolicy::kNever);
}

void PodRunner::OnExit(Instance& c, bool restart) {
  c.state = State::kExited;
  if (c.probes) c.probes->Stop();
  absl::Time now = clock_->Now();
  if (!restart) {
    c.done = true;
    return;
  }
  // kubelet forgets the back-off of a container that ran for twice the cap.
  if (c.running_since != absl::Time() && now - c.running_since >= 2 * options_.backoff_cap) {
    c.backoff_n = 0;
  }
  c.backoff_until = now + BackOffDelay(options_.backoff_base, options_.backoff_cap, c.backoff_n);
  ++c.backoff_n;
  c.backoff_reported = false;
}

absl::Status PodRunner::Refresh() {
  auto pod = client_->PodSandboxStatus(sandbox_id_);
  if (absl::IsNotFound(pod.status()) || (pod.ok() && pod->state() != runtime::v1::SANDBOX_READY)) {
    Emit("Normal", "SandboxChanged", nullptr, "Pod sandbox was stopped or removed outside play");
    sandbox_gone_ = true;
    return absl::OkStatus();
  }
  if (!pod.ok()) return pod.status();
  pod_ip_ = pod_.host_network ? "127.0.0.1" : pod->network().ip();
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.state != State::kRunning || c.id.empty()) continue;
      auto st = client_->ContainerStatus(c.id);
      if (absl::IsNotFound(st.status())) {
        c.exit_code = 137;
      } else if (!st.ok()) {
        return st.status();
      } else if (st->state() == runtime::v1::CONTAINER_EXITED) {
        c.exit_code = st->exit_code();
      } else {
        continue;
      }
      bool restart = true;
      if (c.role == Role::kInit) {
        restart = c.exit_code != 0 && pod_.restart_policy != RestartPolicy::kNever;
      } else if (c.role == Role::kRegular) {
        restart = pod_.restart_policy == RestartPolicy::kAlways ||
                  (pod_.restart_policy == RestartPolicy::kOnFailure && c.exit_code != 0);
      }
      if (c.role == Role::kInit && c.exit_code != 0 && !restart) c.done = false;
      OnExit(c, restart);
      if (c.role == Role::kInit && c.exit_code != 0 && !restart) {
        Emit("Warning", "Failed", &c,
             absl::StrCat("Init container ", c.spec->name, " exited with code ", c.exit_code,
                          " and restartPolicy is Never"));
        phase_ = PodPhase::kFailed;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status PodRunner::Reconcile() {
  if (phase_ == PodPhase::kFailed) return absl::OkStatus();
  // Init containers and sidecars, in order: each init container must exit 0 before the next
  // starts; a sidecar counts as started once running.
  if (!init_done_) {
    for (Instance& c : inits_) {
      if (c.role == Role::kSidecar) {
        // The next container waits until the sidecar has started: running, and its startup
        // probe (if any) passed.
        if (Started(c)) {
          c.started_once = true;
          continue;
        }
        if (c.state == State::kRunning) return absl::OkStatus();
        return StartInstance(c);
      }
      if (c.done) continue;
      if (c.state == State::kRunning) return absl::OkStatus();
      return StartInstance(c);
    }
    init_done_ = true;
    phase_ = PodPhase::kRunning;
  }
  for (Instance& c : inits_) {
    if (c.role == Role::kSidecar && Started(c)) c.started_once = true;
    if (c.role == Role::kSidecar && c.state != State::kRunning) {
      if (auto st = StartInstance(c); !st.ok()) return st;
    }
  }
  bool all_done = true, all_zero = true;
  for (Instance& c : regular_) {
    if (c.done) {
      all_zero &= c.exit_code == 0;
      continue;
    }
    all_done = false;
    if (c.state != State::kRunning) {
      if (auto st = StartInstance(c); !st.ok()) return st;
    }
  }
  if (all_done) phase_ = all_zero ? PodPhase::kSucceeded : PodPhase::kFailed;
  return absl::OkStatus();
}

void PodRunner::Shutdown() {
  std::vector<std::string> regular, sidecars;
  std::map<std::string, Instance*> by_id;
  for (Instance& c : regular_) {
    if (c.state == State::kRunning) regular.push_back(c.id);
    by_id[c.id] = &c;
  }
  for (Instance& c : inits_) {
    if (c.role == Role::kSidecar && c.state == State::kRunning) sidecars.push_back(c.id);
    by_id[c.id] = &c;
  }
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.probes) c.probes->Stop();
    }
  }
  StopInOrder(
      regular, sidecars,
      [&](const std::string& id) {
        Instance* c = by_id[id];
        Emit("Normal", "Killing", c, absl::StrCat("Stopping container ", c->spec->name));
      },
      [&](const std::string& id) {
        Instance* c = by_id.at(id);  // from several threads: no operator[]
        return StopWithPreStop(client_, prober_, clock_, *c->spec, TargetOf(*c),
                               pod_.termination_grace_period_seconds,
                               [&](const std::string& reason, const std::string& message) {
                                 Emit("Warning", reason, c, message);
                               });
      });
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.state == State::kRunning) c.state = State::kExited;
    }
  }
  auto st = client_->StopPodSandbox(sandbox_id_);
  if (!IgnoreNotFound(st)) spdlog::warn("play: stop pod sandbox: {}", st.message());
  if (!options_.remove) return;
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      std::vector<std::string> ids = c.old;
      if (!c.id.empty()) ids.push_back(c.id);
      for (const std::string& id : ids) {
        auto rm = client_->RemoveContainer(id);
        if (!IgnoreNotFound(rm)) spdlog::warn("play: remove container {}: {}", id, rm.message());
      }
    }
  }
  st = client_->RemovePodSandbox(sandbox_id_);
  if (!IgnoreNotFound(st)) spdlog::warn("play: remove pod sandbox: {}", st.message());
  RemoveAll(absl::StrCat(options_.volume_root, "/", uid_)).IgnoreError();
}

absl::StatusOr<PodPhase> PodRunner::Run() {
  if (auto st = Up(); !st.ok()) {
    if (!sandbox_id_.empty()) Shutdown();
    return st;
  }
  absl::Status error;
  while (!stop_.load()) {
    if (error = Refresh(); !error.ok()) break;
    if (sandbox_gone_) break;
    RunProbes();
    if (error = Reconcile(); !error.ok()) break;
    PublishStatus();
    if (phase_ == PodPhase::kSucceeded || phase_ == PodPhase::kFailed) {
      if (options_.keep_completed) return phase_;
      break;
    }
    clock_->Sleep(options_.poll_interval);
  }
  if (detach_.load()) return phase_;
  // The runtime is unreachable (tetherd restarting): the pod is left as it is, for this runner's
  // successor to adopt, rather than torn down half way (its volumes removed under it).
  if (absl::IsUnavailable(error)) return error;
  PublishStatus();
  Shutdown();
  abandoned_hooks_.clear();  // their containers are stopped: they have ended or will soon
  PublishStatus();
  if (!error.ok()) return error;
  return phase_;
}

// Every container of the sandbox that the manifest names becomes its instance's current attempt
// (the highest attempt; earlier ones are kept to be removed) and counts as running: the first
// Refresh() then reads their states as for any exit, so an exited init container counts as done
// and an exited app is restarted per the restartPolicy. One still CREATED is started when its
// turn comes. Containers the manifest does not name (a debug container) are left alone.
absl::Status PodRunner::Adopt() {
  const std::string& id = options_.adopt_sandbox_id;
  auto containers = client_->ListContainers(id);
  if (!containers.ok()) return containers.status();
  std::vector<runtime::v1::Container> list = *std::move(containers);
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.metadata().attempt(), a.created_at()) <
           std::make_pair(b.metadata().attempt(), b.created_at());
  });
  std::map<std::string, Instance*> by_name;
  for (auto* l : {&inits_, &regular_}) {
    for (Instance& c : *l) by_name[c.spec->name] = &c;
  }
  bool any_regular = false;
  for (const runtime::v1::Container& k : list) {
    auto it = by_name.find(k.metadata().name());
    if (it == by_name.end()) continue;
    Instance& c = *it->second;
    if (!c.id.empty()) c.old.push_back(c.id);
    c.id = k.id();
    c.ever_started = true;
    c.restarts = static_cast<int>(k.metadata().attempt());
    c.state = State::kRunning;
    c.running_since = clock_->Now();
    if (k.state() == runtime::v1::CONTAINER_CREATED) {
      // Made but never started (the runner, or tetherd, died while StartContainer was in
      // flight): this attempt is started as it is, not made again.
      c.state = State::kWaiting;
      c.created_not_started = true;
    }
    any_regular |= c.role == Role::kRegular;
  }
  sandbox_id_ = id;
  if (any_regular) {
    init_done_ = true;
    phase_ = PodPhase::kRunning;
  }
  Emit("Normal", "Adopted", nullptr,
       absl::StrCat("Pod sandbox ", id.substr(0, 13), " and its containers were adopted"));
  PublishStatus();
  return absl::OkStatus();
}

// --- play --down -----------------------------------------------------------------------------

absl::StatusOr<int> DownPod(RuntimeClient* client, const PodManifest& pod,
                            const RunnerOptions& options) {
  std::map<std::string, std::string> labels = {
      {kPodNameLabel, pod.name}, {kPodNamespaceLabel, pod.namespace_}, {kPlayLabel, "true"}};
  if (!pod.uid.empty()) labels[kPodUidLabel] = pod.uid;
  auto sandboxes = client->ListPodSandbox(labels);
  if (!sandboxes.ok()) return sandboxes.status();
  for (const runtime::v1::PodSandbox& sandbox : *sandboxes) {
    auto containers = client->ListContainers(sandbox.id());
    if (!containers.ok()) return containers.status();
    std::map<std::string, int> sidecar_order;
    for (size_t i = 0; i < pod.init_containers.size(); ++i) {
      if (pod.init_containers[i].sidecar) sidecar_order[pod.init_containers[i].name] = i;
    }
    std::vector<std::string> regular;
    std::vector<std::pair<int, std::string>> sidecars;
    for (const runtime::v1::Container& c : *containers) {
      if (c.state() != runtime::v1::CONTAINER_RUNNING &&
          c.state() != runtime::v1::CONTAINER_CREATED) {
        continue;
      }
      auto name = c.labels().find(kContainerNameLabel);
      std::string n = name == c.labels().end() ? "" : name->second;
      if (sidecar_order.contains(n)) {
        sidecars.emplace_back(sidecar_order[n], c.id());
      } else {
        regular.push_back(c.id());
      }
    }
    std::sort(sidecars.begin(), sidecars.end());
    std::vector<std::string> sidecar_ids;
    for (auto& [_, id] : sidecars) sidecar_ids.push_back(id);
    // preStop hooks as the runner would run them.
    std::map<std::string, const ContainerSpec*> spec_of_id;
    for (const runtime::v1::Container& c : *containers) {
      auto name = c.labels().find(kContainerNameLabel);
      if (name == c.labels().end()) continue;
      for (const auto* list : {&pod.init_containers, &pod.containers}) {
        for (const ContainerSpec& spec : *list) {
          if (spec.name == name->second) spec_of_id[c.id()] = &spec;
        }
      }
    }
    std::string pod_ip = "127.0.0.1";
    if (!pod.host_network) {
      auto status = client->PodSandboxStatus(sandbox.id());
      pod_ip = status.ok() ? status->network().ip() : "";
    }
    std::unique_ptr<Prober> own_prober;
    Prober* prober = options.prober;
    if (prober == nullptr) {
      own_prober = std::make_unique<RuntimeProber>(client);
      prober = own_prober.get();
    }
    Clock* clock = options.clock != nullptr ? options.clock : RealClock();
    const int64_t grace = pod.termination_grace_period_seconds;
    StopInOrder(regular, sidecar_ids, nullptr, [&](const std::string& id) {
      auto spec = spec_of_id.find(id);
      if (spec == spec_of_id.end()) return client->StopContainer(id, grace);
      ProbeTarget target{
          .container_id = id, .container_name = spec->second->name, .pod_ip = pod_ip};
      return StopWithPreStop(client, prober, clock, *spec->second, target, grace,
                             [&](const std::string& reason, const std::string& message) {
                               spdlog::warn("play: {} {}: {}", reason, spec->second->name, message);
                             });
    });
    if (auto st = client->StopPodSandbox(sandbox.id()); !IgnoreNotFound(st)) return st;
    if (options.remove) {
      for (const runtime::v1::Container& c : *containers) {
        if (auto st = client->RemoveContainer(c.id()); !IgnoreNotFound(st)) return st;
      }
      if (auto st = client->RemovePodSandbox(sandbox.id()); !IgnoreNotFound(st)) return st;
      if (!sandbox.metadata().uid().empty()) {
        RemoveAll(absl::StrCat(options.volume_root, "/", sandbox.metadata().uid())).IgnoreError();
      }
    }
  }
  return static_cast<int>(sandboxes->size());
}

}  // namespace tether::podrunner
