#include "stats/cgroup_stats.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "util/file.h"

namespace tether {
namespace {

// Above this a memory limit means "no limit" (the kernel rounds the v1 default of
// LONG_MAX down to a page multiple), as cAdvisor and containerd decide it.
constexpr uint64_t kUnlimitedMemory = uint64_t{1} << 62;

std::optional<uint64_t> ReadUint(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  uint64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v)) return std::nullopt;
  return v;
}

std::optional<std::map<std::string, uint64_t>> ReadFlatKeyed(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  return ParseFlatKeyed(*text);
}

uint64_t ValueOr0(const std::map<std::string, uint64_t>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

// The first of `keys` present in `m` (v1 memory.stat has total_* for the hierarchy and the
// plain names for the cgroup alone).
uint64_t FirstOf(const std::map<std::string, uint64_t>& m,
                 std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    if (auto it = m.find(k); it != m.end()) return it->second;
  }
  return 0;
}

std::optional<uint64_t> CountLines(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return std::nullopt;
  uint64_t n = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    (void)line;
    ++n;
  }
  return n;
}

uint64_t WorkingSet(uint64_t usage, uint64_t inactive_file) {
  return inactive_file < usage ? usage - inactive_file : 0;
}

}  // namespace

CgroupLayout CgroupLayout::Detect(const std::string& root) {
  CgroupLayout layout;
  layout.root = root;
  struct statfs sfs;
  layout.mode = statfs(root.c_str(), &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC
                    ? CgroupMode::kUnified
                    : CgroupMode::kLegacy;
  return layout;
}

absl::StatusOr<std::string> ExpandSlice(const std::string& slice) {
  constexpr absl::string_view kSuffix = ".slice";
  absl::string_view name = slice;
  if (name.size() <= kSuffix.size() || !absl::ConsumeSuffix(&name, kSuffix) ||
      absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(absl::StrCat("invalid slice name \"", slice, "\""));
  }
  if (name == "-") return std::string("/");
  std::string path, prefix;
  for (absl::string_view component : absl::StrSplit(name, '-')) {
    if (component.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid slice name \"", slice, "\""));
    }
    absl::StrAppend(&path, "/", prefix, component, kSuffix);
    absl::StrAppend(&prefix, component, "-");
  }
  return path;
}

absl::StatusOr<std::string> CgroupRelativePath(const std::string& cgroups_path) {
  if (cgroups_path.empty()) return absl::InvalidArgumentError("no cgroupsPath");
  std::string raw;
  if (cgroups_path[0] != '/' && absl::StrContains(cgroups_path, ':')) {
    // systemd: "slice:prefix:name".
    std::vector<std::string> parts = absl::StrSplit(cgroups_path, ':');
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("cgroupsPath \"", cgroups_path, "\": expected slice:prefix:name"));
    }
    auto slice = ExpandSlice(parts[0].empty() ? "system.slice" : parts[0]);
    if (!slice.ok()) return slice.status();
    std::string unit = absl::EndsWith(parts[2], ".slice")
                           ? parts[2]
                           : absl::StrCat(parts[1], "-", parts[2], ".scope");
    raw = absl::StrCat(*slice, "/", unit);
  } else {
    // cgroupfs: a path below the hierarchy's root (a relative one is taken from the root too).
    raw = absl::StrCat("/", cgroups_path);
  }
  std::string out;
  for (absl::string_view part : absl::StrSplit(raw, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("cgroupsPath \"", cgroups_path, "\" must not contain \"..\""));
    }
    absl::StrAppend(&out, "/", part);
  }
  return out.empty() ? std::string("/") : out;
}

std::string ParentCgroup(const std::string& relative_path) {
  auto slash = relative_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return relative_path.substr(0, slash);
}

std::optional<uint64_t> MemoryStats::available_bytes() const {
  if (!limit_bytes) return std::nullopt;
  return *limit_bytes > working_set_bytes ? *limit_bytes - working_set_bytes : 0;
}

CgroupStats SumCgroupStats(const std::vector<CgroupStats>& parts, int64_t timestamp) {
  CgroupStats sum;
  sum.timestamp = timestamp;
  for (const auto& p : parts) {
    if (p.cpu_usage_ns) sum.cpu_usage_ns = sum.cpu_usage_ns.value_or(0) + *p.cpu_usage_ns;
    if (p.pids) sum.pids = sum.pids.value_or(0) + *p.pids;
    if (p.memory) {
      if (!sum.memory) sum.memory.emplace();
      sum.memory->usage_bytes += p.memory->usage_bytes;
      sum.memory->working_set_bytes += p.memory->working_set_bytes;
      sum.memory->rss_bytes += p.memory->rss_bytes;
      sum.memory->page_faults += p.memory->page_faults;
      sum.memory->major_page_faults += p.memory->major_page_faults;
    }
  }
  return sum;
}

std::string CgroupStatsReader::Dir(const char* controller, const std::string& relative_path) const {
  std::string rel = relative_path == "/" ? "" : relative_path;
  if (layout_.mode == CgroupMode::kUnified) return absl::StrCat(layout_.root, rel);
  return absl::StrCat(layout_.root, "/", controller, rel);
}

absl::StatusOr<CgroupStats> CgroupStatsReader::Read(const std::string& relative_path) const {
  if (relative_path.empty() || relative_path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup path \"", relative_path, "\" must start with /"));
  }
  CgroupStats s;
  s.timestamp = absl::ToUnixNanos(absl::Now());
  if (layout_.mode == CgroupMode::kUnified) {
    std::string dir = Dir("", relative_path);
    if (!PathExists(dir)) {
      return absl::NotFoundError(absl::StrCat("cgroup ", dir, " does not exist"));
    }
    if (auto cpu = ReadFlatKeyed(dir + "/cpu.stat"); cpu && cpu->count("usage_usec")) {
      s.cpu_usage_ns = cpu->at("usage_usec") * 1000;
    }
    if (auto current = ReadUint(dir + "/memory.current")) {
      MemoryStats m;
      m.usage_bytes = *current;
      auto stat = ReadFlatKeyed(dir + "/memory.stat").value_or(std::map<std::string, uint64_t>{});
      m.working_set_bytes = WorkingSet(m.usage_bytes, ValueOr0(stat, "inactive_file"));
      m.rss_bytes = ValueOr0(stat, "anon");
      m.page_faults = ValueOr0(stat, "pgfault");
      m.major_page_faults = ValueOr0(stat, "pgmajfault");
      // "max" does not parse: unlimited.
      if (auto limit = ReadUint(dir + "/memory.max"); limit && *limit < kUnlimitedMemory) {
        m.limit_bytes = *limit;
      }
      s.memory = m;
    }
    s.pids = ReadUint(dir + "/pids.current");
    if (!s.pids) s.pids = CountLines(dir + "/cgroup.procs");
    return s;
  }

  std::string cpu_dir = Dir("cpuacct", relative_path);
  std::string mem_dir = Dir("memory", relative_path);
  bool has_cpu = PathExists(cpu_dir), has_mem = PathExists(mem_dir);
  if (!has_cpu && !has_mem) {
    return absl::NotFoundError(absl::StrCat("cgroup ", relative_path, " does not exist under ",
                                            layout_.root, "/{cpuacct,memory}"));
  }
  if (has_cpu) s.cpu_usage_ns = ReadUint(cpu_dir + "/cpuacct.usage");
  if (has_mem) {
    if (auto usage = ReadUint(mem_dir + "/memory.usage_in_bytes")) {
      MemoryStats m;
      m.usage_bytes = *usage;
      auto stat =
          ReadFlatKeyed(mem_dir + "/memory.stat").value_or(std::map<std::string, uint64_t>{});
      m.working_set_bytes =
          WorkingSet(m.usage_bytes, FirstOf(stat, {"total_inactive_file", "inactive_file"}));
      m.rss_bytes = FirstOf(stat, {"total_rss", "rss"});
      m.page_faults = FirstOf(stat, {"total_pgfault", "pgfault"});
      m.major_page_faults = FirstOf(stat, {"total_pgmajfault", "pgmajfault"});
      if (auto limit = ReadUint(mem_dir + "/memory.limit_in_bytes");
          limit && *limit < kUnlimitedMemory) {
        m.limit_bytes = *limit;
      }
      s.memory = m;
    }
  }
  s.pids = ReadUint(Dir("pids", relative_path) + "/pids.current");
  if (!s.pids) s.pids = CountLines((has_mem ? mem_dir : cpu_dir) + "/cgroup.procs");
  return s;
}

std::map<std::string, uint64_t> ParseFlatKeyed(const std::string& text) {
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> kv =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t v = 0;
    if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &v)) out[std::string(kv[0])] = v;
  }
  return out;
}

absl::StatusOr<std::map<std::string, InterfaceStats>> ParseNetDev(const std::string& text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipWhitespace());
  if (lines.size() < 2 || !absl::StrContains(lines[0], '|') || !absl::StrContains(lines[1], '|')) {
    return absl::InvalidArgumentError("net/dev: missing header");
  }
  std::map<std::string, InterfaceStats> out;
  for (size_t i = 2; i < lines.size(); ++i) {
    auto colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    std::string name(absl::StripAsciiWhitespace(lines[i].substr(0, colon)));
    std::vector<absl::string_view> f =
        absl::StrSplit(lines[i].substr(colon + 1), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (name.empty() || f.size() < 16) continue;
    uint64_t v[16];
    bool ok = true;
    for (size_t k = 0; k < 16 && ok; ++k) ok = absl::SimpleAtoi(f[k], &v[k]);
    if (!ok) continue;
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit: bytes
    // packets errs drop fifo colls carrier compressed.
    out[name] = InterfaceStats{.rx_bytes = v[0],
                               .rx_packets = v[1],
                               .rx_errors = v[2],
                               .rx_dropped = v[3],
                               .tx_bytes = v[8],
                               .tx_packets = v[9],
                               .tx_errors = v[10],
                               .tx_dropped = v[11]};
  }
  return out;
}

absl::StatusOr<std::map<std::string, InterfaceStats>> ReadNetDev(int pid,
                                                                 const std::string& proc_root) {
  if (pid <= 0) return absl::InvalidArgumentError("no pid");
  auto text = ReadFile(absl::StrCat(proc_root, "/", pid, "/net/dev"));
  if (!text.ok()) return text.status();
  return ParseNetDev(*text);
}

std::optional<uint64_t> NanoCores(const CpuSample& previous, const CpuSample& current) {
  if (current.timestamp <= previous.timestamp || current.usage_ns < previous.usage_ns) {
    return std::nullopt;
  }
  long double used = static_cast<long double>(current.usage_ns - previous.usage_ns);
  long double elapsed = static_cast<long double>(current.timestamp - previous.timestamp);
  return static_cast<uint64_t>(used * 1e9L / elapsed);
}

}  // namespace tether
