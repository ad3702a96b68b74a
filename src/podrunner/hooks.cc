#include "podrunner/hooks.h"

#include "absl/strings/str_cat.h"
#include "util/log.h"

namespace tether::podrunner {

int64_t GraceAfterPreStop(int64_t grace, absl::Duration elapsed) {
  // kubelet subtracts the whole seconds the hook took.
  int64_t left = grace - absl::ToInt64Seconds(elapsed);
  return std::max(left, kMinimumGraceAfterPreStopSeconds);
}

absl::Status StopWithPreStop(RuntimeClient* client, Prober* prober, Clock* clock,
                             const ContainerSpec& spec, const ProbeTarget& target, int64_t grace,
                             const HookEventFn& on_event) {
  if (spec.pre_stop && grace > 0) {
    const absl::Time start = clock->Now();
    absl::Status st = prober->Hook(*spec.pre_stop, target, absl::Seconds(grace));
    const absl::Duration elapsed = clock->Now() - start;
    if (!st.ok()) {
      spdlog::info("play: preStop hook of {} ({}) failed: {}", spec.name, target.container_id,
                   st.message());
      if (on_event) {
        on_event("FailedPreStopHook", absl::StrCat("PreStopHook failed: ", st.message()));
      }
    }
    grace = GraceAfterPreStop(grace, elapsed);
  }
  return client->StopContainer(target.container_id, grace);
}

}  // namespace tether::podrunner
