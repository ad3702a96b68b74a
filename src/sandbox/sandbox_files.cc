#include "sandbox/sandbox_files.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "oci/userns.h"

namespace tether {
namespace {

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool HasSpace(const std::string& s) {
  for (char c : s) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidatePodSandboxConfig(const runtime::v1::PodSandboxConfig& c) {
  if (!c.has_metadata()) return Invalid("config.metadata", "is required");
  if (c.metadata().name().empty()) return Invalid("config.metadata.name", "is required");
  if (c.metadata().namespace_().empty()) return Invalid("config.metadata.namespace", "is required");
  if (c.metadata().name().find('/') != std::string::npos || HasSpace(c.metadata().name())) {
    return Invalid("config.metadata.name", "must not contain '/' or spaces");
  }
  if (c.hostname().size() > 64 || HasSpace(c.hostname()) ||
      c.hostname().find('/') != std::string::npos) {
    return Invalid("config.hostname",
                   absl::StrCat("\"", c.hostname(), "\" is not a valid hostname (max 64 chars)"));
  }
  const auto& dns = c.dns_config();
  for (int i = 0; i < dns.servers_size(); ++i) {
    if (!IsIp(dns.servers(i))) {
      return Invalid(absl::StrCat("config.dns_config.servers[", i, "]"),
                     absl::StrCat("\"", dns.servers(i), "\" is not an IP address"));
    }
  }
  for (int i = 0; i < dns.searches_size(); ++i) {
    if (dns.searches(i).empty() || HasSpace(dns.searches(i))) {
      return Invalid(absl::StrCat("config.dns_config.searches[", i, "]"),
                     absl::StrCat("\"", dns.searches(i), "\" is not a search domain"));
    }
  }
  for (int i = 0; i < dns.options_size(); ++i) {
    if (dns.options(i).empty() || HasSpace(dns.options(i))) {
      return Invalid(absl::StrCat("config.dns_config.options[", i, "]"),
                     absl::StrCat("\"", dns.options(i), "\" is not a resolver option"));
    }
  }
  for (int i = 0; i < c.port_mappings_size(); ++i) {
    const auto& p = c.port_mappings(i);
    std::string field = absl::StrCat("config.port_mappings[", i, "]");
    if (p.container_port() <= 0 || p.container_port() > 65535) {
      return Invalid(field + ".container_port",
                     absl::StrCat(p.container_port(), " is not a port (1-65535)"));
    }
    if (p.host_port() < 0 || p.host_port() > 65535) {
      return Invalid(field + ".host_port", absl::StrCat(p.host_port(), " is not a port (0-65535)"));
    }
    if (!runtime::v1::Protocol_IsValid(p.protocol())) {
      return Invalid(field + ".protocol", absl::StrCat("unknown protocol ", p.protocol()));
    }
    if (!p.host_ip().empty() && !IsIp(p.host_ip())) {
      return Invalid(field + ".host_ip",
                     absl::StrCat("\"", p.host_ip(), "\" is not an IP address"));
    }
  }
  const auto& ns = c.linux().security_context().namespace_options();
  if (ns.network() == runtime::v1::TARGET || ns.network() == runtime::v1::CONTAINER) {
    return Invalid("config.linux.security_context.namespace_options.network",
                   "must be POD or NODE");
  }
  if (ns.ipc() == runtime::v1::TARGET || ns.ipc() == runtime::v1::CONTAINER) {
    return Invalid("config.linux.security_context.namespace_options.ipc", "must be POD or NODE");
  }
  if (ns.pid() == runtime::v1::TARGET) {
    return Invalid("config.linux.security_context.namespace_options.pid",
                   "TARGET is for containers, not sandboxes");
  }
  if (auto userns = PodUserns(ns, "config.linux.security_context.namespace_options");
      !userns.ok()) {
    return userns.status();
  }
  for (const auto& [key, value] : c.linux().sysctls()) {
    if (key.empty() || HasSpace(key) || absl::StrContains(key, "..") || key[0] == '.' ||
        key[0] == '/') {
      return Invalid("config.linux.sysctls", absl::StrCat("\"", key, "\" is not a sysctl name"));
    }
  }
  return absl::OkStatus();
}

std::string ResolvConf(const runtime::v1::DNSConfig& dns, const std::string& host_resolv_conf) {
  if (dns.servers_size() == 0 && dns.searches_size() == 0 && dns.options_size() == 0) {
    return host_resolv_conf;
  }
  std::string out;
  if (dns.searches_size() > 0)
    absl::StrAppend(&out, "search ", absl::StrJoin(dns.searches(), " "), "\n");
  for (const auto& s : dns.servers()) absl::StrAppend(&out, "nameserver ", s, "\n");
  if (dns.options_size() > 0)
    absl::StrAppend(&out, "options ", absl::StrJoin(dns.options(), " "), "\n");
  return out;
}

std::string HostsFile(bool host_network, const std::string& hostname,
                      const std::string& host_hosts) {
  if (host_network) return host_hosts;
  std::string out =
      "# Kubernetes-managed hosts file (tether).\n"
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "fe00::0\tip6-mcastprefix\n"
      "fe00::1\tip6-allnodes\n"
      "fe00::2\tip6-allrouters\n";
  if (!hostname.empty()) absl::StrAppend(&out, "127.0.1.1\t", hostname, "\n");
  return out;
}

}  // namespace tether
