#include "tetherctl/config_file.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tether::ctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

constexpr absl::string_view kStrTag = "tag:yaml.org,2002:str";

bool IsNullWord(absl::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// YAML 1.1 booleans, as go-yaml (and so crictl) reads them.
std::optional<bool> ParseBoolWord(absl::string_view s) {
  static const std::set<absl::string_view> kTrue = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                                    "True", "TRUE", "on",  "On",  "ON"};
  static const std::set<absl::string_view> kFalse = {"n",     "N",     "no",  "No",  "NO", "false",
                                                     "False", "FALSE", "off", "Off", "OFF"};
  if (kTrue.contains(s)) return true;
  if (kFalse.contains(s)) return false;
  return std::nullopt;
}

// Integers with an optional sign, `_` separators and a 0x / 0o / 0b / 0 (octal) prefix.
std::optional<json> ParseIntWord(absl::string_view word) {
  std::string s = absl::StrReplaceAll(word, {{"_", ""}});
  if (s.empty()) return std::nullopt;
  bool negative = false;
  size_t pos = 0;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    pos = 1;
  }
  int base = 10;
  absl::string_view digits(s);
  digits.remove_prefix(pos);
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits[0] == '0' && digits[1] == 'o') {
    base = 8;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits[0] == '0' && digits[1] == 'b') {
    base = 2;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    const int v = absl::ascii_isdigit(c)   ? c - '0'
                  : absl::ascii_isalpha(c) ? absl::ascii_tolower(c) - 'a' + 10
                                           : 99;
    if (v >= base) return std::nullopt;
  }
  const std::string text(digits);
  errno = 0;
  char* end = nullptr;
  const unsigned long long magnitude = std::strtoull(text.c_str(), &end, base);
  if (errno == ERANGE || end != text.c_str() + text.size()) return std::nullopt;
  if (!negative) {
    if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
      return json(static_cast<int64_t>(magnitude));
    }
    return json(static_cast<uint64_t>(magnitude));
  }
  if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
    return json(-static_cast<int64_t>(magnitude));
  }
  if (magnitude == static_cast<unsigned long long>(INT64_MAX) + 1) return json(INT64_MIN);
  return std::nullopt;
}

std::optional<double> ParseFloatWord(absl::string_view word) {
  if (word == ".inf" || word == ".Inf" || word == ".INF" || word == "+.inf" || word == "+.Inf" ||
      word == "+.INF") {
    return HUGE_VAL;
  }
  if (word == "-.inf" || word == "-.Inf" || word == "-.INF") return -HUGE_VAL;
  if (word == ".nan" || word == ".NaN" || word == ".NAN") return NAN;
  const std::string s = absl::StrReplaceAll(word, {{"_", ""}});
  // Only decimal notation: [-+](.d+|d+(.d*)?)([eE][-+]?d+)?
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t mantissa_digits = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++mantissa_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  double v = 0;
  if (!absl::SimpleAtod(s, &v)) return std::nullopt;
  return v;
}

// A double as protobuf JSON takes it (non-finite values are the strings it knows).
json FloatJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// A plain scalar with no schema: null, bool, int, float or string.
json ResolvePlain(const std::string& s) {
  if (IsNullWord(s)) return nullptr;
  if (auto b = ParseBoolWord(s)) return *b;
  if (auto i = ParseIntWord(s)) return *i;
  if (auto f = ParseFloatWord(s)) return FloatJson(*f);
  return s;
}

json ConvertScalar(const YAML::Node& node, const FieldDescriptor* field) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  const bool quoted = tag == "!" || tag == kStrTag;
  if (quoted) return text;
  if (IsNullWord(text)) return nullptr;
  if (field == nullptr) return ResolvePlain(text);
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return text;
    case FieldDescriptor::CPPTYPE_BOOL:
      if (auto b = ParseBoolWord(text)) return *b;
      return text;  // protobuf reports the bad value
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_ENUM:
      if (auto i = ParseIntWord(text)) return *i;
      return text;
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      if (auto i = ParseIntWord(text)) return *i;
      if (auto f = ParseFloatWord(text)) return FloatJson(*f);
      return text;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ResolvePlain(text);
  }
  return ResolvePlain(text);
}

const FieldDescriptor* FindField(const Descriptor* d, const std::string& key) {
  if (d == nullptr) return nullptr;
  if (const FieldDescriptor* f = d->FindFieldByName(key)) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == key) return d->field(i);
  }
  return nullptr;
}

absl::StatusOr<json> ConvertNode(const YAML::Node& node, const FieldDescriptor* field, bool element,
                                 const std::string& path);

absl::StatusOr<json> ConvertMapping(const YAML::Node& node, const Descriptor* message,
                                    const FieldDescriptor* map_value, const std::string& path) {
  json out = json::object();
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": mapping keys must be scalars"));
    }
    const std::string& key = kv.first.Scalar();
    const std::string child_path = path.empty() ? key : absl::StrCat(path, ".", key);
    const FieldDescriptor* field = map_value != nullptr ? map_value : FindField(message, key);
    auto value = ConvertNode(kv.second, field, /*element=*/map_value != nullptr, child_path);
    if (!value.ok()) return value.status();
    out[key] = std::move(*value);
  }
  return out;
}

// `element`: the node is one value of `field` (an item of a repeated field or a map value),
// not the field as a whole.
absl::StatusOr<json> ConvertNode(const YAML::Node& node, const FieldDescriptor* field, bool element,
                                 const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return ConvertScalar(node, field);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      const bool repeated =
          field != nullptr && field->is_repeated() && !field->is_map() && !element;
      size_t index = 0;
      for (const auto& item : node) {
        auto value = ConvertNode(item, repeated ? field : nullptr, /*element=*/true,
                                 absl::StrCat(path, "[", index++, "]"));
        if (!value.ok()) return value.status();
        out.push_back(std::move(*value));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      if (field != nullptr && field->is_map() && !element) {
        return ConvertMapping(node, nullptr, field->message_type()->map_value(), path);
      }
      const Descriptor* message =
          (field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
              ? field->message_type()
              : nullptr;
      return ConvertMapping(node, message, nullptr, path);
    }
  }
  return json(nullptr);
}

absl::Status JsonToMessage(const std::string& json_text, google::protobuf::Message* msg) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json_text, msg, options);
  if (!status.ok()) return absl::InvalidArgumentError(std::string(status.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> YamlToJson(absl::string_view yaml,
                                          const google::protobuf::Descriptor* schema) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (root.IsMap()) return ConvertMapping(root, schema, nullptr, "");
  return ConvertNode(root, nullptr, /*element=*/false, "");
}

absl::Status ParseMessageText(absl::string_view text, google::protobuf::Message* msg) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != absl::string_view::npos && text[first] == '{' && json::accept(text)) {
    return JsonToMessage(std::string(text), msg);
  }
  auto converted = YamlToJson(text, msg->GetDescriptor());
  if (!converted.ok()) return converted.status();
  if (converted->is_null()) converted = json::object();  // an empty file: an empty message
  if (!converted->is_object()) {
    return absl::InvalidArgumentError("the document is not a mapping");
  }
  return JsonToMessage(converted->dump(), msg);
}

absl::Status LoadMessageFile(const std::string& path, google::protobuf::Message* msg) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("config at ", path, " not found"));
    return absl::InvalidArgumentError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("read ", path));
  absl::Status status = ParseMessageText(content.str(), msg);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("parse ", path, ": ", status.message()));
  }
  return absl::OkStatus();
}

namespace {

absl::Status ValidatePodSandboxConfig(const runtime::v1::PodSandboxConfig& config) {
  if (!config.has_metadata()) return absl::InvalidArgumentError("metadata is not set");
  const auto& m = config.metadata();
  if (m.name().empty() || m.namespace_().empty() || m.uid().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("name, namespace or uid is not in metadata \"", m.ShortDebugString(), "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<runtime::v1::PodSandboxConfig> ParsePodSandboxConfig(absl::string_view text) {
  runtime::v1::PodSandboxConfig config;
  if (absl::Status s = ParseMessageText(text, &config); !s.ok()) return s;
  if (absl::Status s = ValidatePodSandboxConfig(config); !s.ok()) return s;
  return config;
}

absl::StatusOr<runtime::v1::PodSandboxConfig> LoadPodSandboxConfig(const std::string& path) {
  runtime::v1::PodSandboxConfig config;
  if (absl::Status s = LoadMessageFile(path, &config); !s.ok()) return s;
  if (absl::Status s = ValidatePodSandboxConfig(config); !s.ok()) return s;
  return config;
}

}  // namespace tether::ctl
