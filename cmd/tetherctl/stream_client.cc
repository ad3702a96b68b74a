#include "tetherctl/stream_client.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "stream/spdy_client.h"
#include "stream/websocket_channel.h"

namespace tether::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Callback = std::function<void()>;
using stream::StdStream;

absl::StatusOr<StreamTransport> ParseStreamTransport(absl::string_view name) {
  if (name == "spdy") return StreamTransport::kSpdy;
  if (name == "websocket") return StreamTransport::kWebSocket;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown transport \"", name, "\": use spdy or websocket"));
}

absl::StatusOr<StreamUrl> ParseStreamUrl(absl::string_view url) {
  StreamUrl out;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    out.tls = true;
  } else if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("streaming URL \"", url, "\": not http(s)"));
  }
  size_t slash = rest.find('/');
  absl::string_view hostport = rest.substr(0, slash);
  out.target = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  absl::string_view port_text;
  if (absl::StartsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("streaming URL \"", url, "\": bad host"));
    }
    out.host = std::string(hostport.substr(1, close - 1));
    absl::string_view after = hostport.substr(close + 1);
    if (absl::ConsumePrefix(&after, ":")) port_text = after;
  } else {
    size_t colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = hostport.substr(colon + 1);
  }
  uint32_t port = out.tls ? 443 : 80;
  if (!port_text.empty() && (!absl::SimpleAtoi(port_text, &port) || port == 0 || port > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("streaming URL \"", url, "\": bad port"));
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("streaming URL \"", url, "\": no host"));
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

absl::StatusOr<PortMapping> ParsePortMapping(absl::string_view text) {
  auto port = [&](absl::string_view p, bool allow_zero) -> absl::StatusOr<uint16_t> {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(p, &n) || n > 65535 || (n == 0 && !allow_zero)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid port \"", p, "\" in \"", text, "\": use [LOCAL_PORT:]REMOTE_PORT"));
    }
    return static_cast<uint16_t>(n);
  };
  PortMapping m;
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    auto p = port(text, false);
    if (!p.ok()) return p.status();
    m.local = m.remote = *p;
    return m;
  }
  absl::string_view local = text.substr(0, colon);
  auto remote = port(text.substr(colon + 1), false);
  if (!remote.ok()) return remote.status();
  m.remote = *remote;
  if (!local.empty()) {
    auto l = port(local, true);
    if (!l.ok()) return l.status();
    m.local = *l;
  }
  return m;
}

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

// --- links: the bytes (SPDY) or messages (WebSocket) after the upgrade -------------------------

class Link {
 public:
  using ReadHandler = std::function<void(beast::error_code, std::string)>;
  virtual ~Link() = default;
  // The next bytes (raw) or the next whole message (WebSocket).
  virtual void Read(ReadHandler handler) = 0;
  virtual void Close() = 0;
  // Queues `data` (bytes, or one message); `sent` runs once it is written.
  void Send(std::string data, Callback sent) {
    if (failed_) return;
    queue_.emplace_back(std::move(data), std::move(sent));
    Pump();
  }
  std::function<void(beast::error_code)> on_write_error;

 protected:
  virtual void Write(const std::string& data, std::function<void(beast::error_code)> done) = 0;

 private:
  void Pump() {
    if (writing_ || queue_.empty() || failed_) return;
    writing_ = true;
    Write(queue_.front().first, [this](beast::error_code ec) {
      writing_ = false;
      if (ec) {
        failed_ = true;
        queue_.clear();
        if (on_write_error) on_write_error(ec);
        return;
      }
      Callback sent = std::move(queue_.front().second);
      queue_.pop_front();
      if (sent) sent();
      Pump();
    });
  }
  std::deque<std::pair<std::string, Callback>> queue_;
  bool writing_ = false, failed_ = false;
};

template <class S>
class RawLink : public Link {
 public:
  RawLink(S stream, std::string leftover)
      : stream_(std::move(stream)), leftover_(std::move(leftover)) {}
  void Read(ReadHandler handler) override {
    if (!leftover_.empty()) {
      asio::post(stream_.get_executor(), [handler, data = std::move(leftover_)]() mutable {
        handler({}, std::move(data));
      });
      leftover_.clear();
      return;
    }
    stream_.async_read_some(asio::buffer(buf_), [this, handler](beast::error_code ec, size_t n) {
      handler(ec, ec ? std::string() : std::string(buf_.data(), n));
    });
  }
  void Close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

 protected:
  void Write(const std::string& data, std::function<void(beast::error_code)> done) override {
    asio::async_write(stream_, asio::buffer(data),
                      [done](beast::error_code ec, size_t) { done(ec); });
  }

 private:
  S stream_;
  std::string leftover_;
  std::array<char, 64 * 1024> buf_;
};

template <class S>
class WsLink : public Link {
 public:
  explicit WsLink(S stream) : ws(std::move(stream)) {}
  void Read(ReadHandler handler) override {
    buf_.consume(buf_.size());
    ws.async_read(buf_, [this, handler](beast::error_code ec, size_t) {
      handler(ec, ec ? std::string() : beast::buffers_to_string(buf_.data()));
    });
  }
  void Close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws).close();
  }
  websocket::stream<S> ws;

 protected:
  void Write(const std::string& data, std::function<void(beast::error_code)> done) override {
    ws.binary(true);
    ws.async_write(asio::buffer(data), [done](beast::error_code ec, size_t) { done(ec); });
  }

 private:
  beast::flat_buffer buf_;
};

// Runs `io` until the operation `start` begins completes (nothing else is pending then).
template <class Start>
beast::error_code RunOp(asio::io_context& io, Start start) {
  beast::error_code result;
  bool done = false;
  start([&](beast::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  return result;
}

absl::Status UpgradeRefused(unsigned status, std::string body) {
  absl::StatusCode code = status == 404   ? absl::StatusCode::kNotFound
                          : status == 403 ? absl::StatusCode::kPermissionDenied
                          : status == 400 ? absl::StatusCode::kInvalidArgument
                                          : absl::StatusCode::kUnavailable;
  std::string text(absl::StripAsciiWhitespace(body));
  return absl::Status(code, absl::StrCat("unable to upgrade connection: ",
                                         text.empty() ? absl::StrCat("HTTP ", status) : text));
}

struct Dialed {
  std::unique_ptr<Link> link;
  std::string protocol;  // negotiated
};

template <class S>
absl::StatusOr<Dialed> Upgrade(asio::io_context& io, S stream, const StreamUrl& url,
                               bool use_websocket, const std::vector<std::string>& protocols,
                               absl::Duration timeout) {
  auto ms = absl::ToChronoMilliseconds(timeout);
  std::string host =
      url.host.find(':') != std::string::npos ? absl::StrCat("[", url.host, "]") : url.host;
  absl::StrAppend(&host, ":", url.port);
  if (use_websocket) {
    // The WebSocket's own handshake timeout applies; the TCP stream's deadline must be off.
    beast::get_lowest_layer(stream).expires_never();
    auto link = std::make_unique<WsLink<S>>(std::move(stream));
    auto& ws = link->ws;
    websocket::stream_base::timeout t{};
    t.handshake_timeout = ms;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws.set_option(t);
    ws.read_message_max(16 << 20);
    std::string offer = absl::StrJoin(protocols, ", ");
    ws.set_option(websocket::stream_base::decorator([offer](websocket::request_type& req) {
      req.set(http::field::sec_websocket_protocol, offer);
    }));
    websocket::response_type res;
    auto ec = RunOp(io, [&](auto handler) { ws.async_handshake(res, host, url.target, handler); });
    if (ec) {
      if (res.result_int() != 0 && res.result_int() != 101) {
        return UpgradeRefused(res.result_int(), res.body());
      }
      return absl::UnavailableError(absl::StrCat("websocket handshake: ", ec.message()));
    }
    auto p = res[http::field::sec_websocket_protocol];
    return Dialed{std::move(link), std::string(p.data(), p.size())};
  }
  http::request<http::empty_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "SPDY/3.1");
  for (const auto& p : protocols) req.insert("X-Stream-Protocol-Version", p);
  req.prepare_payload();
  beast::get_lowest_layer(stream).expires_after(ms);
  auto ec = RunOp(io, [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) return absl::UnavailableError(absl::StrCat("upgrade request: ", ec.message()));
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  ec = RunOp(io, [&](auto handler) { http::async_read(stream, buf, parser, handler); });
  beast::get_lowest_layer(stream).expires_never();
  if (ec) return absl::UnavailableError(absl::StrCat("upgrade response: ", ec.message()));
  auto& res = parser.get();
  if (res.result_int() != 101) return UpgradeRefused(res.result_int(), res.body());
  auto p = res["X-Stream-Protocol-Version"];
  std::string leftover = beast::buffers_to_string(buf.data());
  return Dialed{std::make_unique<RawLink<S>>(std::move(stream), std::move(leftover)),
                std::string(p.data(), p.size())};
}

// Connects (TCP, then TLS for https) and upgrades. `tls` holds the client context for the
// connection's life.
absl::StatusOr<Dialed> Dial(asio::io_context& io, std::optional<ssl::context>& tls,
                            const std::string& raw_url, const DialOptions& options,
                            bool use_websocket, const std::vector<std::string>& protocols) {
  auto url = ParseStreamUrl(raw_url);
  if (!url.ok()) return url.status();
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url->host, std::to_string(url->port), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("resolve ", url->host, ": ", ec.message()));
  beast::tcp_stream tcp_stream(io);
  tcp_stream.expires_after(absl::ToChronoMilliseconds(options.timeout));
  ec = RunOp(io, [&](auto handler) { tcp_stream.async_connect(endpoints, handler); });
  if (ec) return absl::UnavailableError(absl::StrCat("connect ", raw_url, ": ", ec.message()));
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);
  if (!url->tls) {
    return Upgrade(io, std::move(tcp_stream), *url, use_websocket, protocols, options.timeout);
  }
  tls.emplace(ssl::context::tls_client);
  if (options.ca_file.empty()) {
    tls->set_verify_mode(ssl::verify_none);
  } else {
    tls->load_verify_file(options.ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA file ", options.ca_file, ": ", ec.message()));
    }
    tls->set_verify_mode(ssl::verify_peer);
  }
  beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), *tls);
  if (!options.ca_file.empty()) {
    tls_stream.set_verify_callback(ssl::host_name_verification(url->host));
  }
  boost::system::error_code addr_ec;
  asio::ip::make_address(url->host, addr_ec);
  if (addr_ec) SSL_set_tlsext_host_name(tls_stream.native_handle(), url->host.c_str());
  ec = RunOp(io,
             [&](auto handler) { tls_stream.async_handshake(ssl::stream_base::client, handler); });
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with ", url->host, ":", url->port, ": ", ec.message()));
  }
  beast::get_lowest_layer(tls_stream).expires_never();
  return Upgrade(io, std::move(tls_stream), *url, use_websocket, protocols, options.timeout);
}

// --- a SPDY/3.1 client session over a link --------------------------------------------------

class SpdyDriver {
 public:
  using StreamId = spdy::StreamId;
  struct Handler {
    std::function<void(StreamId)> replied;            // the server accepted the stream
    std::function<void(StreamId, std::string)> data;  // call Ack once consumed
    std::function<void(StreamId)> remote_closed;
    std::function<void(StreamId)> reset;
    std::function<void(const std::string& why)> closed;  // the connection is gone
  };

  SpdyDriver(asio::io_context& io, Link& link, Handler handler)
      : io_(io), link_(link), h_(std::move(handler)) {
    link_.on_write_error = [this](beast::error_code ec) { Closed("write: " + ec.message()); };
  }

  void Start() {
    Flush();
    ReadLoop();
  }
  absl::StatusOr<StreamId> Open(const spdy::Headers& headers) {
    if (closed_) return absl::UnavailableError("the connection is closed");
    auto id = session_.OpenStream(headers);
    Flush();
    return id;
  }
  // `sent` runs once the bytes left the session (also when the stream is gone).
  void Send(StreamId id, std::string_view data, Callback sent) {
    if (closed_) return;
    if (!session_.SendData(id, data).ok()) {
      if (sent) asio::post(io_, std::move(sent));
      return;
    }
    if (sent) waiting_.emplace_back(id, std::move(sent));
    Flush();
  }
  void CloseSend(StreamId id) {
    if (closed_) return;
    (void)session_.CloseStream(id);
    Flush();
  }
  void Reset(StreamId id) {
    if (closed_) return;
    (void)session_.ResetStream(id);
    Flush();
  }
  void Ack(StreamId id, size_t n) {
    if (closed_) return;
    session_.AcknowledgeData(id, n);
    Flush();
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    link_.Close();
  }
  bool closed() const { return closed_; }

 private:
  void ReadLoop() {
    link_.Read([this](beast::error_code ec, std::string bytes) {
      if (closed_) return;
      if (ec) {
        Closed(ec == asio::error::eof || ec == websocket::error::closed ? "" : ec.message());
        return;
      }
      absl::Status st = session_.Feed(bytes);
      Handle();
      Flush();
      if (!st.ok()) {
        Closed(absl::StrCat("SPDY protocol error: ", st.message()));
        return;
      }
      ReadLoop();
    });
  }

  void Handle() {
    for (;;) {
      std::vector<spdy::Event> events = session_.TakeEvents();
      if (events.empty()) return;
      for (spdy::Event& e : events) {
        if (closed_) return;
        using T = spdy::Event::Type;
        switch (e.type) {
          case T::kStreamReplied:
            if (h_.replied) h_.replied(e.stream_id);
            break;
          case T::kData:
            if (h_.data) h_.data(e.stream_id, std::move(e.data));
            break;
          case T::kRemoteClosed:
            if (h_.remote_closed) h_.remote_closed(e.stream_id);
            break;
          case T::kStreamReset:
          case T::kStreamError:
            if (h_.reset) h_.reset(e.stream_id);
            break;
          default:
            break;
        }
      }
    }
  }

  void Flush() {
    if (closed_) return;
    std::vector<Callback> ready;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (session_.QueuedBytes(it->first) == 0) {
        ready.push_back(std::move(it->second));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    if (!session_.HasOutput()) {
      for (auto& cb : ready) asio::post(io_, std::move(cb));
      return;
    }
    link_.Send(session_.TakeOutput(), [ready = std::move(ready)] {
      for (const auto& cb : ready) cb();
    });
  }

  void Closed(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    link_.Close();
    if (h_.closed) h_.closed(why);
  }

  asio::io_context& io_;
  Link& link_;
  Handler h_;
  spdy::ClientSession session_;
  std::deque<std::pair<StreamId, Callback>> waiting_;
  bool closed_ = false;
};

// Writes all of `data` to a blocking or non-blocking fd (the terminal's file may have been made
// non-blocking by the stdin reader: they share one open file description).
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
        if (ec == websocket::error::closed) {
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

// --- port forwarding --------------------------------------------------------------------------

class PortForwarder {
 public:
  PortForwarder(asio::io_context& io, Link& link, const std::vector<PortMapping>& ports,
                const PortForwardIo& pio)
      : io_(io),
        pio_(pio),
        ports_(ports),
        spdy_(io, link,
              SpdyDriver::Handler{
                  nullptr, [this](spdy::StreamId id, std::string d) { OnData(id, std::move(d)); },
                  [this](spdy::StreamId id) { OnRemoteClosed(id); },
                  [this](spdy::StreamId id) { OnReset(id); },
                  [this](const std::string& why) { Lost(why); }}),
        stop_(io) {}

  absl::Status Listen() {
    for (const PortMapping& m : ports_) {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(pio_.address, ec);
      if (ec)
        return absl::InvalidArgumentError(
            absl::StrCat("address ", pio_.address, ": ", ec.message()));
      auto acceptor = std::make_unique<tcp::acceptor>(io_);
      tcp::endpoint ep(addr, m.local);
      acceptor->open(ep.protocol(), ec);
      if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor->bind(ep, ec);
      if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat("unable to listen on ", pio_.address, ":", m.local, ": ", ec.message()));
      }
      uint16_t local = acceptor->local_endpoint().port();
      if (pio_.info) {
        pio_.info(absl::StrCat("Forwarding from ",
                               addr.is_v6() ? absl::StrCat("[", pio_.address, "]") : pio_.address,
                               ":", local, " -> ", m.remote));
      }
      listeners_.push_back({std::move(acceptor), local, m.remote});
    }
    return absl::OkStatus();
  }

  absl::Status Run() {
    spdy_.Start();
    for (size_t i = 0; i < listeners_.size(); ++i) Accept(i);
    for (int s : pio_.stop_signals) stop_.add(s);
    if (!pio_.stop_signals.empty()) {
      stop_.async_wait([this](boost::system::error_code ec, int) {
        if (!ec) Stop(absl::OkStatus());
      });
    }
    if (pio_.stop_fd >= 0) {
      int fd = dup(pio_.stop_fd);
      if (fd >= 0) {
        stop_fd_.emplace(io_, fd);
        stop_fd_->async_wait(asio::posix::stream_descriptor::wait_read,
                             [this](boost::system::error_code ec) {
                               if (!ec) Stop(absl::OkStatus());
                             });
      }
    }
    io_.restart();
    io_.run();
    return result_;
  }

 private:
  struct Listener {
    std::unique_ptr<tcp::acceptor> acceptor;
    uint16_t local, remote;
  };
  struct Conn {
    uint16_t local = 0, remote = 0;
    std::unique_ptr<tcp::socket> sock;
    spdy::StreamId data = 0, error = 0;
    std::string error_text;
    std::deque<std::pair<std::string, size_t>> to_local;
    bool writing = false, remote_fin = false, error_closed = false, ended = false;
    std::array<char, 32 * 1024> buf;
  };

  void Accept(size_t i) {
    Listener& l = listeners_[i];
    l.acceptor->async_accept([this, i](boost::system::error_code ec, tcp::socket sock) {
      if (done_) return;
      if (ec) {
        if (ec != asio::error::operation_aborted) Accept(i);
        return;
      }
      Listener& l = listeners_[i];
      if (pio_.info) pio_.info(absl::StrCat("Handling connection for ", l.local));
      auto c = std::make_shared<Conn>();
      c->local = l.local;
      c->remote = l.remote;
      c->sock = std::make_unique<tcp::socket>(std::move(sock));
      std::string port = std::to_string(l.remote);
      std::string request_id = std::to_string(next_request_++);
      // As client-go: the error stream first, closed for writing at once; then the data stream.
      auto err = spdy_.Open({{"streamtype", "error"}, {"port", port}, {"requestid", request_id}});
      auto data = spdy_.Open({{"streamtype", "data"}, {"port", port}, {"requestid", request_id}});
      if (!err.ok() || !data.ok()) {
        if (pio_.error) {
          pio_.error(absl::StrCat("error creating streams for ", l.local, " -> ", l.remote, ": ",
                                  (!err.ok() ? err.status() : data.status()).message()));
        }
        boost::system::error_code ignored;
        c->sock->close(ignored);
      } else {
        spdy_.CloseSend(*err);
        c->error = *err;
        c->data = *data;
        conns_[c->error] = c;
        conns_[c->data] = c;
        ReadLocal(c);
      }
      Accept(i);
    });
  }

  void ReadLocal(std::shared_ptr<Conn> c) {
    c->sock->async_read_some(asio::buffer(c->buf),
                             [this, c](boost::system::error_code ec, size_t n) {
                               if (done_ || c->ended) return;
                               if (ec || n == 0) {
                                 spdy_.CloseSend(c->data);  // the local client is done sending
                                 return;
                               }
                               spdy_.Send(c->data, std::string_view(c->buf.data(), n), [this, c] {
                                 if (!done_ && !c->ended) ReadLocal(c);
                               });
                             });
  }

  void OnData(spdy::StreamId id, std::string data) {
    auto it = conns_.find(id);
    if (it == conns_.end()) {
      spdy_.Ack(id, data.size());
      return;
    }
    auto c = it->second;
    if (id == c->error) {
      c->error_text += data;
      spdy_.Ack(id, data.size());
      return;
    }
    size_t n = data.size();
    c->to_local.emplace_back(std::move(data), n);
    WriteLocal(c);
  }

  void WriteLocal(std::shared_ptr<Conn> c) {
    if (c->ended || c->writing) return;
    if (c->to_local.empty()) {
      MaybeEnd(c);
      return;
    }
    c->writing = true;
    asio::async_write(*c->sock, asio::buffer(c->to_local.front().first),
                      [this, c](boost::system::error_code ec, size_t) {
                        c->writing = false;
                        if (done_ || c->ended) return;
                        size_t n = c->to_local.front().second;
                        c->to_local.pop_front();
                        spdy_.Ack(c->data, n);
                        if (ec) {
                          End(c);
                          return;
                        }
                        WriteLocal(c);
                      });
  }

  void OnRemoteClosed(spdy::StreamId id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    auto c = it->second;
    if (id == c->error) {
      c->error_closed = true;
      if (!c->error_text.empty()) {
        End(c);
      } else {
        MaybeEnd(c);
      }
      return;
    }
    c->remote_fin = true;
    WriteLocal(c);
  }

  // As client-go: the pair is done once everything the pod sent is written locally and the error
  // stream has ended (empty: no error).
  void MaybeEnd(std::shared_ptr<Conn> c) {
    if (c->remote_fin && c->error_closed && c->to_local.empty() && !c->writing) End(c);
  }

  void OnReset(spdy::StreamId id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    End(it->second);
  }

  void End(std::shared_ptr<Conn> c) {
    if (c->ended) return;
    c->ended = true;
    if (!c->error_text.empty() && pio_.error) {
      pio_.error(absl::StrCat("an error occurred forwarding ", c->local, " -> ", c->remote, ": ",
                              c->error_text));
    }
    boost::system::error_code ignored;
    c->sock->shutdown(tcp::socket::shutdown_both, ignored);
    c->sock->close(ignored);
    spdy_.Reset(c->data);
    spdy_.Reset(c->error);
    conns_.erase(c->data);
    conns_.erase(c->error);
  }

  void Lost(const std::string& why) {
    Stop(absl::UnavailableError(why.empty() ? "lost connection to pod"
                                            : absl::StrCat("lost connection to pod: ", why)));
  }

  void Stop(absl::Status result) {
    if (done_) return;
    done_ = true;
    result_ = std::move(result);
    boost::system::error_code ignored;
    for (auto& l : listeners_) l.acceptor->close(ignored);
    for (auto& [id, c] : conns_) c->sock->close(ignored);
    conns_.clear();
    stop_.cancel(ignored);
    if (stop_fd_) stop_fd_->close(ignored);
    spdy_.Close();
    io_.stop();
  }

  asio::io_context& io_;
  const PortForwardIo& pio_;
  std::vector<PortMapping> ports_;
  SpdyDriver spdy_;
  asio::signal_set stop_;
  std::optional<asio::posix::stream_descriptor> stop_fd_;
  std::vector<Listener> listeners_;
  std::map<spdy::StreamId, std::shared_ptr<Conn>> conns_;  // by data and by error stream
  uint64_t next_request_ = 0;
  bool done_ = false;
  absl::Status result_;
};

}  // namespace

absl::StatusOr<int> RunRemoteCommand(const std::string& url, const DialOptions& options,
                                     const RemoteCommandIo& io) {
  FlagsGuard flags(io.stdin_fd);
  asio::io_context ctx;
  std::optional<ssl::context> tls;
  bool ws = options.transport == StreamTransport::kWebSocket;
  std::vector<std::string> protocols =
      ws ? std::vector<std::string>{stream::kWsProtocolV5, stream::kWsProtocolV4}
         : std::vector<std::string>{stream::kStreamProtocolV4};
  auto dialed = Dial(ctx, tls, url, options, ws, protocols);
  if (!dialed.ok()) return dialed.status();
  if (!ws && dialed->protocol != stream::kStreamProtocolV4) {
    return absl::UnavailableError(
        absl::StrCat("the server chose protocol \"", dialed->protocol, "\", not v4"));
  }
  RemoteCommandClient client(ctx, io, *dialed->link, dialed->protocol, ws);
  return client.Run();
}

absl::Status RunPortForward(const std::string& url, const DialOptions& options,
                            const std::vector<PortMapping>& ports, const PortForwardIo& io) {
  if (ports.empty()) return absl::InvalidArgumentError("no ports to forward");
  asio::io_context ctx;
  std::optional<ssl::context> tls;
  bool ws = options.transport == StreamTransport::kWebSocket;
  // WebSocket: SPDY tunnelled in binary messages, as client-go (kubectl 1.31+, crictl) does.
  auto dialed = Dial(ctx, tls, url, options, ws,
                     {ws ? stream::kWsSpdyTunnelPortForward : stream::kPortForwardProtocolV1});
  if (!dialed.ok()) return dialed.status();
  PortForwarder forwarder(ctx, *dialed->link, ports, io);
  if (auto st = forwarder.Listen(); !st.ok()) return st;
  return forwarder.Run();
}

}  // namespace tether::ctl
