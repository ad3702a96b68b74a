// tetherd's assembly: config → managers → gRPC server on a unix socket, until a signal.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "config/config.h"

namespace tether {

// Runs the daemon until SIGTERM or SIGINT. Pods keep running after it returns.
absl::Status RunDaemon(const Config& config, const std::string& pause_binary);

}  // namespace tether
