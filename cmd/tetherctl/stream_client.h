// tetherctl's client of a CRI streaming server (ours, src/stream/): the URL an Exec, Attach or
// PortForward call returns is dialled and upgraded as kubectl and crictl do it, over SPDY/3.1 or
// WebSocket, on http:// or https://. One io_context on the calling thread; nothing else runs
// meanwhile.
//
//   exec / attach: SPDY with X-Stream-Protocol-Version v4.channel.k8s.io (streams by
//     `streamtype`), or WebSocket v5.channel.k8s.io / v4.channel.k8s.io (channel bytes). The error
//     stream's Status gives the exit code.
//   port-forward: SPDY portforward.k8s.io, or SPDY inside WebSocket binary messages
//     (SPDY/3.1+portforward.k8s.io, client-go's tunneling dialer) for --transport websocket. Every
//     accepted local connection gets a pair of streams (error, data) with its own requestid.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "stream/remote_command.h"

namespace tether::ctl {

enum class StreamTransport { kSpdy, kWebSocket };
// "spdy" or "websocket" (crictl's --transport values).
absl::StatusOr<StreamTransport> ParseStreamTransport(absl::string_view name);

struct StreamUrl {
  bool tls = false;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string target;  // path and query
};
// http://HOST[:PORT]/PATH or https://...; IPv6 hosts in brackets.
absl::StatusOr<StreamUrl> ParseStreamUrl(absl::string_view url);

struct DialOptions {
  StreamTransport transport = StreamTransport::kSpdy;
  // https: a PEM bundle to verify the server's certificate (and host) against. Empty: the
  // certificate is not verified, as crictl does (its streaming config sets Insecure).
  std::string ca_file;
  absl::Duration timeout = absl::Seconds(30);  // connect, TLS and upgrade
};

// What an exec or attach session reads and writes locally. Output fds are written blocking.
struct RemoteCommandIo {
  int stdin_fd = -1;   // -1: no stdin
  int stdout_fd = -1;  // -1: no stdout
  int stderr_fd = -1;  // -1: no stderr (always with a tty)
  bool tty = false;
  // With a tty: the terminal's size now; sent at the start and on every SIGWINCH. Null or
  // nullopt: no resize is sent.
  std::function<std::optional<stream::TerminalSize>()> terminal_size;
  // Signals that end the session at once (the remote process is then killed by the server);
  // used with a raw terminal, where ^C is a byte for the remote side.
  std::vector<int> stop_signals;
};

// Runs an exec or attach session at `url` until the remote side ends it. Returns the command's
// exit code (0 on success, the code of a NonZeroExitCode Status); an error for a failure the
// error stream reports (message as given) or a broken connection.
absl::StatusOr<int> RunRemoteCommand(const std::string& url, const DialOptions& options,
                                     const RemoteCommandIo& io);

struct PortMapping {
  uint16_t local = 0;  // 0: a free port
  uint16_t remote = 0;
};
// "8080", "8080:80", ":80" (a free local port), as kubectl reads them.
absl::StatusOr<PortMapping> ParsePortMapping(absl::string_view text);

struct PortForwardIo {
  std::string address = "127.0.0.1";
  // "Forwarding from 127.0.0.1:L -> R" once listening, "Handling connection for L" per
  // connection (kubectl's lines).
  std::function<void(const std::string&)> info;
  // A pair's error stream ("an error occurred forwarding L -> R: <message>").
  std::function<void(const std::string&)> error;
  std::vector<int> stop_signals = {SIGINT, SIGTERM};
  int stop_fd = -1;  // readable (or closed by the writer): stop (tests)
};

// Listens on `io.address` for every mapping and forwards each accepted connection through the
// one streaming connection at `url`, until a stop signal (OK) or the server closes it (error).
absl::Status RunPortForward(const std::string& url, const DialOptions& options,
                            const std::vector<PortMapping>& ports, const PortForwardIo& io);

// The exit code a v4 error stream's Status stands for (`json` empty: 0, as success), or the
// failure message it carries.
absl::StatusOr<int> ExitCodeFromStatus(absl::string_view json);

}  // namespace tether::ctl
