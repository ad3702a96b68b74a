// Parsing of streaming URLs and transports, the two kinds of Link and Dial (stream_link.h).
#include "tetherctl/stream_link.h"

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

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace tether::ctl {

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

namespace streaming {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

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

}  // namespace

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

}  // namespace streaming
}  // namespace tether::ctl
