// Internal to the streaming server: what its connections share, and how the HTTP front hands an
// upgraded connection to the WebSocket (ws_connection.cc) or SPDY (spdy_connection.cc) side.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "stream/backend_factory.h"
#include "stream/streaming_server.h"
#include "stream/websocket_channel.h"

namespace tether::stream {

// Something the server can close at shutdown.
class Connection {
 public:
  virtual ~Connection() = default;
  // Closes at once, from any thread (posts onto the connection's strand).
  virtual void Abort() = 0;
};

// Shared by the server and every connection; outlives both (connections hold it).
struct ServerContext {
  StreamingOptions options;
  std::shared_ptr<BackendFactory> backends;
  boost::asio::thread_pool blocking{2};

  // Registered connections (weak), for Stop() and the connection limit.
  uint64_t Register(std::weak_ptr<Connection> c);
  void Unregister(uint64_t id);
  size_t Count() const;
  void AbortAll();

 private:
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, std::weak_ptr<Connection>> live_;
};

// Closes a connection after `timeout` without a byte either way, or `max_duration` (when not
// zero) after Start() whatever the traffic: call Touch() on every read and write, Start() once,
// Stop() when the connection closes. `on_expiry` gets "idle timeout" or "stream timeout". The
// timer's handler holds only a weak reference, so the watch may be destroyed at any time.
class IdleWatch {
 public:
  IdleWatch(boost::asio::any_io_executor ex, std::chrono::milliseconds timeout,
            std::chrono::milliseconds max_duration = std::chrono::milliseconds(0))
      : state_(std::make_shared<State>(std::move(ex), timeout, max_duration)) {}
  ~IdleWatch() { Stop(); }
  void Touch() { state_->last = std::chrono::steady_clock::now(); }
  void Start(std::function<void(const char* why)> on_expiry);
  void Stop() {
    state_->timer.cancel();
    state_->on_idle = nullptr;
  }

 private:
  struct State {
    State(boost::asio::any_io_executor ex, std::chrono::milliseconds t,
          std::chrono::milliseconds max)
        : timer(std::move(ex)), timeout(t), max_duration(max) {}
    boost::asio::steady_timer timer;
    std::chrono::milliseconds timeout;
    std::chrono::milliseconds max_duration;  // 0: none
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    std::function<void(const char*)> on_idle;
  };
  static void Arm(const std::shared_ptr<State>& s);
  std::shared_ptr<State> state_;
};

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

// A connection's byte stream: plain TCP, or TLS over it (stream.tls_cert_file). The functions
// below are instantiated for both.
using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The request was an upgrade to WebSocket with a protocol we support; the connection owns the
// stream from here on. `ports` are the WebSocket port-forward ports (query or request).
template <class Stream>
void StartWebSocket(std::shared_ptr<ServerContext> ctx, Stream stream, HttpRequest request,
                    WsProtocol protocol, StreamRequest what, std::vector<uint16_t> ports);

// The request was `Upgrade: SPDY/3.1` and `protocol` was negotiated: answers 101 and serves.
// `leftover`: bytes read past the request's headers (the client's first frames, if any).
template <class Stream>
void StartSpdy(std::shared_ptr<ServerContext> ctx, Stream stream, std::string leftover,
               std::string protocol, StreamRequest what);

// Port forwarding over WebSocket as client-go's tunneling dialer does it (KEP-4006): the
// WebSocket subprotocol `subprotocol` ("SPDY/3.1+portforward.k8s.io") and, inside its binary
// messages, a SPDY/3.1 session speaking `protocol`.
template <class Stream>
void StartSpdyOverWebSocket(std::shared_ptr<ServerContext> ctx, Stream stream, HttpRequest request,
                            std::string subprotocol, std::string protocol, StreamRequest what);

// A short description of the target for logs ("exec abcdef012345", ...).
std::string Describe(const StreamRequest& what);

}  // namespace tether::stream
