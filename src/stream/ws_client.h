// A small synchronous client of the WebSocket channel protocols (websocket_channel.h), for tests
// and tools: connect to a streaming URL, send and receive channel messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "stream/websocket_channel.h"

namespace tether::stream {

struct ParsedUrl {
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string target;  // path and query
};
// http://HOST:PORT/PATH (IPv6 hosts in brackets).
absl::StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url);

class WsChannelClient {
 public:
  ~WsChannelClient();

  // Connects to `url` (http://...), offering `protocols` in order (none: no header). The
  // handshake's HTTP status is in the error message when the server refuses the upgrade.
  static absl::StatusOr<std::unique_ptr<WsChannelClient>> Connect(
      const std::string& url, const std::vector<std::string>& protocols,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& protocol() const { return protocol_; }

  absl::Status Send(uint8_t channel, std::string_view data);
  // v5 close signal for `channel`.
  absl::Status SendClose(uint8_t channel);
  // Anything, as one message (tests of malformed input).
  absl::Status SendRaw(std::string_view message, bool binary = true);

  struct Message {
    uint8_t channel = 0;
    std::string data;
  };
  // The next message. Once the server closes the connection: NOT_FOUND ("closed").
  // DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<Message> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The next message as it came (no channel decoding): for tunneled protocols.
  absl::StatusOr<std::string> ReadRaw(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Reads until the server closes, appending each channel's bytes to out[channel]. Returns
  // whether the close was clean.
  absl::Status ReadAll(std::vector<std::string>* out,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Closes our side (normal close) and waits briefly for the server's answer.
  void Close();
  // Drops the TCP connection without a close handshake (an abrupt client).
  void Abort();

 private:
  WsChannelClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string protocol_;
  WsProtocol codec_;
};

}  // namespace tether::stream
