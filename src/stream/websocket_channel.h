// The Kubernetes WebSocket channel protocols (k8s.io/apimachinery wsstream): every message starts
// with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; port forwarding: 2n data
// and 2n+1 error of the n-th port). The base64 variants use text messages with the channel as an
// ASCII digit and the payload base64-encoded. v5.channel.k8s.io adds a close signal: the message
// [255, channel] half-closes the channel.
//
// Pure functions: the fuzz target (tests/fuzz/websocket_fuzzer.cc) drives the decoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tether::stream {

inline constexpr char kWsProtocolV5[] = "v5.channel.k8s.io";
inline constexpr char kWsProtocolV4[] = "v4.channel.k8s.io";
inline constexpr char kWsProtocolV4Base64[] = "v4.base64.channel.k8s.io";
inline constexpr char kWsProtocolV1[] = "channel.k8s.io";
inline constexpr char kWsProtocolV1Base64[] = "base64.channel.k8s.io";
// Port forwarding as client-go tunnels it since KEP-4006: a SPDY/3.1 session in binary messages.
inline constexpr char kWsSpdyTunnelPortForward[] = "SPDY/3.1+portforward.k8s.io";
inline constexpr uint8_t kWsCloseChannel = 255;

struct WsProtocol {
  std::string name;  // as negotiated ("" when the client offered none)
  int version = 1;   // 1 (channel.k8s.io or none), 4, 5
  bool base64 = false;
  bool spdy_tunnel = false;  // kWsSpdyTunnelPortForward: no channels, SPDY inside
};

enum class WsPurpose { kRemoteCommand, kPortForward };

// The first protocol in the client's Sec-WebSocket-Protocol list (comma-separated, possibly over
// several headers) that we support for `purpose`. A client that offers none gets the binary v1
// protocol (name ""), as kubelet does; nullopt when it offers only ones we do not support.
std::optional<WsProtocol> NegotiateWsProtocol(const std::vector<std::string>& offered_headers,
                                              WsPurpose purpose);

// One message to the client.
std::string EncodeWsMessage(const WsProtocol& protocol, uint8_t channel, std::string_view data);

struct WsMessage {
  uint8_t channel = 0;
  std::string data;
  bool close = false;  // v5: the client closed `channel` (data is empty)
};

// One message from the client. nullopt for an empty message (ignored, as kubelet does); an error
// for bad base64, a close signal of the wrong size, or one outside v5. The channel is not range
// checked: the caller ignores channels it does not use.
absl::StatusOr<std::optional<WsMessage>> DecodeWsMessage(const WsProtocol& protocol,
                                                         std::string_view message);

// Port forwarding over WebSocket: the first message on each of a port's two channels carries the
// port, little-endian.
std::string PortPrefix(uint16_t port);

}  // namespace tether::stream
