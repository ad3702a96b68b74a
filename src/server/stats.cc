// ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats: answered from memory
// (the records and the stats cache) plus reads of cgroupfs and procfs, which are kernel memory.
// No disk walks (writable layers come from the cache's background walks), no child processes.
//
// As containerd does:
//   - ListContainerStats lists every container that matches (created and exited ones too) with its
//     attributes and writable layer; cpu and memory only for a running one;
//   - ContainerStats of a container that is not running is an error (containerd: "unexpected
//     metrics response"; here FAILED_PRECONDITION);
//   - usage_nano_cores is left unset until there is a previous sample to compare with;
//   - ListPodSandboxStats lists only READY sandboxes; PodSandboxStats of another one is an error
//     (containerd: UNAVAILABLE; here FAILED_PRECONDITION, like a container that is not running).
// Pod cpu/memory/process: the pod's cgroup (the parent of the pause's) when the pod config names a
// cgroup_parent; otherwise the sum of the pause and the running containers.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cri_convert.h"
#include "server/runtime_service.h"
#include "server/status.h"
#include "stats/cgroup_stats.h"
#include "util/log.h"
#include "util/proc.h"

namespace tether {
namespace {

constexpr char kDefaultInterface[] = "eth0";

grpc::Status NoStats() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stats are not configured in this server");
}

std::string CgroupsPathOf(const nlohmann::json& spec) {
  if (!spec.is_object()) return "";
  auto linux_spec = spec.find("linux");
  if (linux_spec == spec.end() || !linux_spec->is_object()) return "";
  auto path = linux_spec->find("cgroupsPath");
  return path != linux_spec->end() && path->is_string() ? path->get<std::string>() : "";
}

// The cgroup described by an OCI spec; NOT_FOUND and friends when it cannot be read.
absl::StatusOr<CgroupStats> ReadSpecCgroup(const CgroupStatsReader& reader,
                                           const nlohmann::json& spec) {
  auto rel = CgroupRelativePath(CgroupsPathOf(spec));
  if (!rel.ok()) return rel.status();
  return reader.Read(*rel);
}

runtime::v1::UInt64Value U64(uint64_t v) {
  runtime::v1::UInt64Value out;
  out.set_value(v);
  return out;
}

void FillCpu(const CgroupStats& s, std::optional<uint64_t> nano_cores, runtime::v1::CpuUsage* cpu) {
  cpu->set_timestamp(s.timestamp);
  *cpu->mutable_usage_core_nano_seconds() = U64(*s.cpu_usage_ns);
  if (nano_cores) *cpu->mutable_usage_nano_cores() = U64(*nano_cores);
}

void FillMemory(const CgroupStats& s, runtime::v1::MemoryUsage* m) {
  const MemoryStats& mem = *s.memory;
  m->set_timestamp(s.timestamp);
  *m->mutable_working_set_bytes() = U64(mem.working_set_bytes);
  if (auto available = mem.available_bytes()) *m->mutable_available_bytes() = U64(*available);
  *m->mutable_usage_bytes() = U64(mem.usage_bytes);
  *m->mutable_rss_bytes() = U64(mem.rss_bytes);
  *m->mutable_page_faults() = U64(mem.page_faults);
  *m->mutable_major_page_faults() = U64(mem.major_page_faults);
}

// One container's stats. Returns its cgroup reading when it is running and the cgroup was read.
std::optional<CgroupStats> FillContainerStats(StatsCache& cache, const std::string& fs_mountpoint,
                                              const ContainerRecord& r,
                                              runtime::v1::ContainerStats* out) {
  auto* attrs = out->mutable_attributes();
  attrs->set_id(r.id);
  *attrs->mutable_metadata() = r.config.metadata();
  *attrs->mutable_labels() = r.config.labels();
  *attrs->mutable_annotations() = r.config.annotations();

  // The cached walk (or zeros with timestamp 0 until the first walk lands, as containerd does).
  auto layer = cache.WritableLayer(r.id);
  auto* fs = out->mutable_writable_layer();
  fs->set_timestamp(layer ? layer->timestamp : 0);
  fs->mutable_fs_id()->set_mountpoint(fs_mountpoint);
  *fs->mutable_used_bytes() = U64(layer ? layer->bytes : 0);
  *fs->mutable_inodes_used() = U64(layer ? layer->inodes : 0);

  if (r.state != ContainerState::kRunning) return std::nullopt;
  auto s = ReadSpecCgroup(cache.cgroups(), *r.runtime_spec);
  if (!s.ok()) {
    // It may have exited a moment ago; the exit handler will record it.
    spdlog::debug("stats: container {}: {}", r.id.substr(0, 13), s.status().message());
    return std::nullopt;
  }
  if (s->cpu_usage_ns) {
    FillCpu(*s, cache.NanoCores(r.id, {.timestamp = s->timestamp, .usage_ns = *s->cpu_usage_ns}),
            out->mutable_cpu());
  }
  if (s->memory) FillMemory(*s, out->mutable_memory());
  return *s;
}

void FillNetwork(const SandboxRecord& sb, int64_t timestamp, runtime::v1::NetworkUsage* net) {
  net->set_timestamp(timestamp);
  // /proc/PID/net/dev shows the network namespace of PID: the pause holds the pod's.
  if (!ProcessAlive(sb.pid, sb.pid_start_time)) return;
  auto ifaces = ReadNetDev(sb.pid);
  if (!ifaces.ok()) {
    spdlog::debug("stats: sandbox {}: {}", sb.id.substr(0, 13), ifaces.status().message());
    return;
  }
  for (const auto& [name, s] : *ifaces) {
    if (name == "lo") continue;
    runtime::v1::NetworkInterfaceUsage usage;
    usage.set_name(name);
    *usage.mutable_rx_bytes() = U64(s.rx_bytes);
    *usage.mutable_rx_errors() = U64(s.rx_errors);
    *usage.mutable_tx_bytes() = U64(s.tx_bytes);
    *usage.mutable_tx_errors() = U64(s.tx_errors);
    if (name == kDefaultInterface) *net->mutable_default_interface() = usage;
    *net->add_interfaces() = std::move(usage);
  }
}

void FillPodStats(StatsCache& cache, const std::string& fs_mountpoint, const SandboxRecord& sb,
                  const std::vector<ContainerRecord>& containers,
                  runtime::v1::PodSandboxStats* out) {
  auto* attrs = out->mutable_attributes();
  attrs->set_id(sb.id);
  *attrs->mutable_metadata() = sb.config.metadata();
  *attrs->mutable_labels() = sb.config.labels();
  *attrs->mutable_annotations() = sb.config.annotations();
  auto* linux_stats = out->mutable_linux();

  std::vector<CgroupStats> parts;  // running containers' readings, for the sum
  for (const auto& c : containers) {
    if (auto s = FillContainerStats(cache, fs_mountpoint, c, linux_stats->add_containers())) {
      parts.push_back(*s);
    }
  }

  std::optional<CgroupStats> pod;
  if (!sb.config.linux().cgroup_parent().empty()) {
    // The pod's own cgroup: the pause's parent (never the hierarchy's root).
    auto rel = CgroupRelativePath(CgroupsPathOf(*sb.runtime_spec));
    if (rel.ok() && ParentCgroup(*rel) != "/") {
      auto s = cache.cgroups().Read(ParentCgroup(*rel));
      if (s.ok()) {
        pod = *s;
      } else {
        spdlog::debug("stats: sandbox {}: {}", sb.id.substr(0, 13), s.status().message());
      }
    }
  }
  if (!pod) {
    if (auto pause = ReadSpecCgroup(cache.cgroups(), *sb.runtime_spec); pause.ok()) {
      parts.push_back(*pause);
    } else {
      spdlog::debug("stats: sandbox {} pause: {}", sb.id.substr(0, 13), pause.status().message());
    }
    pod = SumCgroupStats(parts, absl::ToUnixNanos(absl::Now()));
  }

  if (pod->cpu_usage_ns) {
    FillCpu(*pod,
            cache.NanoCores(sb.id, {.timestamp = pod->timestamp, .usage_ns = *pod->cpu_usage_ns}),
            linux_stats->mutable_cpu());
  }
  if (pod->memory) FillMemory(*pod, linux_stats->mutable_memory());
  if (!sb.netns_path.empty()) FillNetwork(sb, pod->timestamp, linux_stats->mutable_network());
  auto* process = linux_stats->mutable_process();
  process->set_timestamp(pod->timestamp);
  *process->mutable_process_count() = U64(pod->pids.value_or(0));
}

// Visible containers (not half-created) by sandbox id.
std::map<std::string, std::vector<ContainerRecord>> ContainersBySandbox(
    const ContainerManager& containers) {
  std::map<std::string, std::vector<ContainerRecord>> out;
  for (const auto& c : containers.List()) {
    ContainerRecord r = c->Snapshot();
    if (r.state == ContainerState::kCreating) continue;
    out[r.sandbox_id].push_back(std::move(r));
  }
  return out;
}

}  // namespace

grpc::Status RuntimeService::ContainerStats(Ctx*, const runtime::v1::ContainerStatsRequest* req,
                                            runtime::v1::ContainerStatsResponse* resp) {
  if (req->container_id().empty()) return Required("container_id");
  if (!stats_) return NoStats();
  auto found = VisibleContainer(*containers_, req->container_id());
  if (!found.ok()) return ToGrpc(found.status());
  const ContainerRecord& r = *found;
  if (r.state != ContainerState::kRunning) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("container \"", r.id, "\" is not running (",
                                     ContainerStateName(r.state), "): no stats"));
  }
  FillContainerStats(*stats_, config_.root + "/snapshots", r, resp->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainerStats(Ctx*,
                                                const runtime::v1::ListContainerStatsRequest* req,
                                                runtime::v1::ListContainerStatsResponse* resp) {
  if (!stats_) return NoStats();
  const auto& f = req->filter();
  for (const auto& c : containers_->List()) {
    if (!f.id().empty() && !absl::StartsWith(c->id(), f.id())) continue;
    ContainerRecord r = c->Snapshot();
    if (r.state == ContainerState::kCreating) continue;
    if (!f.pod_sandbox_id().empty() && !absl::StartsWith(r.sandbox_id, f.pod_sandbox_id())) {
      continue;
    }
    if (!LabelsMatch(f.label_selector(), r.config.labels())) continue;
    FillContainerStats(*stats_, config_.root + "/snapshots", r, resp->add_stats());
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::PodSandboxStats(Ctx*, const runtime::v1::PodSandboxStatsRequest* req,
                                             runtime::v1::PodSandboxStatsResponse* resp) {
  if (req->pod_sandbox_id().empty()) return Required("pod_sandbox_id");
  if (!stats_) return NoStats();
  auto sb = sandboxes_->Get(req->pod_sandbox_id());
  if (!sb.ok()) return ToGrpc(sb.status());
  SandboxRecord r = (*sb)->Snapshot();
  if (r.state != SandboxState::kReady) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("pod sandbox \"", r.id, "\" is not ready (",
                                     SandboxStateName(r.state), "): no stats"));
  }
  auto by_sandbox = ContainersBySandbox(*containers_);
  FillPodStats(*stats_, config_.root + "/snapshots", r, by_sandbox[r.id], resp->mutable_stats());
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandboxStats(Ctx*,
                                                 const runtime::v1::ListPodSandboxStatsRequest* req,
                                                 runtime::v1::ListPodSandboxStatsResponse* resp) {
  if (!stats_) return NoStats();
  const auto& f = req->filter();
  auto by_sandbox = ContainersBySandbox(*containers_);
  for (const auto& sb : sandboxes_->List()) {
    if (!f.id().empty() && !absl::StartsWith(sb->id(), f.id())) continue;
    SandboxRecord r = sb->Snapshot();
    if (r.state != SandboxState::kReady) continue;  // no stats for a stopped pod
    if (!LabelsMatch(f.label_selector(), r.config.labels())) continue;
    FillPodStats(*stats_, config_.root + "/snapshots", r, by_sandbox[r.id], resp->add_stats());
  }
  return grpc::Status::OK;
}

}  // namespace tether
