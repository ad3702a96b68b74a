// Conmon: the Monitor that runs conmon, which runs `runc create` and then watches the container
// from a double-forked daemon (it survives tetherd).
//
// What a Create leaves behind (the caller owns the cleanup of all of it):
//   BUNDLE/pidfile        the container's init pid (written by the runtime)
//   BUNDLE/conmon.pid     conmon's pid
//   BUNDLE/ctl, winsz     conmon's control fifos (resize, reopen log)
//   BUNDLE/attach         the attach socket; SOCKET_DIR/ID is a symlink to BUNDLE (absent when
//                         the path would not fit a sockaddr_un: then conmon gets --full-attach)
//   LOG_PATH              CRI-format log (when set)
//   EXIT_DIR/ID           written when the container exits: the exit code in decimal, no newline
//                         (-1 when unknown); PERSIST_DIR/exit holds the same
//   PERSIST_DIR/oom       present when the container was OOM-killed
#pragma once

#include <chrono>
#include <string>

#include "oci/monitor.h"

namespace tether {

class Conmon : public Monitor {
 public:
  // `log_level`: conmon's own --log-level (trace, debug, info, warn, error; spdlog names such as
  // "warning", "err", "critical" and "off" are mapped).
  Conmon(std::string conmon_path, std::string log_level,
         std::chrono::milliseconds sync_timeout = std::chrono::seconds(60));

  // Runs conmon, which runs `RUNTIME create`; waits for conmon's report on the sync pipe. On
  // failure kills conmon and runs `RUNTIME delete --force ID`, so nothing is left in the runtime;
  // the error carries the runtime's message.
  absl::StatusOr<MonitorStarted> Create(const MonitorSpec& spec) override;

 private:
  std::string conmon_path_;
  std::string log_level_;
  std::chrono::milliseconds sync_timeout_;
};

}  // namespace tether
