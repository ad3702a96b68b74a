// Field access with the field's path in every error, and the API server's name rules.
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "podrunner/manifest_internal.h"

namespace tether::podrunner::manifest_internal {

absl::Status FieldError(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

std::string Sub(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

absl::Status ExpectMap(const Field& f) {
  if (f.present() && !f.node.IsMap()) return FieldError(f.path, "must be an object");
  return absl::OkStatus();
}

absl::Status ExpectSequence(const Field& f) {
  if (f.present() && !f.node.IsSequence()) return FieldError(f.path, "must be a list");
  return absl::OkStatus();
}

std::vector<Field> Items(const Field& f) {
  std::vector<Field> out;
  if (!f.present() || !f.node.IsSequence()) return out;
  for (size_t i = 0; i < f.node.size(); ++i) out.push_back(Field{f.node[i], Index(f.path, i)});
  return out;
}

absl::Status GetString(const Field& f, std::string* out, bool required) {
  if (!f.present()) return required ? FieldError(f.path, "is required") : absl::OkStatus();
  if (!f.node.IsScalar()) return FieldError(f.path, "must be a string");
  *out = f.node.Scalar();
  if (required && out->empty()) return FieldError(f.path, "is required");
  return absl::OkStatus();
}

absl::Status GetBool(const Field& f, std::optional<bool>* out) {
  if (!f.present()) return absl::OkStatus();
  std::string s = f.node.IsScalar() ? f.node.Scalar() : "";
  if (s == "true") {
    *out = true;
  } else if (s == "false") {
    *out = false;
  } else {
    return FieldError(f.path, "must be true or false");
  }
  return absl::OkStatus();
}

absl::Status GetBool(const Field& f, bool* out) {
  std::optional<bool> v;
  if (auto st = GetBool(f, &v); !st.ok()) return st;
  if (v) *out = *v;
  return absl::OkStatus();
}

absl::Status GetInt(const Field& f, std::optional<int64_t>* out) {
  if (!f.present()) return absl::OkStatus();
  int64_t v = 0;
  if (!f.node.IsScalar() || !absl::SimpleAtoi(f.node.Scalar(), &v)) {
    return FieldError(f.path, "must be an integer");
  }
  *out = v;
  return absl::OkStatus();
}

// A file mode: 0..0777. YAML writes it in octal (0644, 0o644), JSON in decimal (420).
absl::Status GetMode(const Field& f, std::optional<uint32_t>* out) {
  if (!f.present()) return absl::OkStatus();
  std::string s = f.node.IsScalar() ? f.node.Scalar() : "";
  int base = 10;
  if (absl::StartsWith(s, "0o")) {
    s = s.substr(2);
    base = 8;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
  }
  size_t used = 0;
  long v = -1;
  try {
    v = std::stol(s, &used, base);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < 0 || v > 0777) {
    return FieldError(f.path, "must be a file mode between 0 and 0777 (octal)");
  }
  *out = static_cast<uint32_t>(v);
  return absl::OkStatus();
}

absl::Status GetStrings(const Field& f, std::vector<std::string>* out) {
  if (auto st = ExpectSequence(f); !st.ok()) return st;
  for (const Field& item : Items(f)) {
    std::string s;
    if (!item.present() || !item.node.IsScalar()) return FieldError(item.path, "must be a string");
    out->push_back(item.node.Scalar());
  }
  return absl::OkStatus();
}

absl::Status GetStringMap(const Field& f, std::map<std::string, std::string>* out) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  if (!f.present()) return absl::OkStatus();
  for (const auto& kv : f.node) {
    std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar()) return FieldError(Sub(f.path, key), "must be a string");
    (*out)[key] = kv.second.Scalar();
  }
  return absl::OkStatus();
}

// RFC 1123 label: what container, volume and port names must be.
bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

// RFC 1123 subdomain: what pod names and namespaces must be.
bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) return false;
  }
  return absl::ascii_isalnum(s.front()) && absl::ascii_isalnum(s.back());
}

// IANA_SVC_NAME: what a named port must be (at most 15, lower-case alphanumerics and '-', a
// letter somewhere, no leading, trailing or double '-').
bool IsPortName(absl::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  bool letter = false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
    letter |= absl::ascii_islower(c);
  }
  return letter && !absl::StrContains(s, "--");
}

// A ConfigMap key: [-._a-zA-Z0-9]+, at most 253, not "." or "..", not starting with "..".
bool IsConfigMapKey(absl::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s == ".." || absl::StartsWith(s, "..")) {
    return false;
  }
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

// An environment variable name: letters, digits, '_', '-' and '.', not starting with a digit.
bool IsEnvVarName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s.front())) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// An HTTP header field name (a token).
bool IsHttpHeaderName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c))) return false;
  }
  return true;
}

// A relative path inside a volume: not absolute, no ".." element.
bool IsVolumeRelativePath(absl::string_view s) {
  // Not starting with "..": the volume's own ..data and versions are named so (as kubelet's).
  if (s.empty() || s.front() == '/' || absl::StartsWith(s, "..")) return false;
  for (absl::string_view part : absl::StrSplit(s, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::Status ParseMetadata(const Field& meta, bool name_required, PodManifest* pod) {
  if (auto st = ExpectMap(meta); !st.ok()) return st;
  if (auto st = GetString(meta["name"], &pod->name, name_required); !st.ok()) return st;
  if (!pod->name.empty() && !IsDnsSubdomain(pod->name)) {
    return FieldError(meta["name"].path,
                      "must be a DNS subdomain (lower-case alphanumerics, '-' and '.')");
  }
  std::string ns;
  if (auto st = GetString(meta["namespace"], &ns); !st.ok()) return st;
  if (!ns.empty()) {
    if (!IsDnsLabel(ns)) return FieldError(meta["namespace"].path, "must be a DNS label");
    pod->namespace_ = ns;
  }
  if (auto st = GetString(meta["uid"], &pod->uid); !st.ok()) return st;
  if (auto st = GetStringMap(meta["labels"], &pod->labels); !st.ok()) return st;
  if (auto st = GetStringMap(meta["annotations"], &pod->annotations); !st.ok()) return st;
  return absl::OkStatus();
}

}  // namespace tether::podrunner::manifest_internal
