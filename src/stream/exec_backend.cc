#include "stream/exec_backend.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "stream/token_cache.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

extern char** environ;

namespace tether::stream {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

constexpr size_t kExecReadChunk = 32 * 1024;
// After the runtime exits: how long output may stay open without progress (a background child
// holding the tty) before the session ends anyway.
constexpr auto kDrainGrace = std::chrono::seconds(2);

std::string Errno(const char* what) { return absl::StrCat(what, ": ", strerror(errno)); }

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// The last error the runtime logged (runc --log-format json), or "".
std::string RuntimeLogError(const std::string& log_file) {
  auto text = ReadFile(log_file);
  if (!text.ok()) return "";
  std::string last;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::string level = j.value("level", "");
    if (level == "error" || level == "fatal") last = j.value("msg", "");
  }
  return last;
}

int WaitStatusToCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

struct Paths {
  std::string process_file, pid_file, log_file;
};

// The runtime started (or not): everything the strand needs. Blocking work only.
// SIGKILLs the process named by a runtime pid file; false when there is none (yet).
bool KillFromPidFile(const std::string& pid_file) {
  auto text = ReadFile(pid_file);
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 0) {
    return false;
  }
  kill(pid, SIGKILL);
  return true;
}

void Reap(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

struct Spawned {
  pid_t pid = -1;
  Fd pidfd;
  Fd stdin_w, stdout_r, stderr_r;  // without a tty
  Fd pty;                          // with a tty: the master of the runtime's terminal
  std::string error;               // set: did not start (already reaped)
  std::string pid_file;
  bool adopted = false;  // the backend took over `pid`
  ~Spawned() {
    // Never adopted (the server stopped meanwhile): leave nothing running.
    if (!adopted && pid > 0) {
      KillFromPidFile(pid_file);
      kill(pid, SIGKILL);
      Reap(pid);
    }
  }
};

std::vector<std::string> RuntimeEnv() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    absl::string_view entry(*e);
    if (absl::StartsWith(entry, "NOTIFY_SOCKET=") || absl::StartsWith(entry, "LISTEN_")) continue;
    env.emplace_back(entry);
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::shared_ptr<Spawned> Spawn(const ExecRequest& req, const Paths& paths, TerminalSize initial) {
  auto s = std::make_shared<Spawned>();
  s->pid_file = paths.pid_file;
  nlohmann::json process = req.process.is_object() ? req.process : nlohmann::json::object();
  process["args"] = req.cmd;
  process["terminal"] = req.tty;
  if (req.tty) {
    // As containerd and CRI-O do for an exec with a tty.
    bool has_term = false;
    if (process.contains("env") && process["env"].is_array()) {
      for (const auto& e : process["env"]) {
        if (e.is_string() && absl::StartsWith(e.get<std::string>(), "TERM=")) has_term = true;
      }
    }
    if (!has_term) process["env"].push_back("TERM=xterm");
  }
  if (auto st = WriteFileAtomic(paths.process_file, process.dump(), 0600); !st.ok()) {
    s->error = std::string(st.message());
    return s;
  }

  // With a tty, the runtime runs in the foreground on a terminal of ours: it makes the
  // container's pty, copies between the two, and follows our size (SIGWINCH, as our terminal's
  // session leader). (runc takes a console socket only when it detaches, and then could not
  // report the exit status.)
  Fd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  Fd in_r, out_w, err_w, exec_r, exec_w, slave;
  int p[2];
  auto make_pipe = [&](Fd* r, Fd* w) {
    if (pipe2(p, O_CLOEXEC) != 0) return false;
    r->reset(p[0]);
    w->reset(p[1]);
    return true;
  };
  bool ok = devnull.valid() && make_pipe(&exec_r, &exec_w);
  if (ok && !req.tty && req.stdin) ok = make_pipe(&in_r, &s->stdin_w);
  if (ok && !req.tty) ok = make_pipe(&s->stdout_r, &out_w) && make_pipe(&s->stderr_r, &err_w);
  if (!ok) {
    s->error = Errno("pipe");
    return s;
  }
  if (req.tty) {
    s->pty.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    char name[128];
    if (!s->pty.valid() || grantpt(s->pty.get()) != 0 || unlockpt(s->pty.get()) != 0 ||
        ptsname_r(s->pty.get(), name, sizeof name) != 0) {
      s->error = Errno("pty");
      return s;
    }
    slave.reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave.valid()) {
      s->error = Errno("open pty");
      return s;
    }
    if (initial.width > 0 && initial.height > 0) {
      winsize ws{};
      ws.ws_row = initial.height;
      ws.ws_col = initial.width;
      ioctl(s->pty.get(), TIOCSWINSZ, &ws);
    }
  }

  std::vector<std::string> argv = {
      req.runtime_path, "--root",       req.runtime_root, "--log",     paths.log_file,
      "--log-format",   "json",         "exec",           "--process", paths.process_file,
      "--pid-file",     paths.pid_file, req.container_id};
  std::vector<std::string> env = RuntimeEnv();
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(env);
  int child_in = req.tty ? slave.get() : in_r.valid() ? in_r.get() : devnull.get();
  int child_out = req.tty ? slave.get() : out_w.get();
  int child_err = req.tty ? slave.get() : err_w.get();
  int child_tty = req.tty ? slave.get() : -1;

  pid_t pid = fork();
  if (pid < 0) {
    s->error = Errno("fork");
    return s;
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    setsid();  // its own session: our signals do not reach it, and it may own a terminal
    if (child_tty >= 0) ioctl(child_tty, TIOCSCTTY, 0);
    dup2(child_in, 0);
    dup2(child_out, 1);
    dup2(child_err, 2);
    // Whatever else tetherd has open (sockets included) must not leak into the runtime.
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(cargv[0], cargv.data(), cenv.data());
    int e = errno;
    (void)!write(exec_w.get(), &e, sizeof e);
    _exit(127);
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  exec_w.reset();
  slave.reset();
  int exec_errno = 0;
  if (read(exec_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    Reap(pid);
    s->error = absl::StrCat("cannot run ", req.runtime_path, ": ", strerror(exec_errno));
    return s;
  }
  s->pid = pid;
  s->pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!s->pidfd.valid()) {
    kill(pid, SIGKILL);
    Reap(pid);
    s->pid = -1;
    s->error = Errno("pidfd_open");
    return s;
  }
  for (Fd* fd : {&s->stdin_w, &s->stdout_r, &s->stderr_r, &s->pty}) {
    if (fd->valid()) SetNonBlocking(fd->get());
  }
  return s;
}

class ExecBackend : public CommandBackend, public std::enable_shared_from_this<ExecBackend> {
 public:
  ExecBackend(asio::any_io_executor ex, asio::thread_pool& pool, ExecRequest req)
      : ex_(std::move(ex)), pool_(pool), req_(std::move(req)), grace_(ex_), kill_timer_(ex_) {
    std::string token = RandomUrlToken(9);
    for (char& c : token) {
      if (c == '-' || c == '_') c = 'x';
    }
    paths_.process_file = absl::StrCat(req_.bundle_dir, "/exec-", token, ".json");
    paths_.pid_file = absl::StrCat(req_.bundle_dir, "/exec-", token, ".pid");
    paths_.log_file = absl::StrCat(req_.bundle_dir, "/exec-", token, ".log");
  }

  ~ExecBackend() override {
    // Only when the io_context is torn down with the runtime still running (shutdown): do not
    // leave the process behind.
    if (pid_ > 0) {
      KillProcess();
      kill(pid_, SIGKILL);
      Reap(pid_);
    }
    RemoveFiles();
  }

  void Start(Sink sink) override {
    sink_ = std::move(sink);
    auto self = shared_from_this();
    TerminalSize initial = size_.value_or(TerminalSize{});
    asio::post(pool_, [self, initial] {
      auto spawned = Spawn(self->req_, self->paths_, initial);
      asio::post(self->ex_, [self, spawned] { self->OnSpawned(spawned); });
    });
  }

  void WriteStdin(std::string data, Callback written) override {
    if (cancelled_ || done_ || stdin_closed_) {
      if (written) written();
      return;
    }
    stdin_queue_.emplace_back(std::move(data), std::move(written));
    PumpStdin();
  }

  void CloseStdin() override {
    if (stdin_closed_) return;
    if (req_.tty) return;  // a terminal has no half-close; the process sees the hangup at exit
    stdin_close_requested_ = true;
    PumpStdin();
  }

  void Resize(TerminalSize size) override {
    size_ = size;
    ApplySize();
  }

  void Cancel() override {
    if (cancelled_) return;
    cancelled_ = true;
    sink_ = {};
    FailStdinQueue();
    if (!spawned_) return;  // OnSpawned kills it
    stdin_close_requested_ = true;
    PumpStdin();
    if (pid_ > 0) KillSoon(0);
  }

 private:
  void OnSpawned(std::shared_ptr<Spawned> s) {
    spawned_ = true;
    if (!s->error.empty()) {
      RemoveFiles();
      Finish(
          CommandResult::Failed(absl::StrCat("error executing command in container: ", s->error)));
      return;
    }
    pid_ = s->pid;
    s->adopted = true;
    pidfd_.emplace(ex_, s->pidfd.release());
    if (req_.tty) {
      pty_ = std::make_shared<Descriptor>(ex_, s->pty.release());
      stdin_fd_ = pty_;
      AddReader(StdStream::kStdout, pty_);
      ApplySize();
    } else {
      if (s->stdin_w.valid()) stdin_fd_ = std::make_shared<Descriptor>(ex_, s->stdin_w.release());
      AddReader(StdStream::kStdout, std::make_shared<Descriptor>(ex_, s->stdout_r.release()));
      AddReader(StdStream::kStderr, std::make_shared<Descriptor>(ex_, s->stderr_r.release()));
    }
    WaitExit();
    if (cancelled_) {
      KillSoon(0);
    } else {
      PumpStdin();
    }
    for (size_t i = 0; i < readers_.size(); ++i) ReadMore(i);
  }

  struct Reader {
    StdStream stream;
    std::shared_ptr<Descriptor> sd;
    std::vector<char> buf;
    bool eof = false;
  };

  void AddReader(StdStream stream, std::shared_ptr<Descriptor> sd) {
    readers_.push_back(Reader{stream, std::move(sd), std::vector<char>(kExecReadChunk), false});
  }

  void ReadMore(size_t i) {
    Reader& r = readers_[i];
    if (r.eof || done_) return;
    auto self = shared_from_this();
    r.sd->async_read_some(asio::buffer(r.buf), [self, i](boost::system::error_code ec, size_t n) {
      Reader& r = self->readers_[i];
      if (self->done_) return;
      if (ec || n == 0) {
        // EOF, or EIO from a pty whose other side is all closed.
        r.eof = true;
        self->MaybeDone();
        return;
      }
      ++self->progress_;
      if (self->cancelled_ || !self->sink_.output) {
        // Nobody listens: drain, so the runtime never blocks on a full pipe while it dies.
        self->ReadMore(i);
        return;
      }
      self->sink_.output(r.stream, std::string(r.buf.data(), n),
                         [self, i] { asio::post(self->ex_, [self, i] { self->ReadMore(i); }); });
    });
  }

  void PumpStdin() {
    if (stdin_writing_ || !spawned_) return;
    if (!stdin_fd_) {
      FailStdinQueue();
      return;
    }
    if (stdin_queue_.empty()) {
      if (stdin_close_requested_ && !stdin_closed_) {
        stdin_closed_ = true;
        if (!req_.tty) {
          boost::system::error_code ignored;
          stdin_fd_->close(ignored);
        }
        stdin_fd_.reset();
      }
      return;
    }
    stdin_writing_ = true;
    auto self = shared_from_this();
    asio::async_write(*stdin_fd_, asio::buffer(stdin_queue_.front().first),
                      [self](boost::system::error_code ec, size_t) {
                        self->stdin_writing_ = false;
                        auto cb = std::move(self->stdin_queue_.front().second);
                        self->stdin_queue_.pop_front();
                        if (cb) cb();
                        if (ec) {
                          // The process closed its stdin (or exited): drop the rest.
                          self->stdin_closed_ = true;
                          self->stdin_fd_.reset();
                        }
                        self->PumpStdin();
                      });
  }

  void FailStdinQueue() {
    while (!stdin_queue_.empty() && !stdin_writing_) {
      auto cb = std::move(stdin_queue_.front().second);
      stdin_queue_.pop_front();
      if (cb) cb();
    }
  }

  void ApplySize() {
    if (!pty_ || !size_ || size_->width == 0 || size_->height == 0) return;
    winsize ws{};
    ws.ws_row = size_->height;
    ws.ws_col = size_->width;
    if (ioctl(pty_->native_handle(), TIOCSWINSZ, &ws) != 0) {
      spdlog::debug("exec {}: TIOCSWINSZ: {}", req_.container_id, strerror(errno));
    }
  }

  void WaitExit() {
    auto self = shared_from_this();
    pidfd_->async_wait(Descriptor::wait_read, [self](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      int status = 0;
      pid_t r;
      do {
        r = waitpid(self->pid_, &status, WNOHANG);
      } while (r < 0 && errno == EINTR);
      if (r == 0) {  // spurious: wait again
        self->WaitExit();
        return;
      }
      self->pid_ = -1;
      self->exit_code_ = WaitStatusToCode(status);
      self->exited_ = true;
      self->kill_timer_.cancel();
      self->OnExited();
    });
  }

  void OnExited() {
    // A start failure: the runtime logged why, and the process never ran.
    if (exit_code_ != 0 && !PathExists(paths_.pid_file)) {
      start_error_ = RuntimeLogError(paths_.log_file);
    }
    RemoveFiles();
    if (cancelled_) {
      CloseAll();
      return;
    }
    ArmGrace();
    MaybeDone();
  }

  void ArmGrace() {
    auto self = shared_from_this();
    uint64_t seen = progress_;
    grace_.expires_after(kDrainGrace);
    grace_.async_wait([self, seen](boost::system::error_code ec) {
      if (ec || self->done_) return;
      if (self->progress_ != seen) {
        self->ArmGrace();
        return;
      }
      self->grace_expired_ = true;
      self->MaybeDone();
    });
  }

  void MaybeDone() {
    if (done_ || !exited_) return;
    bool all_eof = true;
    for (const Reader& r : readers_) all_eof = all_eof && r.eof;
    if (!all_eof && !grace_expired_) return;
    grace_.cancel();
    CommandResult result = start_error_.empty()
                               ? CommandResult::Exited(exit_code_)
                               : CommandResult::Failed(absl::StrCat(
                                     "error executing command in container: ", start_error_));
    CloseAll();
    Finish(std::move(result));
  }

  void Finish(CommandResult result) {
    if (done_) return;
    done_ = true;
    auto sink = std::move(sink_);
    sink_ = {};
    if (!cancelled_ && sink.done) sink.done(std::move(result));
  }

  void CloseAll() {
    boost::system::error_code ignored;
    for (Reader& r : readers_) {
      if (r.sd) r.sd->close(ignored);
    }
    if (stdin_fd_) stdin_fd_->close(ignored);
    stdin_fd_.reset();
    if (pidfd_) pidfd_->close(ignored);
  }

  // SIGKILL the exec'd process (its pid from the pid file); the runtime then exits and is
  // reaped by WaitExit. Until the pid file appears the runtime is still starting it: retry, and
  // in the end kill the runtime itself.
  void KillSoon(int attempt) {
    if (pid_ <= 0) return;
    if (KillProcess()) return;
    if (attempt >= 50) {
      kill(pid_, SIGKILL);
      return;
    }
    auto self = shared_from_this();
    kill_timer_.expires_after(std::chrono::milliseconds(100));
    kill_timer_.async_wait([self, attempt](boost::system::error_code ec) {
      if (!ec) self->KillSoon(attempt + 1);
    });
  }

  bool KillProcess() { return KillFromPidFile(paths_.pid_file); }

  void RemoveFiles() {
    for (const std::string& f : {paths_.process_file, paths_.pid_file, paths_.log_file}) {
      unlink(f.c_str());
    }
  }

  asio::any_io_executor ex_;
  asio::thread_pool& pool_;
  const ExecRequest req_;
  Paths paths_;
  Sink sink_;
  bool spawned_ = false, cancelled_ = false, done_ = false, exited_ = false;
  bool grace_expired_ = false;
  pid_t pid_ = -1;
  int exit_code_ = 0;
  std::string start_error_;
  uint64_t progress_ = 0;
  std::optional<Descriptor> pidfd_;
  std::shared_ptr<Descriptor> pty_, stdin_fd_;
  std::vector<Reader> readers_;
  std::deque<std::pair<std::string, Callback>> stdin_queue_;
  bool stdin_writing_ = false, stdin_close_requested_ = false, stdin_closed_ = false;
  std::optional<TerminalSize> size_;
  asio::steady_timer grace_, kill_timer_;
};

}  // namespace

std::shared_ptr<CommandBackend> NewExecBackend(asio::any_io_executor strand,
                                               asio::thread_pool& blocking, ExecRequest request) {
  return std::make_shared<ExecBackend>(std::move(strand), blocking, std::move(request));
}

}  // namespace tether::stream
