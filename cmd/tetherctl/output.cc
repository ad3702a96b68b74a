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

// ---------------------------------------------------------------------------------------------
// YAML rendering, following go-yaml v2 (what sigs.k8s.io/yaml uses) closely enough that the
// output reads the same; long lines are not folded.
namespace {

bool IsLetter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;  // approximate Unicode
}
bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }

std::u32string ToRunes(absl::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    char32_t r = c;
    size_t n = 1;
    if (c >= 0xF0) {
      r = c & 0x07;
      n = 4;
    } else if (c >= 0xE0) {
      r = c & 0x0F;
      n = 3;
    } else if (c >= 0xC0) {
      r = c & 0x1F;
      n = 2;
    }
    if (i + n > s.size()) n = s.size() - i;
    for (size_t k = 1; k < n; ++k) r = (r << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(r);
    i += n;
  }
  return out;
}

// go-yaml's key order: runs of digits compare as numbers, non-letters sort before letters.
bool YamlKeyLess(const std::string& a_str, const std::string& b_str) {
  const std::u32string a = ToRunes(a_str), b = ToRunes(b_str);
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i]) continue;
    const bool al = IsLetter(a[i]), bl = IsLetter(b[i]);
    if (al && bl) return a[i] < b[i];
    if (al || bl) return bl;
    int64_t an = 0, bn = 0;
    if (a[i] == '0' || b[i] == '0') {
      for (size_t j = i; j-- > 0 && IsDigit(a[j]);) {
        if (a[j] != '0') {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    size_t ai = i, bi = i;
    for (; ai < a.size() && IsDigit(a[ai]); ++ai) an = an * 10 + (a[ai] - '0');
    for (; bi < b.size() && IsDigit(b[bi]); ++bi) bn = bn * 10 + (b[bi] - '0');
    if (an != bn) return an < bn;
    if (ai != bi) return ai < bi;
    return a[i] < b[i];
  }
  return a.size() < b.size();
}

// True when a plain scalar `s` would be read back as something other than a string (YAML 1.1
// as go-yaml resolves it: booleans, null, numbers, timestamps, base-60 numbers).
bool ResolvesToNonString(absl::string_view s) {
  static const std::set<absl::string_view> kWords = {
      "y",    "Y",    "yes",  "Yes",   "YES",   "true",  "True",  "TRUE",  "on",    "On",
      "ON",   "n",    "N",    "no",    "No",    "NO",    "false", "False", "FALSE", "off",
      "Off",  "OFF",  "",     "~",     "null",  "Null",  "NULL",  ".nan",  ".NaN",  ".NAN",
      ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<"};
  if (kWords.contains(s)) return true;
  const char c = s[0];
  if (!(c == '+' || c == '-' || c == '.' || IsDigit(c))) return false;
  // Timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00, ...
  static const RE2 kTimestamp(
      R"(\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d{1,2}(?::\d{2})?))?)?)");
  const re2::StringPiece piece(s.data(), s.size());
  if (RE2::FullMatch(piece, kTimestamp)) return true;
  static const RE2 kBase60(R"([-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)");
  if (RE2::FullMatch(piece, kBase60)) return true;
  std::string plain(s);
  plain.erase(std::remove(plain.begin(), plain.end(), '_'), plain.end());
  static const RE2 kInt(R"([-+]?(?:0b[01]+|0o?[0-7]*|0x[0-9a-fA-F]+|[1-9][0-9]*|0))");
  static const RE2 kFloat(R"([-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)");
  return RE2::FullMatch(plain, kInt) || RE2::FullMatch(plain, kFloat);
}

bool IsPrintable(char32_t r) {
  return r == 0x09 || r == 0x0A || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
         (r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF) ||
         (r >= 0x10000 && r <= 0x10FFFF);
}

enum class ScalarStyle { kPlain, kSingle, kDouble, kLiteral };

ScalarStyle ChooseStyle(absl::string_view s, bool is_key) {
  if (ResolvesToNonString(s)) return ScalarStyle::kDouble;
  const bool multiline = s.find('\n') != absl::string_view::npos;
  const std::u32string r = ToRunes(s);
  bool block_indicators = false, special = false, leading_space = false, trailing_space = false;
  bool leading_break = false, trailing_break = false, break_space = false, space_break = false;
  if (r.size() >= 3 && ((r[0] == '-' && r[1] == '-' && r[2] == '-') ||
                        (r[0] == '.' && r[1] == '.' && r[2] == '.'))) {
    block_indicators = true;
  }
  bool preceded_by_ws = true, prev_space = false, prev_break = false;
  for (size_t i = 0; i < r.size(); ++i) {
    const bool followed_by_ws = i + 1 >= r.size() || r[i + 1] == ' ' || r[i + 1] == '\t' ||
                                r[i + 1] == '\n' || r[i + 1] == '\r';
    const char32_t c = r[i];
    if (i == 0) {
      switch (c) {
        case '#':
        case ',':
        case '[':
        case ']':
        case '{':
        case '}':
        case '&':
        case '*':
        case '!':
        case '|':
        case '>':
        case '\'':
        case '"':
        case '%':
        case '@':
        case '`':
          block_indicators = true;
          break;
        case '?':
        case ':':
        case '-':
          if (followed_by_ws) block_indicators = true;
          break;
        default:
          break;
      }
    } else if ((c == ':' && followed_by_ws) || (c == '#' && preceded_by_ws)) {
      block_indicators = true;
    }
    if (!IsPrintable(c)) special = true;
    if (c == ' ') {
      if (i == 0) leading_space = true;
      if (i + 1 == r.size()) trailing_space = true;
      if (prev_break) break_space = true;
      prev_space = true;
      prev_break = false;
    } else if (c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029) {
      if (i == 0) leading_break = true;
      if (i + 1 == r.size()) trailing_break = true;
      if (prev_space) space_break = true;
      prev_space = false;
      prev_break = true;
    } else {
      prev_space = false;
      prev_break = false;
    }
    preceded_by_ws = c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }
  bool plain_allowed = !(leading_space || leading_break || trailing_space || trailing_break ||
                         break_space || space_break || special || multiline || block_indicators);
  bool single_allowed = !(break_space || space_break || special);
  bool block_allowed = !(trailing_space || space_break || special);
  if (multiline) {
    return (block_allowed && !is_key) ? ScalarStyle::kLiteral : ScalarStyle::kDouble;
  }
  if (plain_allowed) return ScalarStyle::kPlain;
  return single_allowed ? ScalarStyle::kSingle : ScalarStyle::kDouble;
}

std::string DoubleQuote(absl::string_view s) {
  std::string out = "\"";
  const std::u32string runes = ToRunes(s);
  size_t byte = 0;
  for (char32_t r : runes) {
    // Re-derive the rune's bytes from the input to copy printable runes verbatim.
    size_t n = 1;
    const unsigned char lead = s[byte];
    if (lead >= 0xF0)
      n = 4;
    else if (lead >= 0xE0)
      n = 3;
    else if (lead >= 0xC0)
      n = 2;
    n = std::min(n, s.size() - byte);
    switch (r) {
      case 0:
        out += "\\0";
        break;
      case 0x07:
        out += "\\a";
        break;
      case 0x08:
        out += "\\b";
        break;
      case 0x09:
        out += "\\t";
        break;
      case 0x0A:
        out += "\\n";
        break;
      case 0x0B:
        out += "\\v";
        break;
      case 0x0C:
        out += "\\f";
        break;
      case 0x0D:
        out += "\\r";
        break;
      case 0x1B:
        out += "\\e";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case 0x85:
        out += "\\N";
        break;
      case 0xA0:
        out += "\\_";
        break;
      case 0x2028:
        out += "\\L";
        break;
      case 0x2029:
        out += "\\P";
        break;
      default:
        if (IsPrintable(r) && r != 0xFEFF) {
          out.append(s.data() + byte, n);
        } else if (r <= 0xFF) {
          out += absl::StrFormat("\\x%02X", static_cast<unsigned>(r));
        } else if (r <= 0xFFFF) {
          out += absl::StrFormat("\\u%04X", static_cast<unsigned>(r));
        } else {
          out += absl::StrFormat("\\U%08X", static_cast<unsigned>(r));
        }
    }
    byte += n;
  }
  out += '"';
  return out;
}

std::string SingleQuote(absl::string_view s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

// A literal block scalar (`|`, `|-` or `|+`) whose lines are indented by `indent` spaces.
std::string LiteralBlock(absl::string_view s, int indent) {
  std::string header = "|";
  if (!s.empty() && (s.front() == ' ' || s.front() == '\n')) header += "2";
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  if (trailing == 0) header += "-";
  if (trailing > 1) header += "+";
  std::string out = header;
  absl::string_view body = s.substr(0, s.size() - (trailing > 0 ? 1 : 0));
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    out += '\n';
    if (!line.empty()) {
      out.append(static_cast<size_t>(indent), ' ');
      out.append(line.data(), line.size());
    }
  }
  return out;
}

std::string Scalar(absl::string_view s, bool is_key, int indent) {
  switch (ChooseStyle(s, is_key)) {
    case ScalarStyle::kPlain:
      return std::string(s);
    case ScalarStyle::kSingle:
      return SingleQuote(s);
    case ScalarStyle::kLiteral:
      return LiteralBlock(s, indent);
    case ScalarStyle::kDouble:
      break;
  }
  return DoubleQuote(s);
}

// Go's strconv.FormatFloat(f, 'g', -1, 64).
std::string GoFloat(double f) {
  if (std::isnan(f)) return ".nan";
  if (std::isinf(f)) return f > 0 ? "+.inf" : "-.inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  if (ec != std::errc()) return absl::StrCat(f);
  std::string sci(buf, end);  // e.g. "-1.2345e+06"
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string mantissa = sci.substr(0, e);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exp < -4 || exp >= 6) {  // Go uses precision 6 for this decision in shortest mode
    out += digits.substr(0, 1);
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    absl::StrAppend(&out, "e", exp < 0 ? "-" : "+", absl::StrFormat("%02d", std::abs(exp)));
    return out;
  }
  if (exp < 0) {
    absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-exp - 1), '0'), digits);
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    absl::StrAppend(&out, digits, std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0'));
  } else {
    absl::StrAppend(&out, digits.substr(0, static_cast<size_t>(exp) + 1), ".",
                    digits.substr(static_cast<size_t>(exp) + 1));
  }
  return out;
}

std::string InlineValue(const json& v, int indent) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return GoFloat(v.get<double>());
    case json::value_t::string:
      return Scalar(v.get_ref<const std::string&>(), /*is_key=*/false, indent);
    case json::value_t::object:
      return "{}";
    case json::value_t::array:
      return "[]";
    default:
      return "null";
  }
}

void EmitYaml(const json& v, int indent, std::string* out);

// Emits the entries of a non-empty object; the first line continues the current line when
// `inline_first` (after "- "), otherwise every line starts with `indent` spaces.
void EmitObject(const json& obj, int indent, bool inline_first, std::string* out) {
  std::vector<std::string> keys;
  for (const auto& [k, unused] : obj.items()) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), YamlKeyLess);
  bool first = true;
  for (const std::string& key : keys) {
    if (!(first && inline_first)) out->append(static_cast<size_t>(indent), ' ');
    first = false;
    const json& value = obj.at(key);
    absl::StrAppend(out, Scalar(key, /*is_key=*/true, indent), ":");
    if (value.is_object() && !value.empty()) {
      out->push_back('\n');
      EmitObject(value, indent + 2, false, out);
    } else if (value.is_array() && !value.empty()) {
      // go-yaml v2 does not indent a sequence under its key.
      out->push_back('\n');
      EmitYaml(value, indent, out);
    } else {
      absl::StrAppend(out, " ", InlineValue(value, indent + 2), "\n");
    }
  }
}

void EmitYaml(const json& v, int indent, std::string* out) {
  if (v.is_object() && !v.empty()) {
    EmitObject(v, indent, false, out);
    return;
  }
  if (v.is_array() && !v.empty()) {
    for (const json& item : v) {
      out->append(static_cast<size_t>(indent), ' ');
      out->append("- ");
      if (item.is_object() && !item.empty()) {
        EmitObject(item, indent + 2, true, out);
      } else if (item.is_array() && !item.empty()) {
        // A nested sequence starts on the same line: "- - a".
        std::string nested;
        EmitYaml(item, indent + 2, &nested);
        out->append(nested.substr(static_cast<size_t>(indent + 2)));
      } else {
        absl::StrAppend(out, InlineValue(item, indent + 2), "\n");
      }
    }
    return;
  }
  absl::StrAppend(out, InlineValue(v, indent), "\n");
}

}  // namespace

std::string JsonToYaml(const nlohmann::json& value) {
  std::string out;
  EmitYaml(value, 0, &out);
  return out;
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
