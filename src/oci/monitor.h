// The per-container monitor seam (conmon): it creates the container through the OCI runtime,
// outlives tetherd, keeps stdio and CRI-format logs, and writes the exit code to an exit file.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tether {

struct MonitorSpec {
  std::string id;
  std::string name;         // for conmon's logs
  std::string bundle_dir;   // holds config.json; pidfile and ctl fifo go here
  std::string log_path;     // CRI-format container log
  std::string exit_dir;     // conmon writes <exit_dir>/<id> with the exit code
  std::string persist_dir;  // conmon writes <persist_dir>/exit and, on OOM, <persist_dir>/oom
  std::string socket_dir;   // attach socket at <socket_dir>/<id>/attach
  std::string runtime_path;
  std::string runtime_root;
  bool terminal = false;
  bool stdin_open = false;
  bool stdin_once = false;
};

struct MonitorStarted {
  int container_pid = 0;
  int monitor_pid = 0;
  // Where the attach socket listens (SOCK_SEQPACKET). May exceed sun_path's 108 bytes; then
  // open its directory O_PATH and connect to /proc/self/fd/<n>/attach.
  std::string attach_socket_path;
};

class Monitor {
 public:
  virtual ~Monitor() = default;
  // Creates (not starts) the container: on return the runtime knows it as "created" and its init
  // pid is known. On failure nothing of it is left in the runtime.
  virtual absl::StatusOr<MonitorStarted> Create(const MonitorSpec& spec) = 0;
};

}  // namespace tether
