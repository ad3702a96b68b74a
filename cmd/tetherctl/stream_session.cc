#include "tetherctl/stream_session.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <optional>
#include <utility>

namespace tether::ctl {
namespace {

// Puts a terminal into raw mode (no echo, no line editing, ^C a plain byte) and restores it.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!isatty(fd_) || tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    active_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::optional<stream::TerminalSize> TerminalSizeOf(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
  return stream::TerminalSize{ws.ws_col, ws.ws_row};
}

}  // namespace

void AddTransportFlags(CLI::App* cmd, StreamFlags& f) {
  cmd->add_option("--transport", f.transport,
                  "Transport protocol of the streaming connection, one of: spdy|websocket")
      ->check(CLI::IsMember({"spdy", "websocket"}))
      ->capture_default_str();
  cmd->add_option("--stream-ca", f.ca_file,
                  "With an https streaming server: verify its certificate against this PEM "
                  "bundle (default: not verified, as crictl)");
}

void AddStreamFlags(CLI::App* cmd, StreamFlags& f, bool tty_needs_streaming) {
  cmd->add_flag("-t,--tty", f.tty,
                tty_needs_streaming ? "Allocate a pseudo-TTY" : "Stdin is a TTY");
  cmd->add_flag("-i,--interactive", f.interactive, "Keep STDIN open");
  AddTransportFlags(cmd, f);
}

absl::StatusOr<DialOptions> DialOptionsOf(const StreamFlags& f) {
  auto transport = ParseStreamTransport(f.transport);
  if (!transport.ok()) return transport.status();
  DialOptions o;
  o.transport = *transport;
  o.ca_file = f.ca_file;
  return o;
}

absl::StatusOr<int> RunStdioSession(const std::string& url, const StreamFlags& f,
                                    std::vector<int> stop_signals) {
  auto dial = DialOptionsOf(f);
  if (!dial.ok()) return dial.status();
  RemoteCommandIo io;
  io.stdin_fd = f.interactive ? STDIN_FILENO : -1;
  io.stdout_fd = STDOUT_FILENO;
  io.stderr_fd = f.tty ? -1 : STDERR_FILENO;
  io.tty = f.tty;
  io.stop_signals = std::move(stop_signals);
  std::unique_ptr<RawTerminal> raw;
  if (f.tty) {
    int size_fd = isatty(STDOUT_FILENO) ? STDOUT_FILENO : STDIN_FILENO;
    io.terminal_size = [size_fd] { return TerminalSizeOf(size_fd); };
    if (f.interactive && isatty(STDIN_FILENO)) {
      raw = std::make_unique<RawTerminal>(STDIN_FILENO);
      // ^C goes to the remote side as a byte; these still end the session (and restore the
      // terminal).
      io.stop_signals = {SIGTERM, SIGHUP};
    }
  }
  auto code = RunRemoteCommand(url, *dial, io);
  raw.reset();
  return code;
}

}  // namespace tether::ctl
