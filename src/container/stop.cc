// StopContainer and RemoveContainer: both idempotent.
#include <signal.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "container/container_manager.h"
#include "oci/exit_watcher.h"
#include "util/file.h"
#include "util/log.h"
#include "util/proc.h"

namespace tether {
namespace {

// "SIGQUIT", "QUIT", "3" → the signal number; SIGTERM when empty or unknown.
int ParseSignal(const std::string& s) {
  if (s.empty()) return SIGTERM;
  int n;
  if (absl::SimpleAtoi(s, &n) && n > 0 && n < NSIG) return n;
  std::string name(absl::StripPrefix(s, "SIG"));
  for (int i = 1; i < NSIG; ++i) {
    const char* abbrev = sigabbrev_np(i);
    if (abbrev != nullptr && name == abbrev) return i;
  }
  return SIGTERM;
}

}  // namespace

absl::Status ContainerManager::StopLocked(Container& c, int64_t timeout_seconds) {
  ContainerRecord r = c.Snapshot();
  if (r.state == ContainerState::kExited || r.state == ContainerState::kCreating) {
    return absl::OkStatus();
  }
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  const std::string short_id = r.id.substr(0, 13);
  auto wait_exit = [&](absl::Duration limit) {
    absl::MutexLock l(&c.mu_);
    return c.mu_.AwaitWithTimeout(absl::Condition(&c.exited_), limit);
  };
  if (timeout_seconds > 0 && r.state == ContainerState::kRunning) {
    int sig = ParseSignal(r.stop_signal);
    spdlog::info("container {}: stopping with signal {}, timeout {}s", short_id, sig,
                 timeout_seconds);
    // The stop signal goes to the container's init, as `runc kill` would send it, without
    // an exec of runc; runc when the pid cannot be signalled that way.
    if (!SignalProcess(r.pid, r.pid_start_time, sig)) {
      if (auto st = runtime->Kill(r.id, sig); !st.ok()) {
        spdlog::warn("container {}: signal {}: {}", short_id, sig, st.message());
      }
    }
    if (wait_exit(absl::Seconds(timeout_seconds))) return absl::OkStatus();
    spdlog::info("container {}: still running after {}s; SIGKILL", short_id, timeout_seconds);
  }
  if (auto st = runtime->Kill(r.id, SIGKILL, /*all=*/true); !st.ok()) {
    spdlog::warn("container {}: SIGKILL: {}", short_id, st.message());
  }
  if (!wait_exit(absl::Seconds(10))) {
    if (ProcessAlive(r.pid, r.pid_start_time)) {
      return absl::DeadlineExceededError(
          absl::StrCat("container ", r.id, " did not exit after SIGKILL"));
    }
    // The process is gone but conmon never told us (it died too): record it ourselves.
    auto code = ExitWatcher::ReadExitCode(sandboxes_->paths().exits, r.id);
    MarkExited(c, code.ok() ? *code : 137);
  }
  return absl::OkStatus();
}

absl::Status ContainerManager::Stop(const std::string& id, int64_t timeout_seconds) {
  auto c = Get(id);
  if (!c.ok()) return absl::IsNotFound(c.status()) ? absl::OkStatus() : c.status();
  absl::MutexLock op(&(*c)->op_mutex());  // after a create in flight: it is CREATED, or gone
  return StopLocked(**c, timeout_seconds);
}

void ContainerManager::Cleanup(const ContainerRecord& r) {
  const std::string short_id = r.id.substr(0, 13);
  if (auto rt = RuntimeOf(r)) {
    if (auto st = rt->Delete(r.id, /*force=*/true); !st.ok()) {
      spdlog::warn("container {}: runtime delete: {}", short_id, st.message());
    }
  }
  if (auto st = snapshots_->RemoveContainer(r.id, r.bundle_dir + "/rootfs"); !st.ok()) {
    spdlog::warn("container {}: removing rootfs: {}", short_id, st.message());
  }
  if (auto st = RemoveAll(r.bundle_dir); !st.ok()) {
    spdlog::warn("container {}: removing bundle: {}", short_id, st.message());
  }
  (void)RemoveFile(absl::StrCat(sandboxes_->paths().exits, "/", r.id));
  (void)RemoveFile(absl::StrCat(sandboxes_->paths().sockets, "/", r.id));
}

absl::Status ContainerManager::RemoveLocked(Container& c) {
  // Still CREATING once the create let go of it: the create failed and undid itself.
  if (c.state() == ContainerState::kCreating) return absl::OkStatus();
  if (auto st = StopLocked(c, 0); !st.ok()) return st;
  ContainerRecord r = c.Snapshot();
  Cleanup(r);
  if (PathExists(r.bundle_dir)) {
    return absl::InternalError(
        absl::StrCat("container ", r.id, ": could not remove ", r.bundle_dir));
  }
  if (auto st = RemoveRecord(c); !st.ok()) return st;
  {
    absl::MutexLock l(&mu_);
    containers_.erase(r.id);
    for (auto it = names_.begin(); it != names_.end(); ++it) {
      if (it->second == r.id) {
        names_.erase(it);
        break;
      }
    }
  }
  spdlog::info("container {}: removed", r.id.substr(0, 13));
  Publish(r, runtime::v1::CONTAINER_DELETED_EVENT);
  return absl::OkStatus();
}

absl::Status ContainerManager::Remove(const std::string& id) {
  auto c = Get(id);
  if (!c.ok()) return absl::IsNotFound(c.status()) ? absl::OkStatus() : c.status();
  // As containerd: a container still being created cannot be removed (RemovePodSandbox waits for
  // the creates in its pod instead; see Create).
  if ((*c)->state() == ContainerState::kCreating) {
    return absl::FailedPreconditionError(absl::StrCat(
        "container ", (*c)->id(), " is in CREATING state: it cannot be removed until created"));
  }
  absl::MutexLock op(&(*c)->op_mutex());
  return RemoveLocked(**c);
}

}  // namespace tether
