// SPDY/3.1 framing and sessions (src/stream/spdy_*): frame round trips, header compression,
// incremental parsing, a client and a server session talking in memory (flow control, FIN, RST,
// PING, GOAWAY), and malformed input.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stream/spdy_client.h"
#include "stream/spdy_frame.h"
#include "stream/spdy_session.h"

namespace tether::spdy {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using Type = Event::Type;

// --- helpers ---------------------------------------------------------------------------------

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

void Put32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string ControlHeader(uint16_t version, uint16_t type, uint8_t flags, uint32_t length) {
  std::string s;
  Put32(&s, 0x80000000u | (uint32_t{version} << 16) | type);
  Put32(&s, (uint32_t{flags} << 24) | length);
  return s;
}

// Compresses a raw (possibly malformed) header block as the first block of a fresh zlib stream
// with the SPDY dictionary, as a peer's first SYN_STREAM would carry it.
std::string CompressRawBlock(const std::string& block) {
  z_stream zs{};
  EXPECT_EQ(deflateInit(&zs, Z_DEFAULT_COMPRESSION), Z_OK);
  std::string_view dict = HeaderDictionary();
  EXPECT_EQ(deflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(dict.data()),
                                 static_cast<uInt>(dict.size())),
            Z_OK);
  std::string out(deflateBound(&zs, block.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  zs.avail_in = static_cast<uInt>(block.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  return out;
}

// A SYN_STREAM for `id` around an already compressed block.
std::string RawSynStream(StreamId id, const std::string& compressed, uint8_t flags = 0) {
  std::string s = ControlHeader(3, 1, flags, static_cast<uint32_t>(10 + compressed.size()));
  Put32(&s, id);
  Put32(&s, 0);
  s.push_back(0);
  s.push_back(0);
  return s + compressed;
}

std::string HeaderBlock(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string b;
  Put32(&b, static_cast<uint32_t>(headers.size()));
  for (const auto& [n, v] : headers) {
    Put32(&b, static_cast<uint32_t>(n.size()));
    b += n;
    Put32(&b, static_cast<uint32_t>(v.size()));
    b += v;
  }
  return b;
}

std::string Serialize(FrameWriter& w, const Frame& f) {
  std::string out;
  EXPECT_TRUE(w.Write(f, &out).ok()) << FrameName(f);
  return out;
}

// Parses exactly one frame that must fill `bytes`.
Frame ParseOne(FrameParser& p, const std::string& bytes) {
  size_t consumed = 0;
  auto r = p.Parse(bytes, &consumed);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || !r->has_value()) {
    ADD_FAILURE() << "no frame";
    return UnknownControlFrame{};
  }
  EXPECT_EQ(consumed, bytes.size());
  return **r;
}

// Every frame in `bytes` (which must hold whole frames), parsed with `p`.
std::vector<Frame> ParseAll(FrameParser& p, std::string_view bytes) {
  std::vector<Frame> frames;
  while (!bytes.empty()) {
    size_t consumed = 0;
    auto r = p.Parse(bytes, &consumed);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || !r->has_value()) break;
    frames.push_back(std::move(**r));
    bytes.remove_prefix(consumed);
  }
  return frames;
}

uint32_t Adler32(std::string_view data) {
  uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// --- frames ----------------------------------------------------------------------------------

TEST(SpdyFrameTest, DictionaryIsTheSpdy3One) {
  EXPECT_EQ(HeaderDictionary().size(), 1423u);
  EXPECT_EQ(Adler32(HeaderDictionary()), 0xe3c6a7c2u);  // the dictid peers put in the zlib header
}

TEST(SpdyFrameTest, FixedFramesHaveTheWireLayout) {
  FrameWriter w;
  EXPECT_EQ(Serialize(w, PingFrame{.id = 1}), Bytes({0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1}));
  EXPECT_EQ(Serialize(w, RstStreamFrame{.stream_id = 5, .status = RstStatus::kCancel}),
            Bytes({0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5}));
  EXPECT_EQ(Serialize(w, GoAwayFrame{.last_good_stream_id = 7, .status = GoAwayStatus::kOk}),
            Bytes({0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0}));
  EXPECT_EQ(Serialize(w, WindowUpdateFrame{.stream_id = 3, .delta = 0x10000}),
            Bytes({0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 3, 0, 1, 0, 0}));
  EXPECT_EQ(Serialize(w, SettingsFrame{.settings = {{.flags = 1, .id = 7, .value = 65536}}}),
            Bytes({0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 1, 0, 0}));
  EXPECT_EQ(Serialize(w, DataFrame{.stream_id = 1, .flags = kFlagFin, .data = "hi"}),
            Bytes({0, 0, 0, 1, 1, 0, 0, 2, 'h', 'i'}));
}

TEST(SpdyFrameTest, EveryFrameTypeRoundTrips) {
  FrameWriter w;
  FrameParser p;
  {
    auto f = std::get<DataFrame>(
        ParseOne(p, Serialize(w, DataFrame{.stream_id = 9, .flags = kFlagFin, .data = "abc"})));
    EXPECT_EQ(f.stream_id, 9u);
    EXPECT_TRUE(f.fin());
    EXPECT_EQ(f.data, "abc");
  }
  {
    auto f = std::get<DataFrame>(ParseOne(p, Serialize(w, DataFrame{.stream_id = 0x7fffffff})));
    EXPECT_EQ(f.stream_id, 0x7fffffffu);
    EXPECT_FALSE(f.fin());
    EXPECT_EQ(f.data, "");
  }
  {
    SynStreamFrame in{.stream_id = 1,
                      .associated_stream_id = 0,
                      .priority = 5,
                      .slot = 2,
                      .flags = kFlagFin | kFlagUnidirectional,
                      .headers = {{"streamtype", "error"}, {"Port", "8080"}}};
    auto f = std::get<SynStreamFrame>(ParseOne(p, Serialize(w, in)));
    EXPECT_EQ(f.stream_id, 1u);
    EXPECT_EQ(f.priority, 5);
    EXPECT_EQ(f.slot, 2);
    EXPECT_EQ(f.flags, kFlagFin | kFlagUnidirectional);
    // Names go out lower case, as spdystream writes them.
    EXPECT_THAT(f.headers, ElementsAre(Pair("streamtype", "error"), Pair("port", "8080")));
  }
  {
    auto f = std::get<SynReplyFrame>(
        ParseOne(p, Serialize(w, SynReplyFrame{.stream_id = 3, .flags = kFlagFin})));
    EXPECT_EQ(f.stream_id, 3u);
    EXPECT_EQ(f.flags, kFlagFin);
    EXPECT_TRUE(f.headers.empty());
  }
  {
    auto f = std::get<RstStreamFrame>(ParseOne(
        p, Serialize(w, RstStreamFrame{.stream_id = 3, .status = RstStatus::kFlowControlError})));
    EXPECT_EQ(f.stream_id, 3u);
    EXPECT_EQ(f.status, RstStatus::kFlowControlError);
  }
  {
    auto f = std::get<SettingsFrame>(ParseOne(
        p, Serialize(w, SettingsFrame{.flags = kFlagClearSettings,
                                      .settings = {{.id = 4, .value = 100},
                                                   {.flags = 2, .id = 7, .value = 1 << 20}}})));
    EXPECT_EQ(f.flags, kFlagClearSettings);
    ASSERT_EQ(f.settings.size(), 2u);
    EXPECT_EQ(f.settings[0].id, 4u);
    EXPECT_EQ(f.settings[0].value, 100u);
    EXPECT_EQ(f.settings[1].flags, 2);
    EXPECT_EQ(f.settings[1].id, 7u);
    EXPECT_EQ(f.settings[1].value, 1u << 20);
  }
  {
    auto f = std::get<PingFrame>(ParseOne(p, Serialize(w, PingFrame{.id = 0xfffffffe})));
    EXPECT_EQ(f.id, 0xfffffffeu);
  }
  {
    auto f = std::get<GoAwayFrame>(ParseOne(
        p, Serialize(
               w, GoAwayFrame{.last_good_stream_id = 11, .status = GoAwayStatus::kInternalError})));
    EXPECT_EQ(f.last_good_stream_id, 11u);
    EXPECT_EQ(f.status, GoAwayStatus::kInternalError);
  }
  {
    auto f = std::get<HeadersFrame>(
        ParseOne(p, Serialize(w, HeadersFrame{.stream_id = 5,
                                              .flags = kFlagFin,
                                              .headers = {{"a", std::string("x\0y", 3)}}})));
    EXPECT_EQ(f.stream_id, 5u);
    EXPECT_EQ(f.flags, kFlagFin);
    EXPECT_THAT(f.headers, ElementsAre(Pair("a", std::string("x\0y", 3))));
    EXPECT_EQ(GetHeader(f.headers, "A"), "x");  // first of NUL-separated values
  }
  {
    auto f = std::get<WindowUpdateFrame>(
        ParseOne(p, Serialize(w, WindowUpdateFrame{.stream_id = 0, .delta = 0x7fffffff})));
    EXPECT_EQ(f.stream_id, 0u);
    EXPECT_EQ(f.delta, 0x7fffffffu);
  }
  {
    // CREDENTIAL (type 10) and other unknown control types are skipped, per SPDY/3.
    std::string raw = ControlHeader(3, 10, 0, 3) + "xyz";
    auto f = std::get<UnknownControlFrame>(ParseOne(p, raw));
    EXPECT_EQ(f.type, 10);
    EXPECT_EQ(f.length, 3u);
  }
}

TEST(SpdyFrameTest, HeaderCompressionContextIsSharedAcrossFrames) {
  FrameWriter w;
  FrameParser p;
  Headers headers = {{"streamtype", "stdout"}, {"requestid", "12345"}, {"port", "8080"}};
  std::vector<std::string> wire;
  for (StreamId id = 1; id <= 7; id += 2) {
    wire.push_back(Serialize(w, SynStreamFrame{.stream_id = id, .headers = headers}));
  }
  // Later blocks refer back to earlier ones, so they shrink.
  EXPECT_LT(wire[1].size(), wire[0].size());
  EXPECT_LT(wire[3].size(), wire[0].size());
  for (size_t i = 0; i < wire.size(); ++i) {
    auto f = std::get<SynStreamFrame>(ParseOne(p, wire[i]));
    EXPECT_EQ(f.stream_id, 1 + 2 * i);
    EXPECT_EQ(f.headers, headers);
  }
  // A parser that missed the first block cannot follow.
  FrameParser fresh;
  size_t consumed = 0;
  EXPECT_FALSE(fresh.Parse(wire[1], &consumed).ok());
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// What moby/spdystream's Framer writes (Go's zlib at level 9 with the dictionary): SYN_STREAM 1
// {streamtype: error}, SYN_STREAM 3 {streamtype: stdin}, DATA 3 "hello", DATA 3 FIN, PING 1,
// GOAWAY 0. Recorded from spdystream; keeps interop covered without Go at hand.
constexpr std::string_view kSpdystreamClientHex =
    "80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a680000"
    "0000ffff800300010000001700000003000000000000c22e555c92929907000000ffff00000003000000056865"
    "6c6c6f000000030100000080030006000000040000000180030007000000080000000000000000";

TEST(SpdyFrameTest, ParsesWhatSpdystreamWrites) {
  ServerSession server;
  ASSERT_TRUE(server.Feed(FromHex(kSpdystreamClientHex)).ok());
  std::vector<Event> events = server.TakeEvents();
  std::vector<std::string> seen;
  for (const Event& e : events) {
    std::string line = std::string(EventTypeName(e.type)) + " " + std::to_string(e.stream_id);
    if (auto t = GetHeader(e.headers, "streamType")) line += " " + *t;
    if (!e.data.empty()) line += " " + e.data;
    seen.push_back(line);
  }
  EXPECT_THAT(seen, ElementsAre("StreamOpened 1 error", "StreamOpened 3 stdin", "Data 3 hello",
                                "RemoteClosed 3", "GoAway 0"));
  // The answers: SETTINGS, two SYN_REPLYs, the PING echoed.
  FrameParser p;
  std::vector<std::string> names;
  for (const Frame& f : ParseAll(p, server.TakeOutput())) names.emplace_back(FrameName(f));
  EXPECT_THAT(names, ElementsAre("SETTINGS", "SYN_REPLY", "SYN_REPLY", "PING"));
}

TEST(SpdyFrameTest, ParsesByteByByte) {
  FrameWriter w;
  std::string wire;
  wire += Serialize(w, SettingsFrame{.settings = {{.id = 7, .value = 1000}}});
  wire += Serialize(w, SynStreamFrame{.stream_id = 1, .headers = {{"streamtype", "stdin"}}});
  wire += Serialize(w, SynStreamFrame{.stream_id = 3, .headers = {{"streamtype", "stdout"}}});
  wire += Serialize(w, DataFrame{.stream_id = 1, .data = std::string(3000, 'x')});
  wire += Serialize(w, HeadersFrame{.stream_id = 3, .headers = {{"k", "v"}}});
  wire += Serialize(w, DataFrame{.stream_id = 1, .flags = kFlagFin});
  wire += Serialize(w, PingFrame{.id = 1});
  wire += Serialize(w, GoAwayFrame{.last_good_stream_id = 0});

  FrameParser p;
  std::string buffer;
  std::vector<std::string> names;
  for (char c : wire) {
    buffer.push_back(c);
    size_t consumed = 0;
    auto r = p.Parse(buffer, &consumed);
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->has_value()) {
      EXPECT_EQ(consumed, 0u);
      continue;
    }
    EXPECT_EQ(consumed, buffer.size());  // a frame is reported on its last byte, not before
    names.emplace_back(FrameName(**r));
    buffer.clear();
  }
  EXPECT_TRUE(buffer.empty());
  EXPECT_THAT(names, ElementsAre("SETTINGS", "SYN_STREAM", "SYN_STREAM", "DATA", "HEADERS", "DATA",
                                 "PING", "GOAWAY"));
}

TEST(SpdyFrameTest, LargeHeaderBlocksWithinTheLimit) {
  FrameWriter w;
  FrameParser p;
  Headers headers = {{"big", std::string(200 * 1024, 'v')}, {"other", "x"}};
  auto f = std::get<HeadersFrame>(
      ParseOne(p, Serialize(w, HeadersFrame{.stream_id = 1, .headers = headers})));
  EXPECT_EQ(f.headers, headers);
}

TEST(SpdyFrameTest, WriterRejectsInvalidFramesWithoutBreakingTheContext) {
  FrameWriter w;
  FrameParser p;
  std::string out;
  EXPECT_EQ(w.Write(SynStreamFrame{.stream_id = 0}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(SynStreamFrame{.stream_id = 1, .priority = 8}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      w.Write(SynStreamFrame{.stream_id = 1, .headers = {{"a", "1"}, {"A", "2"}}}, &out).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(SynReplyFrame{.stream_id = 1, .headers = {{"", "1"}}}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      w.Write(HeadersFrame{.stream_id = 1, .headers = {{"a", std::string(300 * 1024, 'x')}}}, &out)
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(DataFrame{.stream_id = 0}, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(PingFrame{.id = 0}, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(RstStreamFrame{.stream_id = 1, .status = RstStatus{0}}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Write(WindowUpdateFrame{.stream_id = 1, .delta = 0}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  // The compression context is intact: the next header frame parses.
  auto f = std::get<SynStreamFrame>(
      ParseOne(p, Serialize(w, SynStreamFrame{.stream_id = 1, .headers = {{"a", "1"}}})));
  EXPECT_THAT(f.headers, ElementsAre(Pair("a", "1")));
}

TEST(SpdyFrameTest, GetHeaderIsCaseInsensitive) {
  Headers h = {{"streamtype", "data"}, {"port", "80"}, {"requestid", "0"}};
  EXPECT_EQ(GetHeader(h, "streamType"), "data");
  EXPECT_EQ(GetHeader(h, "requestID"), "0");
  EXPECT_EQ(GetHeader(h, "missing"), std::nullopt);
}

// --- malformed frames --------------------------------------------------------------------------

absl::Status ParseError(FrameParser& p, const std::string& bytes) {
  size_t consumed = 0;
  auto r = p.Parse(bytes, &consumed);
  if (r.ok()) return absl::OkStatus();
  return r.status();
}

TEST(SpdyMalformedTest, BadVersionFailsAndStaysFailed) {
  FrameParser p;
  std::string ping2 = ControlHeader(2, 6, 0, 4) + Bytes({0, 0, 0, 1});
  EXPECT_EQ(ParseError(p, ping2).code(), absl::StatusCode::kInvalidArgument);
  FrameWriter w;
  EXPECT_FALSE(ParseError(p, Serialize(w, PingFrame{.id = 1})).ok());  // sticky
}

TEST(SpdyMalformedTest, OversizeLengthFailsFromTheHeaderAlone) {
  FrameParser p;
  EXPECT_EQ(ParseError(p, ControlHeader(3, 1, 0, 0xffffff)).code(),
            absl::StatusCode::kResourceExhausted);
  FrameParser small({.max_data_payload = 1024});
  std::string data_header = Bytes({0, 0, 0, 1, 0, 0, 0x04, 0x01});  // 1025 bytes
  EXPECT_EQ(ParseError(small, data_header).code(), absl::StatusCode::kResourceExhausted);
}

TEST(SpdyMalformedTest, TruncatedFrameWaitsThenWrongFixedLengthFails) {
  FrameParser p;
  FrameWriter w;
  std::string rst = Serialize(w, RstStreamFrame{.stream_id = 1, .status = RstStatus::kCancel});
  size_t consumed = 1;
  auto r = p.Parse(std::string_view(rst).substr(0, rst.size() - 1), &consumed);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(consumed, 0u);
  // A RST_STREAM whose length field says 4.
  EXPECT_FALSE(ParseError(p, ControlHeader(3, 3, 0, 4) + Bytes({0, 0, 0, 1})).ok());
}

TEST(SpdyMalformedTest, FixedFrameFieldChecks) {
  auto fails = [](const std::string& bytes) {
    FrameParser p;
    return !ParseError(p, bytes).ok();
  };
  EXPECT_TRUE(fails(Bytes({0, 0, 0, 0, 0, 0, 0, 0})));                              // DATA stream 0
  EXPECT_TRUE(fails(ControlHeader(3, 3, 0, 8) + Bytes({0, 0, 0, 0, 0, 0, 0, 5})));  // RST 0
  EXPECT_TRUE(fails(ControlHeader(3, 3, 0, 8) + Bytes({0, 0, 0, 1, 0, 0, 0, 0})));  // status 0
  EXPECT_TRUE(fails(ControlHeader(3, 6, 0, 4) + Bytes({0, 0, 0, 0})));              // PING 0
  EXPECT_TRUE(fails(ControlHeader(3, 7, 0, 4) + Bytes({0, 0, 0, 0})));              // GOAWAY 4
  EXPECT_TRUE(fails(ControlHeader(3, 9, 0, 4) + Bytes({0, 0, 0, 1})));              // WU 4
  EXPECT_TRUE(fails(ControlHeader(3, 4, 0, 4) + Bytes({0, 0, 0, 2})));  // 2 settings, none there
  EXPECT_TRUE(fails(ControlHeader(3, 4, 0, 12) + Bytes({0xff, 0xff, 0xff, 0xff, 0, 0, 0, 7, 0, 0, 0,
                                                        1})));          // huge settings count
  EXPECT_TRUE(fails(ControlHeader(3, 1, 0, 4) + Bytes({0, 0, 0, 1})));  // short SYN_STREAM
}

TEST(SpdyMalformedTest, GarbageHeaderBlockFails) {
  FrameParser p;
  EXPECT_EQ(ParseError(p, RawSynStream(1, "this is not zlib at all")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SpdyMalformedTest, HeaderBlockContentChecks) {
  auto status_of = [](const std::string& block) {
    FrameParser p;
    return ParseError(p, RawSynStream(1, CompressRawBlock(block))).code();
  };
  EXPECT_EQ(status_of(HeaderBlock({{"streamtype", "error"}})), absl::StatusCode::kOk);
  EXPECT_EQ(status_of(HeaderBlock({{"StreamType", "error"}})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(HeaderBlock({{"a", "1"}, {"a", "2"}})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(HeaderBlock({{"", "1"}})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(HeaderBlock({{"a", "1"}}) + "junk"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(HeaderBlock({{"a", "1"}}).substr(0, 10)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(""), absl::StatusCode::kInvalidArgument);
  // A name length far past the block.
  std::string lying = HeaderBlock({{"a", "1"}});
  lying[7] = 100;
  EXPECT_EQ(status_of(lying), absl::StatusCode::kInvalidArgument);
  // A huge count is refused before anything is reserved.
  std::string many;
  Put32(&many, 0xffffffff);
  EXPECT_EQ(status_of(many), absl::StatusCode::kResourceExhausted);
  std::vector<std::pair<std::string, std::string>> h300;
  for (int i = 0; i < 300; ++i) h300.emplace_back("h" + std::to_string(i), "v");
  EXPECT_EQ(status_of(HeaderBlock(h300)), absl::StatusCode::kResourceExhausted);
}

TEST(SpdyMalformedTest, DecompressionBombIsCut) {
  // 4 MiB of zeros compress to a few KiB; the parser stops at 256 KiB.
  std::string block = HeaderBlock({{"a", std::string(4 << 20, '\0')}});
  std::string compressed = CompressRawBlock(block);
  ASSERT_LT(compressed.size(), 64u * 1024);
  FrameParser p;
  EXPECT_EQ(ParseError(p, RawSynStream(1, compressed)).code(),
            absl::StatusCode::kResourceExhausted);
}

// --- sessions ----------------------------------------------------------------------------------

// A client and a server session wired back to back in memory.
struct Link {
  explicit Link(SessionOptions client_options = {}, SessionOptions server_options = {})
      : client(client_options), server(server_options) {}

  // Moves bytes both ways until neither side has anything to say. Data events are acknowledged
  // on delivery when the side's `ack` flag is set.
  void Run() {
    for (int round = 0; round < 100000; ++round) {
      bool moved = false;
      if (client.HasOutput()) {
        ASSERT_TRUE(server.Feed(client.TakeOutput()).ok());
        moved = true;
      }
      Collect(server, server_ack, server_events);
      if (server.HasOutput()) {
        ASSERT_TRUE(client.Feed(server.TakeOutput()).ok());
        moved = true;
      }
      Collect(client, client_ack, client_events);
      if (!moved) return;
    }
    FAIL() << "sessions never went quiet";
  }

  static void Collect(Session& s, bool ack, std::vector<Event>& into) {
    for (Event& e : s.TakeEvents()) {
      if (ack && e.type == Type::kData) s.AcknowledgeData(e.stream_id, e.data.size());
      into.push_back(std::move(e));
    }
  }

  ClientSession client;
  ServerSession server;
  bool client_ack = true;
  bool server_ack = true;
  std::vector<Event> client_events;
  std::vector<Event> server_events;
};

std::string DataOn(const std::vector<Event>& events, StreamId id) {
  std::string data;
  for (const Event& e : events) {
    if (e.type == Type::kData && e.stream_id == id) data += e.data;
  }
  return data;
}

int Count(const std::vector<Event>& events, Type type, StreamId id = 0) {
  return static_cast<int>(std::count_if(events.begin(), events.end(), [&](const Event& e) {
    return e.type == type && (id == 0 || e.stream_id == id);
  }));
}

const Event* Find(const std::vector<Event>& events, Type type, StreamId id = 0) {
  for (const Event& e : events) {
    if (e.type == type && (id == 0 || e.stream_id == id)) return &e;
  }
  return nullptr;
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

StreamId Open(ClientSession& c, const std::string& type) {
  auto id = c.OpenStream({{"streamtype", type}});
  EXPECT_TRUE(id.ok()) << id.status();
  return id.value_or(0);
}

TEST(SpdySessionTest, ExecStreamsOpenAndCarryDataBothWays) {
  Link link;
  StreamId err = Open(link.client, "error");
  StreamId in = Open(link.client, "stdin");
  StreamId out = Open(link.client, "stdout");
  StreamId errout = Open(link.client, "stderr");
  EXPECT_EQ(err, 1u);
  EXPECT_EQ(in, 3u);
  EXPECT_EQ(out, 5u);
  EXPECT_EQ(errout, 7u);
  link.Run();

  ASSERT_EQ(Count(link.server_events, Type::kStreamOpened), 4);
  EXPECT_EQ(GetHeader(Find(link.server_events, Type::kStreamOpened, in)->headers, "streamtype"),
            "stdin");
  EXPECT_EQ(Count(link.client_events, Type::kStreamReplied), 4);
  EXPECT_TRUE(link.client.IsReplied(out));
  EXPECT_TRUE(link.client.flow_control_enforced());  // both sides sent SETTINGS
  EXPECT_TRUE(link.server.flow_control_enforced());

  // 300 KiB of stdin, more than the 64 KiB windows: WINDOW_UPDATEs must flow.
  const std::string input = Pattern(300 * 1024, 1);
  ASSERT_TRUE(link.client.SendData(in, input, /*fin=*/true).ok());
  EXPECT_GT(link.client.QueuedBytes(in), 0u);  // held back by the window
  // 200 KiB of stdout and a few bytes of stderr from the server.
  const std::string output = Pattern(200 * 1024, 2);
  ASSERT_TRUE(link.server.SendData(out, output).ok());
  ASSERT_TRUE(link.server.SendData(errout, "oops\n", true).ok());
  link.Run();

  EXPECT_EQ(DataOn(link.server_events, in), input);
  EXPECT_EQ(Count(link.server_events, Type::kRemoteClosed, in), 1);
  EXPECT_EQ(Count(link.client_events, Type::kWritable, in), 1);
  EXPECT_EQ(link.client.QueuedBytes(), 0u);
  EXPECT_EQ(DataOn(link.client_events, out), output);
  EXPECT_EQ(DataOn(link.client_events, errout), "oops\n");
  EXPECT_EQ(Count(link.client_events, Type::kRemoteClosed, errout), 1);

  // The v4 error stream: one JSON status, then FIN; the client closes its side of everything.
  ASSERT_TRUE(link.server.SendData(err, R"({"metadata":{},"status":"Success"})", true).ok());
  ASSERT_TRUE(link.server.CloseStream(out).ok());
  ASSERT_TRUE(link.server.CloseStream(in).ok());
  for (StreamId id : {err, out, errout}) ASSERT_TRUE(link.client.CloseStream(id).ok());
  link.Run();
  EXPECT_EQ(DataOn(link.client_events, err), R"({"metadata":{},"status":"Success"})");
  for (StreamId id : {err, in, out, errout}) {
    EXPECT_EQ(Count(link.server_events, Type::kStreamClosed, id), 1) << id;
    EXPECT_EQ(Count(link.client_events, Type::kStreamClosed, id), 1) << id;
  }
  EXPECT_EQ(link.server.ActiveStreams(), 0u);
  EXPECT_EQ(link.client.ActiveStreams(), 0u);
  EXPECT_EQ(link.server.SendData(out, "late").code(), absl::StatusCode::kNotFound);
}

TEST(SpdySessionTest, UnacknowledgedDataStopsTheSenderAtTheWindow) {
  Link link;
  link.server_ack = false;
  StreamId in = Open(link.client, "stdin");
  link.Run();
  const std::string input = Pattern(200 * 1024, 3);
  ASSERT_TRUE(link.client.SendData(in, input).ok());
  link.Run();
  // Nothing acknowledged: exactly one window's worth arrived.
  EXPECT_EQ(DataOn(link.server_events, in).size(), kDefaultWindow);
  EXPECT_EQ(link.client.QueuedBytes(in), input.size() - kDefaultWindow);

  // The consumer catches up in small steps; each half window acknowledged reopens the sender.
  size_t acked = 0;
  for (int i = 0; i < 1000 && DataOn(link.server_events, in).size() < input.size(); ++i) {
    const size_t delivered = DataOn(link.server_events, in).size();
    const size_t step = std::min<size_t>(delivered - acked, 10000);
    link.server.AcknowledgeData(in, step);
    acked += step;
    link.Run();
  }
  EXPECT_EQ(DataOn(link.server_events, in), input);
  EXPECT_EQ(Count(link.client_events, Type::kWritable, in), 1);
}

TEST(SpdySessionTest, SessionWindowIsSharedByStreams) {
  // Four streams of 20 KiB: 80 KiB in total, past the 64 KiB session window, though no stream
  // reaches its own window. Acknowledging each piece must reopen the session window.
  Link link;
  std::vector<StreamId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Open(link.client, "data"));
  link.Run();
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(link.client.SendData(ids[i], Pattern(20 * 1024, 10 + i), true).ok());
  }
  link.Run();
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(DataOn(link.server_events, ids[i]), Pattern(20 * 1024, 10 + i));
  }
  EXPECT_EQ(link.client.QueuedBytes(), 0u);
}

TEST(SpdySessionTest, SmallAdvertisedWindowLimitsTheSender) {
  SessionOptions server_options;
  server_options.initial_window = 16 * 1024;
  Link link({}, server_options);
  link.server_ack = false;
  StreamId in = Open(link.client, "stdin");
  link.Run();
  ASSERT_TRUE(link.client.SendData(in, Pattern(50 * 1024, 4)).ok());
  link.Run();
  EXPECT_EQ(DataOn(link.server_events, in).size(), 16u * 1024);
}

TEST(SpdySessionTest, SpdystreamLikePeerGetsNoFlowControl) {
  // moby/spdystream never sends SETTINGS or WINDOW_UPDATE; the server must neither stall its
  // output after 64 KiB nor reset the peer's streams for overrunning the window.
  SessionOptions go_like;
  go_like.send_settings = false;
  go_like.flow_control = FlowControl::kOff;
  Link link(go_like);
  link.server_ack = false;
  link.client_ack = false;
  StreamId in = Open(link.client, "stdin");
  StreamId out = Open(link.client, "stdout");
  link.Run();
  EXPECT_FALSE(link.server.flow_control_enforced());
  const std::string big = Pattern(1 << 20, 5);
  ASSERT_TRUE(link.server.SendData(out, big).ok());
  EXPECT_EQ(link.server.QueuedBytes(), 0u);  // all of it written at once
  ASSERT_TRUE(link.client.SendData(in, big).ok());
  link.Run();
  EXPECT_EQ(DataOn(link.client_events, out), big);
  EXPECT_EQ(DataOn(link.server_events, in), big);
  EXPECT_EQ(Count(link.server_events, Type::kStreamError), 0);
}

TEST(SpdySessionTest, ServerWithoutSettingsAndOurClient) {
  // A server that sends no SETTINGS: our client learns it does flow control only from its first
  // WINDOW_UPDATE, after having sent past the window. The server must take that in its stride,
  // and both directions must complete.
  SessionOptions server_options;
  server_options.send_settings = false;
  Link link({}, server_options);
  StreamId in = Open(link.client, "stdin");
  StreamId out = Open(link.client, "stdout");
  link.Run();
  EXPECT_FALSE(link.client.flow_control_enforced());
  EXPECT_TRUE(link.server.flow_control_enforced());
  const std::string up = Pattern(1 << 20, 8);
  const std::string down = Pattern(1 << 20, 9);
  ASSERT_TRUE(link.client.SendData(in, up, true).ok());
  ASSERT_TRUE(link.server.SendData(out, down, true).ok());
  link.Run();
  EXPECT_TRUE(link.client.flow_control_enforced());
  EXPECT_EQ(DataOn(link.server_events, in), up);
  EXPECT_EQ(DataOn(link.client_events, out), down);
  EXPECT_EQ(Count(link.server_events, Type::kStreamError), 0);
  EXPECT_FALSE(link.server.failed());
}

TEST(SpdySessionTest, ClientHoldsDataUntilTheReply) {
  Link link;
  StreamId in = Open(link.client, "stdin");
  ASSERT_TRUE(link.client.SendData(in, "early", true).ok());
  EXPECT_EQ(link.client.QueuedBytes(in), 5u);
  link.Run();
  EXPECT_EQ(DataOn(link.server_events, in), "early");
  EXPECT_EQ(Count(link.server_events, Type::kRemoteClosed, in), 1);
}

TEST(SpdySessionTest, ManualAcceptAndReject) {
  SessionOptions server_options;
  server_options.auto_accept = false;
  Link link({}, server_options);
  StreamId a = Open(link.client, "stdout");
  StreamId b = Open(link.client, "bogus");
  link.Run();
  EXPECT_EQ(Count(link.server_events, Type::kStreamOpened), 2);
  EXPECT_EQ(Count(link.client_events, Type::kStreamReplied), 0);
  EXPECT_EQ(link.server.SendData(a, "x").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(link.server.AcceptStream(a).ok());
  ASSERT_TRUE(link.server.RejectStream(b).ok());
  EXPECT_EQ(link.server.AcceptStream(a).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(link.server.SendData(a, "x").ok());
  link.Run();
  EXPECT_EQ(Count(link.client_events, Type::kStreamReplied, a), 1);
  const Event* reset = Find(link.client_events, Type::kStreamReset, b);
  ASSERT_NE(reset, nullptr);
  EXPECT_EQ(reset->rst_status, RstStatus::kRefusedStream);
  EXPECT_EQ(DataOn(link.client_events, a), "x");
}

TEST(SpdySessionTest, ResetByEitherSide) {
  Link link;
  StreamId in = Open(link.client, "stdin");
  StreamId out = Open(link.client, "stdout");
  link.Run();
  ASSERT_TRUE(link.client.SendData(in, Pattern(100 * 1024, 6)).ok());  // partly queued
  ASSERT_TRUE(link.client.ResetStream(in).ok());
  EXPECT_EQ(link.client.QueuedBytes(), 0u);
  ASSERT_TRUE(link.server.ResetStream(out, RstStatus::kInternalError).ok());
  link.Run();
  const Event* e = Find(link.server_events, Type::kStreamReset, in);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->rst_status, RstStatus::kCancel);
  e = Find(link.client_events, Type::kStreamReset, out);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->rst_status, RstStatus::kInternalError);
  EXPECT_FALSE(link.server.IsOpen(in));
  EXPECT_FALSE(link.client.IsOpen(out));
  EXPECT_EQ(link.client.ResetStream(in).code(), absl::StatusCode::kNotFound);
  // Data that was in flight when the reset crossed it is dropped quietly.
  EXPECT_EQ(Count(link.server_events, Type::kStreamError), 0);
  EXPECT_EQ(Count(link.client_events, Type::kStreamError), 0);
}

TEST(SpdySessionTest, PingsAreAnsweredBothWays) {
  Link link;
  uint32_t c1 = link.client.Ping();
  uint32_t c2 = link.client.Ping();
  uint32_t s1 = link.server.Ping();
  EXPECT_EQ(c1 % 2, 1u);
  EXPECT_EQ(c2, c1 + 2);
  EXPECT_EQ(s1 % 2, 0u);
  link.Run();
  std::vector<uint32_t> client_pongs;
  for (const Event& e : link.client_events) {
    if (e.type == Type::kPong) client_pongs.push_back(e.ping_id);
  }
  EXPECT_THAT(client_pongs, ElementsAre(c1, c2));
  const Event* pong = Find(link.server_events, Type::kPong);
  ASSERT_NE(pong, nullptr);
  EXPECT_EQ(pong->ping_id, s1);
}

TEST(SpdySessionTest, ClientGoAwayLetsOpenStreamsFinish) {
  Link link;
  StreamId out = Open(link.client, "stdout");
  link.Run();
  link.client.GoAway();
  link.Run();
  const Event* g = Find(link.server_events, Type::kGoAway);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->goaway_status, GoAwayStatus::kOk);
  EXPECT_TRUE(link.server.goaway_received());
  EXPECT_FALSE(link.server.Finished());  // stdout is still open
  EXPECT_EQ(link.client.OpenStream({{"streamtype", "stdin"}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(link.server.SendData(out, "bye", true).ok());
  ASSERT_TRUE(link.client.CloseStream(out).ok());
  link.Run();
  EXPECT_EQ(DataOn(link.client_events, out), "bye");
  EXPECT_TRUE(link.server.Finished());
  EXPECT_TRUE(link.client.Finished());
}

TEST(SpdySessionTest, StreamsAfterServerGoAwayAreIgnoredAndDropped) {
  Link link;
  StreamId first = Open(link.client, "stdout");
  link.Run();
  link.server.GoAway();
  StreamId late = Open(link.client, "stdin");  // crosses the GOAWAY on the wire
  link.Run();
  EXPECT_EQ(Count(link.server_events, Type::kStreamOpened), 1);
  const Event* g = Find(link.client_events, Type::kGoAway);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->last_good_stream_id, first);
  const Event* r = Find(link.client_events, Type::kStreamReset, late);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->rst_status, RstStatus::kRefusedStream);
  EXPECT_TRUE(link.client.IsOpen(first));
}

TEST(SpdySessionTest, HeadersFramesAndUnidirectionalStreams) {
  Link link;
  StreamId s = Open(link.client, "data");
  link.Run();
  ASSERT_TRUE(link.server.SendHeaders(s, {{"x-trailer", "1"}}).ok());
  link.Run();
  const Event* h = Find(link.client_events, Type::kHeaders, s);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(GetHeader(h->headers, "x-trailer"), "1");

  // A unidirectional SYN_STREAM: the server may not send on it.
  ServerSession server;
  FrameWriter w;
  std::string wire;
  w.Write(SynStreamFrame{.stream_id = 1, .flags = kFlagUnidirectional}, &wire).IgnoreError();
  ASSERT_TRUE(server.Feed(wire).ok());
  EXPECT_EQ(server.SendData(1, "x").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SpdySessionTest, FeedAcceptsAnySplit) {
  // The whole client side of an exchange, fed to the server one byte at a time.
  ClientSession client;
  StreamId in = *client.OpenStream({{"streamtype", "stdin"}});
  std::string wire = client.TakeOutput();
  ServerSession server;
  for (char c : wire) ASSERT_TRUE(server.Feed(std::string_view(&c, 1)).ok());
  ASSERT_TRUE(client.Feed(server.TakeOutput()).ok());
  ASSERT_TRUE(client.SendData(in, Pattern(5000, 7), true).ok());
  wire = client.TakeOutput();
  for (char c : wire) ASSERT_TRUE(server.Feed(std::string_view(&c, 1)).ok());
  std::vector<Event> events = server.TakeEvents();
  EXPECT_EQ(DataOn(events, in), Pattern(5000, 7));
  EXPECT_EQ(Count(events, Type::kRemoteClosed, in), 1);
}

// --- sessions and misbehaving peers ------------------------------------------------------------

// A peer that writes raw frames to a server session and reads what the server answers.
struct RawPeer {
  explicit RawPeer(SessionOptions options = {}) : server(options) {}

  ServerSession server;
  FrameWriter writer;
  FrameParser parser;

  absl::Status Send(const Frame& f) {
    std::string out;
    EXPECT_TRUE(writer.Write(f, &out).ok());
    return server.Feed(out);
  }
  std::vector<Frame> Answers() { return ParseAll(parser, server.TakeOutput()); }
};

const RstStreamFrame* FindRst(const std::vector<Frame>& frames, StreamId id) {
  for (const Frame& f : frames) {
    if (auto* r = std::get_if<RstStreamFrame>(&f); r && r->stream_id == id) return r;
  }
  return nullptr;
}

TEST(SpdyMisbehavingPeerTest, DuplicateAndDecreasingStreamIds) {
  RawPeer peer;
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 5, .headers = {{"streamtype", "a"}}}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 5, .headers = {{"streamtype", "b"}}}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 3}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 8}).ok());  // even: a server id
  std::vector<Event> events = peer.server.TakeEvents();
  EXPECT_EQ(Count(events, Type::kStreamOpened), 1);
  EXPECT_EQ(Count(events, Type::kStreamError), 3);
  auto answers = peer.Answers();
  for (StreamId id : {5u, 3u, 8u}) {
    const RstStreamFrame* rst = FindRst(answers, id);
    ASSERT_NE(rst, nullptr) << id;
    EXPECT_EQ(rst->status, RstStatus::kProtocolError);
  }
  // The session goes on.
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 9}).ok());
  EXPECT_EQ(Count(peer.server.TakeEvents(), Type::kStreamOpened), 1);
}

TEST(SpdyMisbehavingPeerTest, DataOnUnknownOrFinishedStreams) {
  RawPeer peer;
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 7, .data = "x"}).ok());  // never opened
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 1, .flags = kFlagFin}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 1, .data = "y"}).ok());  // after FIN
  std::vector<Event> events = peer.server.TakeEvents();
  EXPECT_EQ(Count(events, Type::kStreamError, 7), 1);
  EXPECT_EQ(Count(events, Type::kStreamError, 1), 1);
  EXPECT_EQ(Count(events, Type::kData), 0);
  auto answers = peer.Answers();
  ASSERT_NE(FindRst(answers, 7), nullptr);
  EXPECT_EQ(FindRst(answers, 7)->status, RstStatus::kInvalidStream);
  ASSERT_NE(FindRst(answers, 1), nullptr);
  EXPECT_EQ(FindRst(answers, 1)->status, RstStatus::kStreamAlreadyClosed);
  EXPECT_FALSE(peer.server.failed());
}

TEST(SpdyMisbehavingPeerTest, StreamsAfterOurGoAwayAreIgnoredQuietly) {
  RawPeer peer;
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 1}).ok());
  peer.server.GoAway();
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 3}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 3, .data = "x"}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 1, .data = "y"}).ok());
  std::vector<Event> events = peer.server.TakeEvents();
  EXPECT_EQ(Count(events, Type::kStreamOpened), 1);
  EXPECT_EQ(Count(events, Type::kStreamError), 0);
  EXPECT_EQ(DataOn(events, 1), "y");  // the accepted stream goes on
  for (const Frame& f : peer.Answers()) EXPECT_FALSE(std::holds_alternative<RstStreamFrame>(f));
}

TEST(SpdyMisbehavingPeerTest, StreamWindowOverrunResetsTheStream) {
  SessionOptions options;
  options.flow_control = FlowControl::kOn;
  options.session_window = 1 << 20;  // so that only the stream window is overrun
  RawPeer peer(options);
  ASSERT_TRUE(peer.Send(SettingsFrame{.settings = {{.id = 7, .value = kDefaultWindow}}}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 1}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 1, .data = std::string(kDefaultWindow, 'a')}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 1, .data = "b"}).ok());
  std::vector<Event> events = peer.server.TakeEvents();
  const Event* e = Find(events, Type::kStreamError, 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->rst_status, RstStatus::kFlowControlError);
}

TEST(SpdyMisbehavingPeerTest, SessionWindowOverrunIsFatalWhenEnforcing) {
  RawPeer peer({.flow_control = FlowControl::kOn});
  ASSERT_TRUE(peer.Send(SettingsFrame{}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 1}).ok());
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 3}).ok());
  ASSERT_TRUE(peer.Send(DataFrame{.stream_id = 1, .data = std::string(40000, 'a')}).ok());
  EXPECT_FALSE(peer.Send(DataFrame{.stream_id = 3, .data = std::string(40000, 'b')}).ok());
  EXPECT_TRUE(peer.server.failed());
}

TEST(SpdyMisbehavingPeerTest, TooManyStreamsAreRefused) {
  SessionOptions options;
  options.max_concurrent_streams = 2;
  RawPeer peer(options);
  for (StreamId id = 1; id <= 5; id += 2)
    ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = id}).ok());
  std::vector<Event> events = peer.server.TakeEvents();
  EXPECT_EQ(Count(events, Type::kStreamOpened), 2);
  const Event* e = Find(events, Type::kStreamError, 5);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->rst_status, RstStatus::kRefusedStream);
}

TEST(SpdyMisbehavingPeerTest, FatalErrorsSendGoAwayAndStick) {
  RawPeer peer;
  ASSERT_TRUE(peer.Send(SynStreamFrame{.stream_id = 1}).ok());
  peer.Answers();
  absl::Status s = peer.server.Feed(RawSynStream(3, "garbage garbage"));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(peer.server.failed());
  EXPECT_EQ(peer.server.ActiveStreams(), 0u);
  auto answers = peer.Answers();
  ASSERT_EQ(answers.size(), 1u);
  auto* g = std::get_if<GoAwayFrame>(&answers[0]);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->status, GoAwayStatus::kProtocolError);
  EXPECT_EQ(g->last_good_stream_id, 1u);
  EXPECT_FALSE(peer.server.Feed("more").ok());
  EXPECT_TRUE(peer.server.Finished());
}

TEST(SpdyMisbehavingPeerTest, BadVersionAndDataOnStreamZeroAreFatal) {
  {
    ServerSession server;
    EXPECT_FALSE(server.Feed(ControlHeader(2, 1, 0, 0)).ok());
  }
  {
    ServerSession server;
    EXPECT_FALSE(server.Feed(Bytes({0, 0, 0, 0, 0, 0, 0, 1, 'x'})).ok());
  }
}

TEST(SpdyMisbehavingPeerTest, RandomBytesNeverCrash) {
  for (uint32_t seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    ServerSession server;
    std::string garbage = Pattern(1 + rng() % 2000, seed);
    // Sometimes start with a valid control frame header to get past the first checks.
    if (seed % 3 == 0) garbage = ControlHeader(3, 1 + rng() % 9, 0, rng() % 64) + garbage;
    server.Feed(garbage).IgnoreError();
    server.TakeEvents();
    server.TakeOutput();
  }
}

}  // namespace
}  // namespace tether::spdy
