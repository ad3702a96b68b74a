// A streaming session over WebSocket (Beast): channel-prefixed messages (websocket_channel.h).
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>

#include "absl/strings/str_cat.h"
#include "stream/connection.h"
#include "stream/portforward_backend.h"
#include "stream/remote_command.h"
#include "util/log.h"

namespace tether::stream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// Client bytes handed to a session and not yet consumed, before we stop reading.
constexpr size_t kMaxInflight = 1 << 20;

// WebSocket channel numbers of exec and attach.
constexpr ChannelId kStdinChannel = 0, kStdoutChannel = 1, kStderrChannel = 2, kErrorChannel = 3,
                    kResizeChannel = 4;

template <class Stream>
class WsConnection : public Transport,
                     public Connection,
                     public std::enable_shared_from_this<WsConnection<Stream>> {
 public:
  WsConnection(std::shared_ptr<ServerContext> ctx, Stream stream, WsProtocol protocol,
               StreamRequest what, std::vector<uint16_t> ports)
      : ctx_(std::move(ctx)),
        ws_(std::move(stream)),
        protocol_(std::move(protocol)),
        what_(std::move(what)),
        ports_(std::move(ports)),
        idle_(ws_.get_executor(), ctx_->options.idle_timeout, ctx_->options.max_duration),
        close_timer_(ws_.get_executor()) {}

  ~WsConnection() override { ctx_->Unregister(id_); }

  void Accept(HttpRequest req) {
    id_ = ctx_->Register(this->weak_from_this());
    websocket::stream_base::timeout t{};
    t.handshake_timeout = ctx_->options.handshake_timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(ctx_->options.max_ws_message);
    std::string name = protocol_.name;
    ws_.set_option(websocket::stream_base::decorator([name](websocket::response_type& res) {
      if (!name.empty()) res.set(http::field::sec_websocket_protocol, name);
    }));
    req_ = std::move(req);  // Beast reads it while the handshake runs
    auto self = this->shared_from_this();
    ws_.async_accept(req_, [self](beast::error_code ec) { self->OnAccept(ec); });
  }

  void Abort() override {
    auto self = this->shared_from_this();
    asio::post(ws_.get_executor(), [self] { self->Close(); });
  }

  // Transport
  void Send(ChannelId ch, std::string data, Callback sent) override {
    if (closed_ || finishing_) return;
    queue_.push_back({EncodeWsMessage(protocol_, static_cast<uint8_t>(ch), data), std::move(sent)});
    Pump();
  }
  void CloseSend(ChannelId) override {}  // kubelet sends no close signal either
  void Reset(ChannelId) override {}
  void Finish() override {
    if (closed_ || finishing_) return;
    finishing_ = true;
    Pump();
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("streaming: {}: websocket handshake: {}", Describe(what_), ec.message());
      Close();
      return;
    }
    spdlog::info("streaming: {} over WebSocket ({})", Describe(what_),
                 protocol_.name.empty() ? "channel.k8s.io" : protocol_.name);
    auto self = this->shared_from_this();
    std::weak_ptr<WsConnection<Stream>> weak = self;
    idle_.Start([weak](const char* why) {
      if (auto self = weak.lock()) {
        spdlog::info("streaming: {}: {}", Describe(self->what_), why);
        self->Close();
      }
    });
    if (auto* pf = std::get_if<PortForwardRequest>(&what_)) {
      auto session = std::make_shared<PortForwardSession>(ws_.get_executor(), self, pf->netns_path,
                                                          pf->sandbox_id, true);
      handler_ = session;
      for (size_t i = 0; i < ports_.size(); ++i) {
        PortPair pair{static_cast<ChannelId>(2 * i), static_cast<ChannelId>(2 * i + 1), ports_[i]};
        Send(pair.data, PortPrefix(pair.port), nullptr);
        Send(pair.error, PortPrefix(pair.port), nullptr);
      }
      for (size_t i = 0; i < ports_.size(); ++i) {
        session->AddPair(
            {static_cast<ChannelId>(2 * i), static_cast<ChannelId>(2 * i + 1), ports_[i]});
      }
    } else {
      RemoteCommandOptions o;
      std::shared_ptr<CommandBackend> backend;
      if (auto* e = std::get_if<ExecRequest>(&what_)) {
        o = {e->stdin, e->stdout, e->stderr && !e->tty, e->tty};
        backend = ctx_->backends->Exec(ws_.get_executor(), ctx_->blocking, *e);
      } else {
        auto& a = std::get<AttachRequest>(what_);
        o = {a.stdin, a.stdout, a.stderr && !a.tty, a.tty};
        backend = ctx_->backends->Attach(ws_.get_executor(), a);
      }
      std::map<StdStream, ChannelId> channels;
      if (o.stdin) channels[StdStream::kStdin] = kStdinChannel;
      if (o.stdout) channels[StdStream::kStdout] = kStdoutChannel;
      if (o.stderr) channels[StdStream::kStderr] = kStderrChannel;
      channels[StdStream::kError] = kErrorChannel;
      if (o.tty) channels[StdStream::kResize] = kResizeChannel;
      // As kubelet: an empty message on the lowest writable channel tells the client the
      // connection is up.
      Send(o.stdout ? kStdoutChannel : o.stderr ? kStderrChannel : kErrorChannel, "", nullptr);
      auto session = std::make_shared<RemoteCommandSession>(self, std::move(channels),
                                                            protocol_.version, backend);
      handler_ = session;
      session->Start();
    }
    Read();
  }

  void Read() {
    if (closed_ || reading_) return;
    if (inflight_ > kMaxInflight) {
      paused_ = true;
      return;
    }
    reading_ = true;
    auto self = this->shared_from_this();
    ws_.async_read(rbuf_, [self](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    reading_ = false;
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted) {
        spdlog::debug("streaming: {}: read: {}", Describe(what_), ec.message());
      }
      Close();
      return;
    }
    idle_.Touch();
    std::string message = beast::buffers_to_string(rbuf_.data());
    rbuf_.consume(rbuf_.size());
    auto decoded = DecodeWsMessage(protocol_, message);
    if (!decoded.ok()) {
      // As kubelet: a bad message is logged and dropped, the session goes on.
      spdlog::debug("streaming: {}: {}", Describe(what_), decoded.status().message());
    } else if (*decoded && handler_) {
      WsMessage& m = **decoded;
      if (m.close) {
        handler_->OnRemoteClose(m.channel);
      } else {
        size_t n = m.data.size();
        inflight_ += n;
        auto self = this->shared_from_this();
        handler_->OnData(m.channel, std::move(m.data), [self, n] {
          asio::post(self->ws_.get_executor(), [self, n] {
            self->inflight_ -= n;
            if (self->paused_ && self->inflight_ <= kMaxInflight) {
              self->paused_ = false;
              self->Read();
            }
          });
        });
      }
    }
    Read();
  }

  void Pump() {
    if (closed_ || writing_) return;
    if (queue_.empty()) {
      if (finishing_ && !close_sent_) StartClose();
      return;
    }
    writing_ = true;
    ws_.binary(!protocol_.base64);
    auto self = this->shared_from_this();
    ws_.async_write(asio::buffer(queue_.front().message), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec || self->closed_) {
        self->Close();
        self->queue_.clear();  // Close() kept the message this write was sending
        return;
      }
      self->idle_.Touch();
      Callback sent = std::move(self->queue_.front().sent);
      self->queue_.pop_front();
      if (sent) sent();
      self->Pump();
    });
  }

  // The session is over: a normal close; the read loop sees the client's answer.
  void StartClose() {
    close_sent_ = true;
    auto self = this->shared_from_this();
    close_timer_.expires_after(ctx_->options.handshake_timeout);
    close_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->Close();
    });
    ws_.async_close(websocket::close_code::normal, [self](beast::error_code ec) {
      if (ec) self->Close();
    });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    idle_.Stop();
    close_timer_.cancel();
    // A write in flight still reads the front message: its completion clears the queue.
    if (!writing_) queue_.clear();
    if (auto h = std::move(handler_)) h->OnTransportClosed();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
  }

  struct Out {
    std::string message;
    Callback sent;
  };

  std::shared_ptr<ServerContext> ctx_;
  websocket::stream<Stream> ws_;
  WsProtocol protocol_;
  StreamRequest what_;
  std::vector<uint16_t> ports_;
  HttpRequest req_;
  IdleWatch idle_;
  asio::steady_timer close_timer_;
  uint64_t id_ = 0;
  std::shared_ptr<ChannelHandler> handler_;
  beast::flat_buffer rbuf_;
  std::deque<Out> queue_;
  size_t inflight_ = 0;
  bool reading_ = false, paused_ = false, writing_ = false;
  bool finishing_ = false, close_sent_ = false, closed_ = false;
};

}  // namespace

template <class Stream>
void StartWebSocket(std::shared_ptr<ServerContext> ctx, Stream stream, HttpRequest request,
                    WsProtocol protocol, StreamRequest what, std::vector<uint16_t> ports) {
  auto c = std::make_shared<WsConnection<Stream>>(
      std::move(ctx), std::move(stream), std::move(protocol), std::move(what), std::move(ports));
  c->Accept(std::move(request));
}

template void StartWebSocket<PlainStream>(std::shared_ptr<ServerContext>, PlainStream, HttpRequest,
                                          WsProtocol, StreamRequest, std::vector<uint16_t>);
template void StartWebSocket<TlsStream>(std::shared_ptr<ServerContext>, TlsStream, HttpRequest,
                                        WsProtocol, StreamRequest, std::vector<uint16_t>);

}  // namespace tether::stream
