// The streaming server behind Exec, Attach and PortForward: the RPCs hand out single-use URLs
// (http://ADDR:PORT/{exec,attach,portforward}/TOKEN); a client (kubelet, kubectl, crictl) then
// upgrades to SPDY/3.1 or WebSocket and the session runs over it (remote_command.h,
// portforward_backend.h). Boost.Asio/Beast on a small fixed pool of threads, a strand per
// connection: many sessions, no thread each.
//
// Limits: a request's headers within 16 KiB and `handshake_timeout`; SPDY streams of a session
// within `stream_creation_timeout`; a connection idle (no byte either way) for `idle_timeout` is
// closed, and so is one older than `max_duration` (when not zero); at most `max_connections` at
// once (more are answered 503); WebSocket messages up to `max_ws_message`.
//
// TLS: with `tls_cert_file` and `tls_key_file` (PEM) every connection is TLS (1.2 or later) and
// the URLs are https://.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "stream/stream_request.h"

namespace tether::stream {

class BackendFactory;

struct StreamingOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: a free port
  int threads = 2;
  std::chrono::milliseconds idle_timeout = std::chrono::hours(4);
  std::chrono::milliseconds stream_creation_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds max_duration{0};  // a session's whole life; 0: no limit
  size_t max_connections = 1024;
  size_t max_header_bytes = 16 * 1024;
  size_t max_ws_message = 1 << 20;
  size_t max_pending_tokens = 1000;
  absl::Duration token_ttl = absl::Minutes(1);
  std::string tls_cert_file;  // both set: TLS
  std::string tls_key_file;
};

class StreamingServer {
 public:
  // `backends`: how exec and attach run (tests pass fakes); null = runc and conmon.
  explicit StreamingServer(StreamingOptions options,
                           std::shared_ptr<BackendFactory> backends = nullptr);
  ~StreamingServer();  // Stop()
  StreamingServer(const StreamingServer&) = delete;
  StreamingServer& operator=(const StreamingServer&) = delete;

  // Binds and starts serving (INVALID_ARGUMENT for a bad address or an unusable certificate).
  absl::Status Start();
  // Closes the listener and every session (exec'd processes are killed), then the threads.
  void Stop();

  // The URL for a request (RESOURCE_EXHAUSTED when too many are pending; UNAVAILABLE when the
  // server is not running).
  absl::StatusOr<std::string> GetExec(ExecRequest request);
  absl::StatusOr<std::string> GetAttach(AttachRequest request);
  absl::StatusOr<std::string> GetPortForward(PortForwardRequest request);

  std::string base_url() const;  // http://ADDR:PORT, or https:// with TLS
  int port() const;
  size_t connections() const;  // open connections (tests)

 private:
  struct Impl;
  absl::StatusOr<std::string> Url(const char* kind, StreamRequest request);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tether::stream
