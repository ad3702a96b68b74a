// tetherctl's port-forward client (RunPortForward, stream_client.h): local listeners whose
// connections each get a pair of SPDY streams (error, data) on one streaming connection.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "stream/websocket_channel.h"
#include "tetherctl/spdy_driver.h"
#include "tetherctl/stream_client.h"
#include "tetherctl/stream_link.h"

namespace tether::ctl {

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

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using streaming::Callback;
using streaming::Link;
using streaming::SpdyDriver;

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

absl::Status RunPortForward(const std::string& url, const DialOptions& options,
                            const std::vector<PortMapping>& ports, const PortForwardIo& io) {
  if (ports.empty()) return absl::InvalidArgumentError("no ports to forward");
  asio::io_context ctx;
  std::optional<asio::ssl::context> tls;
  bool ws = options.transport == StreamTransport::kWebSocket;
  // WebSocket: SPDY tunnelled in binary messages, as client-go (kubectl 1.31+, crictl) does.
  auto dialed =
      streaming::Dial(ctx, tls, url, options, ws,
                      {ws ? stream::kWsSpdyTunnelPortForward : stream::kPortForwardProtocolV1});
  if (!dialed.ok()) return dialed.status();
  PortForwarder forwarder(ctx, *dialed->link, ports, io);
  if (auto st = forwarder.Listen(); !st.ok()) return st;
  return forwarder.Run();
}

}  // namespace tether::ctl
