// A small synchronous SPDY/3.1 streaming client (spdy::ClientSession over a blocking socket), for
// tests and tools: the HTTP upgrade kubectl does, then streams with headers, data and FIN.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stream/spdy_client.h"
#include "util/fd.h"

namespace tether::stream {

class SpdyStreamClient {
 public:
  using StreamId = spdy::StreamId;

  // Upgrades `url` (http://...) offering `protocols` (X-Stream-Protocol-Version, in order).
  // The HTTP status of a refusal is in the error: NOT_FOUND for 404, PERMISSION_DENIED for 403,
  // INVALID_ARGUMENT for 400.
  static absl::StatusOr<std::unique_ptr<SpdyStreamClient>> Connect(
      const std::string& url, const std::vector<std::string>& protocols,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& protocol() const { return protocol_; }

  // Opens a stream and waits for the server's reply.
  absl::StatusOr<StreamId> Open(const spdy::Headers& headers,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  absl::Status Send(StreamId id, std::string_view data, bool fin = false);
  absl::Status CloseSend(StreamId id) { return Send(id, {}, true); }
  absl::Status Reset(StreamId id);

  // Reads and handles frames until `done()` is true, the server closes, or `timeout`.
  absl::Status PumpUntil(std::function<bool()> done,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const std::string& Data(StreamId id) { return streams_[id].data; }
  bool RemoteClosed(StreamId id) { return streams_[id].remote_fin || streams_[id].reset; }
  bool WasReset(StreamId id) { return streams_[id].reset; }
  bool Closed() const { return closed_; }  // the server closed the connection
  bool GoAwayReceived() const { return goaway_; }

  // Drops the TCP connection at once (an abrupt client).
  void Abort() { fd_.reset(); }

  // Raw bytes to the server (tests of malformed input).
  absl::Status WriteRaw(std::string_view bytes);

 private:
  SpdyStreamClient() = default;
  absl::Status Flush();
  absl::Status ReadOnce(std::chrono::milliseconds timeout);
  void Handle();

  struct Stream {
    bool replied = false, remote_fin = false, reset = false;
    std::string data;
  };
  Fd fd_;
  std::string protocol_;
  std::unique_ptr<spdy::ClientSession> session_;
  std::map<StreamId, Stream> streams_;
  bool closed_ = false, goaway_ = false;
};

}  // namespace tether::stream
