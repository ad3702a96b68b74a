#include "oci/conmon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "oci/runc_cli.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"
#include "util/process.h"

extern char** environ;

namespace tether {
namespace {

using Clock = std::chrono::steady_clock;

std::string ConmonLogLevel(std::string level) {
  level = absl::AsciiStrToLower(level);
  if (level == "trace" || level == "debug" || level == "info" || level == "error") return level;
  if (level == "warn" || level == "warning") return "warn";
  if (level == "err" || level == "critical" || level == "fatal" || level == "off") return "error";
  return "info";
}

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Our environment minus what would make conmon or the runtime talk to our supervisor: with
// NOTIFY_SOCKET set, runc proxies sd_notify and `runc start` would wait for READY=1.
std::vector<std::string> ConmonEnv() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    absl::string_view entry(*e);
    if (absl::StartsWith(entry, "NOTIFY_SOCKET=") || absl::StartsWith(entry, "LISTEN_PID=") ||
        absl::StartsWith(entry, "LISTEN_FDS=") || absl::StartsWith(entry, "LISTEN_FDNAMES=") ||
        absl::StartsWith(entry, "_OCI_")) {
      continue;
    }
    env.emplace_back(entry);
  }
  env.push_back("_OCI_SYNCPIPE=3");
  env.push_back("_OCI_STARTPIPE=4");
  return env;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Reads conmon's one-line JSON report from the sync pipe. Returns the line, or an error when
// conmon exits without a report or the deadline passes.
absl::StatusOr<std::string> ReadSyncReport(int sync_fd, int pidfd, Clock::time_point deadline) {
  std::string buf;
  bool conmon_gone = false;
  char chunk[4096];
  for (;;) {
    // Drain what is there first: conmon writes its report before it exits.
    for (;;) {
      ssize_t n = read(sync_fd, chunk, sizeof chunk);
      if (n > 0) {
        buf.append(chunk, static_cast<size_t>(n));
        if (buf.size() > (1 << 20)) return absl::InternalError("conmon: oversized sync report");
        continue;
      }
      if (n == 0) {
        conmon_gone = true;  // every writer closed
        break;
      }
      if (errno == EINTR) continue;
      break;  // EAGAIN
    }
    if (size_t nl = buf.find('\n'); nl != std::string::npos) return buf.substr(0, nl);
    if (conmon_gone) {
      if (!buf.empty()) return buf;
      return absl::UnknownError("conmon exited without reporting the container's creation");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError("conmon: timed out waiting for the container's creation");
    }
    pollfd fds[2] = {{sync_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int r = poll(fds, pidfd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
    }
    // conmon exited: one more drain decides (its report, if any, is in the pipe by now).
    if (r > 0 && pidfd >= 0 && (fds[1].revents & POLLIN)) conmon_gone = true;
  }
}

}  // namespace

Conmon::Conmon(std::string conmon_path, std::string log_level,
               std::chrono::milliseconds sync_timeout)
    : conmon_path_(std::move(conmon_path)),
      log_level_(ConmonLogLevel(std::move(log_level))),
      sync_timeout_(sync_timeout) {}

absl::StatusOr<MonitorStarted> Conmon::Create(const MonitorSpec& spec) {
  if (spec.id.empty() || spec.bundle_dir.empty() || spec.runtime_path.empty() ||
      spec.runtime_root.empty() || spec.exit_dir.empty() || spec.persist_dir.empty()) {
    return absl::InvalidArgumentError(
        "conmon: id, bundle_dir, runtime_path, runtime_root, exit_dir and persist_dir are "
        "required");
  }
  if (!PathExists(spec.bundle_dir + "/config.json")) {
    return absl::FailedPreconditionError(
        absl::StrCat("conmon: no config.json in bundle ", spec.bundle_dir));
  }
  // conmon splits its --log-path at ':' (driver:path).
  if (spec.log_path.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("conmon: log path may not contain ':': ", spec.log_path));
  }
  for (const std::string* dir : {&spec.exit_dir, &spec.persist_dir, &spec.socket_dir}) {
    if (dir->empty()) continue;
    if (auto s = MakeDirs(*dir, 0700); !s.ok()) return s;
  }
  if (!spec.log_path.empty()) {
    if (auto s = MakeDirs(Dirname(spec.log_path)); !s.ok()) return s;
  }
  const std::string pidfile = spec.bundle_dir + "/pidfile";
  const std::string conmon_pidfile = spec.bundle_dir + "/conmon.pid";
  // Stale files from an earlier attempt would be mistaken for this one's.
  for (const std::string& f : {pidfile, conmon_pidfile, spec.exit_dir + "/" + spec.id,
                               spec.persist_dir + "/exit", spec.persist_dir + "/oom"}) {
    if (auto s = RemoveFile(f); !s.ok()) return s;
  }

  MonitorStarted started;
  std::vector<std::string> argv = {conmon_path_,
                                   "-b",
                                   spec.bundle_dir,
                                   "-c",
                                   spec.id,
                                   "-u",
                                   spec.id,
                                   "-n",
                                   spec.name.empty() ? spec.id : spec.name,
                                   "-r",
                                   spec.runtime_path,
                                   "--runtime-arg",
                                   "--root=" + spec.runtime_root,
                                   "-p",
                                   pidfile,
                                   "-P",
                                   conmon_pidfile,
                                   "--exit-dir",
                                   spec.exit_dir,
                                   "--persist-dir",
                                   spec.persist_dir,
                                   "-l",
                                   spec.log_path.empty() ? "none" : "k8s-file:" + spec.log_path,
                                   "--log-level",
                                   log_level_};
  // conmon binds SOCKET_DIR/ID/attach through a symlink SOCKET_DIR/ID -> BUNDLE; when that path
  // would not fit a sockaddr_un, bind in the bundle directly.
  std::string short_attach = absl::StrCat(spec.socket_dir, "/", spec.id, "/attach");
  if (!spec.socket_dir.empty() && short_attach.size() < sizeof(sockaddr_un::sun_path)) {
    argv.insert(argv.end(), {"--socket-dir-path", spec.socket_dir});
    started.attach_socket_path = short_attach;
  } else {
    argv.push_back("--full-attach");
    started.attach_socket_path = spec.bundle_dir + "/attach";
  }
  if (spec.terminal) argv.push_back("-t");
  if (spec.stdin_open) {
    argv.push_back("-i");
    if (!spec.stdin_once) argv.push_back("--leave-stdin-open");
  }

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd sync_r(p[0]), sync_w(p[1]);
  if (pipe2(p, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd start_r(p[0]), start_w(p[1]);
  // conmon's first process blocks on the start pipe before it forks; the byte waits in the pipe.
  // (CRI-O moves conmon into a cgroup before writing it; we leave conmon in ours.)
  if (write(start_w.get(), "0", 1) != 1) {
    return absl::InternalError(absl::StrCat("start pipe: ", strerror(errno)));
  }
  start_w.reset();

  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = ConmonEnv();
  o.inherit_env = false;
  o.cwd = spec.bundle_dir;
  o.timeout = std::chrono::seconds(30);
  o.output_cap = 64 << 10;
  o.extra_fds = {{3, sync_w.get()}, {4, start_r.get()}};
  // Output is captured, not discarded: conmon's first process reports argument and log-file
  // errors on stderr, and the daemon it forks points its stdio at /dev/null at once (2.1.6,
  // non-passthrough logging), so nothing keeps our pipes open.
  auto deadline = Clock::now() + sync_timeout_;
  auto run = RunProcess(o);
  sync_w.reset();
  start_r.reset();
  if (!run.ok()) return absl::UnavailableError(absl::StrCat("conmon: ", run.status().message()));
  RuncCli runtime(spec.runtime_path, spec.runtime_root);
  if (!run->ok()) {
    // The first process failed before forking the daemon: no runtime state exists.
    std::string msg = absl::StrCat("conmon: ", run->Describe());
    if (run->timed_out) return absl::DeadlineExceededError(msg);
    return absl::InternalError(msg);
  }

  auto pid_text = ReadFile(conmon_pidfile);
  if (!pid_text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &started.monitor_pid) ||
      started.monitor_pid <= 0) {
    // Cannot happen with conmon 2.1.6 (it writes the file before its first process exits).
    (void)runtime.Delete(spec.id, true);
    return absl::InternalError(absl::StrCat("conmon: no pid in ", conmon_pidfile));
  }
  Fd pidfd(PidfdOpen(started.monitor_pid));  // invalid when conmon is already gone: fine
  fcntl(sync_r.get(), F_SETFL, O_NONBLOCK);

  auto fail = [&](absl::Status status) -> absl::Status {
    // conmon may still be running `runtime create`: stop it first (its runtime child has
    // PDEATHSIG=SIGKILL), then remove whatever the runtime has.
    if (pidfd.valid()) {
      if (syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) == 0) {
        pollfd pfd = {pidfd.get(), POLLIN, 0};
        poll(&pfd, 1, 2000);
      }
    }
    if (auto s = runtime.Delete(spec.id, true); !s.ok()) {
      spdlog::warn("container {}: cleanup after failed create: {}", spec.id, s.message());
    }
    return status;
  };

  auto report = ReadSyncReport(sync_r.get(), pidfd.get(), deadline);
  if (!report.ok()) return fail(report.status());
  nlohmann::json j = nlohmann::json::parse(*report, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer()) {
    return fail(absl::InternalError(absl::StrCat("conmon: unexpected report: ", *report)));
  }
  int pid = j["pid"].get<int>();
  if (pid <= 0) {
    std::string message;
    if (j.contains("message") && j["message"].is_string()) {
      message = RuntimeErrorMessage(j["message"].get<std::string>());
    }
    if (message.empty()) message = "no message";
    return fail(absl::UnknownError(
        absl::StrCat(spec.runtime_path, " create ", spec.id, " failed: ", message)));
  }
  started.container_pid = pid;
  spdlog::debug("container {}: created, pid {}, conmon pid {}", spec.id, started.container_pid,
                started.monitor_pid);
  return started;
}

}  // namespace tether
