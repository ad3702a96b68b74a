// Notices container exits without polling: conmon writes <exit_dir>/<id> when a container's
// process ends; one inotify watch on that directory wakes a thread that reports the id and code.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "util/fd.h"

namespace tether {

class ExitWatcher {
 public:
  using Callback = std::function<void(const std::string& id, int exit_code)>;

  explicit ExitWatcher(std::string exit_dir) : dir_(std::move(exit_dir)) {}
  ~ExitWatcher();

  // Starts watching; `cb` runs on the watcher's thread for every exit file written from now on.
  absl::Status Start(Callback cb);
  void Stop();
  const std::string& dir() const { return dir_; }

  // The exit code conmon recorded for `id`: NOT_FOUND while it is still running.
  static absl::StatusOr<int> ReadExitCode(const std::string& exit_dir, const std::string& id);

 private:
  void Loop();
  std::string dir_;
  Callback cb_;
  Fd inotify_;
  Fd wake_;  // eventfd to stop the loop
  std::thread thread_;
};

}  // namespace tether
