#include "tests/e2e/pty_process.h"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tether::e2e {

absl::StatusOr<PtyProcess> PtyProcess::Start(const std::vector<std::string>& argv,
                                             unsigned short rows, unsigned short cols) {
  if (argv.empty()) return absl::InvalidArgumentError("argv: empty");
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) return absl::InternalError(absl::StrCat("forkpty: ", strerror(errno)));
  if (pid == 0) {
    execv(args[0], args.data());
    _exit(127);
  }
  return PtyProcess(pid, Fd(master));
}

PtyProcess::PtyProcess(PtyProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      master_(std::move(other.master_)),
      seen_(std::move(other.seen_)) {}

PtyProcess::~PtyProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
}

bool PtyProcess::ReadSome() {
  pollfd p{master_.get(), POLLIN, 0};
  int ready = poll(&p, 1, 200);
  if (ready < 0) return errno == EINTR;
  if (ready == 0) return true;
  char buf[1024];
  ssize_t n = read(master_.get(), buf, sizeof buf);
  if (n <= 0) return n < 0 && errno == EINTR;
  seen_.append(buf, static_cast<size_t>(n));
  return true;
}

bool PtyProcess::ReadUntil(absl::string_view needle, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!absl::StrContains(seen_, needle) && absl::Now() < deadline) {
    if (!ReadSome()) break;
  }
  return absl::StrContains(seen_, needle);
}

void PtyProcess::ReadToEnd(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline && ReadSome()) {
  }
}

bool PtyProcess::Type(absl::string_view keys) {
  return write(master_.get(), keys.data(), keys.size()) == static_cast<ssize_t>(keys.size());
}

bool PtyProcess::Resize(unsigned short rows, unsigned short cols) {
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  return ioctl(master_.get(), TIOCSWINSZ, &ws) == 0;
}

absl::StatusOr<int> PtyProcess::Wait() {
  if (pid_ <= 0) return absl::FailedPreconditionError("no process to wait for");
  int st = 0;
  pid_t r;
  while ((r = waitpid(pid_, &st, 0)) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (r < 0) return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  if (!WIFEXITED(st)) return absl::AbortedError(absl::StrCat("ended by signal ", WTERMSIG(st)));
  return WEXITSTATUS(st);
}

}  // namespace tether::e2e
