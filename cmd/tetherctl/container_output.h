// tetherctl output for containers: list filters, the ps table, inspect, stats tables. Pure
// functions, laid out as crictl v1.32 prints them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"

namespace tether::ctl {

// Labels the kubelet puts on every container.
inline constexpr absl::string_view kPodNameLabel = "io.kubernetes.pod.name";
inline constexpr absl::string_view kPodNamespaceLabel = "io.kubernetes.pod.namespace";

// "Created" / "Running" / "Exited" / "Unknown".
std::string ContainerStateName(runtime::v1::ContainerState state);

// `--state`: created, running, exited or unknown (any case).
absl::StatusOr<runtime::v1::ContainerState> ParseContainerState(absl::string_view state);

// The flags that select containers (ps, inspect).
struct ContainerListOptions {
  std::string id;
  std::string pod_id;
  std::string state;
  std::vector<std::string> labels;  // key=value
  bool all = false;
  std::string name_regex;
  std::string namespace_regex;
  bool latest = false;
  int last = 0;
};

// The ListContainers filter crictl sends: id and pod id as given; the state asked for, or
// RUNNING unless --all; no state at all with --latest / --last; the label selector.
absl::StatusOr<runtime::v1::ContainerFilter> BuildContainerFilter(
    const ContainerListOptions& options);

// The pod a container belongs to, for the POD and NAMESPACE columns.
struct PodRef {
  std::string name;
  std::string namespace_;
};
using PodRefs = std::map<std::string, PodRef>;  // by pod sandbox id

// A container's pod name / namespace: the kubelet's labels, else the pod's metadata from
// `pods` (containers made by tetherctl or crictl have no such labels), else "unknown".
std::string PodNameOf(const runtime::v1::Container& container, const PodRefs& pods);
std::string PodNamespaceOf(const runtime::v1::Container& container, const PodRefs& pods);

// True when some container lacks the kubelet's pod labels (then the pods are worth listing).
bool NeedsPodRefs(const std::vector<runtime::v1::Container>& containers);

// Client-side narrowing as crictl does it: name and pod-namespace regular expressions, newest
// first, then --latest (1) or --last N. Containers without metadata are dropped.
std::vector<runtime::v1::Container> FilterContainers(std::vector<runtime::v1::Container> containers,
                                                     const ContainerListOptions& options,
                                                     const PodRefs& pods);

// The IMAGE column: the image as given, an image id ("sha256:<hex>") cut to 13 hex digits
// unless `no_trunc`.
std::string ContainerImageColumn(absl::string_view image, bool no_trunc);

struct PsTableOptions {
  bool quiet = false;
  bool verbose = false;
  bool no_trunc = false;
};
// `ps`: CONTAINER, IMAGE, CREATED, STATE, NAME, ATTEMPT, POD ID, POD, NAMESPACE. `images`
// overrides the IMAGE column per container id (--resolve-image-path).
std::string ContainersTable(const std::vector<runtime::v1::Container>& containers,
                            const PsTableOptions& options, absl::Time now, const PodRefs& pods,
                            const std::map<std::string, std::string>& images = {});

// A ContainerStatus as crictl's inspect shows it: protobuf JSON (camelCase, defaults shown),
// every top-level field present (unset messages as null), createdAt / startedAt / finishedAt
// as RFC 3339 (Go's zero time for a container not started / not finished).
absl::StatusOr<nlohmann::json> ContainerStatusJson(const runtime::v1::ContainerStatus& status,
                                                   absl::TimeZone tz);

// `inspect -o table`.
std::string ContainerStatusTable(const runtime::v1::ContainerStatusResponse& response, bool verbose,
                                 absl::Time now);

// `stats` table from two samples taken --seconds apart: CONTAINER, NAME, CPU %, MEM, DISK,
// INODES, SWAP. Containers without CPU and memory use are left out unless `all`; so are
// containers missing from the first sample. Both lists sorted by id.
absl::StatusOr<std::string> ContainerStatsTable(
    const runtime::v1::ListContainerStatsResponse& first,
    const runtime::v1::ListContainerStatsResponse& second, bool all);

// `statsp` table: POD, POD ID, CPU %, MEM.
absl::StatusOr<std::string> PodStatsTable(const runtime::v1::ListPodSandboxStatsResponse& first,
                                          const runtime::v1::ListPodSandboxStatsResponse& second);

}  // namespace tether::ctl
