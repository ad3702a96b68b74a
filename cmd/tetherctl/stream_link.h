// The connection under tetherctl's streaming clients: a Link carries the bytes (SPDY) or the
// messages (WebSocket) after an HTTP upgrade; Dial connects (TCP, TLS for https) and upgrades.
// Everything runs on one io_context on the calling thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tetherctl/stream_client.h"

namespace tether::ctl::streaming {

using Callback = std::function<void()>;

class Link {
 public:
  using ReadHandler = std::function<void(boost::beast::error_code, std::string)>;
  virtual ~Link() = default;
  // The next bytes (raw) or the next whole message (WebSocket).
  virtual void Read(ReadHandler handler) = 0;
  virtual void Close() = 0;
  // Queues `data` (bytes, or one message); `sent` runs once it is written.
  void Send(std::string data, Callback sent) {
    if (failed_) return;
    queue_.emplace_back(std::move(data), std::move(sent));
    Pump();
  }
  std::function<void(boost::beast::error_code)> on_write_error;

 protected:
  virtual void Write(const std::string& data,
                     std::function<void(boost::beast::error_code)> done) = 0;

 private:
  void Pump() {
    if (writing_ || queue_.empty() || failed_) return;
    writing_ = true;
    Write(queue_.front().first, [this](boost::beast::error_code ec) {
      writing_ = false;
      if (ec) {
        failed_ = true;
        queue_.clear();
        if (on_write_error) on_write_error(ec);
        return;
      }
      Callback sent = std::move(queue_.front().second);
      queue_.pop_front();
      if (sent) sent();
      Pump();
    });
  }
  std::deque<std::pair<std::string, Callback>> queue_;
  bool writing_ = false, failed_ = false;
};

struct Dialed {
  std::unique_ptr<Link> link;
  std::string protocol;  // negotiated
};

// Connects to `raw_url` (TCP, then TLS for https) and upgrades to SPDY/3.1 (`use_websocket`
// false) or WebSocket, offering `protocols`. `tls` holds the client context for the connection's
// life.
absl::StatusOr<Dialed> Dial(boost::asio::io_context& io,
                            std::optional<boost::asio::ssl::context>& tls,
                            const std::string& raw_url, const DialOptions& options,
                            bool use_websocket, const std::vector<std::string>& protocols);

}  // namespace tether::ctl::streaming
