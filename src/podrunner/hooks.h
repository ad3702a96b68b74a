// Lifecycle hooks around a container's start and stop, as kubelet runs them: postStart right after
// StartContainer (a failure kills the container), preStop before StopContainer within the grace
// period, the container then getting what is left of it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "podrunner/probe.h"

namespace tether::podrunner {

// kubelet always leaves a container at least this long to stop after its preStop hook.
inline constexpr int64_t kMinimumGraceAfterPreStopSeconds = 2;

// Called with kubelet's event reason ("FailedPreStopHook") and a message.
using HookEventFn = std::function<void(const std::string& reason, const std::string& message)>;

// Runs the container's preStop hook (when it has one and `grace` > 0) for at most `grace`
// seconds, then StopContainer with the seconds left (kubelet's rule: at least 2 after a hook).
// A failing hook is reported through `on_event` and does not prevent the stop. Returns
// StopContainer's status.
absl::Status StopWithPreStop(RuntimeClient* client, Prober* prober, Clock* clock,
                             const ContainerSpec& spec, const ProbeTarget& target, int64_t grace,
                             const HookEventFn& on_event);

// The grace StopContainer gets after a preStop hook that took `elapsed` of `grace` seconds.
int64_t GraceAfterPreStop(int64_t grace, absl::Duration elapsed);

}  // namespace tether::podrunner
