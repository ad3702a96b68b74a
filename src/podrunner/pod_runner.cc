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

}  // namespace

Clock* RealClock() {
  static RealClockImpl clock;
  return &clock;
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
  } else if (!init_done_ && n_init > 0) {
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

}  // namespace tether::podrunner
