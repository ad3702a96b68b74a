// libFuzzer target for the WebSocket channel protocols and the resize stream (src/stream/
// websocket_channel.*, remote_command.*): what a client sends us after the handshake. The first
// input byte picks a mode:
//   0: the message decoder under each protocol; a decoded data message must encode back to a
//      message that decodes to the same channel and bytes;
//   1: protocol negotiation on input-chosen Sec-WebSocket-Protocol headers;
//   2: the resize decoder fed the rest in input-chosen pieces; sizes only appear for objects.
// Build: tests/fuzz/CMakeLists.txt (clang only). Run: websocket_fuzzer -max_total_time=120 DIR
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "stream/remote_command.h"
#include "stream/websocket_channel.h"

namespace tether::stream {
namespace {

void Check(bool ok) {
  if (!ok) abort();
}

void FuzzDecode(std::string_view in) {
  const WsProtocol protocols[] = {
      {"", 1, false},
      {kWsProtocolV1Base64, 1, true},
      {kWsProtocolV4, 4, false},
      {kWsProtocolV4Base64, 4, true},
      {kWsProtocolV5, 5, false},
  };
  for (const WsProtocol& p : protocols) {
    auto m = DecodeWsMessage(p, in);
    if (!m.ok() || !m->has_value()) continue;
    const WsMessage& msg = **m;
    if (msg.close) {
      Check(p.version >= 5 && in.size() == 2);
      continue;
    }
    if (p.base64 && msg.channel > 9) abort();
    std::string again = EncodeWsMessage(p, msg.channel, msg.data);
    auto back = DecodeWsMessage(p, again);
    Check(back.ok() && back->has_value());
    Check((*back)->channel == msg.channel && (*back)->data == msg.data);
  }
}

void FuzzNegotiate(std::string_view in) {
  std::vector<std::string> headers;
  size_t start = 0;
  for (size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\n') {
      headers.emplace_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  for (WsPurpose purpose : {WsPurpose::kRemoteCommand, WsPurpose::kPortForward}) {
    auto p = NegotiateWsProtocol(headers, purpose);
    if (!p) continue;
    if (p->spdy_tunnel) {
      Check(purpose == WsPurpose::kPortForward && p->name == kWsSpdyTunnelPortForward);
      continue;
    }
    Check(p->version == 1 || p->version == 4 || p->version == 5);
    if (purpose == WsPurpose::kPortForward) Check(p->version != 5);
  }
  (void)NegotiateProtocol(headers, RemoteCommandProtocols());
  (void)NegotiateProtocol(headers, PortForwardProtocols());
}

void FuzzResize(std::string_view in) {
  if (in.empty()) return;
  size_t piece = static_cast<uint8_t>(in[0]) % 17 + 1;
  in.remove_prefix(1);
  ResizeDecoder d;
  std::vector<TerminalSize> sizes;
  bool failed = false;
  while (!in.empty()) {
    size_t n = std::min(piece, in.size());
    absl::Status st = d.Feed(in.substr(0, n), &sizes);
    if (failed) Check(!st.ok());  // errors are final
    failed = failed || !st.ok();
    in.remove_prefix(n);
  }
}

}  // namespace
}  // namespace tether::stream

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      tether::stream::FuzzDecode(in);
      break;
    case 1:
      tether::stream::FuzzNegotiate(in);
      break;
    case 2:
      tether::stream::FuzzResize(in);
      break;
  }
  return 0;
}
