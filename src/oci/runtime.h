// The OCI runtime seam (runc, crun): the verbs tetherd runs after the monitor created a container.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether {

struct OciState {
  std::string status;  // "creating", "created", "running", "paused", "stopped"
  int pid = 0;
};

class OciRuntime {
 public:
  virtual ~OciRuntime() = default;
  // NOT_FOUND when the runtime does not know the id.
  virtual absl::StatusOr<OciState> State(const std::string& id) = 0;
  virtual absl::Status Start(const std::string& id) = 0;
  // Sends `signal` to the container's init (to every process with `all`). A container that is
  // already stopped or unknown is not an error.
  virtual absl::Status Kill(const std::string& id, int signal, bool all = false) = 0;
  // Deletes the runtime's state (with `force`, kills first). Unknown ids are fine (idempotent).
  virtual absl::Status Delete(const std::string& id, bool force = true) = 0;
  // `runc update --resources -` with an OCI LinuxResources JSON object.
  virtual absl::Status Update(const std::string& id, const nlohmann::json& resources) = 0;
  virtual const std::string& path() const = 0;
  virtual const std::string& root() const = 0;
};

}  // namespace tether
