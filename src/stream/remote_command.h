// Exec and attach over a streaming connection, as kubelet's remotecommand server does them:
// protocol names and negotiation, the error stream's Status, resize events, and the session that
// relays between the client's channels and a command backend (exec_backend.h, attach_backend.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "stream/channel.h"

namespace tether::stream {

// SPDY (X-Stream-Protocol-Version) protocol names.
inline constexpr char kStreamProtocolV5[] = "v5.channel.k8s.io";
inline constexpr char kStreamProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kStreamProtocolV3[] = "v3.channel.k8s.io";
inline constexpr char kStreamProtocolV2[] = "v2.channel.k8s.io";
inline constexpr char kStreamProtocolV1[] = "channel.k8s.io";
inline constexpr char kPortForwardProtocolV1[] = "portforward.k8s.io";

// Server preference does not matter: the first protocol the client lists that we support wins.
const std::vector<std::string>& RemoteCommandProtocols();  // v5, v4, v3, v2, v1
const std::vector<std::string>& PortForwardProtocols();
// The client's offers (each header value may hold a comma-separated list) against ours.
std::optional<std::string> NegotiateProtocol(const std::vector<std::string>& client_offers,
                                             const std::vector<std::string>& supported);

// 1 (channel.k8s.io) .. 5 (v5.channel.k8s.io); 0 when unknown.
int RemoteCommandProtocolVersion(std::string_view protocol);

enum class StdStream { kStdin, kStdout, kStderr, kError, kResize };
std::string_view StdStreamName(StdStream s);  // the SPDY `streamtype` header value
std::optional<StdStream> StdStreamFromName(std::string_view name);

// How the command ended.
struct CommandResult {
  bool failed = false;  // could not run (or attach): `message` says why
  int exit_code = 0;    // when !failed
  std::string message;
  static CommandResult Exited(int code) { return {false, code, ""}; }
  static CommandResult Failed(std::string message) { return {true, 0, std::move(message)}; }
};

// The error stream's content. v4 and later: a metav1.Status as JSON, always written. v1-v3:
// plain text, only on failure ("" on success: nothing is written).
std::string StatusJson(const CommandResult& result);
std::string StatusText(const CommandResult& result);

struct TerminalSize {
  uint16_t width = 0;
  uint16_t height = 0;
  bool operator==(const TerminalSize&) const = default;
};

// The resize stream: a sequence of JSON objects {"Width":W,"Height":H} (field names matched
// without regard to case, as Go's decoder does), split anywhere.
class ResizeDecoder {
 public:
  static constexpr size_t kMaxObject = 4096;
  // Appends every complete event to `out`. An error (malformed JSON, an object over kMaxObject)
  // is final; the stream should be ignored from then on.
  absl::Status Feed(std::string_view data, std::vector<TerminalSize>* out);

 private:
  std::string buf_;
  size_t scan_ = 0;  // how far buf_ was scanned
  int depth_ = 0;
  bool in_string_ = false, escape_ = false;
  absl::Status error_;
};

// Runs the command and moves its bytes: exec_backend.h, attach_backend.h (and fakes in tests).
// Driven from the connection's strand; callbacks are made on it too.
class CommandBackend {
 public:
  struct Sink {
    // Output from the command on kStdout or kStderr; call `resume` when it is sent, and the
    // backend reads on.
    std::function<void(StdStream, std::string, Callback resume)> output;
    // The command is over (exec: exited and its output drained; attach: the container exited or
    // we detached). Called once; not after Cancel.
    std::function<void(CommandResult)> done;
  };
  virtual ~CommandBackend() = default;
  virtual void Start(Sink sink) = 0;
  // `written` runs once the bytes are written (or dropped, when the command's stdin is closed).
  virtual void WriteStdin(std::string data, Callback written) = 0;
  virtual void CloseStdin() = 0;
  virtual void Resize(TerminalSize size) = 0;
  // The client is gone: stop (exec: kill the process and reap; attach: detach). No more
  // callbacks.
  virtual void Cancel() = 0;
};

struct RemoteCommandOptions {
  bool stdin = false, stdout = false, stderr = false, tty = false;
};

// One exec or attach over one connection. `channels` maps the streams the client opened to
// their channel ids; the error stream is required.
class RemoteCommandSession : public ChannelHandler,
                             public std::enable_shared_from_this<RemoteCommandSession> {
 public:
  RemoteCommandSession(std::shared_ptr<Transport> transport,
                       std::map<StdStream, ChannelId> channels, int protocol_version,
                       std::shared_ptr<CommandBackend> backend);
  void Start();

  void OnData(ChannelId ch, std::string data, Callback consumed) override;
  void OnRemoteClose(ChannelId ch) override;
  void OnReset(ChannelId ch) override;
  void OnTransportClosed() override;

 private:
  std::optional<StdStream> StreamOf(ChannelId ch) const;
  void Done(CommandResult result);

  std::shared_ptr<Transport> transport_;
  std::map<StdStream, ChannelId> channels_;
  int version_;
  std::shared_ptr<CommandBackend> backend_;
  ResizeDecoder resize_;
  bool resize_broken_ = false;
  bool stdin_closed_ = false;
  bool finished_ = false;
};

}  // namespace tether::stream
