#include "stream/streaming_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "stream/attach_backend.h"
#include "stream/connection.h"
#include "stream/exec_backend.h"
#include "stream/remote_command.h"
#include "stream/token_cache.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace tether::stream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// --- shared pieces -------------------------------------------------------------------------

uint64_t ServerContext::Register(std::weak_ptr<Connection> c) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t id = next_++;
  live_[id] = std::move(c);
  return id;
}

void ServerContext::Unregister(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  live_.erase(id);
}

size_t ServerContext::Count() const {
  std::lock_guard<std::mutex> l(mu_);
  return live_.size();
}

void ServerContext::AbortAll() {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, weak] : live_) {
      if (auto c = weak.lock()) all.push_back(std::move(c));
    }
  }
  for (auto& c : all) c->Abort();
}

void IdleWatch::Start(std::function<void(const char*)> on_expiry) {
  state_->on_idle = std::move(on_expiry);
  state_->started = std::chrono::steady_clock::now();
  Touch();
  Arm(state_);
}

void IdleWatch::Arm(const std::shared_ptr<State>& s) {
  auto interval = std::min<std::chrono::milliseconds>(s->timeout / 2, std::chrono::seconds(30));
  if (s->max_duration.count() > 0) {
    // Wake up no later than the end of the stream's time.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        s->started + s->max_duration - std::chrono::steady_clock::now());
    interval = std::min(interval, left);
  }
  if (interval < std::chrono::milliseconds(10)) interval = std::chrono::milliseconds(10);
  s->timer.expires_after(interval);
  s->timer.async_wait([weak = std::weak_ptr<State>(s)](boost::system::error_code ec) {
    auto s = weak.lock();
    if (ec || !s || !s->on_idle) return;
    auto now = std::chrono::steady_clock::now();
    const char* why = nullptr;
    if (s->max_duration.count() > 0 && now - s->started >= s->max_duration) {
      why = "stream timeout";
    } else if (now - s->last >= s->timeout) {
      why = "idle timeout";
    }
    if (why != nullptr) {
      auto cb = std::move(s->on_idle);
      s->on_idle = nullptr;
      cb(why);
      return;
    }
    Arm(s);
  });
}

std::string Describe(const StreamRequest& what) {
  if (auto* e = std::get_if<ExecRequest>(&what)) return "exec " + e->container_id.substr(0, 12);
  if (auto* a = std::get_if<AttachRequest>(&what)) {
    return "attach " + a->container_id.substr(0, 12);
  }
  return "port-forward " + std::get<PortForwardRequest>(what).sandbox_id.substr(0, 12);
}

namespace {

class RuntimeBackends : public BackendFactory {
 public:
  std::shared_ptr<CommandBackend> Exec(asio::any_io_executor strand, asio::thread_pool& blocking,
                                       const ExecRequest& request) override {
    return NewExecBackend(std::move(strand), blocking, request);
  }
  std::shared_ptr<CommandBackend> Attach(asio::any_io_executor strand,
                                         const AttachRequest& request) override {
    return NewAttachBackend(std::move(strand), request);
  }
};

// --- the HTTP front: one request, then an upgrade or an error -----------------------------

std::string ToStd(beast::string_view s) { return std::string(s.data(), s.size()); }

bool HeaderHasToken(beast::string_view value, absl::string_view token) {
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part), token)) return true;
  }
  return false;
}

// `port` query parameters (repeated, or comma-separated), as kubelet reads them.
absl::StatusOr<std::vector<uint16_t>> QueryPorts(absl::string_view query) {
  std::vector<uint16_t> ports;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    auto eq = kv.find('=');
    if (kv.substr(0, eq) != "port") continue;
    absl::string_view value = eq == absl::string_view::npos ? "" : kv.substr(eq + 1);
    if (value.empty())
      return absl::InvalidArgumentError("query parameter \"port\" cannot be empty");
    for (absl::string_view p : absl::StrSplit(value, ',')) {
      uint32_t port = 0;
      if (!absl::SimpleAtoi(p, &port) || port < 1 || port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("unable to parse \"", p, "\" as a port"));
      }
      ports.push_back(static_cast<uint16_t>(port));
    }
  }
  return ports;
}

template <class Stream>
class HttpSession : public Connection, public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `tls`: the server's context when Stream is TlsStream.
  HttpSession(std::shared_ptr<ServerContext> ctx, std::shared_ptr<TokenCache> tokens,
              tcp::socket socket, asio::ssl::context* tls)
      : ctx_(std::move(ctx)),
        tokens_(std::move(tokens)),
        stream_(MakeStream(std::move(socket), tls)) {}
  ~HttpSession() override { ctx_->Unregister(id_); }

  void Run() {
    id_ = ctx_->Register(this->weak_from_this());
    beast::get_lowest_layer(stream_).expires_after(ctx_->options.handshake_timeout);
    if constexpr (kTls) {
      auto self = this->shared_from_this();
      stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) {
          spdlog::debug("streaming: TLS handshake: {}", ec.message());
          self->CloseNow();
          return;
        }
        self->ReadRequest();
      });
    } else {
      ReadRequest();
    }
  }

  void Abort() override {
    auto self = this->shared_from_this();
    asio::post(stream_.get_executor(), [self] {
      if (!self->handed_over_) self->CloseNow();
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, asio::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }

  void CloseNow() { beast::get_lowest_layer(stream_).close(); }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(ctx_->options.max_header_bytes));
    parser_->body_limit(64 * 1024);
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, *parser_,
                     [self](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit) {
        Reply(http::status::request_header_fields_too_large, "request headers too large");
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                 ec != asio::error::operation_aborted) {
        spdlog::debug("streaming: bad request: {}", ec.message());
        if (std::string_view(ec.category().name()) == "beast.http") {
          Reply(http::status::bad_request, "malformed request");
        }
      }
      return;
    }
    req_ = parser_->release();
    if (req_.method() != http::verb::get && req_.method() != http::verb::post) {
      Reply(http::status::method_not_allowed, "method not allowed");
      return;
    }
    absl::string_view target(req_.target().data(), req_.target().size());
    absl::string_view query;
    if (auto q = target.find('?'); q != absl::string_view::npos) {
      query = target.substr(q + 1);
      target = target.substr(0, q);
    }
    std::vector<absl::string_view> parts = absl::StrSplit(target, '/');
    // "", kind, token
    if (parts.size() != 3 || !parts[0].empty() || parts[2].empty()) {
      Reply(http::status::not_found, "not found");
      return;
    }
    absl::string_view kind = parts[1];
    if (kind != "exec" && kind != "attach" && kind != "portforward") {
      Reply(http::status::not_found, "not found");
      return;
    }
    auto what = tokens_->Consume(std::string(parts[2]));
    bool match =
        what && ((kind == "exec" && std::holds_alternative<ExecRequest>(*what)) ||
                 (kind == "attach" && std::holds_alternative<AttachRequest>(*what)) ||
                 (kind == "portforward" && std::holds_alternative<PortForwardRequest>(*what)));
    if (!match) {
      Reply(http::status::not_found, "unknown or expired token");
      return;
    }
    const bool portforward = kind == "portforward";
    if (beast::websocket::is_upgrade(req_)) {
      std::vector<std::string> offered;
      auto range = req_.equal_range(http::field::sec_websocket_protocol);
      for (auto it = range.first; it != range.second; ++it) offered.push_back(ToStd(it->value()));
      auto protocol = NegotiateWsProtocol(
          offered, portforward ? WsPurpose::kPortForward : WsPurpose::kRemoteCommand);
      if (!protocol) {
        Reply(http::status::bad_request, absl::StrCat("requested protocol(s) are not supported: ",
                                                      absl::StrJoin(offered, ", ")));
        return;
      }
      if (protocol->spdy_tunnel) {
        handed_over_ = true;
        beast::get_lowest_layer(stream_).expires_never();
        StartSpdyOverWebSocket(ctx_, std::move(stream_), std::move(req_), protocol->name,
                               kPortForwardProtocolV1, std::move(*what));
        return;
      }
      std::vector<uint16_t> ports;
      if (portforward) {
        auto q = QueryPorts(query);
        if (!q.ok()) {
          Reply(http::status::bad_request, std::string(q.status().message()));
          return;
        }
        ports = *q;
        if (ports.empty()) {
          for (int32_t p : std::get<PortForwardRequest>(*what).ports) {
            if (p >= 1 && p <= 65535) ports.push_back(static_cast<uint16_t>(p));
          }
        }
        if (ports.empty()) {
          Reply(http::status::bad_request, "query parameter \"port\" is required");
          return;
        }
        if (ports.size() > 100) {
          Reply(http::status::bad_request, "too many ports");
          return;
        }
      }
      handed_over_ = true;
      beast::get_lowest_layer(stream_).expires_never();
      StartWebSocket(ctx_, std::move(stream_), std::move(req_), *protocol, std::move(*what),
                     std::move(ports));
      return;
    }
    bool upgrade = HeaderHasToken(req_[http::field::connection], "upgrade");
    if (!upgrade || !absl::EqualsIgnoreCase(ToStd(req_[http::field::upgrade]), "SPDY/3.1")) {
      Reply(http::status::bad_request, "unable to upgrade: missing upgrade headers in request");
      return;
    }
    std::vector<std::string> offered;
    auto range = req_.equal_range("X-Stream-Protocol-Version");
    for (auto it = range.first; it != range.second; ++it) offered.push_back(ToStd(it->value()));
    if (offered.empty()) {
      Reply(http::status::bad_request, "unable to upgrade: X-Stream-Protocol-Version is required");
      return;
    }
    const auto& supported = portforward ? PortForwardProtocols() : RemoteCommandProtocols();
    auto protocol = NegotiateProtocol(offered, supported);
    if (!protocol) {
      std::vector<std::pair<std::string, std::string>> headers;
      for (const auto& p : supported)
        headers.emplace_back("X-Accepted-Stream-Protocol-Versions", p);
      Reply(http::status::forbidden,
            absl::StrCat("unable to upgrade: unable to negotiate protocol: client supports ",
                         absl::StrJoin(offered, ", "), ", server accepts ",
                         absl::StrJoin(supported, ", ")),
            headers);
      return;
    }
    std::string leftover = beast::buffers_to_string(buffer_.data());
    handed_over_ = true;
    beast::get_lowest_layer(stream_).expires_never();
    StartSpdy(ctx_, std::move(stream_), std::move(leftover), *protocol, std::move(*what));
  }

  void Reply(http::status status, std::string body,
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    for (const auto& [k, v] : headers) res->insert(k, v);
    res->keep_alive(false);
    res->body() = std::move(body);
    res->prepare_payload();
    auto self = this->shared_from_this();
    beast::get_lowest_layer(stream_).expires_after(ctx_->options.handshake_timeout);
    http::async_write(stream_, *res, [self, res](beast::error_code, size_t) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->CloseNow();
    });
  }

  std::shared_ptr<ServerContext> ctx_;
  std::shared_ptr<TokenCache> tokens_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest req_;
  uint64_t id_ = 0;
  bool handed_over_ = false;
};

}  // namespace

std::shared_ptr<BackendFactory> NewRuntimeBackends() { return std::make_shared<RuntimeBackends>(); }

// --- the server --------------------------------------------------------------------------

struct StreamingServer::Impl : public std::enable_shared_from_this<StreamingServer::Impl> {
  std::shared_ptr<ServerContext> ctx;
  std::shared_ptr<TokenCache> tokens;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::optional<asio::ssl::context> tls;  // when TLS is configured
  std::string host;                       // for URLs
  int port = 0;
  std::atomic<bool> running{false};

  void Accept() {
    auto self = shared_from_this();
    acceptor->async_wait(tcp::acceptor::wait_read, [self](boost::system::error_code ec) {
      if (ec) return;  // closed
      // accept4 with SOCK_CLOEXEC: a socket must never leak into the runtimes and monitors
      // tetherd spawns (conmon outlives us and would hold it open).
      int fd =
          accept4(self->acceptor->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
          spdlog::warn("streaming: accept: {}", strerror(errno));
        }
        self->Accept();
        return;
      }
      Fd owned(fd);
      if (self->ctx->Count() >= self->ctx->options.max_connections) {
        static const char kBusy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        self->Accept();
        return;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      tcp::socket sock(asio::make_strand(self->io));
      boost::system::error_code aec;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      sock.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), owned.release(), aec);
      if (!aec) {
        if (self->tls) {
          std::make_shared<HttpSession<TlsStream>>(self->ctx, self->tokens, std::move(sock),
                                                   &*self->tls)
              ->Run();
        } else {
          std::make_shared<HttpSession<PlainStream>>(self->ctx, self->tokens, std::move(sock),
                                                     nullptr)
              ->Run();
        }
      }
      self->Accept();
    });
  }
};

StreamingServer::StreamingServer(StreamingOptions options, std::shared_ptr<BackendFactory> backends)
    : impl_(std::make_shared<Impl>()) {
  impl_->ctx = std::make_shared<ServerContext>();
  impl_->ctx->options = std::move(options);
  impl_->ctx->backends = backends ? std::move(backends) : NewRuntimeBackends();
  impl_->tokens = std::make_shared<TokenCache>(impl_->ctx->options.max_pending_tokens,
                                               impl_->ctx->options.token_ttl);
}

StreamingServer::~StreamingServer() { Stop(); }

absl::Status StreamingServer::Start() {
  const StreamingOptions& o = impl_->ctx->options;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(o.address.empty() ? "127.0.0.1" : o.address, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("stream address ", o.address, ": ", ec.message()));
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("stream port ", o.port, " out of range"));
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "stream TLS needs both tls_cert_file and tls_key_file (or neither)");
  }
  if (!o.tls_cert_file.empty()) {
    impl_->tls.emplace(asio::ssl::context::tls_server);
    auto& t = *impl_->tls;
    t.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    t.use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) {
      impl_->tls.reset();
      return absl::InvalidArgumentError(
          absl::StrCat("stream.tls_cert_file ", o.tls_cert_file, ": ", ec.message()));
    }
    t.use_private_key_file(o.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      impl_->tls.reset();
      return absl::InvalidArgumentError(
          absl::StrCat("stream.tls_key_file ", o.tls_key_file, ": ", ec.message()));
    }
    if (SSL_CTX_check_private_key(t.native_handle()) != 1) {
      impl_->tls.reset();
      return absl::InvalidArgumentError(
          "stream.tls_key_file does not match the certificate in stream.tls_cert_file");
    }
  }
  // The listening socket is made here, close-on-exec (Asio would not set it).
  Fd fd(socket(addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  tcp::endpoint ep(addr, static_cast<uint16_t>(o.port));
  if (bind(fd.get(), ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    return absl::UnavailableError(
        absl::StrCat("streaming server: bind ", o.address, ":", o.port, ": ", strerror(errno)));
  }
  if (listen(fd.get(), 128) != 0) {
    return absl::UnavailableError(absl::StrCat("listen: ", strerror(errno)));
  }
  impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->io);
  impl_->acceptor->assign(ep.protocol(), fd.release(), ec);
  if (ec) return absl::InternalError(absl::StrCat("acceptor: ", ec.message()));
  auto local = impl_->acceptor->local_endpoint(ec);
  impl_->port = local.port();
  std::string host = local.address().to_string();
  if (local.address().is_unspecified()) host = local.address().is_v6() ? "::1" : "127.0.0.1";
  impl_->host = local.address().is_v6() ? absl::StrCat("[", host, "]") : host;
  impl_->work.emplace(impl_->io.get_executor());
  impl_->Accept();
  int threads = std::max(1, o.threads);
  for (int i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([impl = impl_] {
      for (;;) {
        try {
          impl->io.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("streaming server: {}", e.what());
        }
      }
    });
  }
  impl_->running = true;
  spdlog::info("streaming server on {}", base_url());
  return absl::OkStatus();
}

void StreamingServer::Stop() {
  if (!impl_->running.exchange(false)) return;
  asio::post(impl_->io, [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor->close(ignored);
  });
  impl_->ctx->AbortAll();
  impl_->work.reset();
  // Sessions wind down (exec'd processes are killed and reaped); then stop what is left.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!impl_->io.stopped() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Let completions that are already due (aborted operations) release what they hold.
  impl_->io.restart();
  impl_->io.poll();
}

absl::StatusOr<std::string> StreamingServer::Url(const char* kind, StreamRequest request) {
  if (!impl_->running) return absl::UnavailableError("the streaming server is not running");
  auto token = impl_->tokens->Insert(std::move(request));
  if (!token.ok()) return token.status();
  return absl::StrCat(base_url(), "/", kind, "/", *token);
}

absl::StatusOr<std::string> StreamingServer::GetExec(ExecRequest request) {
  return Url("exec", std::move(request));
}
absl::StatusOr<std::string> StreamingServer::GetAttach(AttachRequest request) {
  return Url("attach", std::move(request));
}
absl::StatusOr<std::string> StreamingServer::GetPortForward(PortForwardRequest request) {
  return Url("portforward", std::move(request));
}

std::string StreamingServer::base_url() const {
  return absl::StrCat(impl_->tls ? "https://" : "http://", impl_->host, ":", impl_->port);
}

int StreamingServer::port() const { return impl_->port; }

size_t StreamingServer::connections() const { return impl_->ctx->Count(); }

}  // namespace tether::stream
