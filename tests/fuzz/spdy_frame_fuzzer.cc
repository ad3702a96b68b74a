// libFuzzer target for the SPDY/3.1 layer (src/stream/spdy_*). The first input byte picks a mode:
//   0: the frame parser on raw bytes; every frame parsed is written again and must parse back to
//      the same frame;
//   1: a server session fed raw bytes in input-chosen pieces, reacting to its events like a
//      streaming server would (acknowledge, answer, reset, ping, goaway);
//   2: the same for a client session;
//   3: input bytes as a script of client and server calls over an in-memory link; what arrives
//      must be exactly what was sent, and neither side may see a protocol error.
// Build: tests/fuzz/CMakeLists.txt (clang only). Run: spdy_frame_fuzzer -max_total_time=120 DIR
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "stream/spdy_client.h"
#include "stream/spdy_frame.h"
#include "stream/spdy_session.h"

namespace tether::spdy {
namespace {

// Reads bytes off the front of the input; zeros once it runs out.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(reinterpret_cast<const char*>(data), size) {}
  bool empty() const { return data_.empty(); }
  uint8_t Byte() {
    if (data_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }
  std::string_view Take(size_t n) {
    n = std::min(n, data_.size());
    std::string_view v = data_.substr(0, n);
    data_.remove_prefix(n);
    return v;
  }
  std::string_view Rest() { return Take(data_.size()); }

 private:
  std::string_view data_;
};

void Check(bool ok, std::string_view what) {
  if (!ok) {
    fprintf(stderr, "invariant violated: %.*s\n", static_cast<int>(what.size()), what.data());
    abort();
  }
}

std::string Describe(const Frame& frame) {
  auto headers = [](const Headers& h) {
    std::string s;
    for (const auto& [n, v] : h) absl::StrAppend(&s, n.size(), ":", n, "=", v.size(), ":", v, ";");
    return s;
  };
  std::string s(FrameName(frame));
  if (auto* f = std::get_if<DataFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", f->flags, "/", f->data);
  } else if (auto* f = std::get_if<SynStreamFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", f->associated_stream_id, "/", f->priority, "/", f->slot,
                    "/", f->flags, "/", headers(f->headers));
  } else if (auto* f = std::get_if<SynReplyFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", f->flags, "/", headers(f->headers));
  } else if (auto* f = std::get_if<HeadersFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", f->flags, "/", headers(f->headers));
  } else if (auto* f = std::get_if<RstStreamFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", static_cast<uint32_t>(f->status));
  } else if (auto* f = std::get_if<SettingsFrame>(&frame)) {
    absl::StrAppend(&s, f->flags);
    for (const Setting& st : f->settings)
      absl::StrAppend(&s, "/", st.flags, ",", st.id, ",", st.value);
  } else if (auto* f = std::get_if<PingFrame>(&frame)) {
    absl::StrAppend(&s, f->id);
  } else if (auto* f = std::get_if<GoAwayFrame>(&frame)) {
    absl::StrAppend(&s, f->last_good_stream_id, "/", static_cast<uint32_t>(f->status));
  } else if (auto* f = std::get_if<WindowUpdateFrame>(&frame)) {
    absl::StrAppend(&s, f->stream_id, "/", f->delta);
  } else if (auto* f = std::get_if<UnknownControlFrame>(&frame)) {
    absl::StrAppend(&s, f->type, "/", f->flags, "/", f->length);
  }
  return s;
}

FrameLimits SmallLimits() {
  // Small limits so the fuzzer reaches them.
  return FrameLimits{.max_data_payload = 4096,
                     .max_control_payload = 8192,
                     .max_header_block = 4096,
                     .max_headers = 16};
}

void FuzzParser(Input& in) {
  const bool small = in.Byte() & 1;
  FrameLimits limits = small ? SmallLimits() : FrameLimits{};
  FrameParser parser(limits);
  FrameWriter writer(limits);
  FrameParser reparser(limits);
  std::string_view bytes = in.Rest();
  while (true) {
    size_t consumed = 0;
    auto r = parser.Parse(bytes, &consumed);
    if (!r.ok()) {
      Check(consumed == 0, "consumed set on error");
      Check(!parser.Parse(bytes, &consumed).ok(), "parser error not sticky");
      return;
    }
    if (!r->has_value()) {
      Check(consumed == 0, "consumed set without a frame");
      return;
    }
    Check(consumed >= kFrameHeaderSize && consumed <= bytes.size(), "bad consumed");
    bytes.remove_prefix(consumed);
    const Frame& frame = **r;
    std::string wire;
    if (!writer.Write(frame, &wire).ok()) {
      Check(wire.empty(), "failed write left bytes");
      // Only frames the writer refuses by design get here.
      const auto* wu = std::get_if<WindowUpdateFrame>(&frame);
      Check(std::holds_alternative<UnknownControlFrame>(frame) || (wu && wu->delta == 0),
            absl::StrCat("parsed frame not writable: ", Describe(frame)));
      continue;
    }
    size_t reconsumed = 0;
    auto back = reparser.Parse(wire, &reconsumed);
    Check(back.ok() && back->has_value() && reconsumed == wire.size(),
          absl::StrCat("written frame does not parse: ", Describe(frame)));
    Check(Describe(**back) == Describe(frame),
          absl::StrCat("round trip changed ", Describe(frame), " into ", Describe(**back)));
  }
}

// Feeds the input to `session` in pieces, reacting to its events. The first 16 bytes are a
// script (piece sizes and reactions, used cyclically); the rest is the peer's byte stream, so a
// recorded transcript makes a good seed.
template <class S>
void FuzzSession(Input& in, S& session) {
  const std::string_view script = in.Take(16);
  std::string_view stream = in.Rest();
  size_t step = 0;
  auto next = [&]() -> uint8_t {
    return script.empty() ? 0 : static_cast<uint8_t>(script[step++ % script.size()]);
  };
  std::map<StreamId, int> open;
  while (!stream.empty()) {
    const size_t piece = std::min<size_t>(stream.size(), 1 + next() * 8);
    absl::Status st = session.Feed(stream.substr(0, piece));
    stream.remove_prefix(piece);
    for (Event& e : session.TakeEvents()) {
      switch (e.type) {
        case Event::Type::kStreamOpened:
          open[e.stream_id] = 1;
          if constexpr (std::is_same_v<S, ServerSession>) {
            if (next() & 1) session.AcceptStream(e.stream_id).IgnoreError();
          }
          break;
        case Event::Type::kStreamReplied:
          open[e.stream_id] = 1;
          break;
        case Event::Type::kData:
          if (next() & 1) session.AcknowledgeData(e.stream_id, e.data.size());
          break;
        case Event::Type::kStreamClosed:
        case Event::Type::kStreamReset:
        case Event::Type::kStreamError:
          open.erase(e.stream_id);
          break;
        default:
          break;
      }
    }
    if (!st.ok()) {
      Check(session.failed() && session.ActiveStreams() == 0, "fatal error left streams");
      Check(!session.Feed("x").ok(), "session error not sticky");
      return;
    }
    const uint8_t action = next();
    if (!open.empty()) {
      const StreamId id = std::next(open.begin(), action % open.size())->first;
      switch ((action >> 4) % 8) {
        case 0:
          session.SendData(id, std::string(next() * 97, 'd')).IgnoreError();
          break;
        case 1:
          session.SendData(id, "fin", true).IgnoreError();
          break;
        case 2:
          session.ResetStream(id).IgnoreError();
          break;
        case 3:
          session.SendHeaders(id, {{"k", "v"}}).IgnoreError();
          break;
        default:
          break;
      }
    }
    if (action == 0xff) session.Ping();
    if (action == 0xfe) session.GoAway();
    Check(session.QueuedBytes() < (64u << 20), "queue unbounded");
    session.TakeOutput();
  }
}

// Client and server over an in-memory link, driven by a script.
void FuzzLink(Input& in) {
  SessionOptions options;
  options.max_send_frame = 64 + in.Byte() * 64;
  options.initial_window = 1024 + in.Byte() * 512;  // tiny windows: correct but slow
  ClientSession client(options);
  SessionOptions server_options;
  server_options.auto_accept = in.Byte() & 1;
  ServerSession server(server_options);

  std::map<StreamId, std::string> sent_up, got_up, sent_down, got_down;  // per stream
  std::map<StreamId, bool> reset;
  bool client_acks = true;
  bool server_acks = true;

  auto pump = [&] {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      if (client.HasOutput()) {
        Check(server.Feed(client.TakeOutput()).ok(), "server failed");
        moved = true;
      }
      for (Event& e : server.TakeEvents()) {
        if (e.type == Event::Type::kStreamError && e.rst_status == RstStatus::kRefusedStream) {
          reset[e.stream_id] = true;  // over max_concurrent_streams
          continue;
        }
        Check(e.type != Event::Type::kStreamError,
              absl::StrCat("server stream error: ", e.message));
        if (e.type == Event::Type::kStreamOpened && !server_options.auto_accept) {
          // NOT_FOUND when a later frame of the same batch reset the stream already.
          absl::Status st = server.AcceptStream(e.stream_id);
          Check(st.ok() || absl::IsNotFound(st), "accept");
        }
        if (e.type == Event::Type::kData) {
          got_up[e.stream_id] += e.data;
          if (server_acks) server.AcknowledgeData(e.stream_id, e.data.size());
        }
        if (e.type == Event::Type::kStreamReset) reset[e.stream_id] = true;
      }
      if (server.HasOutput()) {
        Check(client.Feed(server.TakeOutput()).ok(), "client failed");
        moved = true;
      }
      for (Event& e : client.TakeEvents()) {
        Check(e.type != Event::Type::kStreamError,
              absl::StrCat("client stream error: ", e.message));
        if (e.type == Event::Type::kData) {
          got_down[e.stream_id] += e.data;
          if (client_acks) client.AcknowledgeData(e.stream_id, e.data.size());
        }
        if (e.type == Event::Type::kStreamReset) reset[e.stream_id] = true;
      }
      if (!moved) return;
    }
    Check(false, "link never went quiet");
  };

  std::vector<StreamId> ids;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const StreamId id = ids.empty() ? 1 : ids[in.Byte() % ids.size()];
    switch (op % 12) {
      case 0: {
        auto r = client.OpenStream({{"streamtype", std::string(in.Take(in.Byte() % 8))}});
        if (r.ok()) ids.push_back(*r);
        break;
      }
      case 1: {
        std::string data(in.Take(in.Byte()));
        data.append(in.Byte() * 300, 'u');
        if (client.SendData(id, data).ok()) sent_up[id] += data;
        break;
      }
      case 2: {
        std::string data(in.Byte() * 500, 'v');
        if (server.SendData(id, data, in.Byte() & 1).ok()) sent_down[id] += data;
        break;
      }
      case 3:
        client.CloseStream(id).IgnoreError();
        break;
      case 4:
        if (client.ResetStream(id).ok()) reset[id] = true;
        break;
      case 5:
        if (server.ResetStream(id).ok()) reset[id] = true;
        break;
      case 6:
        client.Ping();
        server.Ping();
        break;
      case 7:
        client_acks = !client_acks;
        break;
      case 8:
        server_acks = !server_acks;
        break;
      case 9:
        if (in.Byte() == 0) client.GoAway();
        break;
      case 10:
        server.AcknowledgeData(id, in.Byte() * 1000);
        client.AcknowledgeData(id, in.Byte() * 1000);
        break;
      default:
        pump();
        break;
    }
  }
  client_acks = server_acks = true;
  // Acknowledge whatever was left unacknowledged, then let everything drain.
  for (StreamId id : ids) {
    server.AcknowledgeData(id, 1 << 30);
    client.AcknowledgeData(id, 1 << 30);
  }
  pump();
  for (const auto& [id, data] : sent_up) {
    if (reset[id]) continue;
    Check(got_up[id] == data, absl::StrCat("client->server data differs on stream ", id));
  }
  for (const auto& [id, data] : sent_down) {
    if (reset[id]) continue;
    Check(got_down[id] == data, absl::StrCat("server->client data differs on stream ", id));
  }
}

}  // namespace
}  // namespace tether::spdy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tether::spdy;
  Input in(data, size);
  switch (in.Byte() % 4) {
    case 0:
      FuzzParser(in);
      break;
    case 1: {
      SessionOptions options;
      options.limits = (in.Byte() & 1) ? SmallLimits() : FrameLimits{};
      options.auto_accept = in.Byte() & 1;
      ServerSession server(options);
      FuzzSession(in, server);
      break;
    }
    case 2: {
      ClientSession client;
      // Give the fuzzer streams to talk about.
      for (int i = 0; i < 3; ++i) client.OpenStream({{"streamtype", "stdout"}}).IgnoreError();
      FuzzSession(in, client);
      break;
    }
    case 3:
      FuzzLink(in);
      break;
  }
  return 0;
}
