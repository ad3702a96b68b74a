#include "stream/ws_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace tether::stream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

absl::StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url) {
  absl::string_view rest(url);
  if (!absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError("only http:// URLs: " + url);
  }
  size_t slash = rest.find('/');
  absl::string_view hostport = rest.substr(0, slash);
  ParsedUrl out;
  out.target = slash == absl::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon;
  if (absl::StartsWith(hostport, "[")) {
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("bad host: " + url);
    out.host = std::string(hostport.substr(1, close - 1));
    colon = hostport.find(':', close);
  } else {
    colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
  }
  uint32_t port = 80;
  if (colon != absl::string_view::npos &&
      (!absl::SimpleAtoi(hostport.substr(colon + 1), &port) || port > 65535)) {
    return absl::InvalidArgumentError("bad port: " + url);
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

struct WsChannelClient::Impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer buf;
  bool closed = false;

  // Runs the io_context until `done` (the operation armed the stream's expiry).
  template <typename Start>
  beast::error_code Run(std::chrono::milliseconds timeout, Start start) {
    beast::error_code result;
    bool done = false;
    beast::get_lowest_layer(ws).expires_after(timeout);
    start([&](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    io.restart();
    while (!done && io.run_one() > 0) {
    }
    beast::get_lowest_layer(ws).expires_never();
    return result;
  }
};

WsChannelClient::WsChannelClient() : impl_(std::make_unique<Impl>()) {}
WsChannelClient::~WsChannelClient() = default;

absl::StatusOr<std::unique_ptr<WsChannelClient>> WsChannelClient::Connect(
    const std::string& url, const std::vector<std::string>& protocols,
    std::chrono::milliseconds timeout) {
  auto parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<WsChannelClient> c(new WsChannelClient());
  Impl& im = *c->impl_;
  boost::system::error_code aec;
  auto addr = asio::ip::make_address(parsed->host, aec);
  if (aec) return absl::InvalidArgumentError("host must be an IP address: " + parsed->host);
  tcp::endpoint ep(addr, parsed->port);
  auto ec = im.Run(
      timeout, [&](auto handler) { beast::get_lowest_layer(im.ws).async_connect(ep, handler); });
  if (ec) return absl::UnavailableError(absl::StrCat("connect ", url, ": ", ec.message()));
  std::string offer = absl::StrJoin(protocols, ", ");
  im.ws.set_option(websocket::stream_base::decorator([offer](websocket::request_type& req) {
    if (!offer.empty()) req.set(http::field::sec_websocket_protocol, offer);
  }));
  websocket::response_type res;
  std::string host = absl::StrCat(parsed->host, ":", parsed->port);
  ec = im.Run(timeout,
              [&](auto handler) { im.ws.async_handshake(res, host, parsed->target, handler); });
  if (ec) {
    return absl::Status(
        res.result() == http::status::not_found ? absl::StatusCode::kNotFound
                                                : absl::StatusCode::kUnavailable,
        absl::StrCat("websocket handshake: ", ec.message(), " (HTTP ", res.result_int(), ")"));
  }
  auto p = res[http::field::sec_websocket_protocol];
  c->protocol_ = std::string(p.data(), p.size());
  auto negotiated = NegotiateWsProtocol({c->protocol_}, WsPurpose::kRemoteCommand);
  if (!negotiated) negotiated = NegotiateWsProtocol({c->protocol_}, WsPurpose::kPortForward);
  if (negotiated) c->codec_ = *negotiated;
  return c;
}

absl::Status WsChannelClient::Send(uint8_t channel, std::string_view data) {
  return SendRaw(EncodeWsMessage(codec_, channel, data), !codec_.base64);
}

absl::Status WsChannelClient::SendClose(uint8_t channel) {
  std::string m = {static_cast<char>(kWsCloseChannel), static_cast<char>(channel)};
  return SendRaw(m, true);
}

absl::Status WsChannelClient::SendRaw(std::string_view message, bool binary) {
  Impl& im = *impl_;
  im.ws.binary(binary);
  auto ec = im.Run(std::chrono::seconds(10), [&](auto handler) {
    im.ws.async_write(asio::buffer(message.data(), message.size()), handler);
  });
  if (ec) return absl::UnavailableError(absl::StrCat("websocket write: ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> WsChannelClient::ReadRaw(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (im.closed) return absl::NotFoundError("closed");
  im.buf.consume(im.buf.size());
  auto ec = im.Run(timeout, [&](auto handler) { im.ws.async_read(im.buf, handler); });
  if (ec == websocket::error::closed) {
    im.closed = true;
    return absl::NotFoundError("closed");
  }
  if (ec == beast::error::timeout) return absl::DeadlineExceededError("websocket read timed out");
  if (ec) {
    im.closed = true;
    return absl::UnavailableError(absl::StrCat("websocket read: ", ec.message()));
  }
  return beast::buffers_to_string(im.buf.data());
}

absl::StatusOr<WsChannelClient::Message> WsChannelClient::Read(std::chrono::milliseconds timeout) {
  for (;;) {
    auto raw = ReadRaw(timeout);
    if (!raw.ok()) return raw.status();
    auto m = DecodeWsMessage(codec_, *raw);
    if (!m.ok()) return m.status();
    if (!*m) continue;
    return Message{(*m)->channel, std::move((*m)->data)};
  }
}

absl::Status WsChannelClient::ReadAll(std::vector<std::string>* out,
                                      std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("server did not close");
    auto m = Read(left);
    if (absl::IsNotFound(m.status())) return absl::OkStatus();
    if (!m.ok()) return m.status();
    if (out->size() <= m->channel) out->resize(m->channel + 1);
    (*out)[m->channel] += m->data;
  }
}

void WsChannelClient::Close() {
  Impl& im = *impl_;
  if (im.closed) return;
  im.Run(std::chrono::seconds(2),
         [&](auto handler) { im.ws.async_close(websocket::close_code::normal, handler); });
  im.closed = true;
}

void WsChannelClient::Abort() {
  Impl& im = *impl_;
  beast::error_code ignored;
  beast::get_lowest_layer(im.ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(im.ws).close();
  im.closed = true;
}

}  // namespace tether::stream
