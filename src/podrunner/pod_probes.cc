// The runner's probes and lifecycle hooks: launching due probes and applying their results
// (Unhealthy and ProbeWarning events, kills on liveness and startup failures), postStart after a
// start, and the preStop before a kill.
#include <algorithm>
#include <chrono>
#include <future>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "podrunner/hooks.h"
#include "podrunner/pod_runner.h"
#include "util/log.h"

namespace tether::podrunner {
namespace {

// How long (real time) a round of the loop waits for the probes it launched: quick ones (an exec
// of `cat`, a local HTTP GET) are applied in the same round, slow ones in a later one.
absl::Duration ProbeWait(absl::Duration poll) {
  return std::clamp(poll, absl::Milliseconds(100), absl::Seconds(1));
}

}  // namespace

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

}  // namespace tether::podrunner
