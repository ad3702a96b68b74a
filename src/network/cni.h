// CNI: the network seam. tetherd calls a network once per sandbox: ADD on run, DEL on stop and on
// any failure after ADD, CHECK when asked in status.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether {

struct CniPortMapping {
  std::string protocol = "tcp";  // "tcp", "udp" or "sctp"
  int container_port = 0;
  int host_port = 0;
  std::string host_ip;  // empty: all addresses
};

struct CniBandwidth {  // bits per second and bits; 0 = unset
  uint64_t ingress_rate = 0, ingress_burst = 0, egress_rate = 0, egress_burst = 0;
};

// What a call is about: one sandbox's network namespace.
struct CniAttachment {
  std::string container_id;  // the sandbox id
  std::string netns_path;    // the pinned network namespace
  std::string ifname = "eth0";
  // CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID.
  std::vector<std::pair<std::string, std::string>> args;
  std::vector<CniPortMapping> port_mappings;  // capability "portMappings"
  CniBandwidth bandwidth;                     // capability "bandwidth"
  std::string pod_cidr;                       // runtime arg from UpdateRuntimeConfig, if set
};

struct CniResult {
  std::vector<std::string> ips;  // pod addresses without prefix length, IPv4 first
  nlohmann::json raw;            // the final plugin's result, as the chain returned it
};

class CniNetwork {
 public:
  virtual ~CniNetwork() = default;
  // OK when a network configuration is loaded and its plugins exist; otherwise FAILED_PRECONDITION
  // with a message an operator can act on (used for the NetworkReady condition).
  virtual absl::Status Ready() = 0;
  virtual absl::StatusOr<CniResult> Add(const CniAttachment& a) = 0;
  // Idempotent: a missing netns or an already-deleted attachment is fine.
  virtual absl::Status Del(const CniAttachment& a) = 0;
  virtual absl::Status Check(const CniAttachment& a) = 0;
  // The network name from the loaded configuration ("" when none).
  virtual std::string NetworkName() = 0;
};

}  // namespace tether
