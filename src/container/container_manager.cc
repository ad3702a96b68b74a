#include "container/container_manager.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "oci/container_spec.h"
#include "oci/exit_watcher.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/process.h"

namespace tether {

ContainerManager::ContainerManager(const Config& config, std::shared_ptr<SandboxManager> sandboxes,
                                   std::shared_ptr<ImageProvider> images,
                                   std::shared_ptr<Snapshotter> snapshots,
                                   std::shared_ptr<Monitor> monitor,
                                   SandboxManager::Runtimes runtimes)
    : config_(config),
      sandboxes_(std::move(sandboxes)),
      images_(std::move(images)),
      snapshots_(std::move(snapshots)),
      monitor_(std::move(monitor)),
      runtimes_(std::move(runtimes)),
      records_(config.root + "/containers"),
      bundles_(config.state + "/containers") {}

absl::Status ContainerManager::Init() {
  if (auto st = records_.Init(); !st.ok()) return st;
  if (auto st = MakeDirs(bundles_, 0711); !st.ok()) return st;
  for (const auto& [name, rt] : runtimes_) {
    auto features =
        RunProcess({.argv = {rt->path(), "features"}, .timeout = std::chrono::seconds(10)});
    nlohmann::json j;
    if (features.ok() && features->ok()) j = nlohmann::json::parse(features->out, nullptr, false);
    rro_[name] = RuntimeSupportsRro(j, ProbeHostFeatures());
    spdlog::info("runtime {}: recursive read-only mounts {}", name,
                 rro_[name] ? "supported" : "not supported");
  }
  Recover();
  sandboxes_->SetContainerHooks([this](const std::string& id) { return StopAllIn(id); },
                                [this](const std::string& id) { return RemoveAllIn(id); });
  return absl::OkStatus();
}

bool ContainerManager::SupportsRro(const std::string& runtime_name) const {
  auto it = rro_.find(runtime_name);
  return it != rro_.end() && it->second;
}

std::shared_ptr<OciRuntime> ContainerManager::RuntimeOf(const ContainerRecord& r) const {
  auto it = runtimes_.find(r.runtime_name);
  return it == runtimes_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<Container>> ContainerManager::Get(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("container_id is required");
  absl::MutexLock l(&mu_);
  return FindByIdPrefix(containers_, id, "container");
}

std::vector<std::shared_ptr<Container>> ContainerManager::List() const {
  absl::MutexLock l(&mu_);
  return ValuesOf(containers_);
}

std::vector<std::string> ContainerManager::ChainIdsInUse() const {
  std::vector<std::string> out;
  for (const auto& c : List()) {
    auto r = c->Snapshot();
    out.insert(out.end(), r.chain_ids.begin(), r.chain_ids.end());
  }
  return out;
}

void ContainerManager::Publish(const ContainerRecord& r, runtime::v1::ContainerEventType type) {
  if (events_) events_(r, type);
}

absl::Status ContainerManager::PersistCurrentLocked(Container& c) {
  if (c.record_removed_) return absl::OkStatus();
  ContainerRecord r = c.Snapshot();
  return records_.Write(r.id, r.ToJson());
}

absl::Status ContainerManager::PersistCurrent(Container& c) {
  absl::MutexLock w(&c.record_mu_);
  return PersistCurrentLocked(c);
}

absl::Status ContainerManager::RemoveRecord(Container& c) {
  absl::MutexLock w(&c.record_mu_);
  if (auto st = records_.Remove(c.id()); !st.ok()) return st;
  c.record_removed_ = true;
  return absl::OkStatus();
}

// The exit code conmon recorded, the time the exit file was written, and why. `exited_` (what
// StopContainer waits for) is set only once the EXITED record is written, and the whole step holds
// the record lock, so a RemoveContainer after StopContainer cannot be overtaken by the write.
void ContainerManager::MarkExited(Container& c, int exit_code) {
  ContainerRecord r;
  bool changed = false, removed = false;
  absl::ReleasableMutexLock w(&c.record_mu_);
  // The disk is read before taking mu_, which List and Status take.
  const std::string bundle_dir = c.Snapshot().bundle_dir;
  struct stat st;
  std::string exit_file = absl::StrCat(sandboxes_->paths().exits, "/", c.id());
  const int64_t finished_at = stat(exit_file.c_str(), &st) == 0
                                  ? int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec
                                  : absl::ToUnixNanos(absl::Now());
  const bool oom = PathExists(bundle_dir + "/persist/oom");
  {
    absl::MutexLock l(&c.mu_);
    if (c.record_.state != ContainerState::kExited) {
      changed = true;
      auto& rec = c.record_;
      rec.state = ContainerState::kExited;
      rec.exit_code = exit_code;
      rec.finished_at = finished_at;
      if (oom) {
        rec.reason = "OOMKilled";
        if (rec.exit_code == 0) rec.exit_code = 137;
      } else {
        rec.reason = rec.exit_code == 0 ? "Completed" : "Error";
      }
      if (rec.started_at == 0) rec.started_at = rec.finished_at;
      r = rec;
    }
  }
  removed = c.record_removed_;
  if (changed) {
    spdlog::info("container {}: exited with code {} ({})", r.id.substr(0, 13), r.exit_code,
                 r.reason);
    if (exit_record_hook_) exit_record_hook_(r.id);
    if (auto st = PersistCurrentLocked(c); !st.ok()) {
      spdlog::error("container {}: cannot record exit: {}", r.id.substr(0, 13), st.message());
    }
  }
  {
    absl::MutexLock l(&c.mu_);
    c.exited_ = true;
  }
  w.Release();
  if (changed && !removed) Publish(r, runtime::v1::CONTAINER_STOPPED_EVENT);
}

bool ContainerManager::OnExit(const std::string& id, int exit_code) {
  std::shared_ptr<Container> c;
  {
    absl::MutexLock l(&mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return false;
    c = it->second;
  }
  if (exit_seen_hook_) exit_seen_hook_(id);
  {
    // Looked at and marked under the lock CreateContainer takes to leave CREATING: either Create
    // finds the exit here, or the state is no longer CREATING and the exit is recorded below.
    absl::MutexLock l(&c->mu_);
    if (c->record_.state == ContainerState::kCreating) {
      c->pending_exit_ = exit_code;
      return true;
    }
  }
  MarkExited(*c, exit_code);
  return true;
}

void ContainerManager::Recover() {
  int running = 0, exited = 0, cleaned = 0;
  for (ContainerRecord& r : LoadRecords<ContainerRecord>(records_, "container")) {
    if (r.state == ContainerState::kCreating || !sandboxes_->Get(r.sandbox_id).ok()) {
      spdlog::warn("container {}: half-created or orphaned after a restart; cleaning up",
                   r.id.substr(0, 13));
      Cleanup(r);
      (void)records_.Remove(r.id);
      ++cleaned;
      continue;
    }
    auto c = std::make_shared<Container>(r);
    {
      absl::MutexLock l(&mu_);
      containers_[r.id] = c;
      const auto& m = r.config.metadata();
      names_[absl::StrCat(r.sandbox_id, "/", m.name(), "/", m.attempt())] = r.id;
    }
    auto code = ExitWatcher::ReadExitCode(sandboxes_->paths().exits, r.id);
    if (r.state == ContainerState::kRunning || r.state == ContainerState::kCreated) {
      if (code.ok()) {
        MarkExited(*c, *code);  // it exited while tetherd was down
      } else if (!ProcessAlive(r.pid, r.pid_start_time) &&
                 (r.monitor_pid <= 0 || !ProcessAlive(r.monitor_pid, 0))) {
        // Process and monitor are both gone: nobody will ever write the exit code.
        MarkExited(*c, 255);
      }
      // A dead process with a live conmon: conmon is about to write the exit file and the
      // exit watcher reports it (the daemon rechecks once the watch is in place).
    }
    if (c->state() == ContainerState::kCreated) RecoverStarted(*c);
    (c->state() == ContainerState::kExited ? exited : running)++;
  }
  spdlog::info("recovered containers: {} live, {} exited, {} cleaned", running, exited, cleaned);
}

// A CREATED record whose container runs: tetherd died between `runc start` and the RUNNING
// record. Left CREATED, a StartContainer (a pod runner adopting it) would fail on it and mark it
// exited while it still runs.
void ContainerManager::RecoverStarted(Container& c) {
  ContainerRecord r = c.Snapshot();
  auto runtime = RuntimeOf(r);
  if (!runtime) return;
  auto state = runtime->State(r.id);
  if (!state.ok() || (state->status != "running" && state->status != "paused")) return;
  {
    absl::MutexLock l(&c.mu_);
    if (c.record_.state != ContainerState::kCreated) return;
    c.record_.state = ContainerState::kRunning;
    c.record_.started_at = absl::ToUnixNanos(absl::Now());  // the start's own time is lost
    r = c.record_;
  }
  spdlog::warn("container {}: started before the restart but recorded CREATED; now RUNNING",
               r.id.substr(0, 13));
  if (auto st = Persist(r); !st.ok()) {
    spdlog::error("container {}: cannot record the start: {}", r.id.substr(0, 13), st.message());
  }
}

absl::Status ContainerManager::StopAllIn(const std::string& sandbox_id) {
  for (const auto& c : List()) {
    if (c->Snapshot().sandbox_id != sandbox_id) continue;
    if (auto st = Stop(c->id(), 0); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ContainerManager::RemoveAllIn(const std::string& sandbox_id) {
  for (const auto& c : List()) {
    if (c->Snapshot().sandbox_id != sandbox_id) continue;
    if (auto st = Remove(c->id()); !st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace tether
