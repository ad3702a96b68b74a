// tetherctl's exec and attach client (RunRemoteCommand, stream_client.h): stdin, stdout,
// stderr, resize and the error stream over SPDY (v4.channel.k8s.io) or WebSocket (v5/v4).
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket/error.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "stream/websocket_channel.h"
#include "tetherctl/spdy_driver.h"
#include "tetherctl/stream_client.h"
#include "tetherctl/stream_link.h"

namespace tether::ctl {

absl::StatusOr<int> ExitCodeFromStatus(absl::string_view text) {
  if (absl::StripAsciiWhitespace(text).empty()) return 0;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::UnknownError(std::string(text));
  auto str = [](const nlohmann::json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str(j, "status") == "Success") return 0;
  if (str(j, "reason") == "NonZeroExitCode") {
    auto details = j.find("details");
    if (details != j.end() && details->is_object()) {
      auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array()) {
        for (const auto& c : *causes) {
          if (!c.is_object() || str(c, "reason") != "ExitCode") continue;
          int code = 0;
          if (absl::SimpleAtoi(str(c, "message"), &code)) return code;
        }
      }
    }
    return absl::UnknownError(
        absl::StrCat("error stream protocol error: invalid exit code value in ", text));
  }
  std::string message = str(j, "message");
  return absl::UnknownError(message.empty() ? std::string(text) : message);
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using stream::StdStream;
using streaming::Callback;
using streaming::Link;
using streaming::SpdyDriver;

bool WriteFd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, -1);
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string ResizeJson(const stream::TerminalSize& s) {
  return absl::StrCat("{\"Width\":", s.width, ",\"Height\":", s.height, "}");
}

// The stdin file's status flags, restored when the session ends (Asio makes its descriptor
// non-blocking, and a terminal shares that flag with the shell).
class FlagsGuard {
 public:
  explicit FlagsGuard(int fd) : fd_(fd), flags_(fd >= 0 ? fcntl(fd, F_GETFL) : -1) {}
  ~FlagsGuard() {
    if (fd_ >= 0 && flags_ >= 0) fcntl(fd_, F_SETFL, flags_);
  }

 private:
  int fd_;
  int flags_;
};

// --- exec / attach ---------------------------------------------------------------------------

constexpr uint8_t kWsStdin = 0, kWsStdout = 1, kWsStderr = 2, kWsError = 3, kWsResize = 4;

class RemoteCommandClient {
 public:
  RemoteCommandClient(asio::io_context& io, const RemoteCommandIo& rio, Link& link,
                      std::string protocol, bool websocket)
      : io_(io), rio_(rio), link_(link), websocket_(websocket), winch_(io), stop_(io) {
    if (websocket_) {
      auto p = stream::NegotiateWsProtocol({protocol}, stream::WsPurpose::kRemoteCommand);
      if (p) ws_protocol_ = *p;
    }
  }

  absl::StatusOr<int> Run() {
    if (websocket_) {
      link_.on_write_error = [this](beast::error_code ec) { Lost(ec.message()); };
      WsReadLoop();
    } else {
      spdy_.emplace(io_, link_,
                    SpdyDriver::Handler{
                        [this](spdy::StreamId) {
                          // As client-go: nothing is sent until every stream is accepted.
                          if (++replies_ == ids_.size()) StartLocal();
                        },
                        [this](spdy::StreamId id, std::string d) { OnSpdyData(id, std::move(d)); },
                        [this](spdy::StreamId id) { OnSpdyClosed(id); },
                        [this](spdy::StreamId id) { OnSpdyClosed(id); },
                        [this](const std::string& why) { Lost(why); }});
      spdy_->Start();
      // client-go's order: error, stdin, stdout, stderr, resize.
      std::vector<StdStream> wanted = {StdStream::kError};
      if (rio_.stdin_fd >= 0) wanted.push_back(StdStream::kStdin);
      if (rio_.stdout_fd >= 0) wanted.push_back(StdStream::kStdout);
      if (rio_.stderr_fd >= 0 && !rio_.tty) wanted.push_back(StdStream::kStderr);
      if (rio_.tty) wanted.push_back(StdStream::kResize);
      for (StdStream s : wanted) {
        auto id = spdy_->Open({{"streamtype", std::string(stream::StdStreamName(s))}});
        if (!id.ok()) return id.status();
        ids_[s] = *id;
        kinds_[*id] = s;
        if (s == StdStream::kStdout || s == StdStream::kStderr) ++open_outputs_;
      }
    }
    if (!rio_.stop_signals.empty()) {
      for (int s : rio_.stop_signals) stop_.add(s);
      stop_.async_wait([this](boost::system::error_code ec, int) {
        if (!ec) Lost("interrupted");
      });
    }
    if (rio_.stdin_fd >= 0) {
      int fd = dup(rio_.stdin_fd);
      if (fd < 0) return absl::InternalError(absl::StrCat("dup stdin: ", strerror(errno)));
      stdin_.emplace(io_, fd);
    }
    if (websocket_) StartLocal();
    io_.restart();
    io_.run();
    if (!result_) return absl::InternalError("streaming session ended without a result");
    return *result_;
  }

 private:
  // --- local side
  // The streams are up: the terminal's size, then stdin.
  void StartLocal() {
    if (done_) return;
    if (rio_.tty && rio_.terminal_size) {
      SendResize();
      winch_.add(SIGWINCH);
      WaitWinch();
    }
    if (stdin_) ReadStdin();
  }

  void ReadStdin() {
    stdin_->async_read_some(asio::buffer(inbuf_), [this](boost::system::error_code ec, size_t n) {
      if (done_) return;
      if (ec || n == 0) {
        CloseStdin();
        return;
      }
      SendOn(StdStream::kStdin, std::string(inbuf_.data(), n), [this] {
        if (!done_) ReadStdin();
      });
    });
  }

  void CloseStdin() {
    if (websocket_) {
      // v5 has a close signal; before it, stdin stays open until the connection ends.
      if (ws_protocol_.version >= 5) {
        link_.Send(
            std::string{static_cast<char>(stream::kWsCloseChannel), static_cast<char>(kWsStdin)},
            nullptr);
      }
    } else if (auto it = ids_.find(StdStream::kStdin); it != ids_.end()) {
      spdy_->CloseSend(it->second);
    }
  }

  void WaitWinch() {
    winch_.async_wait([this](boost::system::error_code ec, int) {
      if (ec || done_) return;
      SendResize();
      WaitWinch();
    });
  }

  void SendResize() {
    auto size = rio_.terminal_size();
    if (!size || (size->width == 0 && size->height == 0)) return;
    SendOn(StdStream::kResize, ResizeJson(*size), nullptr);
  }

  void SendOn(StdStream s, std::string data, Callback sent) {
    if (done_) return;
    if (websocket_) {
      uint8_t ch = s == StdStream::kStdin ? kWsStdin : kWsResize;
      link_.Send(stream::EncodeWsMessage(ws_protocol_, ch, data), std::move(sent));
      return;
    }
    auto it = ids_.find(s);
    if (it == ids_.end()) return;
    spdy_->Send(it->second, data, std::move(sent));
  }

  void Output(StdStream s, std::string_view data) {
    if (s == StdStream::kError) {
      error_ += data;
      return;
    }
    int fd = s == StdStream::kStdout ? rio_.stdout_fd : rio_.stderr_fd;
    if (fd >= 0) WriteFd(fd, data);
  }

  // --- SPDY
  void OnSpdyData(spdy::StreamId id, std::string data) {
    size_t n = data.size();
    if (auto it = kinds_.find(id); it != kinds_.end()) Output(it->second, data);
    spdy_->Ack(id, n);
  }

  void OnSpdyClosed(spdy::StreamId id) {
    auto it = kinds_.find(id);
    if (it == kinds_.end()) return;
    StdStream s = it->second;
    kinds_.erase(it);
    if (s == StdStream::kError) error_done_ = true;
    if (s == StdStream::kStdout || s == StdStream::kStderr) --open_outputs_;
    if (error_done_ && open_outputs_ == 0) Finish();
  }

  // --- WebSocket
  void WsReadLoop() {
    link_.Read([this](beast::error_code ec, std::string message) {
      if (done_) return;
      if (ec) {
        if (ec == beast::websocket::error::closed) {
          error_done_ = true;
          Finish();
        } else {
          Lost(ec.message());
        }
        return;
      }
      auto m = stream::DecodeWsMessage(ws_protocol_, message);
      if (m.ok() && *m && !(*m)->close) {
        uint8_t ch = (*m)->channel;
        if (ch == kWsStdout) Output(StdStream::kStdout, (*m)->data);
        if (ch == kWsStderr) Output(StdStream::kStderr, (*m)->data);
        if (ch == kWsError) Output(StdStream::kError, (*m)->data);
      }
      WsReadLoop();
    });
  }

  // --- the end
  void Finish() {
    if (done_) return;
    auto code = ExitCodeFromStatus(error_);
    if (!error_done_ && error_.empty()) {
      code = absl::UnavailableError("the connection closed before the command finished");
    }
    result_ = code;
    Stop();
  }

  void Lost(const std::string& why) {
    if (done_) return;
    if (error_done_ || !error_.empty()) {
      error_done_ = true;
      Finish();
      return;
    }
    result_ =
        absl::UnavailableError(why.empty() ? "the connection closed before the command finished"
                                           : absl::StrCat("streaming: ", why));
    Stop();
  }

  void Stop() {
    done_ = true;
    if (spdy_) spdy_->Close();
    link_.Close();
    boost::system::error_code ignored;
    winch_.cancel(ignored);
    stop_.cancel(ignored);
    if (stdin_) stdin_->close(ignored);
    io_.stop();
  }

  asio::io_context& io_;
  const RemoteCommandIo& rio_;
  Link& link_;
  const bool websocket_;
  stream::WsProtocol ws_protocol_;
  std::optional<SpdyDriver> spdy_;
  std::map<StdStream, spdy::StreamId> ids_;
  std::map<spdy::StreamId, StdStream> kinds_;
  size_t replies_ = 0;
  int open_outputs_ = 0;
  asio::signal_set winch_, stop_;
  std::optional<asio::posix::stream_descriptor> stdin_;
  std::array<char, 32 * 1024> inbuf_;
  std::string error_;
  bool error_done_ = false;
  bool done_ = false;
  std::optional<absl::StatusOr<int>> result_;
};

}  // namespace

absl::StatusOr<int> RunRemoteCommand(const std::string& url, const DialOptions& options,
                                     const RemoteCommandIo& io) {
  FlagsGuard flags(io.stdin_fd);
  asio::io_context ctx;
  std::optional<asio::ssl::context> tls;
  bool ws = options.transport == StreamTransport::kWebSocket;
  std::vector<std::string> protocols =
      ws ? std::vector<std::string>{stream::kWsProtocolV5, stream::kWsProtocolV4}
         : std::vector<std::string>{stream::kStreamProtocolV4};
  auto dialed = streaming::Dial(ctx, tls, url, options, ws, protocols);
  if (!dialed.ok()) return dialed.status();
  if (!ws && dialed->protocol != stream::kStreamProtocolV4) {
    return absl::UnavailableError(
        absl::StrCat("the server chose protocol \"", dialed->protocol, "\", not v4"));
  }
  RemoteCommandClient client(ctx, io, *dialed->link, dialed->protocol, ws);
  return client.Run();
}

}  // namespace tether::ctl
