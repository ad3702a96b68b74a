// tetherctl output: crictl-compatible tables, durations, ids, JSON and YAML renderings.
// Everything here is a pure function of its arguments (no I/O, no clock), so it is unit-tested.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace tether::ctl {

// Output formats accepted by `-o`.
inline constexpr absl::string_view kOutputTable = "table";
inline constexpr absl::string_view kOutputJson = "json";
inline constexpr absl::string_view kOutputYaml = "yaml";
// The three above, for CLI::IsMember.
const std::vector<std::string>& OutputFormats();

// Length of a truncated id in tables (crictl: 13).
inline constexpr size_t kTruncatedIdLength = 13;

// Strips `prefix` (e.g. "sha256:") when present, then keeps the first `length` characters.
std::string TruncateId(absl::string_view id, absl::string_view prefix = "",
                       size_t length = kTruncatedIdLength);

// A duration in words as docker/crictl print it: "Less than a second", "1 second", "5 seconds",
// "About a minute", "3 minutes", "About an hour", "5 hours", "3 days", "2 weeks", "4 months",
// "2 years". Negative durations (clock skew) count as "Less than a second".
std::string HumanDuration(absl::Duration d);

// "<HumanDuration(now - created)> ago" for a CRI timestamp in nanoseconds since the epoch.
std::string CreatedAgo(int64_t created_at_ns, absl::Time now);

// RFC 3339 with nanoseconds, trailing zeros of the fraction dropped, "Z" for UTC (Go's
// time.RFC3339Nano), e.g. "2024-05-01T10:00:00.5Z" or "2024-05-01T12:00:00+02:00".
std::string FormatRfc3339Nano(int64_t ns, absl::TimeZone tz);

// Go's time.Time.String(): "2024-05-01 10:00:00.5 +0000 UTC".
std::string FormatGoTime(int64_t ns, absl::TimeZone tz);

// "Ready" / "NotReady" (crictl's pods table).
std::string PodStateName(runtime::v1::PodSandboxState state);

// The RUNTIME column: the handler, or "(default)" when empty.
std::string RuntimeHandlerName(absl::string_view handler);

// Go's fmt of a map[string]string: "map[a:1 b:2]" (keys sorted).
std::string GoMapString(const std::map<std::string, std::string>& m);

// Go gRPC's error text, which scripts grep for: "rpc error: code = NotFound desc = no such pod".
std::string GrpcCodeName(grpc::StatusCode code);
std::string RpcErrorText(const grpc::Status& status);
// `what: rpc error: ...` with the status code carried over.
absl::Status RpcError(absl::string_view what, const grpc::Status& status);

// `key=value` strings to a map; anything else (no '=' or more than one) is INVALID_ARGUMENT.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& pairs);

// Parses `--state` for pods: "ready" / "notready" (any case).
absl::StatusOr<runtime::v1::PodSandboxState> ParsePodState(absl::string_view state);

// An empty pattern matches everything; otherwise an unanchored RE2 (Go regexp) search.
// An invalid pattern matches nothing, as in crictl.
bool MatchesRegex(absl::string_view pattern, absl::string_view target);

// Client-side narrowing of ListPodSandbox results, as crictl does it: name and namespace regular
// expressions, newest first, then --latest (1) or --last N (N > 0).
struct PodListFilter {
  std::string name_regex;
  std::string namespace_regex;
  bool latest = false;
  int last = 0;
};
std::vector<runtime::v1::PodSandbox> FilterPods(std::vector<runtime::v1::PodSandbox> pods,
                                                const PodListFilter& filter);

// A text table laid out like Go's text/tabwriter as crictl configures it (minimum cell width
// 20, padding 3, blanks): every column but the last is padded to max(widest cell + 3, 20);
// the last column is not padded. Widths count UTF-8 code points.
class Table {
 public:
  void AddRow(std::vector<std::string> row);
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Protobuf JSON like crictl's protojson rendering.
struct ProtoJsonOptions {
  // Print scalar fields, repeated fields and maps even when they hold the default value.
  bool emit_defaults = true;
  // snake_case proto names instead of lowerCamelCase JSON names.
  bool proto_names = false;
};
// The message as a JSON value with its fields in declaration order.
absl::StatusOr<nlohmann::ordered_json> ProtoToJsonValue(const google::protobuf::Message& msg,
                                                        ProtoJsonOptions options = {});
// Two-space indented text of ProtoToJsonValue, no trailing newline.
absl::StatusOr<std::string> ProtoToJson(const google::protobuf::Message& msg,
                                        ProtoJsonOptions options = {});

// JSON to block-style YAML as sigs.k8s.io/yaml's JSONToYAML writes it: keys sorted, sequences
// not indented under their key, strings quoted only where a plain scalar would change meaning.
// Ends with a newline (empty document: "{}\n" / "[]\n" / "null\n").
std::string JsonToYaml(const nlohmann::json& value);

// One `inspect`/`info` entry the way crictl assembles it: {"status": status,
// "runtimeHandlers": handlers, <info key>: <value>...} where an info value starting with '{' is
// parsed as a JSON object and any other value is kept as a string with surrounding quotes
// removed. A null `status`/`runtime_handlers` is left out.
absl::StatusOr<nlohmann::json> StatusEntry(const nlohmann::json& status,
                                           const nlohmann::json& runtime_handlers,
                                           const std::map<std::string, std::string>& info);

// Renders `entries` as crictl does: a single entry as an object, several as an array; "json"
// (two-space indent) or "yaml" (followed by a blank line, as crictl prints it). Empty input
// renders as "".
absl::StatusOr<std::string> RenderStatusEntries(const std::vector<nlohmann::json>& entries,
                                                absl::string_view format);

// A PodSandboxStatus as crictl's inspectp shows it: protobuf JSON (camelCase, defaults shown),
// every top-level field present (unset messages as null) and createdAt as RFC 3339.
absl::StatusOr<nlohmann::json> PodSandboxStatusJson(const runtime::v1::PodSandboxStatus& status,
                                                    absl::TimeZone tz);

// `inspectp -o table`.
std::string PodSandboxStatusTable(const runtime::v1::PodSandboxStatusResponse& response,
                                  bool verbose, absl::TimeZone tz);

// `pods` (table and -v forms, -q ids); `now` drives the CREATED column.
struct PodsTableOptions {
  bool quiet = false;
  bool verbose = false;
  bool no_trunc = false;
};
std::string PodsTable(const std::vector<runtime::v1::PodSandbox>& pods,
                      const PodsTableOptions& options, absl::Time now, absl::TimeZone tz);

}  // namespace tether::ctl
