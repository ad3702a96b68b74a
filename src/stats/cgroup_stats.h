// Resource usage of a cgroup, read from cgroupfs (cgroup v1, hybrid or unified v2), and of a
// network namespace, read from procfs. Reads only kernel files: no child processes, no disk walks.
//
// Cgroup modes:
//   - unified (v2): /sys/fs/cgroup is a cgroup2 mount; a cgroup is /sys/fs/cgroup/<path>;
//   - legacy (v1), including hybrid (v1 controllers plus a controller-less v2 mount at
//     /sys/fs/cgroup/unified): a cgroup is /sys/fs/cgroup/<controller>/<path> per controller.
// The mode is detected by statfs(2) of the root (CGROUP2_SUPER_MAGIC → unified).
//
// OCI cgroupsPath, as runc reads it:
//   - cgroupfs driver: "/a/b/id" → <path> = "/a/b/id";
//   - systemd driver: "slice:prefix:name" → <expanded slice>/<prefix>-<name>.scope, where
//     "a-b.slice" expands to "/a.slice/a-b.slice" and "-.slice" is the root.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tether {

enum class CgroupMode { kLegacy, kUnified };

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kLegacy;
  std::string root = "/sys/fs/cgroup";
  // statfs(`root`): cgroup2 → unified, anything else → legacy (v1 or hybrid).
  static CgroupLayout Detect(const std::string& root = "/sys/fs/cgroup");
};

// "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" (the root slice) → "/".
// INVALID_ARGUMENT for a name that is not a valid slice ("x.scope", "a--b.slice", "-a.slice",
// "a/b.slice").
absl::StatusOr<std::string> ExpandSlice(const std::string& slice);
// An OCI linux.cgroupsPath → the cgroup's path below a hierarchy's root, starting with "/"
// ("/" itself for the root). "" (no cgroupsPath) is INVALID_ARGUMENT.
absl::StatusOr<std::string> CgroupRelativePath(const std::string& cgroups_path);
// "/a/b/c" → "/a/b"; "/a" → "/".
std::string ParentCgroup(const std::string& relative_path);

struct MemoryStats {
  uint64_t usage_bytes = 0;        // v1 memory.usage_in_bytes; v2 memory.current
  uint64_t working_set_bytes = 0;  // usage - inactive file pages (0 when that is negative)
  uint64_t rss_bytes = 0;          // v1 total_rss; v2 anon
  uint64_t page_faults = 0;
  uint64_t major_page_faults = 0;
  std::optional<uint64_t> limit_bytes;  // unset when unlimited
  // limit - working set when a limit is set.
  std::optional<uint64_t> available_bytes() const;
};

// One reading of a cgroup; a part is unset when its controller's files are missing.
struct CgroupStats {
  int64_t timestamp = 0;                 // ns since the epoch, when read
  std::optional<uint64_t> cpu_usage_ns;  // cumulative CPU time of all tasks
  std::optional<MemoryStats> memory;
  std::optional<uint64_t> pids;  // pids.current, or the number of cgroup.procs lines
};

// Sums cpu, memory (without a limit) and pids of `parts`; a part is set when any input has it.
CgroupStats SumCgroupStats(const std::vector<CgroupStats>& parts, int64_t timestamp);

class CgroupStatsReader {
 public:
  explicit CgroupStatsReader(CgroupLayout layout) : layout_(std::move(layout)) {}
  // The cgroup at `relative_path` (from CgroupRelativePath). NOT_FOUND when it does not exist.
  absl::StatusOr<CgroupStats> Read(const std::string& relative_path) const;
  const CgroupLayout& layout() const { return layout_; }

 private:
  std::string Dir(const char* controller, const std::string& relative_path) const;
  CgroupLayout layout_;
};

// "key value" lines (memory.stat, cpu.stat) → values; lines that do not parse are skipped.
std::map<std::string, uint64_t> ParseFlatKeyed(const std::string& text);

struct InterfaceStats {
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};
// /proc/<pid>/net/dev → interface name → counters. INVALID_ARGUMENT when the header is missing.
absl::StatusOr<std::map<std::string, InterfaceStats>> ParseNetDev(const std::string& text);
// The network namespace of `pid`: /proc/<pid>/net/dev under `proc_root`.
absl::StatusOr<std::map<std::string, InterfaceStats>> ReadNetDev(
    int pid, const std::string& proc_root = "/proc");

// CPU usage_nano_cores between two cumulative samples: the CPU time used per second of wall time,
// in nanocores (1e9 = one full core). Unset when time did not advance or the counter went back
// (a recreated cgroup).
struct CpuSample {
  int64_t timestamp = 0;  // ns
  uint64_t usage_ns = 0;  // cumulative
};
std::optional<uint64_t> NanoCores(const CpuSample& previous, const CpuSample& current);

}  // namespace tether
