#include "oci/exit_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {

ExitWatcher::~ExitWatcher() { Stop(); }

absl::Status ExitWatcher::Start(Callback cb) {
  cb_ = std::move(cb);
  if (auto st = MakeDirs(dir_, 0700); !st.ok()) return st;
  inotify_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_.valid()) return absl::InternalError(absl::StrCat("inotify: ", strerror(errno)));
  if (inotify_add_watch(inotify_.get(), dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    return absl::InternalError(absl::StrCat("inotify watch ", dir_, ": ", strerror(errno)));
  }
  wake_.reset(eventfd(0, EFD_CLOEXEC));
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void ExitWatcher::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
  thread_.join();
}

absl::StatusOr<int> ExitWatcher::ReadExitCode(const std::string& exit_dir, const std::string& id) {
  auto data = ReadFile(exit_dir + "/" + id);
  if (!data.ok()) return data.status();
  int code;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*data), &code)) {
    // conmon writes the file once, complete; an empty file means it is being written.
    return absl::UnavailableError(absl::StrCat("exit file for ", id, " is incomplete"));
  }
  return code;
}

void ExitWatcher::Loop() {
  alignas(inotify_event) char buf[8192];
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("exit watcher: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    ssize_t n = read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) continue;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->len == 0) continue;
      std::string id(ev->name);
      auto code = ReadExitCode(dir_, id);
      if (!code.ok()) continue;
      spdlog::debug("exit watcher: {} exited with {}", id, *code);
      cb_(id, *code);
    }
  }
}

}  // namespace tether
