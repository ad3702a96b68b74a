#include "util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

  std::vector<std::string> argv = o.argv;
  std::vector<std::string> env = BuildEnv(o);
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);

  // posix_spawn, not fork: glibc spawns with CLONE_VM | CLONE_VFORK, so the child does not copy
  // tetherd's page tables (tens of MiB, a dozen threads) only to throw them away at execve, and
  // neither process takes copy-on-write faults afterwards. An execve or chdir failure comes back
  // as posix_spawn's result.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // The extra descriptors are first moved above every descriptor involved, so that dup2 onto
  // 0..N cannot clobber them; dup2 clears FD_CLOEXEC on the copies the child keeps.
  int high = std::max({in_r.get(), out_w.get(), err_w.get()});
  for (const auto& [child_fd, parent_fd] : o.extra_fds)
    high = std::max({high, child_fd, parent_fd});
  for (size_t i = 0; i < o.extra_fds.size(); ++i) {
    posix_spawn_file_actions_adddup2(&fa, o.extra_fds[i].second, high + 1 + static_cast<int>(i));
  }
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  if (o.discard_output) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  } else {
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  }
  for (size_t i = 0; i < o.extra_fds.size(); ++i) {
    const int moved = high + 1 + static_cast<int>(i);
    posix_spawn_file_actions_adddup2(&fa, moved, o.extra_fds[i].first);
    posix_spawn_file_actions_addclose(&fa, moved);
  }
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  pid_t pid = -1;
  int spawn_errno = o.argv[0].find('/') != std::string::npos
                        ? posix_spawn(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data())
                        : posix_spawnp(&pid, cargv[0], &fa, &attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (spawn_errno != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", o.argv[0], ": ", strerror(spawn_errno)));
  }

  in_r.reset();
  out_w.reset();
  err_w.reset();

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
