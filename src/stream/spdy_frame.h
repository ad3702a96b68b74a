// SPDY/3.1 framing as kubelet's streaming server speaks it (k8s httpstream/spdy over
// moby/spdystream): frame types, an incremental parser and a serializer, each owning one zlib
// context for header blocks (SPDY/3 dictionary, one compression stream per direction for the
// whole connection, a SYNC_FLUSH per header block).
//
// Pure and socket-free: bytes in, frames out and back. Every length is checked against limits
// before anything is allocated, so hostile input yields an error, never a crash or an unbounded
// allocation. Not thread-safe: one parser and one writer per connection, used from one strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether::spdy {

using StreamId = uint32_t;

inline constexpr uint16_t kVersion = 3;
inline constexpr uint32_t kMaxStreamId = 0x7fffffff;
// The 24-bit length field of every frame.
inline constexpr uint32_t kMaxFrameLength = 0xffffff;
inline constexpr size_t kFrameHeaderSize = 8;
// SPDY/3.1: the initial window of every stream and of the session.
inline constexpr uint32_t kDefaultWindow = 64 * 1024;
inline constexpr uint32_t kMaxWindow = 0x7fffffff;

enum class ControlType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

// DATA, SYN_STREAM, SYN_REPLY, HEADERS: the sender's last frame on the stream.
inline constexpr uint8_t kFlagFin = 0x01;
// SYN_STREAM: the receiver must not send on the stream.
inline constexpr uint8_t kFlagUnidirectional = 0x02;
// SETTINGS: forget persisted settings.
inline constexpr uint8_t kFlagClearSettings = 0x01;

// RST_STREAM status codes. Any 32-bit value may arrive; these are the defined ones.
enum class RstStatus : uint32_t {
  kProtocolError = 1,
  kInvalidStream = 2,
  kRefusedStream = 3,
  kUnsupportedVersion = 4,
  kCancel = 5,  // what spdystream's Stream.Reset() sends
  kInternalError = 6,
  kFlowControlError = 7,
  kStreamInUse = 8,
  kStreamAlreadyClosed = 9,
  kInvalidCredentials = 10,
  kFrameTooLarge = 11,
};

enum class GoAwayStatus : uint32_t {
  kOk = 0,
  kProtocolError = 1,
  kInternalError = 2,
};

// SETTINGS ids (SPDY/3); only kInitialWindowSize has an effect here.
inline constexpr uint32_t kSettingsMaxConcurrentStreams = 4;
inline constexpr uint32_t kSettingsInitialWindowSize = 7;

std::string_view RstStatusName(RstStatus status);
std::string_view GoAwayStatusName(GoAwayStatus status);

// A header block in wire order. Names are lower case (the serializer lowercases them, the parser
// rejects upper case); a value holding several values separates them with NUL, as Go's
// http.Header does on the wire.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The first value (up to the first NUL) of the header `name` (compared case-insensitively, so
// "requestID" finds "requestid"), or nullopt.
std::optional<std::string> GetHeader(const Headers& headers, std::string_view name);

struct DataFrame {
  StreamId stream_id = 0;
  uint8_t flags = 0;
  std::string data;
  bool fin() const { return (flags & kFlagFin) != 0; }
};

struct SynStreamFrame {
  StreamId stream_id = 0;
  StreamId associated_stream_id = 0;
  uint8_t priority = 0;  // 0 (highest) .. 7
  uint8_t slot = 0;
  uint8_t flags = 0;  // kFlagFin | kFlagUnidirectional
  Headers headers;
};

struct SynReplyFrame {
  StreamId stream_id = 0;
  uint8_t flags = 0;  // kFlagFin
  Headers headers;
};

struct RstStreamFrame {
  StreamId stream_id = 0;
  RstStatus status = RstStatus::kCancel;
};

struct Setting {
  uint8_t flags = 0;
  uint32_t id = 0;  // 24 bits
  uint32_t value = 0;
};

struct SettingsFrame {
  uint8_t flags = 0;  // kFlagClearSettings
  std::vector<Setting> settings;
};

struct PingFrame {
  uint32_t id = 0;  // odd from the client, even from the server; never 0
};

struct GoAwayFrame {
  StreamId last_good_stream_id = 0;
  GoAwayStatus status = GoAwayStatus::kOk;
};

struct HeadersFrame {
  StreamId stream_id = 0;
  uint8_t flags = 0;  // kFlagFin
  Headers headers;
};

struct WindowUpdateFrame {
  StreamId stream_id = 0;  // 0: the session window (SPDY/3.1)
  uint32_t delta = 0;      // 31 bits
};

// A well-formed control frame of a type SPDY/3.1 does not define (CREDENTIAL, NOOP, ...): the
// spec says to ignore it. Only the header is kept.
struct UnknownControlFrame {
  uint16_t type = 0;
  uint8_t flags = 0;
  uint32_t length = 0;
};

using Frame =
    std::variant<DataFrame, SynStreamFrame, SynReplyFrame, RstStreamFrame, SettingsFrame, PingFrame,
                 GoAwayFrame, HeadersFrame, WindowUpdateFrame, UnknownControlFrame>;

// A short name of the frame's type ("DATA", "SYN_STREAM", ...), for logs and tests.
std::string_view FrameName(const Frame& frame);

struct FrameLimits {
  // DATA payload. The protocol bound by default: spdystream writes one DATA frame per Write call,
  // so any size the 24-bit length allows is legal from a Go client.
  uint32_t max_data_payload = kMaxFrameLength;
  // Control frame payload (compressed header block included).
  uint32_t max_control_payload = 320 * 1024;
  // A decompressed header block.
  size_t max_header_block = 256 * 1024;
  // Name/value pairs in one header block.
  uint32_t max_headers = 256;
};

// The SPDY/3 zlib dictionary (1423 bytes).
std::string_view HeaderDictionary();

// Parses frames from the peer. Owns the connection's header decompression context, so every
// frame of the connection must go through the same parser, in order.
class FrameParser {
 public:
  explicit FrameParser(FrameLimits limits = {});
  ~FrameParser();
  FrameParser(const FrameParser&) = delete;
  FrameParser& operator=(const FrameParser&) = delete;

  // Parses the frame at the front of `input`.
  //  - a frame: *consumed is its size on the wire;
  //  - nullopt: `input` holds no complete frame yet (*consumed = 0); call again with more bytes
  //    (the header is checked as soon as it is there: an oversize length fails at once);
  //  - an error (INVALID_ARGUMENT for malformed input, RESOURCE_EXHAUSTED for a limit): the
  //    connection is unusable (the decompression context may be out of step) and every later
  //    call returns the same error. The session answers with GOAWAY(PROTOCOL_ERROR).
  absl::StatusOr<std::optional<Frame>> Parse(std::string_view input, size_t* consumed);

  const FrameLimits& limits() const { return limits_; }

 private:
  absl::StatusOr<Frame> ParseControl(uint16_t type, uint8_t flags, std::string_view payload);
  absl::StatusOr<Headers> ParseHeaderBlock(std::string_view compressed);
  absl::Status Fail(absl::Status status);

  FrameLimits limits_;
  struct Inflater;
  std::unique_ptr<Inflater> inflater_;
  absl::Status failed_;
};

// Serializes frames to the peer. Owns the connection's header compression context, so every
// frame of the connection must be written through the same writer, in the order the bytes go
// out. A frame that cannot be written (stream id 0, header block over the limit, ...) returns
// INVALID_ARGUMENT and leaves `out` and the compression context untouched.
class FrameWriter {
 public:
  explicit FrameWriter(FrameLimits limits = {});
  ~FrameWriter();
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  // Appends the frame's bytes to *out.
  absl::Status Write(const Frame& frame, std::string* out);

  // DATA without building a DataFrame (no copy of the payload).
  static absl::Status WriteData(StreamId stream_id, uint8_t flags, std::string_view data,
                                std::string* out);

 private:
  absl::Status WriteHeaderFrame(ControlType type, uint8_t flags, std::string_view prefix,
                                const Headers& headers, std::string* out);

  FrameLimits limits_;
  struct Deflater;
  std::unique_ptr<Deflater> deflater_;
};

}  // namespace tether::spdy
