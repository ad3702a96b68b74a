#include "image/reference.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "image/digest.h"

namespace tether {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;
constexpr char kLegacyDockerDomain[] = "index.docker.io";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsWord(char c) { return IsAlnum(c) || c == '_'; }

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsPathComponent(const std::string& s) {
  size_t i = 0, n = s.size();
  if (n == 0 || !IsLowerAlnum(s[0])) return false;
  while (i < n) {
    while (i < n && IsLowerAlnum(s[i])) ++i;
    if (i == n) return true;
    // A separator, then at least one alnum.
    if (s[i] == '.') {
      ++i;
    } else if (s[i] == '_') {
      ++i;
      if (i < n && s[i] == '_') ++i;
    } else if (s[i] == '-') {
      while (i < n && s[i] == '-') ++i;
    } else {
      return false;
    }
    if (i == n || !IsLowerAlnum(s[i])) return false;
  }
  return true;
}

// [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
bool IsDomainComponent(const std::string& s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// host ( ":" port )?, host being dot-separated domain components or a bracketed IPv6 address.
bool IsDomain(const std::string& s) {
  std::string host = s;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close < 2) return false;
    for (size_t i = 1; i < close; ++i) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(s[i])) && s[i] != ':') return false;
    }
    std::string rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest[0] != ':' || rest.size() == 1) return false;
    for (size_t i = 1; i < rest.size(); ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) return false;
    }
    return true;
  }
  size_t colon = s.find(':');
  if (colon != std::string::npos) {
    std::string port = s.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
    host = s.substr(0, colon);
  }
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(host, '.'))) {
    if (!IsDomainComponent(part)) return false;
  }
  return true;
}

// [\w][\w.-]{0,127}
bool IsTag(const std::string& s) {
  if (s.empty() || s.size() > kMaxTagLength || !IsWord(s[0])) return false;
  for (char c : s) {
    if (!IsWord(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool HasUpper(const std::string& s) {
  for (char c : s) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

bool IsImageId(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status Invalid(const std::string& ref, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid image reference \"", ref, "\": ", why));
}

}  // namespace

std::string Reference::String() const {
  std::string s = Name();
  if (!tag.empty()) absl::StrAppend(&s, ":", tag);
  if (!digest.empty()) absl::StrAppend(&s, "@", digest);
  return s;
}

absl::StatusOr<Reference> ParseReference(const std::string& ref) {
  if (ref.empty()) return absl::InvalidArgumentError("invalid image reference: empty");
  if (IsImageId(ref)) {
    return Invalid(ref, "a 64-hex image id is not a reference (use repository[:tag] or @digest)");
  }
  Reference out;
  std::string name = ref;
  size_t at = ref.find('@');
  if (at != std::string::npos) {
    out.digest = ref.substr(at + 1);
    name = ref.substr(0, at);
    if (out.digest.empty()) return Invalid(ref, "empty digest after '@'");
    if (absl::Status s = ValidateDigest(out.digest); !s.ok()) {
      return Invalid(ref, std::string(s.message()));
    }
  }
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    out.tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (!IsTag(out.tag)) {
      return Invalid(ref, absl::StrCat("invalid tag \"", out.tag,
                                       "\" (want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"));
    }
  }
  if (name.empty()) return Invalid(ref, "empty repository name");

  size_t first_slash = name.find('/');
  std::string first = name.substr(0, first_slash);
  if (first_slash == std::string::npos || (first.find_first_of(".:") == std::string::npos &&
                                           first != "localhost" && !HasUpper(first))) {
    out.domain = kDockerDomain;
    out.path = name;
  } else {
    out.domain = first;
    out.path = name.substr(first_slash + 1);
    if (!IsDomain(out.domain)) {
      return Invalid(ref, absl::StrCat("invalid registry domain \"", out.domain, "\""));
    }
  }
  if (out.domain == kLegacyDockerDomain) out.domain = kDockerDomain;
  if (out.path.empty()) return Invalid(ref, "empty repository path");
  if (HasUpper(out.path)) return Invalid(ref, "repository name must be lowercase");
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(out.path, '/'))) {
    if (!IsPathComponent(part)) {
      return Invalid(ref, absl::StrCat("invalid repository path component \"", part, "\""));
    }
  }
  if (out.domain == kDockerDomain && out.path.find('/') == std::string::npos) {
    out.path = "library/" + out.path;
  }
  if (out.Name().size() > kMaxNameLength) {
    return Invalid(
        ref, absl::StrCat("repository name must not be more than ", kMaxNameLength, " characters"));
  }
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  return out;
}

}  // namespace tether
