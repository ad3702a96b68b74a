#include "stats/stats_cache.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/time/clock.h"
#include "container/container_manager.h"
#include "image/snapshotter.h"
#include "util/log.h"

namespace tether {
namespace {

// CPU samples nobody asked about for this long are dropped by the sweep.
constexpr absl::Duration kCpuSampleTtl = absl::Minutes(10);
// Rates are measured over at least this much wall time.
constexpr absl::Duration kMinCpuWindow = absl::Seconds(1);

void LowerOwnPriority() {
  auto tid = static_cast<id_t>(syscall(SYS_gettid));
  // Linux applies a thread's nice value per thread (tid).
  if (setpriority(PRIO_PROCESS, tid, 19) != 0) {
    spdlog::debug("stats: setpriority: {}", strerror(errno));
  }
  // ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)).
  constexpr int kWhoProcess = 1, kClassIdle = 3, kClassShift = 13;
  if (syscall(SYS_ioprio_set, kWhoProcess, tid, kClassIdle << kClassShift) != 0) {
    spdlog::debug("stats: ioprio_set: {}", strerror(errno));
  }
}

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

}  // namespace

StatsCache::StatsCache(Lister lister, Options options)
    : lister_(std::move(lister)),
      options_(std::move(options)),
      cgroups_(options_.cgroups ? *options_.cgroups : CgroupLayout::Detect()) {}

StatsCache::~StatsCache() { Stop(); }

void StatsCache::Start() {
  absl::MutexLock l(&mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void StatsCache::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

std::optional<StatsCache::LayerUsage> StatsCache::WritableLayer(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = layers_.find(id);
  bool stale = it == layers_.end() ||
               absl::FromUnixNanos(it->second.timestamp) + options_.stale_after < absl::Now();
  if (stale && pending_.insert(id).second) wake_.Signal();
  if (it == layers_.end()) return std::nullopt;
  return it->second;
}

void StatsCache::RequestRefresh(const std::string& id) {
  absl::MutexLock l(&mu_);
  if (pending_.insert(id).second) wake_.Signal();
}

bool StatsCache::PendingForTesting(const std::string& id) const {
  absl::MutexLock l(&mu_);
  return pending_.count(id) > 0;
}

std::optional<uint64_t> StatsCache::NanoCores(const std::string& key, const CpuSample& sample) {
  absl::MutexLock l(&mu_);
  auto [it, inserted] = cpu_.try_emplace(key, CpuEntry{sample, std::nullopt});
  if (inserted) return std::nullopt;
  CpuEntry& e = it->second;
  if (sample.timestamp < e.sample.timestamp) return e.rate;  // a concurrent, older reading
  if (sample.timestamp - e.sample.timestamp < absl::ToInt64Nanoseconds(kMinCpuWindow) &&
      sample.usage_ns >= e.sample.usage_ns) {
    return e.rate;
  }
  e.rate = tether::NanoCores(e.sample, sample);
  e.sample = sample;
  return e.rate;
}

void StatsCache::Run() {
  pthread_setname_np(pthread_self(), "tether-stats");
  if (options_.low_priority) LowerOwnPriority();
  absl::Time next_sweep = absl::Now();
  for (;;) {
    std::set<std::string> pending;
    {
      absl::MutexLock l(&mu_);
      while (!stop_ && pending_.empty() && absl::Now() < next_sweep) {
        wake_.WaitWithDeadline(&mu_, next_sweep);
      }
      if (stop_) return;
      pending = pending_;
    }
    if (!pending.empty()) WalkPending(std::move(pending));
    if (absl::Now() >= next_sweep) {
      Sweep();
      next_sweep = absl::Now() + options_.interval;
    }
  }
}

void StatsCache::WalkPending(std::set<std::string> ids) {
  for (const auto& layer : lister_()) {
    if (!ids.count(layer.id)) continue;
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    Walk(layer);
  }
  absl::MutexLock l(&mu_);
  for (const auto& id : ids) pending_.erase(id);  // walked, or no longer listed
}

void StatsCache::Sweep() {
  std::vector<Layer> layers = lister_();
  std::set<std::string> listed;
  for (const auto& layer : layers) {
    listed.insert(layer.id);
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
      auto it = layers_.find(layer.id);
      if (layer.frozen_at > 0 && it != layers_.end() && it->second.timestamp > layer.frozen_at) {
        continue;  // walked after it stopped changing
      }
    }
    Walk(layer);
  }
  absl::MutexLock l(&mu_);
  for (auto it = layers_.begin(); it != layers_.end();) {
    it = listed.count(it->first) ? std::next(it) : layers_.erase(it);
  }
  int64_t oldest = NowNs() - absl::ToInt64Nanoseconds(kCpuSampleTtl);
  for (auto it = cpu_.begin(); it != cpu_.end();) {
    it = it->second.sample.timestamp < oldest ? cpu_.erase(it) : std::next(it);
  }
}

void StatsCache::Walk(const Layer& layer) {
  int64_t started = NowNs();
  auto usage = options_.walker ? options_.walker(layer.dir) : Snapshotter::Usage(layer.dir);
  if (!usage.ok()) {
    spdlog::debug("stats: writable layer of {}: {}", layer.id.substr(0, 13),
                  usage.status().message());
    return;
  }
  absl::MutexLock l(&mu_);
  layers_[layer.id] =
      LayerUsage{.bytes = usage->first, .inodes = usage->second, .timestamp = started};
}

StatsCache::Lister ContainerLayers(std::shared_ptr<ContainerManager> containers,
                                   std::shared_ptr<Snapshotter> snapshots) {
  return [containers = std::move(containers), snapshots = std::move(snapshots)] {
    std::vector<StatsCache::Layer> out;
    for (const auto& c : containers->List()) {
      ContainerRecord r = c->Snapshot();
      if (r.state == ContainerState::kCreating) continue;
      int64_t frozen = r.state == ContainerState::kExited ? std::max<int64_t>(r.finished_at, 1) : 0;
      out.push_back({.id = r.id, .dir = snapshots->UpperDirOf(r.id), .frozen_at = frozen});
    }
    return out;
  };
}

}  // namespace tether
