// What a streaming URL's token stands for: the CRI request, resolved at RPC time to everything the
// backend needs (so src/stream/ never looks into the container or sandbox managers).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "nlohmann/json.hpp"

namespace tether::stream {

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> cmd;
  bool tty = false;
  bool stdin = false;
  bool stdout = false;
  bool stderr = false;
  // Resolved from the container's record.
  std::string runtime_path;  // the OCI runtime binary (runc)
  std::string runtime_root;  // its --root
  std::string bundle_dir;    // temp files (process.json, pid file, runtime log) go here
  nlohmann::json process;    // the container's OCI "process" object; args and terminal replaced
};

struct AttachRequest {
  std::string container_id;
  bool tty = false;
  bool stdin = false;
  bool stdout = false;
  bool stderr = false;
  bool stdin_once = false;    // the container's: conmon closes its stdin when we detach
  std::string attach_socket;  // conmon's SOCK_SEQPACKET socket (may exceed sun_path)
  std::string bundle_dir;     // holds conmon's `ctl` fifo (and `attach` with --full-attach)
};

struct PortForwardRequest {
  std::string sandbox_id;
  std::string netns_path;  // "" for a host-network pod: dial in tetherd's own namespace
  std::vector<int32_t> ports;
};

using StreamRequest = std::variant<ExecRequest, AttachRequest, PortForwardRequest>;

}  // namespace tether::stream
