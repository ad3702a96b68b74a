#include "stream/spdy_frame.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tether::spdy {
namespace {

// --- big-endian helpers ---------------------------------------------------------------------

uint32_t Load32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void Put32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>((v >> 16) & 0xff));
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

void PutControlHeader(std::string* out, ControlType type, uint8_t flags, uint32_t length) {
  Put16(out, 0x8000 | kVersion);
  Put16(out, static_cast<uint16_t>(type));
  Put32(out, (uint32_t{flags} << 24) | length);
}

// A bounds-checked cursor over a byte string.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  size_t remaining() const { return data_.size(); }
  bool U32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = Load32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) {
    if (data_.size() < n) return false;
    *v = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view data_;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("spdy: ", absl::string_view(what.data(), what.size())));
}

absl::Status TooLarge(std::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("spdy: ", absl::string_view(what.data(), what.size())));
}

// The SPDY/3 header dictionary (draft 3, section 2.6.10.1): 65 length-prefixed words, then a
// blob of common values.
std::string BuildDictionary() {
  static constexpr std::string_view kWords =
      "options,head,post,put,delete,trace,accept,accept-charset,accept-encoding,accept-language,"
      "accept-ranges,age,allow,authorization,cache-control,connection,content-base,"
      "content-encoding,content-language,content-length,content-location,content-md5,"
      "content-range,content-type,date,etag,expect,expires,from,host,if-match,"
      "if-modified-since,if-none-match,if-range,if-unmodified-since,last-modified,location,"
      "max-forwards,pragma,proxy-authenticate,proxy-authorization,range,referer,retry-after,"
      "server,te,trailer,transfer-encoding,upgrade,user-agent,vary,via,warning,www-authenticate,"
      "method,get,status,200 OK,version,HTTP/1.1,url,public,set-cookie,keep-alive,origin";
  static constexpr std::string_view kTail =
      "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
      "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
      "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
      "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
      "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
      "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,"
      "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
  std::string dict;
  std::string_view words = kWords;
  while (!words.empty()) {
    const std::string_view word = words.substr(0, words.find(','));
    Put32(&dict, static_cast<uint32_t>(word.size()));
    dict.append(word);
    words.remove_prefix(std::min(words.size(), word.size() + 1));
  }
  dict.append(kTail);
  return dict;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view HeaderDictionary() {
  static const std::string* const kDictionary = new std::string(BuildDictionary());
  return *kDictionary;
}

std::string_view RstStatusName(RstStatus status) {
  switch (status) {
    case RstStatus::kProtocolError:
      return "PROTOCOL_ERROR";
    case RstStatus::kInvalidStream:
      return "INVALID_STREAM";
    case RstStatus::kRefusedStream:
      return "REFUSED_STREAM";
    case RstStatus::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case RstStatus::kCancel:
      return "CANCEL";
    case RstStatus::kInternalError:
      return "INTERNAL_ERROR";
    case RstStatus::kFlowControlError:
      return "FLOW_CONTROL_ERROR";
    case RstStatus::kStreamInUse:
      return "STREAM_IN_USE";
    case RstStatus::kStreamAlreadyClosed:
      return "STREAM_ALREADY_CLOSED";
    case RstStatus::kInvalidCredentials:
      return "INVALID_CREDENTIALS";
    case RstStatus::kFrameTooLarge:
      return "FRAME_TOO_LARGE";
  }
  return "UNKNOWN";
}

std::string_view GoAwayStatusName(GoAwayStatus status) {
  switch (status) {
    case GoAwayStatus::kOk:
      return "OK";
    case GoAwayStatus::kProtocolError:
      return "PROTOCOL_ERROR";
    case GoAwayStatus::kInternalError:
      return "INTERNAL_ERROR";
  }
  return "UNKNOWN";
}

std::optional<std::string> GetHeader(const Headers& headers, std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  for (const auto& [n, v] : headers) {
    if (n == lower) return v.substr(0, v.find('\0'));
  }
  return std::nullopt;
}

std::string_view FrameName(const Frame& frame) {
  return std::visit(
      Overloaded{[](const DataFrame&) -> std::string_view { return "DATA"; },
                 [](const SynStreamFrame&) -> std::string_view { return "SYN_STREAM"; },
                 [](const SynReplyFrame&) -> std::string_view { return "SYN_REPLY"; },
                 [](const RstStreamFrame&) -> std::string_view { return "RST_STREAM"; },
                 [](const SettingsFrame&) -> std::string_view { return "SETTINGS"; },
                 [](const PingFrame&) -> std::string_view { return "PING"; },
                 [](const GoAwayFrame&) -> std::string_view { return "GOAWAY"; },
                 [](const HeadersFrame&) -> std::string_view { return "HEADERS"; },
                 [](const WindowUpdateFrame&) -> std::string_view { return "WINDOW_UPDATE"; },
                 [](const UnknownControlFrame&) -> std::string_view { return "UNKNOWN"; }},
      frame);
}

// --- parser ----------------------------------------------------------------------------------

struct FrameParser::Inflater {
  z_stream zs{};
  bool ok = false;
  Inflater() { ok = inflateInit(&zs) == Z_OK; }
  ~Inflater() {
    if (ok) inflateEnd(&zs);
  }

  // Inflates all of `in` (one header block, ended by the peer's SYNC_FLUSH) into *out, failing
  // once the output would pass `max_out`.
  absl::Status Inflate(std::string_view in, size_t max_out, std::string* out) {
    if (!ok) return absl::InternalError("spdy: zlib inflateInit failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::array<char, 4096> chunk;
    for (;;) {
      zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zs.avail_out = static_cast<uInt>(chunk.size());
      const uInt avail_in_before = zs.avail_in;
      int rc = inflate(&zs, Z_SYNC_FLUSH);
      if (rc == Z_NEED_DICT) {
        std::string_view dict = HeaderDictionary();
        if (inflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(dict.data()),
                                 static_cast<uInt>(dict.size())) != Z_OK) {
          return Malformed("header block compressed with an unknown dictionary");
        }
        continue;
      }
      const size_t produced = chunk.size() - zs.avail_out;
      if (produced > max_out - out->size()) {
        return TooLarge(absl::StrCat("decompressed header block exceeds ", max_out, " bytes"));
      }
      out->append(chunk.data(), produced);
      if (rc == Z_STREAM_END) return Malformed("peer ended the header compression stream");
      if (rc == Z_BUF_ERROR) {
        // No progress possible: all input used and all output drained.
        if (zs.avail_in == 0) return absl::OkStatus();
        return Malformed("header block decompression stalled");
      }
      if (rc != Z_OK) {
        return Malformed(absl::StrCat("bad compressed header block (zlib ", rc, ")"));
      }
      if (zs.avail_in == 0 && zs.avail_out != 0) return absl::OkStatus();
      if (produced == 0 && zs.avail_in == avail_in_before) {
        return Malformed("header block decompression made no progress");
      }
    }
  }
};

FrameParser::FrameParser(FrameLimits limits)
    : limits_(limits), inflater_(std::make_unique<Inflater>()) {}

FrameParser::~FrameParser() = default;

absl::Status FrameParser::Fail(absl::Status status) {
  failed_ = status;
  return status;
}

absl::StatusOr<std::optional<Frame>> FrameParser::Parse(std::string_view input, size_t* consumed) {
  *consumed = 0;
  if (!failed_.ok()) return failed_;
  if (input.size() < kFrameHeaderSize) return std::nullopt;
  const uint32_t word0 = Load32(input.data());
  const uint32_t word1 = Load32(input.data() + 4);
  const uint8_t flags = static_cast<uint8_t>(word1 >> 24);
  const uint32_t length = word1 & kMaxFrameLength;
  const bool control = (word0 & 0x80000000u) != 0;
  if (control) {
    const uint16_t version = static_cast<uint16_t>((word0 >> 16) & 0x7fff);
    if (version != kVersion) {
      return Fail(Malformed(absl::StrCat("unsupported SPDY version ", version)));
    }
    if (length > limits_.max_control_payload) {
      return Fail(TooLarge(absl::StrCat("control frame of ", length, " bytes exceeds the limit of ",
                                        limits_.max_control_payload)));
    }
  } else if (length > limits_.max_data_payload) {
    return Fail(TooLarge(absl::StrCat("DATA frame of ", length, " bytes exceeds the limit of ",
                                      limits_.max_data_payload)));
  }
  if (input.size() - kFrameHeaderSize < length) return std::nullopt;
  std::string_view payload = input.substr(kFrameHeaderSize, length);

  Frame frame;
  if (control) {
    absl::StatusOr<Frame> parsed =
        ParseControl(static_cast<uint16_t>(word0 & 0xffff), flags, payload);
    if (!parsed.ok()) return Fail(parsed.status());
    frame = *std::move(parsed);
  } else {
    DataFrame data;
    data.stream_id = word0 & kMaxStreamId;
    if (data.stream_id == 0) return Fail(Malformed("DATA frame on stream 0"));
    data.flags = flags;
    data.data.assign(payload.data(), payload.size());
    frame = std::move(data);
  }
  *consumed = kFrameHeaderSize + length;
  return std::optional<Frame>(std::move(frame));
}

absl::StatusOr<Frame> FrameParser::ParseControl(uint16_t type, uint8_t flags,
                                                std::string_view payload) {
  Reader r(payload);
  uint32_t a = 0;
  uint32_t b = 0;
  switch (static_cast<ControlType>(type)) {
    case ControlType::kSynStream: {
      if (payload.size() < 10) return Malformed("short SYN_STREAM");
      SynStreamFrame f;
      r.U32(&a);
      r.U32(&b);
      f.stream_id = a & kMaxStreamId;
      f.associated_stream_id = b & kMaxStreamId;
      f.priority = static_cast<uint8_t>(static_cast<unsigned char>(payload[8]) >> 5);
      f.slot = static_cast<uint8_t>(payload[9]);
      f.flags = flags;
      absl::StatusOr<Headers> headers = ParseHeaderBlock(payload.substr(10));
      if (!headers.ok()) return headers.status();
      if (f.stream_id == 0) return Malformed("SYN_STREAM for stream 0");
      f.headers = *std::move(headers);
      return f;
    }
    case ControlType::kSynReply:
    case ControlType::kHeaders: {
      if (payload.size() < 4) return Malformed("short SYN_REPLY/HEADERS");
      r.U32(&a);
      absl::StatusOr<Headers> headers = ParseHeaderBlock(payload.substr(4));
      if (!headers.ok()) return headers.status();
      if ((a & kMaxStreamId) == 0) return Malformed("SYN_REPLY/HEADERS for stream 0");
      if (static_cast<ControlType>(type) == ControlType::kSynReply) {
        return SynReplyFrame{
            .stream_id = a & kMaxStreamId, .flags = flags, .headers = *std::move(headers)};
      }
      return HeadersFrame{
          .stream_id = a & kMaxStreamId, .flags = flags, .headers = *std::move(headers)};
    }
    case ControlType::kRstStream: {
      if (payload.size() != 8) return Malformed("RST_STREAM length is not 8");
      r.U32(&a);
      r.U32(&b);
      if ((a & kMaxStreamId) == 0) return Malformed("RST_STREAM for stream 0");
      if (b == 0) return Malformed("RST_STREAM with status 0");
      return RstStreamFrame{.stream_id = a & kMaxStreamId, .status = static_cast<RstStatus>(b)};
    }
    case ControlType::kSettings: {
      if (payload.size() < 4) return Malformed("short SETTINGS");
      r.U32(&a);
      if ((payload.size() - 4) % 8 != 0 || a != (payload.size() - 4) / 8) {
        return Malformed("SETTINGS count does not match its length");
      }
      SettingsFrame f;
      f.flags = flags;
      f.settings.reserve(a);
      for (uint32_t i = 0; i < a; ++i) {
        uint32_t id = 0;
        uint32_t value = 0;
        r.U32(&id);
        r.U32(&value);
        f.settings.push_back(
            Setting{.flags = static_cast<uint8_t>(id >> 24), .id = id & 0xffffff, .value = value});
      }
      return f;
    }
    case ControlType::kPing: {
      if (payload.size() != 4) return Malformed("PING length is not 4");
      r.U32(&a);
      if (a == 0) return Malformed("PING with id 0");
      return PingFrame{.id = a};
    }
    case ControlType::kGoAway: {
      if (payload.size() != 8) return Malformed("GOAWAY length is not 8");
      r.U32(&a);
      r.U32(&b);
      return GoAwayFrame{.last_good_stream_id = a & kMaxStreamId,
                         .status = static_cast<GoAwayStatus>(b)};
    }
    case ControlType::kWindowUpdate: {
      if (payload.size() != 8) return Malformed("WINDOW_UPDATE length is not 8");
      r.U32(&a);
      r.U32(&b);
      return WindowUpdateFrame{.stream_id = a & kMaxStreamId, .delta = b & kMaxWindow};
    }
  }
  return UnknownControlFrame{
      .type = type, .flags = flags, .length = static_cast<uint32_t>(payload.size())};
}

absl::StatusOr<Headers> FrameParser::ParseHeaderBlock(std::string_view compressed) {
  std::string block;
  if (absl::Status s = inflater_->Inflate(compressed, limits_.max_header_block, &block); !s.ok()) {
    return s;
  }
  Reader r(block);
  uint32_t count = 0;
  if (!r.U32(&count)) return Malformed("truncated header block");
  if (count > limits_.max_headers) {
    return TooLarge(
        absl::StrCat("header block has ", count, " headers, the limit is ", limits_.max_headers));
  }
  // Every pair takes at least 8 bytes: a cheap bound before reserving.
  if (count > r.remaining() / 8) return Malformed("truncated header block");
  Headers headers;
  headers.reserve(count);
  std::set<std::string_view> seen;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0;
    uint32_t value_len = 0;
    std::string_view name;
    std::string_view value;
    if (!r.U32(&name_len) || !r.Bytes(name_len, &name) || !r.U32(&value_len) ||
        !r.Bytes(value_len, &value)) {
      return Malformed("truncated header block");
    }
    if (name.empty()) return Malformed("empty header name");
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return Malformed("header name is not lower case");
    }
    if (!seen.insert(name).second) return Malformed("duplicate header name");
    headers.emplace_back(std::string(name), std::string(value));
  }
  if (r.remaining() != 0) return Malformed("trailing bytes after the header block");
  return headers;
}

// --- writer ----------------------------------------------------------------------------------

struct FrameWriter::Deflater {
  z_stream zs{};
  bool ok = false;
  Deflater() {
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return;
    }
    ok = true;
    std::string_view dict = HeaderDictionary();
    if (deflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(dict.data()),
                             static_cast<uInt>(dict.size())) != Z_OK) {
      ok = false;
      deflateEnd(&zs);
    }
  }
  ~Deflater() {
    if (ok) deflateEnd(&zs);
  }

  // Compresses `in` and SYNC_FLUSHes, appending to *out.
  absl::Status Deflate(std::string_view in, std::string* out) {
    if (!ok) return absl::InternalError("spdy: zlib deflate unusable");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::array<char, 4096> chunk;
    for (;;) {
      zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
      zs.avail_out = static_cast<uInt>(chunk.size());
      int rc = deflate(&zs, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        ok = false;  // the peer's decompressor can no longer follow
        return absl::InternalError(absl::StrCat("spdy: zlib deflate failed (", rc, ")"));
      }
      out->append(chunk.data(), chunk.size() - zs.avail_out);
      if (zs.avail_in == 0 && zs.avail_out != 0) return absl::OkStatus();
    }
  }
};

FrameWriter::FrameWriter(FrameLimits limits)
    : limits_(limits), deflater_(std::make_unique<Deflater>()) {}

FrameWriter::~FrameWriter() = default;

absl::Status FrameWriter::WriteData(StreamId stream_id, uint8_t flags, std::string_view data,
                                    std::string* out) {
  if (stream_id == 0 || stream_id > kMaxStreamId) {
    return absl::InvalidArgumentError("spdy: DATA needs a stream id in 1..2^31-1");
  }
  if (data.size() > kMaxFrameLength) {
    return absl::InvalidArgumentError("spdy: DATA payload over 16 MiB");
  }
  Put32(out, stream_id);
  Put32(out, (uint32_t{flags} << 24) | static_cast<uint32_t>(data.size()));
  out->append(data);
  return absl::OkStatus();
}

absl::Status FrameWriter::WriteHeaderFrame(ControlType type, uint8_t flags, std::string_view prefix,
                                           const Headers& headers, std::string* out) {
  if (headers.size() > limits_.max_headers) {
    return absl::InvalidArgumentError("spdy: too many headers");
  }
  std::string block;
  Put32(&block, static_cast<uint32_t>(headers.size()));
  std::set<std::string> seen;
  for (const auto& [name, value] : headers) {
    if (name.empty()) return absl::InvalidArgumentError("spdy: empty header name");
    std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
    if (!seen.insert(lower).second) {
      return absl::InvalidArgumentError(absl::StrCat("spdy: duplicate header ", lower));
    }
    if (name.size() > limits_.max_header_block || value.size() > limits_.max_header_block) {
      return absl::InvalidArgumentError("spdy: header block too large");
    }
    Put32(&block, static_cast<uint32_t>(lower.size()));
    block.append(lower);
    Put32(&block, static_cast<uint32_t>(value.size()));
    block.append(value);
    if (block.size() > limits_.max_header_block) {
      return absl::InvalidArgumentError("spdy: header block too large");
    }
  }
  std::string compressed;
  if (absl::Status s = deflater_->Deflate(block, &compressed); !s.ok()) return s;
  // The block is bounded by max_header_block, so this only trips on absurd limits; the
  // compression context has moved on, so the writer must not be used further.
  if (prefix.size() + compressed.size() > kMaxFrameLength) {
    deflater_->ok = false;
    return absl::InternalError("spdy: compressed header block over 16 MiB");
  }
  PutControlHeader(out, type, flags, static_cast<uint32_t>(prefix.size() + compressed.size()));
  out->append(prefix);
  out->append(compressed);
  return absl::OkStatus();
}

absl::Status FrameWriter::Write(const Frame& frame, std::string* out) {
  auto check_stream = [](StreamId id) {
    return id == 0 || id > kMaxStreamId
               ? absl::InvalidArgumentError("spdy: stream id must be in 1..2^31-1")
               : absl::OkStatus();
  };
  return std::visit(
      Overloaded{[&](const DataFrame& f) { return WriteData(f.stream_id, f.flags, f.data, out); },
                 [&](const SynStreamFrame& f) -> absl::Status {
                   if (absl::Status s = check_stream(f.stream_id); !s.ok()) return s;
                   if (f.associated_stream_id > kMaxStreamId || f.priority > 7) {
                     return absl::InvalidArgumentError("spdy: bad SYN_STREAM fields");
                   }
                   std::string prefix;
                   Put32(&prefix, f.stream_id);
                   Put32(&prefix, f.associated_stream_id);
                   prefix.push_back(static_cast<char>(f.priority << 5));
                   prefix.push_back(static_cast<char>(f.slot));
                   return WriteHeaderFrame(ControlType::kSynStream, f.flags, prefix, f.headers,
                                           out);
                 },
                 [&](const SynReplyFrame& f) -> absl::Status {
                   if (absl::Status s = check_stream(f.stream_id); !s.ok()) return s;
                   std::string prefix;
                   Put32(&prefix, f.stream_id);
                   return WriteHeaderFrame(ControlType::kSynReply, f.flags, prefix, f.headers, out);
                 },
                 [&](const HeadersFrame& f) -> absl::Status {
                   if (absl::Status s = check_stream(f.stream_id); !s.ok()) return s;
                   std::string prefix;
                   Put32(&prefix, f.stream_id);
                   return WriteHeaderFrame(ControlType::kHeaders, f.flags, prefix, f.headers, out);
                 },
                 [&](const RstStreamFrame& f) -> absl::Status {
                   if (absl::Status s = check_stream(f.stream_id); !s.ok()) return s;
                   if (static_cast<uint32_t>(f.status) == 0) {
                     return absl::InvalidArgumentError("spdy: RST_STREAM status 0");
                   }
                   PutControlHeader(out, ControlType::kRstStream, 0, 8);
                   Put32(out, f.stream_id);
                   Put32(out, static_cast<uint32_t>(f.status));
                   return absl::OkStatus();
                 },
                 [&](const SettingsFrame& f) -> absl::Status {
                   if (f.settings.size() > (kMaxFrameLength - 4) / 8) {
                     return absl::InvalidArgumentError("spdy: too many settings");
                   }
                   for (const Setting& s : f.settings) {
                     if (s.id > 0xffffff)
                       return absl::InvalidArgumentError("spdy: setting id > 24 bits");
                   }
                   PutControlHeader(out, ControlType::kSettings, f.flags,
                                    static_cast<uint32_t>(4 + 8 * f.settings.size()));
                   Put32(out, static_cast<uint32_t>(f.settings.size()));
                   for (const Setting& s : f.settings) {
                     Put32(out, (uint32_t{s.flags} << 24) | s.id);
                     Put32(out, s.value);
                   }
                   return absl::OkStatus();
                 },
                 [&](const PingFrame& f) -> absl::Status {
                   if (f.id == 0) return absl::InvalidArgumentError("spdy: PING id 0");
                   PutControlHeader(out, ControlType::kPing, 0, 4);
                   Put32(out, f.id);
                   return absl::OkStatus();
                 },
                 [&](const GoAwayFrame& f) -> absl::Status {
                   if (f.last_good_stream_id > kMaxStreamId) {
                     return absl::InvalidArgumentError("spdy: GOAWAY stream id > 2^31-1");
                   }
                   PutControlHeader(out, ControlType::kGoAway, 0, 8);
                   Put32(out, f.last_good_stream_id);
                   Put32(out, static_cast<uint32_t>(f.status));
                   return absl::OkStatus();
                 },
                 [&](const WindowUpdateFrame& f) -> absl::Status {
                   if (f.stream_id > kMaxStreamId || f.delta == 0 || f.delta > kMaxWindow) {
                     return absl::InvalidArgumentError("spdy: bad WINDOW_UPDATE fields");
                   }
                   PutControlHeader(out, ControlType::kWindowUpdate, 0, 8);
                   Put32(out, f.stream_id);
                   Put32(out, f.delta);
                   return absl::OkStatus();
                 },
                 [&](const UnknownControlFrame&) -> absl::Status {
                   return absl::InvalidArgumentError("spdy: cannot write an unknown control frame");
                 }},
      frame);
}

}  // namespace tether::spdy
