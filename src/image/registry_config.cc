#include "image/registry_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "image/reference.h"

namespace tether {
namespace {

using nlohmann::json;

absl::Status KeyError(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("config: \"", key, "\" ", why));
}

absl::Status GetString(const json& j, const std::string& key, const std::string& path,
                       std::string* out) {
  if (!j.contains(key)) return absl::OkStatus();
  if (!j[key].is_string()) return KeyError(path + "." + key, "must be a string");
  *out = j[key].get<std::string>();
  return absl::OkStatus();
}

std::string HostOnly(const std::string& host_port) {
  if (!host_port.empty() && host_port[0] == '[') {
    size_t close = host_port.find(']');
    return close == std::string::npos ? host_port : host_port.substr(0, close + 1);
  }
  return host_port.substr(0, host_port.find(':'));
}

// "http://h:1/p/" -> "http://h:1/p"; "h:1" -> "https://h:1" (http for loopback).
absl::StatusOr<std::string> NormalizeMirror(const std::string& m, const std::string& path) {
  std::string url = m;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!absl::StrContains(url, "://")) {
    url = absl::StrCat(IsLoopbackHost(UrlHost(url)) ? "http://" : "https://", url);
  }
  std::string lower = absl::AsciiStrToLower(url);
  if (!absl::StartsWith(lower, "http://") && !absl::StartsWith(lower, "https://")) {
    return KeyError(path, absl::StrCat("has mirror \"", m, "\": want an http:// or https:// URL"));
  }
  if (UrlHost(url).empty()) return KeyError(path, absl::StrCat("has mirror \"", m, "\": no host"));
  if (absl::StrContains(UrlHost(url), "@")) {
    return KeyError(path, "has a mirror with credentials in its URL: use \"auth\" instead");
  }
  return url;
}

absl::StatusOr<RegistryAuth> ParseAuth(const json& j, const std::string& path) {
  if (!j.is_object()) return KeyError(path, "must be an object");
  static const char* kKeys[] = {"username",       "password",       "auth",
                                "identity_token", "registry_token", "server_address"};
  for (const auto& [k, v] : j.items()) {
    bool known = false;
    for (const char* want : kKeys) known = known || k == want;
    if (!known) return KeyError(path + "." + k, "is not a known key");
  }
  RegistryAuth a;
  const std::pair<const char*, std::string*> fields[] = {{"username", &a.username},
                                                         {"password", &a.password},
                                                         {"auth", &a.auth},
                                                         {"identity_token", &a.identity_token},
                                                         {"registry_token", &a.registry_token},
                                                         {"server_address", &a.server_address}};
  for (const auto& [key, field] : fields) {
    if (absl::Status s = GetString(j, key, path, field); !s.ok()) return s;
  }
  if (absl::Status s = a.Normalize(); !s.ok()) {
    return KeyError(path + ".auth", std::string(s.message()));
  }
  return a;
}

}  // namespace

absl::Status RegistryAuth::Normalize() {
  if (auth.empty() || !username.empty()) return absl::OkStatus();
  std::string decoded;
  if (!absl::Base64Unescape(auth, &decoded)) {
    return absl::InvalidArgumentError("auth is not valid base64");
  }
  size_t colon = decoded.find(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError("auth must be base64 of \"username:password\"");
  }
  username = decoded.substr(0, colon);
  password = decoded.substr(colon + 1);
  return absl::OkStatus();
}

bool IsLoopbackHost(const std::string& host_port) {
  std::string host = absl::AsciiStrToLower(HostOnly(host_port));
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

std::string RegistryApiHost(const std::string& domain) {
  return domain == kDockerDomain ? "registry-1.docker.io" : domain;
}

std::string UrlHost(const std::string& url) {
  absl::string_view s = url;
  size_t scheme = s.find("://");
  if (scheme != absl::string_view::npos) s.remove_prefix(scheme + 3);
  s = s.substr(0, s.find_first_of("/?#"));
  return absl::AsciiStrToLower(s);
}

RegistryHostConfig RegistryConfig::ForHost(const std::string& domain) const {
  std::string key = absl::AsciiStrToLower(domain);
  if (key == "index.docker.io") key = kDockerDomain;
  auto it = hosts.find(key);
  if (it != hosts.end()) return it->second;
  RegistryHostConfig c;
  c.insecure = IsLoopbackHost(domain);
  return c;
}

absl::StatusOr<RegistryConfig> ParseRegistryConfig(const json& registries) {
  RegistryConfig out;
  if (registries.is_null()) return out;
  if (!registries.is_object()) return KeyError("registries", "must be an object");
  for (const auto& [raw_key, entry] : registries.items()) {
    std::string path = "registries." + raw_key;
    std::string key = absl::AsciiStrToLower(raw_key);
    if (key.empty()) return KeyError("registries", "has an empty host key");
    if (absl::StrContains(key, "://") || absl::StrContains(key, "/")) {
      return KeyError(path, "must be a registry host[:port], not a URL or path");
    }
    if (key == "index.docker.io") key = kDockerDomain;
    if (out.hosts.count(key)) return KeyError(path, "is given twice");
    if (!entry.is_object()) return KeyError(path, "must be an object");
    RegistryHostConfig host;
    host.insecure = IsLoopbackHost(key);
    for (const auto& [k, v] : entry.items()) {
      if (k == "mirrors") {
        if (!v.is_array()) return KeyError(path + ".mirrors", "must be an array of strings");
        for (const auto& m : v) {
          if (!m.is_string()) return KeyError(path + ".mirrors", "must be an array of strings");
          absl::StatusOr<std::string> url =
              NormalizeMirror(m.get<std::string>(), path + ".mirrors");
          if (!url.ok()) return url.status();
          host.mirrors.push_back(*url);
        }
      } else if (k == "insecure") {
        if (!v.is_boolean()) return KeyError(path + ".insecure", "must be a boolean");
        host.insecure = v.get<bool>();
      } else if (k == "auth") {
        absl::StatusOr<RegistryAuth> a = ParseAuth(v, path + ".auth");
        if (!a.ok()) return a.status();
        host.auth = *std::move(a);
      } else {
        return KeyError(path + "." + k, "is not a known key (want mirrors, insecure, auth)");
      }
    }
    out.hosts[key] = std::move(host);
  }
  return out;
}

}  // namespace tether
