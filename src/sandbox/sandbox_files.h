// The files a sandbox gives its containers (/etc/resolv.conf, /etc/hosts, /etc/hostname), and the
// validation of RunPodSandbox's input. Pure functions.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/v1/api.pb.h"

namespace tether {

// INVALID_ARGUMENT naming the field for anything we cannot honour.
absl::Status ValidatePodSandboxConfig(const runtime::v1::PodSandboxConfig& config);

// resolv.conf content from DNSConfig; `host_resolv_conf` is used when the config has no servers,
// searches or options.
std::string ResolvConf(const runtime::v1::DNSConfig& dns, const std::string& host_resolv_conf);
// /etc/hosts: the host's for host-network pods, else localhost entries plus the pod's hostname.
std::string HostsFile(bool host_network, const std::string& hostname,
                      const std::string& host_hosts);

}  // namespace tether
