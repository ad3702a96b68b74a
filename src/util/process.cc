#include "util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "util/fd.h"

extern char** environ;

namespace tether {
namespace {

std::vector<std::string> BuildEnv(const ProcessOptions& o) {
  std::vector<std::string> env;
  if (o.inherit_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string entry(*e);
      std::string key = entry.substr(0, entry.find('='));
      bool overridden = false;
      for (const auto& x : o.env) {
        if (x.compare(0, key.size() + 1, key + "=") == 0) overridden = true;
      }
      if (!overridden) env.push_back(std::move(entry));
    }
  }
  env.insert(env.end(), o.env.begin(), o.env.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string ProcessResult::Describe() const {
  std::string what;
  if (timed_out) {
    what = "timed out";
  } else if (term_signal != 0) {
    what = absl::StrCat("killed by signal ", term_signal);
  } else {
    what = absl::StrCat("exit status ", exit_code);
  }
  std::string first = err.substr(0, err.find('\n'));
  if (first.empty()) first = out.substr(0, out.find('\n'));
  if (!first.empty()) absl::StrAppend(&what, ": ", first);
  return what;
}

absl::StatusOr<ProcessResult> RunProcess(const ProcessOptions& o) {
  if (o.argv.empty()) return absl::InvalidArgumentError("RunProcess: empty argv");
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  Fd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);
  // An exec-status pipe: the child writes errno if execve fails.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  Fd exec_r(exec_pipe[0]), exec_w(exec_pipe[1]);

  std::vector<std::string> argv = o.argv;
  std::vector<std::string> env = BuildEnv(o);
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    // Move the extra descriptors out of the way first, so dup2 onto 0..N cannot clobber them.
    int moved[64];
    size_t n_extra = o.extra_fds.size() < 64 ? o.extra_fds.size() : 64;
    for (size_t i = 0; i < n_extra; ++i)
      moved[i] = fcntl(o.extra_fds[i].second, F_DUPFD_CLOEXEC, 100);
    dup2(in_r.get(), 0);
    if (o.discard_output) {
      int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
      dup2(devnull, 1);
      dup2(devnull, 2);
    } else {
      dup2(out_w.get(), 1);
      dup2(err_w.get(), 2);
    }
    for (size_t i = 0; i < n_extra; ++i) dup2(moved[i], o.extra_fds[i].first);  // clears CLOEXEC
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) {
      int e = errno;
      (void)!write(exec_w.get(), &e, sizeof e);
      _exit(127);
    }
    if (o.argv[0].find('/') != std::string::npos) {
      execve(cargv[0], cargv.data(), cenv.data());
    } else {
      execvpe(cargv[0], cargv.data(), cenv.data());
    }
    int e = errno;
    (void)!write(exec_w.get(), &e, sizeof e);
    _exit(127);
  }

  in_r.reset();
  out_w.reset();
  err_w.reset();
  exec_w.reset();
  int exec_errno = 0;
  if (read(exec_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return absl::NotFoundError(absl::StrCat("cannot run ", o.argv[0], ": ", strerror(exec_errno)));
  }

  ProcessResult result;
  size_t written = 0;
  if (o.stdin_data.empty()) in_w.reset();
  fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + o.timeout;
  char buf[65536];
  while (out_r.valid() || err_r.valid()) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out_r.valid()) {
      fds[n] = {out_r.get(), POLLIN, 0};
      idx_out = n++;
    }
    if (err_r.valid()) {
      fds[n] = {err_r.get(), POLLIN, 0};
      idx_err = n++;
    }
    if (in_w.valid()) {
      fds[n] = {in_w.get(), POLLOUT, 0};
      idx_in = n++;
    }
    int wait_ms = -1;
    if (o.timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        if (!result.timed_out && o.on_timeout) {
          // Let the caller end things its own way first; SIGKILL after a grace period.
          result.timed_out = true;
          o.on_timeout(pid);
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
          continue;
        }
        kill(pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left.count());
    }
    int r = poll(fds, n, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    auto drain = [&](int idx, Fd& fd, std::string& sink) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = read(fd.get(), buf, sizeof buf);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) return;
        fd.reset();
        return;
      }
      size_t room = o.output_cap > sink.size() ? o.output_cap - sink.size() : 0;
      sink.append(buf, std::min(room, static_cast<size_t>(got)));
    };
    drain(idx_out, out_r, result.out);
    drain(idx_err, err_r, result.err);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in_w.get(), o.stdin_data.data() + written, o.stdin_data.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) in_w.reset();
      if (written >= o.stdin_data.size()) in_w.reset();
    }
  }
  in_w.reset();
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st)) result.exit_code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) result.term_signal = WTERMSIG(st);
  return result;
}

absl::StatusOr<std::string> RunChecked(const ProcessOptions& options) {
  auto r = RunProcess(options);
  if (!r.ok()) return r.status();
  if (r->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(options.argv[0], ": ", r->Describe()));
  }
  if (!r->ok()) return absl::InternalError(absl::StrCat(options.argv[0], ": ", r->Describe()));
  return std::move(r->out);
}

}  // namespace tether
