#include "stream/websocket_channel.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::stream {

std::optional<WsProtocol> NegotiateWsProtocol(const std::vector<std::string>& offered_headers,
                                              WsPurpose purpose) {
  bool offered_any = false;
  for (const std::string& header : offered_headers) {
    for (absl::string_view offer : absl::StrSplit(header, ',')) {
      offer = absl::StripAsciiWhitespace(offer);
      if (offer.empty()) continue;
      offered_any = true;
      if (purpose == WsPurpose::kRemoteCommand) {
        if (offer == kWsProtocolV5) return WsProtocol{kWsProtocolV5, 5, false};
        if (offer == kWsProtocolV1) return WsProtocol{kWsProtocolV1, 1, false};
        if (offer == kWsProtocolV1Base64) return WsProtocol{kWsProtocolV1Base64, 1, true};
      }
      if (purpose == WsPurpose::kPortForward && offer == kWsSpdyTunnelPortForward) {
        return WsProtocol{kWsSpdyTunnelPortForward, 0, false, true};
      }
      if (offer == kWsProtocolV4) return WsProtocol{kWsProtocolV4, 4, false};
      if (offer == kWsProtocolV4Base64) return WsProtocol{kWsProtocolV4Base64, 4, true};
    }
  }
  if (!offered_any) return WsProtocol{"", 1, false};
  return std::nullopt;
}

std::string EncodeWsMessage(const WsProtocol& protocol, uint8_t channel, std::string_view data) {
  std::string out;
  if (protocol.base64) {
    out.push_back(static_cast<char>('0' + channel));
    std::string encoded;
    absl::Base64Escape(absl::string_view(data.data(), data.size()), &encoded);
    out += encoded;
  } else {
    out.reserve(data.size() + 1);
    out.push_back(static_cast<char>(channel));
    out.append(data);
  }
  return out;
}

absl::StatusOr<std::optional<WsMessage>> DecodeWsMessage(const WsProtocol& protocol,
                                                         std::string_view message) {
  if (message.empty()) return std::nullopt;
  WsMessage m;
  uint8_t first = static_cast<uint8_t>(message[0]);
  std::string_view payload = message.substr(1);
  if (first == kWsCloseChannel && protocol.version >= 5) {
    if (payload.size() != 1) {
      return absl::InvalidArgumentError("close signal: expected exactly one channel byte");
    }
    m.close = true;
    m.channel = static_cast<uint8_t>(payload[0]);
    return m;
  }
  if (protocol.base64) {
    if (first < '0' || first > '9') {
      return absl::InvalidArgumentError("base64 channel protocol: channel must be a digit");
    }
    m.channel = static_cast<uint8_t>(first - '0');
    if (!absl::Base64Unescape(absl::string_view(payload.data(), payload.size()), &m.data)) {
      return absl::InvalidArgumentError("base64 channel protocol: malformed base64");
    }
    return m;
  }
  m.channel = first;
  m.data.assign(payload);
  return m;
}

std::string PortPrefix(uint16_t port) {
  std::string out(2, '\0');
  out[0] = static_cast<char>(port & 0xff);
  out[1] = static_cast<char>(port >> 8);
  return out;
}

}  // namespace tether::stream
