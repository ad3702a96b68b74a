#include "tetherctl/container_output.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tetherctl/image_output.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

constexpr char kUnknown[] = "unknown";

std::string LabelOr(const runtime::v1::Container& container, absl::string_view label,
                    const PodRefs& pods, std::string PodRef::*field) {
  if (auto it = container.labels().find(std::string(label)); it != container.labels().end()) {
    return it->second;
  }
  if (auto it = pods.find(container.pod_sandbox_id()); it != pods.end()) {
    return it->second.*field;
  }
  return kUnknown;
}

// go-digest's Parse: a supported algorithm and its lowercase hex encoding of the right length.
bool IsDigest(absl::string_view s) {
  const size_t colon = s.find(':');
  if (colon == absl::string_view::npos) return false;
  const absl::string_view algorithm = s.substr(0, colon), hex = s.substr(colon + 1);
  size_t length = 0;
  if (algorithm == "sha256") {
    length = 64;
  } else if (algorithm == "sha384") {
    length = 96;
  } else if (algorithm == "sha512") {
    length = 128;
  } else {
    return false;
  }
  return hex.size() == length && std::all_of(hex.begin(), hex.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

void AppendSortedMap(std::string* out, absl::string_view title,
                     const google::protobuf::Map<std::string, std::string>& proto_map) {
  if (proto_map.empty()) return;
  absl::StrAppend(out, title, ":\n");
  const std::map<std::string, std::string> sorted(proto_map.begin(), proto_map.end());
  for (const auto& [k, v] : sorted) absl::StrAppend(out, "\t", k, " -> ", v, "\n");
}

}  // namespace

std::string ContainerStateName(runtime::v1::ContainerState state) {
  switch (state) {
    case runtime::v1::CONTAINER_CREATED:
      return "Created";
    case runtime::v1::CONTAINER_RUNNING:
      return "Running";
    case runtime::v1::CONTAINER_EXITED:
      return "Exited";
    case runtime::v1::CONTAINER_UNKNOWN:
      return "Unknown";
    default:
      return absl::StrCat("Unknown(", static_cast<int>(state), ")");
  }
}

absl::StatusOr<runtime::v1::ContainerState> ParseContainerState(absl::string_view state) {
  const std::string lower = absl::AsciiStrToLower(state);
  if (lower == "created") return runtime::v1::CONTAINER_CREATED;
  if (lower == "running") return runtime::v1::CONTAINER_RUNNING;
  if (lower == "exited") return runtime::v1::CONTAINER_EXITED;
  if (lower == "unknown") return runtime::v1::CONTAINER_UNKNOWN;
  return absl::InvalidArgumentError("--state should be one of created, running, exited or unknown");
}

absl::StatusOr<runtime::v1::ContainerFilter> BuildContainerFilter(
    const ContainerListOptions& options) {
  runtime::v1::ContainerFilter filter;
  filter.set_id(options.id);
  filter.set_pod_sandbox_id(options.pod_id);
  if (!options.state.empty()) {
    auto state = ParseContainerState(options.state);
    if (!state.ok()) return state.status();
    filter.mutable_state()->set_state(*state);
  } else if (!options.all) {
    filter.mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
  }
  // --latest / --last look at containers in every state.
  if (options.latest || options.last > 0) filter.clear_state();
  auto labels = ParseLabels(options.labels);
  if (!labels.ok()) return labels.status();
  filter.mutable_label_selector()->insert(labels->begin(), labels->end());
  return filter;
}

std::string PodNameOf(const runtime::v1::Container& container, const PodRefs& pods) {
  return LabelOr(container, kPodNameLabel, pods, &PodRef::name);
}

std::string PodNamespaceOf(const runtime::v1::Container& container, const PodRefs& pods) {
  return LabelOr(container, kPodNamespaceLabel, pods, &PodRef::namespace_);
}

bool NeedsPodRefs(const std::vector<runtime::v1::Container>& containers) {
  return std::any_of(containers.begin(), containers.end(), [](const auto& c) {
    return !c.labels().contains(std::string(kPodNameLabel)) ||
           !c.labels().contains(std::string(kPodNamespaceLabel));
  });
}

std::vector<runtime::v1::Container> FilterContainers(std::vector<runtime::v1::Container> containers,
                                                     const ContainerListOptions& options,
                                                     const PodRefs& pods) {
  std::vector<runtime::v1::Container> out;
  for (auto& c : containers) {
    if (!c.has_metadata()) continue;
    if (!MatchesRegex(options.name_regex, c.metadata().name())) continue;
    if (!MatchesRegex(options.namespace_regex, PodNamespaceOf(c, pods))) continue;
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.created_at() > b.created_at(); });
  size_t n = out.size();
  if (options.latest) n = 1;
  if (options.last > 0) n = static_cast<size_t>(options.last);
  if (n < out.size()) out.resize(n);
  return out;
}

std::string ContainerImageColumn(absl::string_view image, bool no_trunc) {
  if (!no_trunc && IsDigest(image)) return TruncateId(image.substr(image.find(':') + 1));
  return std::string(image);
}

std::string ContainersTable(const std::vector<runtime::v1::Container>& containers,
                            const PsTableOptions& options, absl::Time now, const PodRefs& pods,
                            const std::map<std::string, std::string>& images) {
  std::string out;
  Table table;
  if (!options.verbose && !options.quiet) {
    table.AddRow({"CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                  "NAMESPACE"});
  }
  for (const auto& c : containers) {
    if (options.quiet) {
      absl::StrAppend(&out, c.id(), "\n");
      continue;
    }
    const std::string created = CreatedAgo(c.created_at(), now);
    const std::string pod_namespace = PodNamespaceOf(c, pods);
    if (!options.verbose) {
      std::string image;
      if (auto it = images.find(c.id()); it != images.end()) {
        image = it->second;
      } else {
        image = ContainerImageColumn(c.image().image(), options.no_trunc);
      }
      table.AddRow({options.no_trunc ? c.id() : TruncateId(c.id()), image, created,
                    ContainerStateName(c.state()), c.metadata().name(),
                    absl::StrCat(c.metadata().attempt()),
                    options.no_trunc ? c.pod_sandbox_id() : TruncateId(c.pod_sandbox_id()),
                    PodNameOf(c, pods), pod_namespace});
      continue;
    }
    absl::StrAppend(&out, "ID: ", c.id(), "\n");
    absl::StrAppend(&out, "PodID: ", c.pod_sandbox_id(), "\n");
    absl::StrAppend(&out, "Namespace: ", pod_namespace, "\n");
    if (c.has_metadata()) {
      if (!c.metadata().name().empty()) absl::StrAppend(&out, "Name: ", c.metadata().name(), "\n");
      absl::StrAppend(&out, "Attempt: ", c.metadata().attempt(), "\n");
    }
    absl::StrAppend(&out, "State: ", ContainerStateName(c.state()), "\n");
    if (c.has_image()) absl::StrAppend(&out, "Image: ", c.image().image(), "\n");
    absl::StrAppend(&out, "Created: ", created, "\n");
    AppendSortedMap(&out, "Labels", c.labels());
    AppendSortedMap(&out, "Annotations", c.annotations());
    out += "\n";
  }
  return out + table.Render();
}

absl::StatusOr<nlohmann::json> ContainerStatusJson(const runtime::v1::ContainerStatus& status,
                                                   absl::TimeZone tz) {
  auto ordered = ProtoToJsonValue(status);
  if (!ordered.ok()) return ordered.status();
  json value = json::parse(ordered->dump());
  const google::protobuf::Descriptor* d = status.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->json_name();
    if (!value.contains(name)) value[name] = nullptr;
  }
  // Go's zero time.Time, which crictl prints for a time the container has not reached.
  constexpr char kZeroTime[] = "0001-01-01T00:00:00Z";
  const auto state = status.state();
  value["createdAt"] = FormatRfc3339Nano(status.created_at(), tz);
  value["startedAt"] = state != runtime::v1::CONTAINER_CREATED
                           ? FormatRfc3339Nano(status.started_at(), tz)
                           : kZeroTime;
  value["finishedAt"] =
      state == runtime::v1::CONTAINER_EXITED ||
              (state == runtime::v1::CONTAINER_UNKNOWN && status.finished_at() > 0)
          ? FormatRfc3339Nano(status.finished_at(), tz)
          : kZeroTime;
  return value;
}

std::string ContainerStatusTable(const runtime::v1::ContainerStatusResponse& response, bool verbose,
                                 absl::Time now) {
  const runtime::v1::ContainerStatus& s = response.status();
  std::string out = absl::StrCat("ID: ", s.id(), "\n");
  if (s.has_metadata()) {
    if (!s.metadata().name().empty()) absl::StrAppend(&out, "Name: ", s.metadata().name(), "\n");
    if (s.metadata().attempt() != 0) {
      absl::StrAppend(&out, "Attempt: ", s.metadata().attempt(), "\n");
    }
  }
  absl::StrAppend(&out, "State: ", runtime::v1::ContainerState_Name(s.state()), "\n");
  absl::StrAppend(&out, "Created: ", CreatedAgo(s.created_at(), now), "\n");
  if (s.state() != runtime::v1::CONTAINER_CREATED) {
    absl::StrAppend(&out, "Started: ", CreatedAgo(s.started_at(), now), "\n");
  }
  if (s.state() == runtime::v1::CONTAINER_EXITED) {
    if (s.finished_at() > 0) {
      absl::StrAppend(&out, "Finished: ", CreatedAgo(s.finished_at(), now), "\n");
    }
    absl::StrAppend(&out, "Exit Code: ", s.exit_code(), "\n");
  }
  AppendSortedMap(&out, "Labels", s.labels());
  AppendSortedMap(&out, "Annotations", s.annotations());
  if (verbose) {
    absl::StrAppend(&out, "Info: ",
                    GoMapString(std::map<std::string, std::string>(response.info().begin(),
                                                                   response.info().end())),
                    "\n");
  }
  return out;
}

absl::StatusOr<std::string> ContainerStatsTable(
    const runtime::v1::ListContainerStatsResponse& first,
    const runtime::v1::ListContainerStatsResponse& second, bool all) {
  std::map<std::string, const runtime::v1::ContainerStats*> old;
  for (const auto& s : first.stats()) old[s.attributes().id()] = &s;
  Table table;
  table.AddRow({"CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES", "SWAP"});
  for (const auto& s : second.stats()) {
    const uint64_t cpu = s.cpu().usage_core_nano_seconds().value();
    const uint64_t mem = s.memory().working_set_bytes().value();
    if (!all && cpu == 0 && mem == 0) continue;  // not running
    auto it = old.find(s.attributes().id());
    if (it == old.end()) continue;  // new since the first sample
    double cpu_percent = 0;
    if (cpu != 0) {
      const int64_t duration = s.cpu().timestamp() - it->second->cpu().timestamp();
      if (duration == 0) return absl::InternalError("cpu stat is not updated during sample");
      cpu_percent = static_cast<double>(cpu - it->second->cpu().usage_core_nano_seconds().value()) /
                    static_cast<double>(duration) * 100;
    }
    table.AddRow({TruncateId(s.attributes().id()), s.attributes().metadata().name(),
                  absl::StrFormat("%.2f", cpu_percent), HumanSize(static_cast<double>(mem)),
                  HumanSize(static_cast<double>(s.writable_layer().used_bytes().value())),
                  absl::StrCat(s.writable_layer().inodes_used().value()),
                  HumanSize(static_cast<double>(s.swap().swap_usage_bytes().value()))});
  }
  return table.Render();
}

absl::StatusOr<std::string> PodStatsTable(const runtime::v1::ListPodSandboxStatsResponse& first,
                                          const runtime::v1::ListPodSandboxStatsResponse& second) {
  std::map<std::string, const runtime::v1::PodSandboxStats*> old;
  for (const auto& s : first.stats()) old[s.attributes().id()] = &s;
  Table table;
  table.AddRow({"POD", "POD ID", "CPU %", "MEM"});
  for (const auto& s : second.stats()) {
    const std::string id = TruncateId(s.attributes().id());
    if (s.has_linux() && s.has_windows()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod \"", id, "\" has both linux and windows stats which is not supported"));
    }
    const uint64_t cpu = s.linux().cpu().usage_core_nano_seconds().value();
    const uint64_t mem = s.linux().memory().working_set_bytes().value();
    if (cpu == 0 && mem == 0) continue;  // no data
    auto it = old.find(s.attributes().id());
    if (it == old.end()) continue;
    double cpu_percent = 0;
    if (cpu != 0) {
      const int64_t duration = s.linux().cpu().timestamp() - it->second->linux().cpu().timestamp();
      if (duration == 0) return absl::InternalError("cpu stat is not updated during sample");
      cpu_percent =
          static_cast<double>(cpu - it->second->linux().cpu().usage_core_nano_seconds().value()) /
          static_cast<double>(duration) * 100;
    }
    table.AddRow({s.attributes().metadata().name(), id, absl::StrFormat("%.2f", cpu_percent),
                  HumanSize(static_cast<double>(mem))});
  }
  return table.Render();
}

}  // namespace tether::ctl
