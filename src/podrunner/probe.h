// Probes for the pod runner: running one handler (exec through the CRI's ExecSync, httpGet with
// libcurl, tcpSocket with a plain connect) behind the Prober interface, and kubelet's prober
// worker semantics (initialDelaySeconds, periodSeconds, success and failure thresholds, startup
// gating) as plain state machines driven by the runner's clock, so that they are unit-tested with
// a fake clock and a fake runtime.
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"

namespace tether::podrunner {

enum class ProbeType { kLiveness, kReadiness, kStartup };
const char* ProbeTypeName(ProbeType type);  // "Liveness", "Readiness", "Startup"

enum class ProbeResult {
  kSuccess,
  kFailure,
  // The probe could not be run (the container is gone, the pod has no IP, ...): kubelet throws
  // such a result away, neither success nor failure.
  kError,
};

struct ProbeOutcome {
  ProbeResult result = ProbeResult::kError;
  std::string output;  // the command's output, the HTTP status line, the connect error
  // A success kubelet reports with a ProbeWarning event (an httpGet that ended on a redirect it
  // did not follow); `output` says why.
  bool warning = false;
};

// Where a handler runs.
struct ProbeTarget {
  std::string container_id;
  std::string container_name;
  // httpGet and tcpSocket without a host go to this address: the pod's IP, or 127.0.0.1 for a
  // hostNetwork pod.
  std::string pod_ip;
};

// Runs handlers. Implementations are called from several threads at once.
class Prober {
 public:
  virtual ~Prober() = default;
  // A probe: exec succeeds on exit 0 (a timeout is a failure), httpGet on a status from 200 to
  // 399 (3xx with a warning: a redirect not followed), tcpSocket when the connection is made
  // within the timeout.
  virtual ProbeOutcome Probe(const Handler& handler, const ProbeTarget& target,
                             absl::Duration timeout) = 0;
  // A lifecycle hook, as kubelet runs them: exec must exit 0; httpGet succeeds on any HTTP
  // answer (only a failed request fails it); sleep sleeps. `timeout`: InfiniteDuration for none.
  virtual absl::Status Hook(const Handler& handler, const ProbeTarget& target,
                            absl::Duration timeout) = 0;
};

// The real one: exec through `client`'s ExecSync, httpGet with libcurl (no proxy; HTTPS without
// certificate checks, as kubelet), tcpSocket with a non-blocking connect, grpc with a gRPC
// health client.
class RuntimeProber : public Prober {
 public:
  explicit RuntimeProber(RuntimeClient* client);
  ProbeOutcome Probe(const Handler& handler, const ProbeTarget& target,
                     absl::Duration timeout) override;
  absl::Status Hook(const Handler& handler, const ProbeTarget& target,
                    absl::Duration timeout) override;

 private:
  RuntimeClient* client_;
};

// The pieces of RuntimeProber, for tests. `host` is where the request goes (the handler's host
// when it has one, else the target's pod IP).
// Redirects are followed as kubelet's HTTP prober and lifecycle hooks do: up to 10 requests, to
// the first request's host only (another port or scheme there is followed); a redirect to
// another host ends it with that 3xx answer, and a longer chain is an error ("stopped after 10
// redirects").
struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, timeout, too many redirects, ...)
  std::string error;
  std::string body;                   // the start of it
  bool redirected_elsewhere = false;  // the 3xx answer redirects to another host
};
HttpAnswer HttpGet(const Handler& handler, const std::string& host, absl::Duration timeout);
ProbeOutcome TcpConnect(const std::string& host, int port, absl::Duration timeout);
// grpc.health.v1.Health/Check of `service` at host:port over plaintext (grpc_probe.cc).
ProbeOutcome GrpcHealthCheck(const std::string& host, int port, const std::string& service,
                             absl::Duration timeout);

// One probe of one container with kubelet's worker semantics:
// - nothing runs before initialDelaySeconds after the container started, then every periodSeconds;
// - the result changes only after successThreshold successes or failureThreshold failures in a
//   row; until then the previous result stands (initially: liveness success, readiness failure,
//   startup not yet);
// - a liveness or startup failure puts the worker on hold until the next container attempt;
// - a startup probe stops once it has succeeded.
class ProbeWorker {
 public:
  ProbeWorker(ProbeType type, const Probe& spec);

  ProbeType type() const { return type_; }
  const Probe& spec() const { return spec_; }

  // A new container attempt, started at `started`: results and counts start over.
  void Reset(absl::Time started);
  // Whether a probe should run at `now`.
  bool Due(absl::Time now) const;
  // A probe was launched at `now`: the next one is due a period later.
  void Launched(absl::Time now);
  // Applies a probe's outcome; returns true when the result changed.
  bool Record(ProbeResult result);

  bool succeeded() const { return result_ == ProbeResult::kSuccess; }
  bool failed() const { return result_ == ProbeResult::kFailure; }

 private:
  ProbeType type_;
  Probe spec_;
  absl::Time started_ = absl::InfinitePast();
  absl::Time next_ = absl::InfinitePast();
  ProbeResult result_ = ProbeResult::kError;  // kError: no result yet
  ProbeResult last_ = ProbeResult::kError;    // the last raw outcome
  int run_ = 0;                               // how many times in a row `last_` came
  bool on_hold_ = false;
};

// The probes of one container, run asynchronously (a probe may take its whole timeout) and
// collected by the runner's loop. Liveness and readiness wait for the startup probe.
class ContainerProbes {
 public:
  explicit ContainerProbes(const ContainerSpec& spec);
  ~ContainerProbes();  // waits for probes still running (each is bounded by its timeout)
  ContainerProbes(const ContainerProbes&) = delete;
  ContainerProbes& operator=(const ContainerProbes&) = delete;

  bool empty() const { return workers_.empty(); }
  // A container attempt `id` started running at `started`.
  void Start(const std::string& id, absl::Time started);
  // The attempt last given to Start (kept by Stop).
  const std::string& known_id() const { return known_id_; }
  // The container is not running: results of probes still in flight are thrown away.
  void Stop();

  // Launches the probes that are due at `now` (on threads of their own).
  void Launch(Prober* prober, const ProbeTarget& target, absl::Time now);

  struct Report {
    ProbeType type;
    ProbeOutcome outcome;
  };
  struct Collected {
    std::vector<Report> failures;  // failed and errored probes (kubelet's Unhealthy events)
    std::vector<Report> warnings;  // successes with a warning (kubelet's ProbeWarning events)
    // Set when a liveness or startup probe reached its failure threshold: the container must be
    // killed (and restarted per the restart policy).
    std::optional<ProbeType> kill;
    bool changed = false;  // started() or ready() may have changed
  };
  // Applies the probes that have finished, waiting for those in flight until `deadline` (real
  // time); probes still running are collected by a later call.
  Collected Collect(absl::Time deadline);

  // The startup probe has succeeded (or there is none), the container running.
  bool started() const;
  // Started, and the readiness probe succeeds (or there is none).
  bool ready() const;
  bool has_startup_probe() const;
  // The probe-level terminationGracePeriodSeconds of the probe that failed, if any.
  std::optional<int64_t> KillGrace(ProbeType type) const;

 private:
  struct InFlight {
    size_t worker;
    std::string container_id;
    std::future<ProbeOutcome> result;
  };
  ProbeWorker* Find(ProbeType type);
  const ProbeWorker* Find(ProbeType type) const;

  std::vector<ProbeWorker> workers_;
  std::vector<InFlight> in_flight_;
  std::string container_id_;  // "" when not running
  std::string known_id_;
};

}  // namespace tether::podrunner
