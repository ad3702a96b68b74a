// StopPodSandbox and RemovePodSandbox: idempotent undo of RunPodSandbox.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "network/netns.h"
#include "oci/exit_watcher.h"
#include "sandbox/sandbox_manager.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mount.h"
#include "util/proc.h"

namespace tether {
void SandboxManager::Cleanup(const SandboxRecord& r, bool remove_files) {
  const std::string short_id = r.id.substr(0, 13);
  if (auto rt = RuntimeOf(r); rt && !r.runtime_deleted) {
    if (auto st = rt->Delete(r.id, /*force=*/true); !st.ok()) {
      spdlog::warn("sandbox {}: runtime delete: {}", short_id, st.message());
    }
  }
  if (!r.netns_path.empty()) {
    if (r.network_attached || r.state == SandboxState::kCreating) {
      if (auto st = network_->Del(AttachmentOf(r)); !st.ok()) {
        spdlog::warn("sandbox {}: CNI DEL: {}", short_id, st.message());
      }
    }
    if (auto st = RemovePinnedNetns(r.netns_path); !st.ok()) {
      spdlog::warn("sandbox {}: removing netns: {}", short_id, st.message());
    }
  }
  if (!r.shm_path.empty()) {
    if (auto st = Unmount(r.shm_path); !st.ok()) {
      spdlog::warn("sandbox {}: unmounting shm: {}", short_id, st.message());
    }
  }
  if (remove_files) {
    if (release_image_rootfs_) release_image_rootfs_(r.id, r.bundle_dir + "/rootfs");
    if (auto st = RemoveAll(r.bundle_dir); !st.ok()) {
      spdlog::warn("sandbox {}: removing bundle: {}", short_id, st.message());
    }
    (void)RemoveFile(absl::StrCat(paths_.exits, "/", r.id));
    (void)RemoveAll(absl::StrCat(paths_.sockets, "/", r.id));
  }
}

absl::Status SandboxManager::StopLocked(Sandbox& sb) {
  SandboxRecord r = sb.Snapshot();
  const std::string short_id = r.id.substr(0, 13);
  if (stop_containers_) {
    if (auto st = stop_containers_(r.id); !st.ok()) return st;
  }
  auto runtime = RuntimeOf(r);
  // A sandbox stopped before has no pause left to kill or delete: running the runtime again
  // (one `runc delete` a time, each tens of milliseconds) would only find nothing.
  bool runtime_deleted = r.runtime_deleted;
  if (!runtime_deleted && ProcessAlive(r.pid, r.pid_start_time) &&
      !ExitWatcher::ReadExitCode(paths_.exits, r.id).ok()) {
    // Signal the pause directly (one runc exec less per stop); runc when that is not possible.
    if (!SignalProcess(r.pid, r.pid_start_time, SIGKILL) && runtime) {
      (void)runtime->Kill(r.id, SIGKILL);
    }
    // The exit watcher wakes us when conmon records the exit.
    bool exited;
    {
      absl::MutexLock l(&sb.mu_);
      exited = sb.mu_.AwaitWithTimeout(absl::Condition(&sb.exited_), absl::Seconds(10));
    }
    if (!exited && ProcessAlive(r.pid, r.pid_start_time)) {
      return absl::DeadlineExceededError(
          absl::StrCat("pod sandbox ", r.id, ": the pause did not exit after SIGKILL"));
    }
  }
  if (runtime && !runtime_deleted) {
    if (auto st = runtime->Delete(r.id, true); st.ok()) {
      runtime_deleted = true;
    } else {
      spdlog::warn("sandbox {}: runtime delete: {}", short_id, st.message());
    }
  }
  if (r.network_attached) {
    if (auto st = network_->Del(AttachmentOf(r)); !st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("failed to tear down the pod network: ", st.message()));
    }
  }
  if (!r.netns_path.empty()) {
    if (auto st = RemovePinnedNetns(r.netns_path); !st.ok()) return st;
  }
  if (!r.shm_path.empty()) {
    if (auto st = Unmount(r.shm_path); !st.ok()) return st;
  }
  bool changed = false;
  {
    absl::MutexLock l(&sb.mu_);
    changed = sb.record_.state != SandboxState::kNotReady || sb.record_.network_attached ||
              sb.record_.runtime_deleted != runtime_deleted;
    sb.record_.state = SandboxState::kNotReady;
    sb.record_.network_attached = false;
    sb.record_.runtime_deleted = runtime_deleted;
    r = sb.record_;
  }
  if (changed) {
    if (auto st = PersistRecord(r); !st.ok()) return st;
    spdlog::info("sandbox {}: stopped", short_id);
  }
  return absl::OkStatus();
}

absl::Status SandboxManager::Stop(const std::string& id) {
  auto sb = Get(id);
  if (!sb.ok()) {
    if (absl::IsNotFound(sb.status())) return absl::OkStatus();
    return sb.status();
  }
  absl::MutexLock op(&(*sb)->op_mutex());
  return StopLocked(**sb);
}

absl::Status SandboxManager::Remove(const std::string& id) {
  auto found = Get(id);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status())) return absl::OkStatus();
    return found.status();
  }
  auto sb = *found;
  absl::MutexLock op(&sb->op_mutex());
  if (auto st = StopLocked(*sb); !st.ok()) return st;
  if (remove_containers_) {
    if (auto st = remove_containers_(sb->id()); !st.ok()) return st;
  }
  SandboxRecord r = sb->Snapshot();
  Cleanup(r, /*remove_files=*/true);
  if (PathExists(r.bundle_dir)) {
    return absl::InternalError(
        absl::StrCat("pod sandbox ", r.id, ": could not remove ", r.bundle_dir));
  }
  if (auto st = records_.Remove(r.id); !st.ok()) return st;
  {
    absl::MutexLock l(&mu_);
    sandboxes_.erase(r.id);
    auto it = names_.find(r.ReservationKey());
    if (it != names_.end() && it->second->id == r.id) names_.erase(it);
  }
  spdlog::info("sandbox {}: removed", r.id.substr(0, 13));
  return absl::OkStatus();
}

}  // namespace tether
