#include "stream/portforward_backend.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/log.h"

namespace tether::stream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr size_t kForwardReadChunk = 32 * 1024;
// containerd's grace for the other direction once one is done.
constexpr std::chrono::seconds kLingerAfterTargetEof{1};

// An OS error as Go prints it (lower case: "connection refused").
std::string GoErrno(const std::string& message) {
  std::string m = message;
  if (!m.empty() && m[0] >= 'A' && m[0] <= 'Z' && (m.size() < 2 || !(m[1] >= 'A' && m[1] <= 'Z'))) {
    m[0] = static_cast<char>(m[0] - 'A' + 'a');
  }
  return m;
}
}  // namespace

absl::StatusOr<NetnsSockets> TcpSocketsIn(const std::string& netns_path) {
  NetnsSockets out;
  std::string error;
  auto make = [&] {
    out.v4.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!out.v4.valid()) error = absl::StrCat("socket: ", strerror(errno));
    out.v6.reset(socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  };
  if (netns_path.empty()) {
    make();
  } else {
    // A thread of its own enters the namespace and dies with it: no thread of the pool ever
    // changes namespace.
    std::thread t([&] {
      Fd ns(open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid()) {
        error = absl::StrCat("open ", netns_path, ": ", strerror(errno));
        return;
      }
      if (setns(ns.get(), CLONE_NEWNET) != 0) {
        error = absl::StrCat("setns ", netns_path, ": ", strerror(errno));
        return;
      }
      make();
    });
    t.join();
  }
  if (!error.empty()) return absl::UnavailableError(error);
  return out;
}

struct PortForwardSession::Conn {
  PortPair pair;
  NetnsSockets sockets;
  std::unique_ptr<tcp::socket> sock;
  bool connected = false;
  bool ended = false;
  bool client_eof = false;    // the client half-closed the data channel
  bool client_reset = false;  // or reset it
  bool target_eof = false;    // the target closed its side
  bool target_shut = false;   // we half-closed the target
  bool writing = false;
  std::deque<std::pair<std::string, Callback>> to_target;
  std::vector<char> buf = std::vector<char>(kForwardReadChunk);
  std::string v4_error;
  std::unique_ptr<asio::steady_timer> linger;  // after the target's EOF, the client's last second
};

PortForwardSession::PortForwardSession(asio::any_io_executor strand,
                                       std::shared_ptr<Transport> transport, std::string netns_path,
                                       std::string pod, bool finish_when_done)
    : ex_(std::move(strand)),
      transport_(std::move(transport)),
      netns_path_(std::move(netns_path)),
      pod_(std::move(pod)),
      finish_when_done_(finish_when_done) {}

PortForwardSession::~PortForwardSession() = default;

std::shared_ptr<PortForwardSession::Conn> PortForwardSession::Find(ChannelId ch) const {
  for (const auto& [data, c] : conns_) {
    if (c->pair.data == ch || c->pair.error == ch) return c;
  }
  return nullptr;
}

void PortForwardSession::AddPair(PortPair pair) {
  if (closed_) return;
  auto c = std::make_shared<Conn>();
  c->pair = pair;
  conns_[pair.data] = c;
  auto sockets = TcpSocketsIn(netns_path_);
  if (!sockets.ok()) {
    Fail(c, GoErrno(std::string(sockets.status().message())));
    return;
  }
  c->sockets = std::move(*sockets);
  Connect(c, false);
}

void PortForwardSession::Connect(std::shared_ptr<Conn> c, bool v6) {
  Fd& fd = v6 ? c->sockets.v6 : c->sockets.v4;
  boost::system::error_code ec;
  c->sock = std::make_unique<tcp::socket>(ex_);
  c->sock->assign(v6 ? tcp::v6() : tcp::v4(), fd.release(), ec);
  if (ec) {
    Fail(c, ec.message());
    return;
  }
  tcp::endpoint target(v6 ? asio::ip::make_address("::1") : asio::ip::make_address("127.0.0.1"),
                       c->pair.port);
  auto self = shared_from_this();
  c->sock->async_connect(target, [self, c, v6](boost::system::error_code ec) {
    if (c->ended || self->closed_) return;
    if (ec) {
      // As containerd words it (IPv4 first, then IPv6), inside kubelet's message (Fail).
      std::string what = absl::StrCat("dial tcp", v6 ? "6 [::1]:" : "4 127.0.0.1:", c->pair.port,
                                      ": connect: ", GoErrno(ec.message()));
      if (!v6) {
        c->v4_error = what;
        if (c->sockets.v6.valid()) {
          self->Connect(c, true);
          return;
        }
        what = absl::StrCat("dial tcp6 [::1]:", c->pair.port,
                            ": socket: address family not supported by protocol");
      }
      self->Fail(
          c, absl::StrCat("failed to connect to localhost:", c->pair.port, " inside namespace \"",
                          self->pod_, "\", IPv4: ", c->v4_error, " IPv6 ", what, " "));
      return;
    }
    c->connected = true;
    c->sockets = {};
    spdlog::debug("port-forward {}: connected to port {}", self->pod_, c->pair.port);
    self->ReadTarget(c);
    self->PumpTarget(c);
  });
}

void PortForwardSession::ReadTarget(std::shared_ptr<Conn> c) {
  if (c->ended || c->target_eof) return;
  auto self = shared_from_this();
  c->sock->async_read_some(asio::buffer(c->buf), [self, c](boost::system::error_code ec, size_t n) {
    if (c->ended || self->closed_) return;
    if (ec || n == 0) {
      c->target_eof = true;
      self->transport_->CloseSend(c->pair.data);
      self->MaybeEnd(c);
      if (!c->ended) self->Linger(c);
      return;
    }
    self->transport_->Send(c->pair.data, std::string(c->buf.data(), n), [self, c] {
      asio::post(self->ex_, [self, c] { self->ReadTarget(c); });
    });
  });
}

void PortForwardSession::PumpTarget(std::shared_ptr<Conn> c) {
  if (!c->connected || c->writing || c->ended) return;
  if (c->to_target.empty()) {
    if (c->client_eof && !c->target_shut) {
      c->target_shut = true;
      boost::system::error_code ignored;
      c->sock->shutdown(tcp::socket::shutdown_send, ignored);
      MaybeEnd(c);
    }
    return;
  }
  c->writing = true;
  auto self = shared_from_this();
  asio::async_write(*c->sock, asio::buffer(c->to_target.front().first),
                    [self, c](boost::system::error_code ec, size_t) {
                      c->writing = false;
                      if (c->to_target.empty()) return;  // ended meanwhile
                      auto cb = std::move(c->to_target.front().second);
                      c->to_target.pop_front();
                      if (cb) cb();
                      if (ec) {
                        // The target reset the connection: the forward is over.
                        c->target_eof = true;
                        c->client_eof = true;
                        if (!self->closed_) self->transport_->CloseSend(c->pair.data);
                        self->End(c);
                        return;
                      }
                      self->PumpTarget(c);
                    });
}

void PortForwardSession::OnData(ChannelId ch, std::string data, Callback consumed) {
  auto c = Find(ch);
  if (!c || c->ended || ch != c->pair.data || c->client_eof) {
    consumed();
    return;
  }
  c->to_target.emplace_back(std::move(data), std::move(consumed));
  PumpTarget(c);
}

void PortForwardSession::OnRemoteClose(ChannelId ch) {
  auto c = Find(ch);
  if (!c || c->ended || ch != c->pair.data) return;  // the client closes its error side at once
  c->client_eof = true;
  PumpTarget(c);
  MaybeEnd(c);
}

void PortForwardSession::OnReset(ChannelId ch) {
  auto c = Find(ch);
  if (!c || c->ended) return;
  c->client_reset = true;
  End(c);
}

void PortForwardSession::OnTransportClosed() {
  closed_ = true;
  auto conns = std::move(conns_);
  conns_.clear();
  for (auto& [id, c] : conns) {
    c->ended = true;
    if (c->sock) {
      boost::system::error_code ignored;
      c->sock->close(ignored);
    }
    c->to_target.clear();  // the connection is gone: nobody waits for these
  }
  transport_.reset();
}

void PortForwardSession::Fail(std::shared_ptr<Conn> c, const std::string& message) {
  // kubelet's streaming server wraps the runtime's error ("error forwarding port %d to pod %s,
  // uid %v: %v", the uid empty for a CRI runtime); containerd's says where it dialled.
  std::string msg = absl::StrCat("error forwarding port ", c->pair.port, " to pod ", pod_,
                                 ", uid : failed to execute portforward in network namespace \"",
                                 netns_path_.empty() ? "host" : netns_path_, "\": ", message);
  spdlog::info("port-forward: {}", msg);
  if (!closed_) transport_->Send(c->pair.error, msg, nullptr);
  if (!closed_) transport_->CloseSend(c->pair.data);
  c->target_eof = true;
  c->client_eof = true;
  End(c);
}

void PortForwardSession::MaybeEnd(std::shared_ptr<Conn> c) {
  if (c->ended) return;
  // Over SPDY the client resets the data stream once it has read our FIN; until then, and while
  // it still sends, the target stays connected. WebSocket has no half-close: the target's EOF ends
  // the pair.
  if (c->target_eof && (c->client_eof || finish_when_done_)) End(c);
  if (!c->ended && c->target_shut && c->target_eof) End(c);
}

void PortForwardSession::Linger(std::shared_ptr<Conn> c) {
  // As containerd: once one direction is done, the other gets a second to finish, then the pair
  // ends (both channels closed), so that a client waiting for the end of its error channel (as
  // client-go does before it closes the local connection) is not kept waiting.
  c->linger = std::make_unique<asio::steady_timer>(ex_, kLingerAfterTargetEof);
  auto self = shared_from_this();
  c->linger->async_wait([self, c](boost::system::error_code ec) {
    if (ec || c->ended || self->closed_) return;
    spdlog::debug("port-forward {}: port {}: the client did not finish within {}s of the target",
                  self->pod_, c->pair.port, kLingerAfterTargetEof.count());
    self->End(c);
  });
}

void PortForwardSession::End(std::shared_ptr<Conn> c) {
  if (c->ended) return;
  c->ended = true;
  if (c->linger) c->linger->cancel();
  if (c->sock) {
    boost::system::error_code ignored;
    c->sock->close(ignored);
  }
  auto pending = std::move(c->to_target);
  c->to_target.clear();
  for (auto& [data, cb] : pending) {
    if (cb) cb();
  }
  conns_.erase(c->pair.data);
  if (closed_) return;
  if (!c->client_reset) transport_->CloseSend(c->pair.data);
  transport_->CloseSend(c->pair.error);
  if (finish_when_done_ && conns_.empty()) {
    closed_ = true;
    transport_->Finish();
    transport_.reset();
  }
}

}  // namespace tether::stream
