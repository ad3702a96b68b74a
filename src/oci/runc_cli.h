// RuncCli: the OCI runtime driven through its command line (runc, crun: same verbs and flags).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "oci/runtime.h"

namespace tether {

class RuncCli : public OciRuntime {
 public:
  // `binary`: absolute path of runc or crun. `root`: its state directory (--root).
  RuncCli(std::string binary, std::string root,
          std::chrono::milliseconds timeout = std::chrono::seconds(30));

  absl::StatusOr<OciState> State(const std::string& id) override;
  absl::Status Start(const std::string& id) override;
  absl::Status Kill(const std::string& id, int signal, bool all = false) override;
  absl::Status Delete(const std::string& id, bool force = true) override;
  absl::Status Update(const std::string& id, const nlohmann::json& resources) override;
  const std::string& path() const override { return binary_; }
  const std::string& root() const override { return root_; }

 private:
  struct Outcome {
    bool ok = false;
    std::string out;
    std::string message;  // the runtime's error, readable (see RuntimeErrorMessage)
  };
  // Runs `binary --root ROOT args...`. The status is an error only when the runtime could not be
  // run or timed out (DEADLINE_EXCEEDED); a failing verb is reported in Outcome.
  absl::StatusOr<Outcome> Run(std::vector<std::string> args, std::string stdin_data = "");
  // True when the runtime's error says the container is unknown to it.
  bool IsNotFound(const std::string& id, const std::string& message) const;
  absl::Status Error(const std::string& verb, const std::string& id, const Outcome& o) const;

  std::string binary_;
  std::string root_;
  std::chrono::milliseconds timeout_;
};

// Turns runc's logrus lines (`time="..." level=error msg="..."`) into their messages, joined by
// "; " (error and fatal levels preferred); crun's and other plain text comes back trimmed.
std::string RuntimeErrorMessage(absl::string_view stderr_text);

}  // namespace tether
