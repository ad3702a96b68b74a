// Start-up: directories, the pause's root filesystem, and re-adoption of recorded sandboxes.
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "oci/exit_watcher.h"
#include "sandbox/sandbox_manager.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/proc.h"

namespace tether {

absl::Status SandboxManager::Init(const std::string& pause_binary) {
  for (const auto& dir : {paths_.bundles, paths_.netns, paths_.exits, paths_.sockets}) {
    if (auto st = MakeDirs(dir, 0711); !st.ok()) return st;
  }
  if (auto st = records_.Init(); !st.ok()) return st;
  if (auto st = PreparePauseRootfs(pause_binary); !st.ok()) return st;
  if (auto data = ReadFile(paths_.runtime_config); data.ok()) {
    auto j = nlohmann::json::parse(*data, nullptr, false);
    if (j.is_object()) {
      absl::MutexLock l(&mu_);
      pod_cidr_ = j.value("pod_cidr", "");
    }
  }
  Recover();
  return absl::OkStatus();
}

// The pause runs from a read-only root holding just the binary and the mount points runc needs.
// The binary is replaced atomically when it changed; running pauses keep their old inode.
absl::Status SandboxManager::PreparePauseRootfs(const std::string& pause_binary) {
  auto binary = ReadFile(pause_binary);
  if (!binary.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("pause binary: ", binary.status().message()));
  }
  const std::string& root = paths_.pause_rootfs;
  for (const char* d : {"", "/proc", "/dev", "/sys", "/etc", "/tmp"}) {
    if (auto st = MakeDirs(root + d, 0755); !st.ok()) return st;
  }
  auto current = ReadFile(root + "/pause");
  if (!current.ok() || *current != *binary) {
    if (auto st = WriteFileAtomic(root + "/pause", *binary, 0755); !st.ok()) return st;
    spdlog::info("pause rootfs prepared at {} from {}", root, pause_binary);
  }
  return absl::OkStatus();
}

void SandboxManager::Recover() {
  int ready = 0, not_ready = 0, cleaned = 0;
  for (SandboxRecord& r : LoadRecords<SandboxRecord>(records_, "sandbox")) {
    const std::string short_id = r.id.substr(0, 13);
    if (r.state == SandboxState::kCreating) {
      // tetherd died inside RunPodSandbox: undo whatever it had done.
      spdlog::warn("sandbox {}: found half-created after a restart; cleaning up", short_id);
      Cleanup(r, /*remove_files=*/true);
      (void)records_.Remove(r.id);
      ++cleaned;
      continue;
    }
    bool exited = ExitWatcher::ReadExitCode(paths_.exits, r.id).ok();
    if (r.state == SandboxState::kReady && (exited || !ProcessAlive(r.pid, r.pid_start_time))) {
      spdlog::warn("sandbox {}: pause died while tetherd was down; NOTREADY", short_id);
      r.state = SandboxState::kNotReady;
      if (auto st = PersistRecord(r); !st.ok()) {
        spdlog::error("sandbox {}: {}", short_id, st.message());
      }
    }
    (r.state == SandboxState::kReady ? ready : not_ready)++;
    auto sb = std::make_shared<Sandbox>(r);
    {
      absl::MutexLock l(&sb->mu_);
      sb->exited_ = exited || !ProcessAlive(r.pid, r.pid_start_time);
    }
    absl::MutexLock l(&mu_);
    auto res = std::make_shared<Reservation>();
    res->in_flight = false;
    res->id = r.id;
    names_[r.ReservationKey()] = res;
    sandboxes_[r.id] = sb;
  }
  spdlog::info("recovered sandboxes: {} ready, {} not ready, {} half-created cleaned", ready,
               not_ready, cleaned);
}

}  // namespace tether
