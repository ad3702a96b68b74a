// Running child processes: one helper that spawns, feeds stdin, captures output with a cap,
// enforces a timeout and always reaps. Never a shell.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tether {

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0] is the program (absolute path or looked up in PATH)
  // Environment of the child. When `inherit_env` is true these entries are added to (and override)
  // the parent's environment.
  std::vector<std::string> env;
  bool inherit_env = true;
  std::string stdin_data;
  std::chrono::milliseconds timeout{0};  // 0 = none; on expiry the child gets SIGKILL
  size_t output_cap = 16 << 20;          // bytes kept per stream; the rest is drained and dropped
  std::string cwd;
  // Extra descriptors for the child: {child_fd, parent_fd}. The parent keeps ownership.
  std::vector<std::pair<int, int>> extra_fds;
  // When true the child's stdout and stderr go to /dev/null and nothing is captured. Use it for
  // programs that daemonize (conmon): a grandchild holding our pipes would keep us waiting.
  bool discard_output = false;
  // Called once when the timeout expires, instead of killing the child at once; the child is
  // killed if it is still running 5 s later. For children that must clean up (runc exec).
  std::function<void(int pid)> on_timeout;
};

struct ProcessResult {
  int exit_code = -1;   // exit status when the child exited normally, else -1
  int term_signal = 0;  // signal that ended the child, 0 when it exited
  bool timed_out = false;
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
  // "exit status 3" / "killed by signal 9" / "timed out", with stderr's first line.
  std::string Describe() const;
};

// Runs the process to completion. The status is an error only when the process could not be
// started; a non-zero exit is reported in the result.
absl::StatusOr<ProcessResult> RunProcess(const ProcessOptions& options);

// Convenience: RunProcess that turns a non-zero exit or timeout into an error naming argv[0].
absl::StatusOr<std::string> RunChecked(const ProcessOptions& options);

}  // namespace tether
