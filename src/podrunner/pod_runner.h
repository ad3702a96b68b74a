// Runs a PodManifest through a CRI runtime in kubelet's order: sandbox, init containers one by
// one, native sidecars (started in order and kept running, the next one waiting for a sidecar's
// startup probe), then the regular containers together, restarted per the pod's restartPolicy
// with kubelet's exponential back-off; probes (probe.h) and lifecycle hooks (hooks.h); and the
// shutdown: preStop hooks, regular containers, sidecars in reverse order, then the sandbox.
//
// Like kubelet's generic PLEG, the runner relists: every poll interval it asks ContainerStatus of
// the containers it runs and reconciles. Nothing here is specific to gRPC (see cri_client.h) or to
// real time (see Clock), so the state machine is unit-tested with fakes.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/probe.h"
#include "runtime/v1/api.pb.h"

namespace tether::podrunner {

// Labels kubelet puts on sandboxes and containers (crictl shows pod names from them).
inline constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
inline constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
inline constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
inline constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
// Marks what `tetherctl play` made, so that --down never touches a kubelet's pod.
inline constexpr char kPlayLabel[] = "tether.io/play";

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void Sleep(absl::Duration d) = 0;
};
Clock* RealClock();

// --- CRI configs (pure functions) ------------------------------------------------------------

std::string PodLogDirectory(const std::string& log_root, const PodManifest& pod,
                            const std::string& uid);
std::string EmptyDirPath(const std::string& volume_root, const std::string& uid,
                         const std::string& volume);
runtime::v1::PodSandboxConfig SandboxConfig(const PodManifest& pod, const std::string& uid,
                                            const std::string& log_root);
// `field` is the container's path in the manifest ("spec.containers[1]") for errors.
absl::StatusOr<runtime::v1::ContainerConfig> ContainerConfigFor(
    const PodManifest& pod, const ContainerSpec& container, const std::string& field,
    const std::string& uid, uint32_t attempt, const std::string& volume_root);

// Writes the configMap volumes among `volumes` into their directories under `volume_root`
// (WriteAtomicVolume: a running pod sees each change at once); returns how many changed.
absl::StatusOr<int> WriteConfigMapVolumes(const std::vector<Volume>& volumes,
                                          const std::string& uid, const std::string& volume_root);

// The n-th back-off (n = 0 for the first restart): base·2ⁿ, at most cap.
absl::Duration BackOffDelay(absl::Duration base, absl::Duration cap, int n);

// --- the runner ------------------------------------------------------------------------------

enum class PodPhase { kPending, kRunning, kSucceeded, kFailed };
const char* PodPhaseName(PodPhase phase);

struct PodEvent {
  absl::Time time;
  std::string type;  // Normal, Warning
  // Scheduled, Pulling, Pulled, Created, Started, Killing, BackOff, Failed, Unhealthy,
  // ProbeWarning, FailedPostStartHook, FailedPreStopHook
  std::string reason;
  std::string object;  // "pod/NAME" or "pod/NAME/CONTAINER"
  std::string message;
};

// A `kubectl get pod -w` row.
struct PodStatusRow {
  std::string name;
  int ready = 0;
  int total = 0;
  std::string status;  // Pending, Init:i/n, Init:CrashLoopBackOff, Running, Completed, ...
  int restarts = 0;
  absl::Time started;
  bool operator==(const PodStatusRow& o) const {
    return name == o.name && ready == o.ready && total == o.total && status == o.status &&
           restarts == o.restarts;
  }
};

struct RunnerOptions {
  absl::Duration backoff_base = absl::Seconds(10);
  absl::Duration backoff_cap = absl::Minutes(5);
  absl::Duration poll_interval = absl::Milliseconds(250);
  std::string volume_root = "/var/lib/tether-play";  // emptyDirs: <root>/<uid>/volumes/<name>
  std::string log_root = "/var/log/pods";
  // Remove containers, sandbox and emptyDirs after stopping them; false leaves them (stopped)
  // for inspection.
  bool remove = true;
  // When the pod completes (restartPolicy Never/OnFailure), leave it as it is instead of
  // tearing it down; `play --down` removes it later.
  bool keep_completed = false;
  Clock* clock = nullptr;  // null: the real clock
  // Take over this sandbox, made earlier from the same manifest (and uid) by a runner that is
  // gone, instead of running a new one: its containers become the current attempts (see Adopt).
  std::string adopt_sandbox_id;
  std::function<void(const PodEvent&)> on_event;
  std::function<void(const PodStatusRow&)> on_status;  // on every change
  // Runs probes and hooks; null: a RuntimeProber over the runner's client (exec through
  // ExecSync, httpGet with libcurl, tcpSocket with connect).
  Prober* prober = nullptr;
};

class PodRunner {
 public:
  PodRunner(RuntimeClient* client, PodManifest pod, RunnerOptions options);
  ~PodRunner();

  // Runs the pod until it completes, fails, or Stop() is called (from another thread or a signal
  // handler's flag watcher); then shuts it down. Returns the pod's final phase: Succeeded,
  // Failed, or Running when it was stopped while running.
  absl::StatusOr<PodPhase> Run();
  void Stop() { stop_.store(true); }
  // Like Stop, but Run() returns without shutting the pod down: it keeps running for a later
  // runner to adopt (tetherd stopping while it runs static pods).
  void Detach() {
    detach_.store(true);
    stop_.store(true);
  }

  // A static pod's ConfigMaps changed: its configMap volumes get these files (written now, and by
  // Up() if it has not run yet). Callable from another thread while Run() runs.
  absl::StatusOr<int> UpdateConfigMapVolumes(std::vector<Volume> volumes);

  const std::string& uid() const { return uid_; }
  const std::string& sandbox_id() const { return sandbox_id_; }
  PodStatusRow Status() const;

 private:
  enum class Role { kInit, kSidecar, kRegular };
  enum class State { kWaiting, kRunning, kExited };
  struct Instance {
    const ContainerSpec* spec;
    std::string field;  // "spec.initContainers[0]"
    Role role;
    std::string id;                // the current attempt's container
    std::vector<std::string> old;  // earlier attempts, still to be removed
    State state = State::kWaiting;
    bool ever_started = false;
    bool done = false;  // an init container that exited 0; a container not to restart
    int exit_code = 0;
    int restarts = 0;
    int backoff_n = 0;
    absl::Time running_since;
    absl::Time backoff_until = absl::InfinitePast();
    bool backoff_reported = false;
    bool image_checked = false;
    std::shared_ptr<ContainerProbes> probes;  // null without probes
    bool started_once = false;                // a sidecar that has passed its startup probe once
    // `id` was made (by an earlier runner, adopted) but never started: StartInstance starts it
    // instead of making another.
    bool created_not_started = false;
  };

  absl::Status Up();
  absl::Status Adopt();
  absl::Status Refresh();  // relist: container states; false when the sandbox went away
  absl::Status Reconcile();
  // Creates and starts the container unless it is backing off; an error to create or start it
  // counts as a failed attempt.
  absl::Status StartInstance(Instance& c);
  // StartContainer of the attempt `c.id` (CREATED), then its probes and postStart hook.
  absl::Status StartCreated(Instance& c);
  absl::Status EnsureImage(Instance& c);
  void OnExit(Instance& c, bool restart);
  // An attempt that could not be pulled, made or started: exit code 128, restarted per policy.
  void FailAttempt(Instance& c, const absl::Status& st, const std::string& reason);
  void Shutdown();
  void Emit(const std::string& type, const std::string& reason, const Instance* c,
            const std::string& message);
  void PublishStatus();
  bool InBackOff(const Instance& c) const;
  // Running, and its startup probe (if any) has passed.
  bool Started(const Instance& c) const;
  // Started, and its readiness probe (if any) passes.
  bool Ready(const Instance& c) const;
  ProbeTarget TargetOf(const Instance& c) const;
  // Launches due probes, applies finished ones; kills containers whose liveness or startup
  // probe failed.
  void RunProbes();
  // Runs the postStart hook of a container just started; kills it when the hook fails.
  void PostStart(Instance& c);
  // preStop, then StopContainer with what is left of `grace`.
  void Kill(Instance& c, int64_t grace);

  RuntimeClient* client_;
  PodManifest pod_;
  RunnerOptions options_;
  Clock* clock_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> detach_{false};
  std::string uid_;
  std::string sandbox_id_;
  runtime::v1::PodSandboxConfig sandbox_config_;
  std::vector<Instance> inits_;  // init containers and sidecars, in manifest order
  std::vector<Instance> regular_;
  bool init_done_ = false;
  bool sandbox_gone_ = false;
  PodPhase phase_ = PodPhase::kPending;
  absl::Time started_;
  PodStatusRow last_row_;
  bool row_published_ = false;
  std::unique_ptr<Prober> own_prober_;
  Prober* prober_ = nullptr;
  std::string pod_ip_;   // from PodSandboxStatus; 127.0.0.1 for hostNetwork pods
  std::mutex event_mu_;  // events come from the stop threads too
  std::mutex volumes_mu_;
  std::vector<Volume> config_volumes_;  // the files configMap volumes have now (volumes_mu_)
  // postStart hooks still running when Stop() came; waited for after the shutdown.
  std::vector<std::future<absl::Status>> abandoned_hooks_;
};

// `tetherctl play --down`: stops and removes the play pods of this manifest (matched by name and
// namespace, and uid when the manifest has one) in shutdown order, with the containers' preStop
// hooks. Returns how many pods.
absl::StatusOr<int> DownPod(RuntimeClient* client, const PodManifest& pod,
                            const RunnerOptions& options);

}  // namespace tether::podrunner
