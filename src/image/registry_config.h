// Registry hosts configuration: tetherd's config JSON `registries` key.
//
//   "registries": {
//     "registry.k8s.io": {"mirrors": ["http://127.0.0.1:5000"]},
//     "myreg:5000": {"insecure": true, "auth": {"username": "u", "password": "p"}}
//   }
//
// Keys are registry domains as they appear in references ("docker.io", "host:port"). A mirror is
// a base URL ("http://host:port" or "https://host[/prefix]"); a bare "host[:port]" means https,
// or http for localhost / 127.0.0.0/8 / [::1]. `insecure` means plain HTTP to the registry;
// localhost and 127.0.0.0/8 (any port) default to insecure, as in Docker.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether {

// Credentials for one registry, from the config or from a CRI PullImage request (AuthConfig).
// Never log any of these fields.
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string auth;            // base64("user:pass"), Docker config style; see Normalize
  std::string identity_token;  // an OAuth2 refresh token for the token server
  std::string registry_token;  // a bearer token sent to the registry as-is
  // When set, the credentials are only sent to this host ("host[:port]" or a URL), as containerd
  // does with CRI AuthConfig.server_address. Empty: sent to every endpoint of the pull.
  std::string server_address;

  bool empty() const {
    return username.empty() && password.empty() && auth.empty() && identity_token.empty() &&
           registry_token.empty();
  }
  // Decodes `auth` into username/password when username is empty (INVALID_ARGUMENT if it is not
  // base64 "user:pass"). Idempotent.
  absl::Status Normalize();
};

struct RegistryHostConfig {
  std::vector<std::string> mirrors;  // normalized base URLs, no trailing '/'
  bool insecure = false;             // plain HTTP
  RegistryAuth auth;
};

struct RegistryConfig {
  std::map<std::string, RegistryHostConfig> hosts;

  // The effective settings for a registry domain: the configured entry, or defaults (insecure for
  // localhost / loopback addresses).
  RegistryHostConfig ForHost(const std::string& domain) const;
};

// Parses the `registries` object. INVALID_ARGUMENT naming the key for a wrong type, an unknown
// key, a bad mirror URL or undecodable auth.
absl::StatusOr<RegistryConfig> ParseRegistryConfig(const nlohmann::json& registries);

// True for "localhost", "127.x.y.z" and "[::1]", with or without a port.
bool IsLoopbackHost(const std::string& host);
// The host that serves a registry domain's API: "registry-1.docker.io" for docker.io, else the
// domain itself.
std::string RegistryApiHost(const std::string& domain);
// "host[:port]" of a URL ("https://h:5000/x" -> "h:5000"); a string without "://" is returned up
// to its first '/'. Lowercased.
std::string UrlHost(const std::string& url);

}  // namespace tether
