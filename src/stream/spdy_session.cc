#include "stream/spdy_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tether::spdy {

std::string_view EventTypeName(Event::Type type) {
  switch (type) {
    case Event::Type::kStreamOpened:
      return "StreamOpened";
    case Event::Type::kStreamReplied:
      return "StreamReplied";
    case Event::Type::kHeaders:
      return "Headers";
    case Event::Type::kData:
      return "Data";
    case Event::Type::kRemoteClosed:
      return "RemoteClosed";
    case Event::Type::kStreamClosed:
      return "StreamClosed";
    case Event::Type::kStreamReset:
      return "StreamReset";
    case Event::Type::kStreamError:
      return "StreamError";
    case Event::Type::kWritable:
      return "Writable";
    case Event::Type::kPong:
      return "Pong";
    case Event::Type::kGoAway:
      return "GoAway";
  }
  return "Unknown";
}

Session::Session(Role role, SessionOptions options)
    : role_(role),
      options_(options),
      parser_(options.limits),
      writer_(options.limits),
      next_local_id_(role == Role::kClient ? 1 : 2),
      next_ping_id_(role == Role::kClient ? 1 : 2),
      recv_initial_window_(options.send_settings
                               ? std::clamp<uint32_t>(options.initial_window, 1, kMaxWindow)
                               : kDefaultWindow),
      session_window_(std::clamp<uint32_t>(options.session_window, kDefaultWindow, kMaxWindow)) {
  options_.max_send_frame = std::clamp<size_t>(options_.max_send_frame, 1, kMaxFrameLength);
  if (options_.send_settings) {
    Write(SettingsFrame{
        .settings = {Setting{.id = kSettingsInitialWindowSize, .value = recv_initial_window_}}});
  }
  if (session_window_ > kDefaultWindow) {
    Write(WindowUpdateFrame{.stream_id = 0, .delta = session_window_ - kDefaultWindow});
    session_recv_window_ = session_window_;
  }
}

Session::~Session() = default;

bool Session::flow_control_enforced() const {
  switch (options_.flow_control) {
    case FlowControl::kOn:
      return true;
    case FlowControl::kOff:
      return false;
    case FlowControl::kAuto:
      return peer_flow_control_;
  }
  return false;
}

bool Session::Finished() const {
  return (goaway_sent_ || goaway_received_ || failed()) && streams_.empty() && output_.empty();
}

std::vector<Event> Session::TakeEvents() {
  std::vector<Event> events;
  events.swap(events_);
  return events;
}

std::string Session::TakeOutput() {
  std::string out;
  out.swap(output_);
  return out;
}

size_t Session::QueuedBytes(StreamId id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? 0 : it->second.queue.size() - it->second.queue_head;
}

void Session::Write(const Frame& frame) {
  if (absl::Status s = writer_.Write(frame, &output_); !s.ok() && failed_.ok()) {
    // Only a zlib failure gets here (callers validate what they pass): the peer could no longer
    // decompress our headers, so the session is over.
    failed_ = s;
    streams_.clear();
    peer_streams_ = 0;
    queued_bytes_ = 0;
  }
}

absl::Status Session::Fail(absl::Status status) {
  if (!failed_.ok()) return failed_;
  failed_ = status;
  if (!goaway_sent_) {
    goaway_sent_ = true;
    Write(
        GoAwayFrame{.last_good_stream_id = last_peer_id_, .status = GoAwayStatus::kProtocolError});
  }
  streams_.clear();
  peer_streams_ = 0;
  queued_bytes_ = 0;
  input_.clear();
  return failed_;
}

absl::Status Session::Feed(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  // Parse straight from `bytes` when nothing is pending; copy only an incomplete tail.
  std::string_view view = bytes;
  if (!input_.empty()) {
    input_.append(bytes);
    view = input_;
  }
  size_t offset = 0;
  absl::Status status;
  while (offset < view.size()) {
    size_t consumed = 0;
    absl::StatusOr<std::optional<Frame>> frame = parser_.Parse(view.substr(offset), &consumed);
    if (!frame.ok()) return Fail(frame.status());
    if (!frame->has_value()) break;
    offset += consumed;
    status = HandleFrame(std::move(**frame));
    if (!status.ok()) return Fail(status);
    if (!failed_.ok()) return failed_;
  }
  if (input_.empty()) {
    input_.assign(view.substr(offset));
  } else {
    input_.erase(0, offset);
  }
  return absl::OkStatus();
}

absl::Status Session::HandleFrame(Frame frame) {
  if (auto* f = std::get_if<DataFrame>(&frame)) {
    return OnData(*f);
  } else if (auto* f = std::get_if<SynStreamFrame>(&frame)) {
    OnSynStream(*f);
  } else if (auto* f = std::get_if<SynReplyFrame>(&frame)) {
    OnSynReply(*f);
  } else if (auto* f = std::get_if<RstStreamFrame>(&frame)) {
    OnRst(*f);
  } else if (auto* f = std::get_if<SettingsFrame>(&frame)) {
    return OnSettings(*f);
  } else if (auto* f = std::get_if<PingFrame>(&frame)) {
    OnPing(*f);
  } else if (auto* f = std::get_if<GoAwayFrame>(&frame)) {
    OnGoAway(*f);
  } else if (auto* f = std::get_if<HeadersFrame>(&frame)) {
    OnHeaders(*f);
  } else if (auto* f = std::get_if<WindowUpdateFrame>(&frame)) {
    return OnWindowUpdate(*f);
  }
  // UnknownControlFrame: ignored, as SPDY/3 requires.
  return absl::OkStatus();
}

bool Session::PeerParity(StreamId id) const {
  // Clients open odd stream ids, servers even ones.
  return (role_ == Role::kServer) == ((id & 1) == 1);
}

bool Session::WasOpened(StreamId id) const {
  return PeerParity(id) ? id <= last_peer_id_ : id < next_local_id_;
}

void Session::StreamError(StreamId id, RstStatus status, std::string message) {
  Write(RstStreamFrame{.stream_id = id, .status = status});
  RemoveStream(id);
  Emit(Event{.type = Event::Type::kStreamError,
             .stream_id = id,
             .rst_status = status,
             .message = std::move(message)});
}

void Session::RemoveStream(StreamId id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  // Bytes the caller will not acknowledge any more still count against the session window.
  CreditSession(s.unacked);
  queued_bytes_ -= s.queue.size() - s.queue_head;
  if (!s.local) --peer_streams_;
  streams_.erase(it);
}

void Session::MaybeFinish(StreamId id, Stream& s) {
  // A server stream not answered yet stays until AcceptStream/RejectStream.
  if (s.local_fin_sent && s.remote_fin && (s.local || s.replied)) {
    RemoveStream(id);
    Emit(Event{.type = Event::Type::kStreamClosed, .stream_id = id});
  }
}

void Session::MarkRemoteFin(StreamId id, Stream& s) {
  s.remote_fin = true;
  Emit(Event{.type = Event::Type::kRemoteClosed, .stream_id = id});
  MaybeFinish(id, s);
}

void Session::CreditSession(uint64_t bytes) {
  session_consumed_ += bytes;
  if (session_consumed_ >= session_window_ / 2) {
    const uint32_t delta = static_cast<uint32_t>(std::min<uint64_t>(session_consumed_, kMaxWindow));
    Write(WindowUpdateFrame{.stream_id = 0, .delta = delta});
    session_recv_window_ += delta;
    session_consumed_ -= delta;
  }
}

// --- incoming frames -------------------------------------------------------------------------

void Session::OnSynStream(SynStreamFrame& f) {
  const StreamId id = f.stream_id;
  if (goaway_sent_) {
    // Streams after our GOAWAY are ignored (SPDY/3, spdystream); remembering the id makes their
    // in-flight DATA count as data for a finished stream (dropped) rather than an unknown one.
    if (PeerParity(id) && id > last_peer_id_) last_peer_id_ = id;
    return;
  }
  if (!PeerParity(id) || id <= last_peer_id_) {
    StreamError(
        id, RstStatus::kProtocolError,
        absl::StrCat("SYN_STREAM ", id, " is not a new ", role_ == Role::kServer ? "odd" : "even",
                     " stream id above ", last_peer_id_));
    return;
  }
  last_peer_id_ = id;
  if (role_ == Role::kClient) {
    StreamError(id, RstStatus::kRefusedStream, "server-initiated streams are not supported");
    return;
  }
  if (peer_streams_ >= options_.max_concurrent_streams) {
    StreamError(id, RstStatus::kRefusedStream,
                absl::StrCat("more than ", options_.max_concurrent_streams, " streams open"));
    return;
  }
  Stream& s = streams_[id];
  ++peer_streams_;
  s.send_window = peer_initial_window_;
  s.recv_window = recv_initial_window_;
  if (f.flags & kFlagUnidirectional) {
    s.local_fin = true;
    s.local_fin_sent = true;
  }
  Emit(Event{.type = Event::Type::kStreamOpened, .stream_id = id, .headers = std::move(f.headers)});
  if (options_.auto_accept) {
    Write(SynReplyFrame{.stream_id = id});
    s.replied = true;
  }
  if (f.flags & kFlagFin) MarkRemoteFin(id, s);
}

void Session::OnSynReply(SynReplyFrame& f) {
  const StreamId id = f.stream_id;
  auto it = streams_.find(id);
  if (it == streams_.end() || !it->second.local) {
    if (!WasOpened(id) || PeerParity(id)) {
      StreamError(id, RstStatus::kInvalidStream,
                  absl::StrCat("SYN_REPLY for stream ", id, " we never opened"));
    }
    return;  // a stream we finished already
  }
  Stream& s = it->second;
  if (s.replied) return;  // a duplicate reply: ignored, as spdystream does
  s.replied = true;
  Emit(
      Event{.type = Event::Type::kStreamReplied, .stream_id = id, .headers = std::move(f.headers)});
  Pump(id, s);
  // Pump may have finished the stream (queued FIN, peer FIN already seen): look it up again.
  it = streams_.find(id);
  if (it != streams_.end() && (f.flags & kFlagFin)) MarkRemoteFin(id, it->second);
}

void Session::OnHeaders(HeadersFrame& f) {
  const StreamId id = f.stream_id;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    if (!WasOpened(id)) {
      StreamError(id, RstStatus::kInvalidStream,
                  absl::StrCat("HEADERS for stream ", id, " that was never opened"));
    }
    return;
  }
  Stream& s = it->second;
  if (s.remote_fin) {
    StreamError(id, RstStatus::kStreamAlreadyClosed,
                absl::StrCat("HEADERS on stream ", id, " after its FIN"));
    return;
  }
  Emit(Event{.type = Event::Type::kHeaders, .stream_id = id, .headers = std::move(f.headers)});
  if (f.flags & kFlagFin) MarkRemoteFin(id, s);
}

absl::Status Session::OnData(DataFrame& f) {
  const StreamId id = f.stream_id;
  const uint64_t n = f.data.size();
  session_recv_window_ -= static_cast<int64_t>(n);
  if (options_.flow_control == FlowControl::kOn && session_recv_window_ < 0) {
    return absl::InvalidArgumentError("spdy: peer overran the session flow-control window");
  }
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    CreditSession(n);
    if (!WasOpened(id)) {
      StreamError(id, RstStatus::kInvalidStream,
                  absl::StrCat("DATA on stream ", id, " that was never opened"));
    }
    return absl::OkStatus();  // data in flight when we finished or reset the stream: dropped
  }
  Stream& s = it->second;
  if (s.remote_fin) {
    CreditSession(n);
    StreamError(id, RstStatus::kStreamAlreadyClosed,
                absl::StrCat("DATA on stream ", id, " after its FIN"));
    return absl::OkStatus();
  }
  s.recv_window -= static_cast<int64_t>(n);
  if (options_.flow_control == FlowControl::kOn && s.recv_window < 0) {
    CreditSession(n);
    StreamError(id, RstStatus::kFlowControlError,
                absl::StrCat("peer overran the window of stream ", id));
    return absl::OkStatus();
  }
  if (n > 0) {
    s.unacked += n;
    Emit(Event{.type = Event::Type::kData, .stream_id = id, .data = std::move(f.data)});
    if (options_.auto_ack) AcknowledgeData(id, n);
  }
  if (f.fin()) {
    // AcknowledgeData cannot remove the stream, so `s` is still valid.
    MarkRemoteFin(id, s);
  }
  return absl::OkStatus();
}

void Session::OnRst(const RstStreamFrame& f) {
  auto it = streams_.find(f.stream_id);
  if (it == streams_.end()) return;  // already gone
  RemoveStream(f.stream_id);
  Emit(Event{.type = Event::Type::kStreamReset, .stream_id = f.stream_id, .rst_status = f.status});
}

absl::Status Session::OnSettings(const SettingsFrame& f) {
  peer_flow_control_ = true;
  for (const Setting& setting : f.settings) {
    if (setting.id != kSettingsInitialWindowSize) continue;
    if (setting.value > kMaxWindow) {
      return absl::InvalidArgumentError("spdy: SETTINGS initial window over 2^31-1");
    }
    const int64_t delta = int64_t{setting.value} - int64_t{peer_initial_window_};
    peer_initial_window_ = setting.value;
    for (auto& [id, s] : streams_) s.send_window += delta;
  }
  PumpAll();
  return absl::OkStatus();
}

void Session::OnPing(const PingFrame& f) {
  const bool ours = (f.id & 1) == (next_ping_id_ & 1);
  if (ours) {
    Emit(Event{.type = Event::Type::kPong, .ping_id = f.id});
  } else {
    Write(PingFrame{.id = f.id});
  }
}

void Session::OnGoAway(const GoAwayFrame& f) {
  if (goaway_received_) return;
  goaway_received_ = true;
  Emit(Event{.type = Event::Type::kGoAway,
             .goaway_status = f.status,
             .last_good_stream_id = f.last_good_stream_id});
  // Our streams above last-good were never processed by the peer.
  std::vector<StreamId> dropped;
  for (const auto& [id, s] : streams_) {
    if (s.local && id > f.last_good_stream_id) dropped.push_back(id);
  }
  for (StreamId id : dropped) {
    RemoveStream(id);
    Emit(Event{.type = Event::Type::kStreamReset,
               .stream_id = id,
               .rst_status = RstStatus::kRefusedStream});
  }
}

absl::Status Session::OnWindowUpdate(const WindowUpdateFrame& f) {
  peer_flow_control_ = true;
  if (f.delta == 0) return absl::OkStatus();
  if (f.stream_id == 0) {
    session_send_window_ += f.delta;
    if (session_send_window_ > kMaxWindow) {
      return absl::InvalidArgumentError("spdy: session window over 2^31-1");
    }
    PumpAll();
    return absl::OkStatus();
  }
  auto it = streams_.find(f.stream_id);
  if (it == streams_.end()) return absl::OkStatus();
  Stream& s = it->second;
  s.send_window += f.delta;
  if (s.send_window > kMaxWindow) {
    StreamError(f.stream_id, RstStatus::kFlowControlError,
                absl::StrCat("window of stream ", f.stream_id, " over 2^31-1"));
    return absl::OkStatus();
  }
  Pump(f.stream_id, s);
  return absl::OkStatus();
}

// --- sending ---------------------------------------------------------------------------------

void Session::Pump(StreamId id, Stream& s) {
  if (s.local && !s.replied) return;  // a client stream waits for its SYN_REPLY
  while (s.queue_head < s.queue.size()) {
    size_t n = std::min(s.queue.size() - s.queue_head, options_.max_send_frame);
    if (Enforce()) {
      const int64_t allowed = std::min(s.send_window, session_send_window_);
      if (allowed <= 0) break;
      n = std::min<size_t>(n, static_cast<size_t>(allowed));
    }
    const bool last = s.local_fin && s.queue_head + n == s.queue.size();
    // Valid by construction (a known stream id, n <= max_send_frame <= 16 MiB).
    FrameWriter::WriteData(id, last ? kFlagFin : 0,
                           std::string_view(s.queue).substr(s.queue_head, n), &output_)
        .IgnoreError();
    s.send_window -= static_cast<int64_t>(n);
    session_send_window_ -= static_cast<int64_t>(n);
    s.queue_head += n;
    queued_bytes_ -= n;
    if (last) s.local_fin_sent = true;
  }
  if (s.queue_head < s.queue.size()) {
    s.blocked = true;
    if (s.queue_head > 64 * 1024 && s.queue_head > s.queue.size() / 2) {
      s.queue.erase(0, s.queue_head);
      s.queue_head = 0;
    }
    return;
  }
  s.queue.clear();
  s.queue_head = 0;
  if (s.local_fin && !s.local_fin_sent) {
    FrameWriter::WriteData(id, kFlagFin, {}, &output_).IgnoreError();
    s.local_fin_sent = true;
  }
  if (s.blocked) {
    s.blocked = false;
    Emit(Event{.type = Event::Type::kWritable, .stream_id = id});
  }
  MaybeFinish(id, s);
}

void Session::PumpAll() {
  std::vector<StreamId> ids;
  for (const auto& [id, s] : streams_) {
    if (s.queue_head < s.queue.size() || (s.local_fin && !s.local_fin_sent)) ids.push_back(id);
  }
  for (StreamId id : ids) {
    auto it = streams_.find(id);
    if (it != streams_.end()) Pump(id, it->second);
  }
}

absl::Status Session::SendData(StreamId id, std::string_view data, bool fin) {
  if (!failed_.ok()) return failed_;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return absl::NotFoundError(absl::StrCat("spdy: no open stream ", id));
  }
  Stream& s = it->second;
  if (s.local_fin) {
    return absl::FailedPreconditionError(
        absl::StrCat("spdy: stream ", id, " is closed for sending"));
  }
  if (!s.local && !s.replied) {
    return absl::FailedPreconditionError(absl::StrCat("spdy: stream ", id, " not accepted yet"));
  }
  s.queue.append(data);
  queued_bytes_ += data.size();
  if (fin) s.local_fin = true;
  Pump(id, s);
  return absl::OkStatus();
}

absl::Status Session::SendHeaders(StreamId id, const Headers& headers, bool fin) {
  if (!failed_.ok()) return failed_;
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return absl::NotFoundError(absl::StrCat("spdy: no open stream ", id));
  }
  Stream& s = it->second;
  if (s.local_fin || !s.replied || s.queue_head < s.queue.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("spdy: stream ", id, " cannot take HEADERS now"));
  }
  std::string out;
  if (absl::Status st = writer_.Write(
          HeadersFrame{.stream_id = id, .flags = fin ? kFlagFin : uint8_t{0}, .headers = headers},
          &out);
      !st.ok()) {
    return st;
  }
  output_.append(out);
  if (fin) {
    s.local_fin = true;
    s.local_fin_sent = true;
    MaybeFinish(id, s);
  }
  return absl::OkStatus();
}

absl::Status Session::ResetStream(StreamId id, RstStatus status) {
  if (!failed_.ok()) return failed_;
  if (streams_.count(id) == 0) {
    return absl::NotFoundError(absl::StrCat("spdy: no open stream ", id));
  }
  Write(RstStreamFrame{.stream_id = id, .status = status});
  RemoveStream(id);
  return absl::OkStatus();
}

void Session::AcknowledgeData(StreamId id, size_t bytes) {
  if (!failed_.ok()) return;
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  const uint64_t n = std::min<uint64_t>(bytes, s.unacked);
  if (n == 0) return;
  s.unacked -= n;
  CreditSession(n);
  if (s.remote_fin) return;  // no more data comes on this stream: its window does not matter
  s.consumed += n;
  if (s.consumed >= recv_initial_window_ / 2) {
    const uint32_t delta = static_cast<uint32_t>(std::min<uint64_t>(s.consumed, kMaxWindow));
    Write(WindowUpdateFrame{.stream_id = id, .delta = delta});
    s.recv_window += delta;
    s.consumed -= delta;
  }
}

uint32_t Session::Ping() {
  const uint32_t id = next_ping_id_;
  next_ping_id_ += 2;  // 32-bit ids: the client's odd ones wrap to 1, the server's even to 0
  if (next_ping_id_ == 0) next_ping_id_ = 2;
  if (failed_.ok()) Write(PingFrame{.id = id});
  return id;
}

void Session::GoAway(GoAwayStatus status) {
  if (goaway_sent_ || !failed_.ok()) return;
  goaway_sent_ = true;
  Write(GoAwayFrame{.last_good_stream_id = last_peer_id_, .status = status});
}

// --- client / server specifics ----------------------------------------------------------------

absl::StatusOr<StreamId> Session::OpenStreamImpl(const Headers& headers, bool fin) {
  if (!failed_.ok()) return failed_;
  if (goaway_sent_ || goaway_received_) {
    return absl::FailedPreconditionError("spdy: session is going away");
  }
  if (next_local_id_ > kMaxStreamId) {
    return absl::ResourceExhaustedError("spdy: stream ids exhausted");
  }
  const StreamId id = next_local_id_;
  std::string out;
  if (absl::Status st = writer_.Write(
          SynStreamFrame{.stream_id = id, .flags = fin ? kFlagFin : uint8_t{0}, .headers = headers},
          &out);
      !st.ok()) {
    return st;
  }
  output_.append(out);
  next_local_id_ += 2;
  Stream& s = streams_[id];
  s.local = true;
  s.send_window = peer_initial_window_;
  s.recv_window = recv_initial_window_;
  if (fin) {
    s.local_fin = true;
    s.local_fin_sent = true;
  }
  return id;
}

bool Session::IsReplied(StreamId id) const {
  auto it = streams_.find(id);
  return it != streams_.end() && it->second.replied;
}

absl::Status Session::AcceptStreamImpl(StreamId id, const Headers& headers) {
  if (!failed_.ok()) return failed_;
  auto it = streams_.find(id);
  if (it == streams_.end()) return absl::NotFoundError(absl::StrCat("spdy: no open stream ", id));
  Stream& s = it->second;
  if (s.local || s.replied) {
    return absl::FailedPreconditionError(absl::StrCat("spdy: stream ", id, " already answered"));
  }
  std::string out;
  if (absl::Status st = writer_.Write(SynReplyFrame{.stream_id = id, .headers = headers}, &out);
      !st.ok()) {
    return st;
  }
  output_.append(out);
  s.replied = true;
  MaybeFinish(id, s);
  return absl::OkStatus();
}

absl::Status Session::RejectStreamImpl(StreamId id, RstStatus status) {
  if (!failed_.ok()) return failed_;
  auto it = streams_.find(id);
  if (it == streams_.end()) return absl::NotFoundError(absl::StrCat("spdy: no open stream ", id));
  if (it->second.local || it->second.replied) {
    return absl::FailedPreconditionError(absl::StrCat("spdy: stream ", id, " already answered"));
  }
  Write(RstStreamFrame{.stream_id = id, .status = status});
  RemoveStream(id);
  return absl::OkStatus();
}

ServerSession::ServerSession(SessionOptions options) : Session(Role::kServer, options) {}

}  // namespace tether::spdy
