// A streaming session over SPDY/3.1: the socket side of spdy::ServerSession (spdy_session.h).
// Exec and attach wait for the client's streams (by `streamtype`), then run one
// RemoteCommandSession; port forwarding pairs data and error streams by `requestid` and relays
// each pair for as long as the connection lives.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <optional>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "stream/connection.h"
#include "stream/portforward_backend.h"
#include "stream/remote_command.h"
#include "stream/spdy_session.h"
#include "util/log.h"

namespace tether::stream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

constexpr size_t kMaxInflight = 1 << 20;    // unconsumed client bytes before we stop reading
constexpr size_t kMaxEarlyBytes = 1 << 20;  // client data before the session starts
constexpr size_t kSpdyReadChunk = 64 * 1024;
constexpr auto kLinger = std::chrono::seconds(5);  // after our last byte, for the client's close

// The bytes under a SPDY session: the upgraded TCP connection itself, or (port forwarding over
// WebSocket, KEP-4006 "SPDY/3.1+portforward.k8s.io") binary WebSocket messages carrying them.
class SpdyLink {
 public:
  using ReadHandler = std::function<void(beast::error_code, std::string_view)>;
  using WriteHandler = std::function<void(beast::error_code)>;
  virtual ~SpdyLink() = default;
  virtual asio::any_io_executor executor() = 0;
  // The handshake: 101 for SPDY, the WebSocket accept for the tunnel.
  virtual void Start(WriteHandler ready) = 0;
  virtual void Read(ReadHandler handler) = 0;
  // `data` stays valid until `handler` runs.
  virtual void Write(const std::string& data, WriteHandler handler) = 0;
  virtual void ShutdownSend() = 0;
  virtual void Close() = 0;
  virtual const char* name() const = 0;
};

template <class Stream>
class TcpLink : public SpdyLink {
 public:
  TcpLink(Stream stream, std::string protocol, std::chrono::milliseconds timeout)
      : stream_(std::move(stream)),
        protocol_(std::move(protocol)),
        timeout_(timeout),
        rbuf_(kSpdyReadChunk) {}
  asio::any_io_executor executor() override { return stream_.get_executor(); }
  void Start(WriteHandler ready) override {
    response_ = absl::StrCat(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        "X-Stream-Protocol-Version: ",
        protocol_, "\r\n\r\n");
    beast::get_lowest_layer(stream_).expires_after(timeout_);
    asio::async_write(stream_, asio::buffer(response_),
                      [this, ready = std::move(ready)](beast::error_code ec, size_t) {
                        beast::get_lowest_layer(stream_).expires_never();
                        ready(ec);
                      });
  }
  void Read(ReadHandler handler) override {
    stream_.async_read_some(asio::buffer(rbuf_),
                            [this, handler = std::move(handler)](beast::error_code ec, size_t n) {
                              handler(ec, std::string_view(rbuf_.data(), ec ? 0 : n));
                            });
  }
  void Write(const std::string& data, WriteHandler handler) override {
    asio::async_write(
        stream_, asio::buffer(data),
        [handler = std::move(handler)](beast::error_code ec, size_t) { handler(ec); });
  }
  void ShutdownSend() override {
    // Over TLS a TCP half-close would cut the record stream; the client closes when it has read
    // the GOAWAY, or the linger timer does.
    if constexpr (std::is_same_v<Stream, PlainStream>) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }
  void Close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }
  const char* name() const override {
    return std::is_same_v<Stream, PlainStream> ? "SPDY" : "SPDY over TLS";
  }

 private:
  Stream stream_;
  std::string protocol_;
  std::chrono::milliseconds timeout_;
  std::string response_;
  std::vector<char> rbuf_;
};

template <class Stream>
class WebSocketLink : public SpdyLink {
 public:
  WebSocketLink(Stream stream, HttpRequest req, std::string subprotocol,
                std::chrono::milliseconds timeout, size_t max_message)
      : ws_(std::move(stream)), req_(std::move(req)), subprotocol_(std::move(subprotocol)) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(max_message);
    ws_.binary(true);
  }
  asio::any_io_executor executor() override { return ws_.get_executor(); }
  void Start(WriteHandler ready) override {
    std::string name = subprotocol_;
    ws_.set_option(websocket::stream_base::decorator([name](websocket::response_type& res) {
      res.set(beast::http::field::sec_websocket_protocol, name);
    }));
    ws_.async_accept(req_, std::move(ready));
  }
  void Read(ReadHandler handler) override {
    rbuf_.consume(rbuf_.size());
    ws_.async_read(rbuf_, [this, handler = std::move(handler)](beast::error_code ec, size_t) {
      if (ec) {
        handler(ec, {});
        return;
      }
      auto data = rbuf_.cdata();
      handler(ec, std::string_view(static_cast<const char*>(data.data()), data.size()));
    });
  }
  void Write(const std::string& data, WriteHandler handler) override {
    ws_.async_write(asio::buffer(data),
                    [handler = std::move(handler)](beast::error_code ec, size_t) { handler(ec); });
  }
  void ShutdownSend() override {
    ws_.async_close(websocket::close_code::normal, [](beast::error_code) {});
  }
  void Close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
  }
  const char* name() const override { return "SPDY over WebSocket"; }

 private:
  websocket::stream<Stream> ws_;
  HttpRequest req_;
  std::string subprotocol_;
  beast::flat_buffer rbuf_;
};

class SpdyConnection : public Transport,
                       public Connection,
                       public std::enable_shared_from_this<SpdyConnection> {
 public:
  SpdyConnection(std::shared_ptr<ServerContext> ctx, std::unique_ptr<SpdyLink> link,
                 std::string leftover, std::string protocol, StreamRequest what)
      : ctx_(std::move(ctx)),
        link_(std::move(link)),
        ex_(link_->executor()),
        leftover_(std::move(leftover)),
        protocol_(std::move(protocol)),
        what_(std::move(what)),
        session_(Options()),
        idle_(ex_, ctx_->options.idle_timeout, ctx_->options.max_duration),
        creation_timer_(ex_),
        linger_timer_(ex_) {}

  ~SpdyConnection() override { ctx_->Unregister(id_); }

  void Start() {
    id_ = ctx_->Register(weak_from_this());
    auto self = shared_from_this();
    link_->Start([self](beast::error_code ec) {
      if (ec) {
        spdlog::debug("streaming: {}: handshake: {}", Describe(self->what_), ec.message());
        self->Close();
        return;
      }
      self->OnUpgraded();
    });
  }

  void Abort() override {
    auto self = shared_from_this();
    asio::post(ex_, [self] { self->Close(); });
  }

  // Transport
  void Send(ChannelId ch, std::string data, Callback sent) override {
    if (closed_) return;
    absl::Status st = session_.SendData(ch, data);
    if (!st.ok()) {
      // The stream is gone (the client reset it): drop the bytes, keep the producer going.
      if (sent) asio::post(ex_, std::move(sent));
      return;
    }
    if (sent) sent_.Add(ch, std::move(sent));
    Flush();
  }

  void CloseSend(ChannelId ch) override {
    if (closed_) return;
    (void)session_.CloseStream(ch);  // already closed or gone: fine
    Flush();
  }

  void Reset(ChannelId ch) override {
    if (closed_) return;
    (void)session_.ResetStream(ch);
    Flush();
  }

  void Finish() override {
    if (closed_ || finishing_) return;
    finishing_ = true;
    handler_.reset();
    session_.GoAway(spdy::GoAwayStatus::kOk);
    Flush();
  }

 private:
  static spdy::SessionOptions Options() {
    spdy::SessionOptions o;
    // spdystream ignores SETTINGS; a SPDY/3.1 client learns the default window.
    o.send_settings = false;
    return o;
  }

  bool IsPortForward() const { return std::holds_alternative<PortForwardRequest>(what_); }

  void OnUpgraded() {
    spdlog::info("streaming: {} over {} ({})", Describe(what_), link_->name(), protocol_);
    auto self = shared_from_this();
    std::weak_ptr<SpdyConnection> weak = self;
    idle_.Start([weak](const char* why) {
      if (auto self = weak.lock()) {
        spdlog::info("streaming: {}: {}", Describe(self->what_), why);
        self->Close();
      }
    });
    if (auto* pf = std::get_if<PortForwardRequest>(&what_)) {
      handler_ =
          std::make_shared<PortForwardSession>(ex_, self, pf->netns_path, pf->sandbox_id, false);
    } else {
      creation_timer_.expires_after(ctx_->options.stream_creation_timeout);
      creation_timer_.async_wait([self](boost::system::error_code ec) {
        if (ec || self->started_ || self->closed_) return;
        spdlog::info("streaming: {}: timed out waiting for the client's streams",
                     Describe(self->what_));
        self->Close();
      });
    }
    if (!leftover_.empty()) {
      std::string bytes = std::move(leftover_);
      OnBytes(bytes);
    }
    Read();
  }

  void Read() {
    if (closed_ || reading_ || read_eof_) return;
    if (inflight_ > kMaxInflight) {
      paused_ = true;
      return;
    }
    reading_ = true;
    auto self = shared_from_this();
    link_->Read([self](beast::error_code ec, std::string_view bytes) {
      self->reading_ = false;
      if (self->closed_) return;
      if (ec) {
        if (ec != asio::error::eof && ec != asio::error::operation_aborted &&
            ec != websocket::error::closed) {
          spdlog::debug("streaming: {}: read: {}", Describe(self->what_), ec.message());
        }
        self->read_eof_ = true;
        self->Close();
        return;
      }
      self->OnBytes(bytes);
      self->Read();
    });
  }

  void OnBytes(std::string_view bytes) {
    got_client_bytes_ = true;
    idle_.Touch();
    absl::Status st = session_.Feed(bytes);
    HandleEvents();
    if (!st.ok()) {
      spdlog::info("streaming: {}: SPDY protocol error: {}", Describe(what_), st.message());
      // The session queued GOAWAY(PROTOCOL_ERROR): send it, then close.
      if (auto h = std::move(handler_)) h->OnTransportClosed();
      finishing_ = true;
    }
    Flush();
  }

  void HandleEvents() {
    for (;;) {
      std::vector<spdy::Event> events = session_.TakeEvents();
      if (events.empty()) return;
      for (spdy::Event& e : events) HandleEvent(e);
    }
  }

  void HandleEvent(spdy::Event& e) {
    using T = spdy::Event::Type;
    switch (e.type) {
      case T::kStreamOpened:
        if (IsPortForward()) {
          OnPortForwardStream(e);
        } else {
          OnCommandStream(e);
        }
        break;
      case T::kData:
        Deliver(e.stream_id, std::move(e.data));
        break;
      case T::kRemoteClosed:
        if (!started_ && !IsPortForward()) {
          early_.push_back({e.stream_id, "", true});
        } else if (handler_) {
          handler_->OnRemoteClose(e.stream_id);
        }
        break;
      case T::kStreamReset:
      case T::kStreamError:
        if (handler_) handler_->OnReset(e.stream_id);
        ForgetPending(e.stream_id);
        break;
      case T::kWritable:
      case T::kStreamClosed:
        CheckWaiting();
        break;
      default:
        break;
    }
  }

  void Deliver(spdy::StreamId id, std::string data) {
    size_t n = data.size();
    if (!started_ && !IsPortForward()) {
      early_bytes_ += n;
      if (early_bytes_ > kMaxEarlyBytes) {
        spdlog::info("streaming: {}: too much data before the streams were set up",
                     Describe(what_));
        Close();
        return;
      }
      early_.push_back({id, std::move(data), false});
      return;
    }
    if (!handler_) {
      session_.AcknowledgeData(id, n);
      return;
    }
    inflight_ += n;
    auto self = shared_from_this();
    handler_->OnData(id, std::move(data), [self, id, n] {
      asio::post(self->ex_, [self, id, n] {
        self->inflight_ -= n;
        if (self->closed_) return;
        self->session_.AcknowledgeData(id, n);
        self->Flush();
        if (self->paused_ && self->inflight_ <= kMaxInflight) {
          self->paused_ = false;
          self->Read();
        }
      });
    });
  }

  // --- exec / attach: collect the streams, then start -------------------------------------

  void OnCommandStream(const spdy::Event& e) {
    auto type_name = spdy::GetHeader(e.headers, "streamtype");
    auto type = type_name ? StdStreamFromName(*type_name) : std::nullopt;
    if (!type || started_ || streams_.count(*type) != 0) {
      spdlog::debug("streaming: {}: unexpected stream {} ({})", Describe(what_), e.stream_id,
                    type_name.value_or("no streamtype"));
      (void)session_.ResetStream(e.stream_id, spdy::RstStatus::kRefusedStream);
      return;
    }
    streams_[*type] = e.stream_id;
    RemoteCommandOptions o = CommandOptions();
    int version = RemoteCommandProtocolVersion(protocol_);
    bool complete = streams_.count(StdStream::kError) != 0 &&
                    (!o.stdin || streams_.count(StdStream::kStdin) != 0) &&
                    (!o.stdout || streams_.count(StdStream::kStdout) != 0) &&
                    (!o.stderr || streams_.count(StdStream::kStderr) != 0) &&
                    (!o.tty || version < 3 || streams_.count(StdStream::kResize) != 0);
    if (complete) StartCommand(version);
  }

  RemoteCommandOptions CommandOptions() const {
    if (auto* e = std::get_if<ExecRequest>(&what_)) {
      return {e->stdin, e->stdout, e->stderr && !e->tty, e->tty};
    }
    const auto& a = std::get<AttachRequest>(what_);
    return {a.stdin, a.stdout, a.stderr && !a.tty, a.tty};
  }

  void StartCommand(int version) {
    started_ = true;
    creation_timer_.cancel();
    std::shared_ptr<CommandBackend> backend;
    if (auto* e = std::get_if<ExecRequest>(&what_)) {
      backend = ctx_->backends->Exec(ex_, ctx_->blocking, *e);
    } else {
      backend = ctx_->backends->Attach(ex_, std::get<AttachRequest>(what_));
    }
    auto session = std::make_shared<RemoteCommandSession>(shared_from_this(), streams_, version,
                                                          std::move(backend));
    handler_ = session;
    session->Start();
    // Replay what arrived while the streams were being set up.
    auto early = std::move(early_);
    early_.clear();
    early_bytes_ = 0;
    for (Early& x : early) {
      if (x.fin) {
        if (handler_) handler_->OnRemoteClose(x.id);
      } else {
        Deliver(x.id, std::move(x.data));
      }
    }
  }

  // --- port forwarding: pair the streams -------------------------------------------------

  struct PendingPair {
    spdy::StreamId data = 0, error = 0;
    uint16_t port = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };

  void OnPortForwardStream(const spdy::Event& e) {
    auto type = spdy::GetHeader(e.headers, "streamtype");
    auto port_text = spdy::GetHeader(e.headers, "port");
    uint32_t port = 0;
    if (!type || (*type != "data" && *type != "error") || !port_text ||
        !absl::SimpleAtoi(*port_text, &port) || port < 1 || port > 65535) {
      spdlog::debug("streaming: {}: refusing stream {}: bad streamtype or port", Describe(what_),
                    e.stream_id);
      (void)session_.ResetStream(e.stream_id, spdy::RstStatus::kRefusedStream);
      return;
    }
    std::string request_id = spdy::GetHeader(e.headers, "requestid").value_or("");
    if (request_id.empty()) {
      // Old clients: the pair's ids are consecutive odd numbers (kubelet does the same).
      request_id = std::to_string(*type == "error" ? e.stream_id : e.stream_id - 2);
    }
    auto [it, created] = pending_.try_emplace(request_id);
    PendingPair& p = it->second;
    spdy::StreamId& slot = *type == "data" ? p.data : p.error;
    if (slot != 0) {
      std::string msg = absl::StrCat("error processing stream for request ", request_id, ": ",
                                     *type, " stream already assigned");
      if (p.error != 0) (void)session_.SendData(p.error, msg);
      (void)session_.ResetStream(e.stream_id, spdy::RstStatus::kProtocolError);
      return;
    }
    slot = e.stream_id;
    if (*type == "data" || p.port == 0) p.port = static_cast<uint16_t>(port);
    if (created) {
      p.timer = std::make_unique<asio::steady_timer>(ex_);
      p.timer->expires_after(ctx_->options.stream_creation_timeout);
      auto self = shared_from_this();
      p.timer->async_wait([self, request_id](boost::system::error_code ec) {
        if (ec) return;
        self->PairTimedOut(request_id);
      });
    }
    if (p.data != 0 && p.error != 0) {
      PortPair pair{p.data, p.error, p.port};
      p.timer->cancel();
      pending_.erase(it);
      if (auto* pf = dynamic_cast<PortForwardSession*>(handler_.get())) pf->AddPair(pair);
    }
  }

  void PairTimedOut(const std::string& request_id) {
    auto it = pending_.find(request_id);
    if (it == pending_.end() || closed_) return;
    PendingPair& p = it->second;
    if (p.error != 0) {
      (void)session_.SendData(
          p.error, absl::StrCat("timed out waiting for streams of request ", request_id), true);
    }
    if (p.data != 0) (void)session_.ResetStream(p.data);
    pending_.erase(it);
    Flush();
  }

  void ForgetPending(spdy::StreamId id) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.data == id || it->second.error == id) {
        if (it->second.timer) it->second.timer->cancel();
        pending_.erase(it);
        return;
      }
    }
  }

  // --- writing ------------------------------------------------------------------------------

  // `sent` callbacks whose bytes have left the session's queues run once a write containing
  // them completes.
  void CheckWaiting() {
    if (writing_) return;
    Flush();
  }

  void Flush() {
    if (closed_ || writing_) return;
    if (!got_client_bytes_) return;  // nothing goes out before the client's first frame
    std::vector<Callback> ready = sent_.TakeReady(session_);
    if (!session_.HasOutput()) {
      for (auto& cb : ready) asio::post(ex_, std::move(cb));
      if (finishing_) Linger();
      return;
    }
    writing_ = true;
    auto out = std::make_shared<std::string>(session_.TakeOutput());
    auto callbacks = std::make_shared<std::vector<Callback>>(std::move(ready));
    auto self = shared_from_this();
    link_->Write(*out, [self, out, callbacks](beast::error_code ec) {
      self->writing_ = false;
      if (ec) {
        self->Close();
        return;
      }
      self->idle_.Touch();
      for (auto& cb : *callbacks) {
        if (cb) cb();
      }
      self->Flush();
    });
  }

  // Everything is written after GOAWAY: half-close and give the client a moment to close.
  void Linger() {
    if (lingering_) return;
    lingering_ = true;
    link_->ShutdownSend();
    auto self = shared_from_this();
    linger_timer_.expires_after(kLinger);
    linger_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->Close();
    });
    Read();  // until the client's EOF
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    idle_.Stop();
    creation_timer_.cancel();
    linger_timer_.cancel();
    for (auto& [id, p] : pending_) {
      if (p.timer) p.timer->cancel();
    }
    pending_.clear();
    sent_.Clear();
    early_.clear();
    if (auto h = std::move(handler_)) h->OnTransportClosed();
    link_->Close();
  }

  struct Early {
    spdy::StreamId id;
    std::string data;
    bool fin;
  };

  std::shared_ptr<ServerContext> ctx_;
  std::unique_ptr<SpdyLink> link_;
  asio::any_io_executor ex_;
  std::string leftover_;
  const std::string protocol_;
  StreamRequest what_;
  spdy::ServerSession session_;
  IdleWatch idle_;
  asio::steady_timer creation_timer_, linger_timer_;
  uint64_t id_ = 0;
  std::shared_ptr<ChannelHandler> handler_;
  std::map<StdStream, ChannelId> streams_;
  std::vector<Early> early_;
  size_t early_bytes_ = 0;
  std::map<std::string, PendingPair> pending_;
  spdy::SentCallbacks<Callback> sent_;
  size_t inflight_ = 0;
  bool started_ = false, got_client_bytes_ = false;
  bool reading_ = false, paused_ = false, read_eof_ = false, writing_ = false;
  bool finishing_ = false, lingering_ = false, closed_ = false;
};

}  // namespace

template <class Stream>
void StartSpdy(std::shared_ptr<ServerContext> ctx, Stream stream, std::string leftover,
               std::string protocol, StreamRequest what) {
  auto link = std::make_unique<TcpLink<Stream>>(std::move(stream), protocol,
                                                ctx->options.handshake_timeout);
  auto c = std::make_shared<SpdyConnection>(std::move(ctx), std::move(link), std::move(leftover),
                                            std::move(protocol), std::move(what));
  c->Start();
}

template <class Stream>
void StartSpdyOverWebSocket(std::shared_ptr<ServerContext> ctx, Stream stream, HttpRequest request,
                            std::string subprotocol, std::string protocol, StreamRequest what) {
  auto link = std::make_unique<WebSocketLink<Stream>>(
      std::move(stream), std::move(request), std::move(subprotocol), ctx->options.handshake_timeout,
      ctx->options.max_ws_message);
  auto c = std::make_shared<SpdyConnection>(std::move(ctx), std::move(link), "",
                                            std::move(protocol), std::move(what));
  c->Start();
}

template void StartSpdy<PlainStream>(std::shared_ptr<ServerContext>, PlainStream, std::string,
                                     std::string, StreamRequest);
template void StartSpdy<TlsStream>(std::shared_ptr<ServerContext>, TlsStream, std::string,
                                   std::string, StreamRequest);
template void StartSpdyOverWebSocket<PlainStream>(std::shared_ptr<ServerContext>, PlainStream,
                                                  HttpRequest, std::string, std::string,
                                                  StreamRequest);
template void StartSpdyOverWebSocket<TlsStream>(std::shared_ptr<ServerContext>, TlsStream,
                                                HttpRequest, std::string, std::string,
                                                StreamRequest);

}  // namespace tether::stream
