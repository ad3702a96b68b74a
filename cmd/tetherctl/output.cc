#include "tetherctl/output.h"

#include <google/protobuf/util/json_util.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

// Number of UTF-8 code points (continuation bytes are not counted).
size_t Utf8Width(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

const std::vector<std::string>& OutputFormats() {
  static const std::vector<std::string> formats = {
      std::string(kOutputJson), std::string(kOutputYaml), std::string(kOutputTable)};
  return formats;
}

std::string TruncateId(absl::string_view id, absl::string_view prefix, size_t length) {
  absl::ConsumePrefix(&id, prefix);
  return std::string(id.substr(0, length));
}

std::string HumanDuration(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return absl::StrCat(seconds, " seconds");
  const int64_t minutes = absl::ToInt64Minutes(d);
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return absl::StrCat(minutes, " minutes");
  // Hours are rounded (half up), as docker/go-units does.
  const int64_t hours = static_cast<int64_t>(absl::ToDoubleHours(d) + 0.5);
  if (hours == 1) return "About an hour";
  if (hours < 48) return absl::StrCat(hours, " hours");
  if (hours < 24 * 7 * 2) return absl::StrCat(hours / 24, " days");
  if (hours < 24 * 30 * 2) return absl::StrCat(hours / 24 / 7, " weeks");
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24 / 30, " months");
  return absl::StrCat(absl::ToInt64Hours(d) / 24 / 365, " years");
}

std::string CreatedAgo(int64_t created_at_ns, absl::Time now) {
  return HumanDuration(now - absl::FromUnixNanos(created_at_ns)) + " ago";
}

std::string FormatRfc3339Nano(int64_t ns, absl::TimeZone tz) {
  const absl::Time t = absl::FromUnixNanos(ns);
  const absl::TimeZone::CivilInfo info = tz.At(t);
  if (info.offset == 0) return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, tz);
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*S%Ez", t, tz);
}

std::string FormatGoTime(int64_t ns, absl::TimeZone tz) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E*S %z %Z", absl::FromUnixNanos(ns), tz);
}

std::string PodStateName(runtime::v1::PodSandboxState state) {
  switch (state) {
    case runtime::v1::SANDBOX_READY:
      return "Ready";
    case runtime::v1::SANDBOX_NOTREADY:
      return "NotReady";
    default:
      return absl::StrCat("Unknown(", static_cast<int>(state), ")");
  }
}

std::string RuntimeHandlerName(absl::string_view handler) {
  return handler.empty() ? "(default)" : std::string(handler);
}

std::string GoMapString(const std::map<std::string, std::string>& m) {
  return absl::StrCat("map[",
                      absl::StrJoin(m, " ",
                                    [](std::string* out, const auto& kv) {
                                      absl::StrAppend(out, kv.first, ":", kv.second);
                                    }),
                      "]");
}

std::string GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return absl::StrCat("Code(", static_cast<int>(code), ")");
  }
}

std::string RpcErrorText(const grpc::Status& status) {
  return absl::StrCat("rpc error: code = ", GrpcCodeName(status.error_code()),
                      " desc = ", status.error_message());
}

absl::Status RpcError(absl::string_view what, const grpc::Status& status) {
  // grpc::StatusCode and absl::StatusCode share their numbering (both are the canonical codes).
  const auto code =
      status.ok() ? absl::StatusCode::kUnknown : static_cast<absl::StatusCode>(status.error_code());
  return absl::Status(code, absl::StrCat(what, ": ", RpcErrorText(status)));
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> labels;
  for (const std::string& pair : pairs) {
    std::vector<std::string> kv = absl::StrSplit(pair, '=');
    if (kv.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("incorrectly specified label: ", pair));
    }
    labels[kv[0]] = kv[1];
  }
  return labels;
}

absl::StatusOr<runtime::v1::PodSandboxState> ParsePodState(absl::string_view state) {
  const std::string lower = absl::AsciiStrToLower(state);
  if (lower == "ready") return runtime::v1::SANDBOX_READY;
  if (lower == "notready") return runtime::v1::SANDBOX_NOTREADY;
  return absl::InvalidArgumentError("--state should be ready or notready");
}

bool MatchesRegex(absl::string_view pattern, absl::string_view target) {
  if (pattern.empty()) return true;
  RE2 re(re2::StringPiece(pattern.data(), pattern.size()), RE2::Quiet);
  if (!re.ok()) return false;
  return RE2::PartialMatch(re2::StringPiece(target.data(), target.size()), re);
}

std::vector<runtime::v1::PodSandbox> FilterPods(std::vector<runtime::v1::PodSandbox> pods,
                                                const PodListFilter& filter) {
  std::vector<runtime::v1::PodSandbox> out;
  for (auto& pod : pods) {
    if (!pod.has_metadata()) continue;
    if (!MatchesRegex(filter.name_regex, pod.metadata().name())) continue;
    if (!MatchesRegex(filter.namespace_regex, pod.metadata().namespace_())) continue;
    out.push_back(std::move(pod));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.created_at() > b.created_at(); });
  size_t n = out.size();
  if (filter.latest) n = 1;
  if (filter.last > 0) n = static_cast<size_t>(filter.last);
  if (n < out.size()) out.resize(n);
  return out;
}

void Table::AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

std::string Table::Render() const {
  constexpr size_t kMinWidth = 20;
  constexpr size_t kPadding = 3;
  // Column j has a width when some row has a cell after it (the last cell of a row is free).
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    for (size_t j = 0; j + 1 < row.size(); ++j) {
      if (widths.size() <= j) widths.resize(j + 1, kMinWidth);
      widths[j] = std::max(widths[j], Utf8Width(row[j]) + kPadding);
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    for (size_t j = 0; j < row.size(); ++j) {
      out += row[j];
      if (j + 1 < row.size()) out.append(widths[j] - Utf8Width(row[j]), ' ');
    }
    out += '\n';
  }
  return out;
}

absl::StatusOr<nlohmann::ordered_json> ProtoToJsonValue(const google::protobuf::Message& msg,
                                                        ProtoJsonOptions options) {
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = options.emit_defaults;
  print.preserve_proto_field_names = options.proto_names;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(msg, &text, print);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("marshal ", msg.GetTypeName(), " to JSON: ", std::string(status.message())));
  }
  nlohmann::ordered_json value = nlohmann::ordered_json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    return absl::InternalError(
        absl::StrCat("protobuf produced invalid JSON for ", msg.GetTypeName()));
  }
  return value;
}

absl::StatusOr<std::string> ProtoToJson(const google::protobuf::Message& msg,
                                        ProtoJsonOptions options) {
  auto value = ProtoToJsonValue(msg, options);
  if (!value.ok()) return value.status();
  return value->dump(2);
}

absl::StatusOr<nlohmann::json> StatusEntry(const nlohmann::json& status,
                                           const nlohmann::json& runtime_handlers,
                                           const std::map<std::string, std::string>& info) {
  json entry = json::object();
  if (!status.is_null()) entry["status"] = status;
  if (!runtime_handlers.is_null()) entry["runtimeHandlers"] = runtime_handlers;
  for (const auto& [key, value] : info) {
    if (absl::StartsWith(value, "{")) {
      json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat("unmarshal status info JSON: info key \"",
                                                       key, "\" is not a JSON object"));
      }
      entry[key] = std::move(parsed);
    } else {
      // Go's strings.Trim(value, `"`): every leading and trailing quote goes.
      const size_t begin = value.find_first_not_of('"');
      entry[key] = begin == std::string::npos
                       ? std::string()
                       : value.substr(begin, value.find_last_not_of('"') - begin + 1);
    }
  }
  return entry;
}

absl::StatusOr<std::string> RenderStatusEntries(const std::vector<nlohmann::json>& entries,
                                                absl::string_view format) {
  if (entries.empty()) return std::string();
  const json result = entries.size() == 1 ? entries.front() : json(entries);
  if (format == kOutputJson) return result.dump(2) + "\n";
  // crictl prints the YAML document with Println, hence the blank line after it.
  if (format == kOutputYaml) return JsonToYaml(result) + "\n";
  return absl::InvalidArgumentError(absl::StrCat("unsupported format: \"", format, "\""));
}

absl::StatusOr<nlohmann::json> PodSandboxStatusJson(const runtime::v1::PodSandboxStatus& status,
                                                    absl::TimeZone tz) {
  auto ordered = ProtoToJsonValue(status);
  if (!ordered.ok()) return ordered.status();
  json value = json::parse(ordered->dump());
  // crictl lists every field of the status, unset messages as null.
  const google::protobuf::Descriptor* d = status.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->json_name();
    if (!value.contains(name)) value[name] = nullptr;
  }
  value["createdAt"] = FormatRfc3339Nano(status.created_at(), tz);
  return value;
}

std::string PodSandboxStatusTable(const runtime::v1::PodSandboxStatusResponse& response,
                                  bool verbose, absl::TimeZone tz) {
  const runtime::v1::PodSandboxStatus& s = response.status();
  std::string out = absl::StrCat("ID: ", s.id(), "\n");
  if (s.has_metadata()) {
    const auto& m = s.metadata();
    if (!m.name().empty()) absl::StrAppend(&out, "Name: ", m.name(), "\n");
    if (!m.uid().empty()) absl::StrAppend(&out, "UID: ", m.uid(), "\n");
    if (!m.namespace_().empty()) absl::StrAppend(&out, "Namespace: ", m.namespace_(), "\n");
    absl::StrAppend(&out, "Attempt: ", m.attempt(), "\n");
  }
  absl::StrAppend(&out, "Status: ", runtime::v1::PodSandboxState_Name(s.state()), "\n");
  absl::StrAppend(&out, "Created: ", FormatGoTime(s.created_at(), tz), "\n");
  if (s.has_network()) {
    absl::StrAppend(&out, "IP Addresses: ", s.network().ip(), "\n");
    for (const auto& ip : s.network().additional_ips()) {
      absl::StrAppend(&out, "Additional IP: ", ip.ip(), "\n");
    }
  }
  auto append_map = [&out](absl::string_view title, const auto& proto_map) {
    if (proto_map.empty()) return;
    absl::StrAppend(&out, title, ":\n");
    const std::map<std::string, std::string> sorted(proto_map.begin(), proto_map.end());
    for (const auto& [k, v] : sorted) absl::StrAppend(&out, "\t", k, " -> ", v, "\n");
  };
  append_map("Labels", s.labels());
  append_map("Annotations", s.annotations());
  if (verbose) {
    absl::StrAppend(&out, "Info: ",
                    GoMapString(std::map<std::string, std::string>(response.info().begin(),
                                                                   response.info().end())),
                    "\n");
  }
  return out;
}

std::string PodsTable(const std::vector<runtime::v1::PodSandbox>& pods,
                      const PodsTableOptions& options, absl::Time now, absl::TimeZone tz) {
  std::string out;
  Table table;
  if (!options.verbose && !options.quiet) {
    table.AddRow({"POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"});
  }
  for (const auto& pod : pods) {
    if (options.quiet) {
      absl::StrAppend(&out, pod.id(), "\n");
      continue;
    }
    const auto& m = pod.metadata();
    if (!options.verbose) {
      table.AddRow({options.no_trunc ? pod.id() : TruncateId(pod.id()),
                    CreatedAgo(pod.created_at(), now), PodStateName(pod.state()), m.name(),
                    m.namespace_(), absl::StrCat(m.attempt()),
                    RuntimeHandlerName(pod.runtime_handler())});
      continue;
    }
    absl::StrAppend(&out, "ID: ", pod.id(), "\n");
    if (pod.has_metadata()) {
      if (!m.name().empty()) absl::StrAppend(&out, "Name: ", m.name(), "\n");
      if (!m.uid().empty()) absl::StrAppend(&out, "UID: ", m.uid(), "\n");
      if (!m.namespace_().empty()) absl::StrAppend(&out, "Namespace: ", m.namespace_(), "\n");
      if (m.attempt() != 0) absl::StrAppend(&out, "Attempt: ", m.attempt(), "\n");
    }
    absl::StrAppend(&out, "Status: ", PodStateName(pod.state()), "\n");
    absl::StrAppend(&out, "Created: ", FormatGoTime(pod.created_at(), tz), "\n");
    auto append_map = [&out](absl::string_view title, const auto& proto_map) {
      if (proto_map.empty()) return;
      absl::StrAppend(&out, title, ":\n");
      const std::map<std::string, std::string> sorted(proto_map.begin(), proto_map.end());
      for (const auto& [k, v] : sorted) absl::StrAppend(&out, "\t", k, " -> ", v, "\n");
    };
    append_map("Labels", pod.labels());
    append_map("Annotations", pod.annotations());
    absl::StrAppend(&out, "Runtime: ", RuntimeHandlerName(pod.runtime_handler()), "\n\n");
  }
  return out + table.Render();
}

}  // namespace tether::ctl
