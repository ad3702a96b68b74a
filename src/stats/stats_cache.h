// What *Stats answer from memory: the writable-layer usage of every container, walked by one
// low-priority background thread (never on a request path), and the previous CPU sample of every
// container and sandbox, for usage_nano_cores. Also owns the cgroup reader.
//
// Refresh policy for writable layers:
//   - a sweep every `interval` (10 s) walks the layers the lister names; a layer that no longer
//     changes (an exited container) is walked once more after it stopped changing, then kept;
//   - a request that finds no entry, or one older than `stale_after`, asks the thread for a walk
//     of that one layer and answers with what it has (the walk lands for the next request).
//     Requests are coalesced, so at most one walk per layer is queued at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stats/cgroup_stats.h"

namespace tether {

class ContainerManager;
class Snapshotter;

class StatsCache {
 public:
  struct Layer {
    std::string id;         // container id
    std::string dir;        // its writable (upper) dir
    int64_t frozen_at = 0;  // ns; > 0: the layer no longer changes after this (container exited)
  };
  struct LayerUsage {
    uint64_t bytes = 0, inodes = 0;
    int64_t timestamp = 0;  // ns since the epoch, when the walk started
  };
  using Lister = std::function<std::vector<Layer>()>;
  using Walker = std::function<absl::StatusOr<std::pair<uint64_t, uint64_t>>(const std::string&)>;

  struct Options {
    absl::Duration interval = absl::Seconds(10);
    // Equal to the interval: a request only triggers a walk when the sweep has not covered the
    // layer yet (a new container) or is late, so clients polling often add no disk load.
    absl::Duration stale_after = absl::Seconds(10);
    bool low_priority = true;             // the thread runs at nice 19 with idle I/O priority
    Walker walker;                        // default: Snapshotter::Usage
    std::optional<CgroupLayout> cgroups;  // default: CgroupLayout::Detect()
  };

  explicit StatsCache(Lister lister) : StatsCache(std::move(lister), Options{}) {}
  StatsCache(Lister lister, Options options);
  ~StatsCache();  // stops the thread
  StatsCache(const StatsCache&) = delete;
  StatsCache& operator=(const StatsCache&) = delete;

  void Start();  // the background thread; without it, nothing is ever walked
  void Stop();

  // The last walked usage of container `id`'s writable layer, if any; asks for a walk when there
  // is none or it is stale. Never touches the disk.
  std::optional<LayerUsage> WritableLayer(const std::string& id);
  // Asks for a walk of `id`'s layer soon (e.g. right after the container started).
  void RequestRefresh(const std::string& id);

  // usage_nano_cores for `key` (a container or sandbox id) from its previous sample, then keeps
  // `sample`. Unset for the first sample. Samples less than a second apart reuse the last rate
  // instead of measuring over a tiny window.
  std::optional<uint64_t> NanoCores(const std::string& key, const CpuSample& sample);

  const CgroupStatsReader& cgroups() const { return cgroups_; }

  // Tests: one sweep now, on the caller's thread.
  void SweepForTesting() { Sweep(); }
  // Tests: whether a walk was requested and has not run yet.
  bool PendingForTesting(const std::string& id) const;

 private:
  struct CpuEntry {
    CpuSample sample;
    std::optional<uint64_t> rate;
  };
  void Run();
  void Sweep();
  void WalkPending(std::set<std::string> ids);
  void Walk(const Layer& layer);

  const Lister lister_;
  const Options options_;
  const CgroupStatsReader cgroups_;

  mutable absl::Mutex mu_;
  std::map<std::string, LayerUsage> layers_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> pending_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CpuEntry> cpu_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar wake_;
  std::thread thread_;
};

// The lister tetherd uses: every container's upper dir from the snapshotter.
StatsCache::Lister ContainerLayers(std::shared_ptr<ContainerManager> containers,
                                   std::shared_ptr<Snapshotter> snapshots);

}  // namespace tether
