// The container's cgroup resources and OOM score, validated field by field.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "oci/container_spec_parts.h"

namespace tether::spec_internal {

using nlohmann::json;

namespace {

bool AllDigits(absl::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

// "0-3,5,7-8" (cpuset.cpus / cpuset.mems syntax).
bool ValidCpuList(const std::string& s) {
  for (absl::string_view part : absl::StrSplit(s, ',')) {
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    uint32_t lo = 0, hi = 0;
    if (range.size() > 2 || !AllDigits(range[0]) || !absl::SimpleAtoi(range[0], &lo)) return false;
    if (range.size() == 2 &&
        (!AllDigits(range[1]) || !absl::SimpleAtoi(range[1], &hi) || hi < lo)) {
      return false;
    }
  }
  return true;
}

bool ValidPageSize(const std::string& s) {
  size_t digits = s.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string::npos) return false;
  std::string unit = s.substr(digits);
  return unit == "KB" || unit == "MB" || unit == "GB" || unit == "TB" || unit == "PB";
}

}  // namespace

absl::Status Resources(const ContainerSpecInput& in, json* res) {
  if (!in.config->linux().has_resources()) return absl::OkStatus();
  const auto& r = in.config->linux().resources();
  auto bad = [](const std::string& field, int64_t v, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("resources.", field, " ", v, ": ", why));
  };
  json cpu = json::object();
  if (r.cpu_period() != 0) {
    if (r.cpu_period() < 1000 || r.cpu_period() > 1000000) {
      return bad("cpu_period", r.cpu_period(), "must be between 1000 and 1000000 (µs)");
    }
    cpu["period"] = static_cast<uint64_t>(r.cpu_period());
  }
  if (r.cpu_quota() != 0) {
    if (r.cpu_quota() != -1 && r.cpu_quota() < 1000) {
      return bad("cpu_quota", r.cpu_quota(), "must be -1 (unlimited) or at least 1000 (µs)");
    }
    cpu["quota"] = r.cpu_quota();
  }
  if (r.cpu_shares() != 0) {
    if (r.cpu_shares() < 2 || r.cpu_shares() > 262144) {
      return bad("cpu_shares", r.cpu_shares(), "must be between 2 and 262144");
    }
    cpu["shares"] = static_cast<uint64_t>(r.cpu_shares());
  }
  if (!r.cpuset_cpus().empty()) {
    if (!ValidCpuList(r.cpuset_cpus())) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.cpuset_cpus \"", r.cpuset_cpus(), "\": not a CPU list"));
    }
    cpu["cpus"] = r.cpuset_cpus();
  }
  if (!r.cpuset_mems().empty()) {
    if (!ValidCpuList(r.cpuset_mems())) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.cpuset_mems \"", r.cpuset_mems(), "\": not a node list"));
    }
    cpu["mems"] = r.cpuset_mems();
  }
  if (!cpu.empty()) (*res)["cpu"] = std::move(cpu);

  json memory = json::object();
  const int64_t limit = r.memory_limit_in_bytes();
  const int64_t swap = r.memory_swap_limit_in_bytes();
  if (limit < 0) return bad("memory_limit_in_bytes", limit, "must not be negative");
  if (swap < -1) return bad("memory_swap_limit_in_bytes", swap, "must be -1 or more");
  if (limit != 0 && swap > 0 && swap < limit) {
    return bad("memory_swap_limit_in_bytes", swap,
               "must be at least memory_limit_in_bytes (it counts memory plus swap)");
  }
  if (limit != 0) {
    memory["limit"] = limit;
    // containerd: no swap beyond the memory limit unless asked.
    if (swap == 0 && in.features.swap_controller) memory["swap"] = limit;
  }
  if (swap != 0 && in.features.swap_controller) memory["swap"] = swap;
  if (!memory.empty()) (*res)["memory"] = std::move(memory);

  if (r.hugepage_limits_size() > 0) {
    json limits = json::array();
    for (const auto& h : r.hugepage_limits()) {
      if (!ValidPageSize(h.page_size())) {
        return absl::InvalidArgumentError(absl::StrCat("resources.hugepage_limits: page_size \"",
                                                       h.page_size(), "\" is not like 2MB"));
      }
      limits.push_back({{"pageSize", h.page_size()}, {"limit", h.limit()}});
    }
    // containerd's tolerate_missing_hugetlb_controller (default true): dropped without it.
    if (in.features.hugetlb_controller) (*res)["hugepageLimits"] = std::move(limits);
  }

  if (r.unified_size() > 0) {
    if (!in.features.cgroup2_unified) {
      return absl::InvalidArgumentError(
          "resources.unified: cgroup v2 settings on a host without a unified cgroup hierarchy");
    }
    json unified = json::object();
    for (const auto& [k, v] : r.unified()) {
      if (k.empty() || k.find('/') != std::string::npos || k.find("..") != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("resources.unified: invalid cgroup file name \"", k, "\""));
      }
      unified[k] = v;
    }
    (*res)["unified"] = std::move(unified);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OomScoreAdj(const ContainerSpecInput& in) {
  const runtime::v1::ContainerConfig& c = *in.config;
  int oom = 0;
  if (c.linux().has_resources()) {
    int64_t req = c.linux().resources().oom_score_adj();
    if (req < -1000 || req > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("resources.oom_score_adj ", req, ": must be between -1000 and 1000"));
    }
    oom = static_cast<int>(req);
  }
  oom = std::max(oom, in.own_oom_score_adj);
  return oom;
}

}  // namespace tether::spec_internal
