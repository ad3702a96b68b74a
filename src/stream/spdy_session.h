// A SPDY/3.1 connection as a state machine, independent of sockets: feed it the bytes read from
// the peer, take the bytes to write and the events it produced. `ServerSession` is the side
// kubelet's streaming server plays (the client opens every stream; the server answers each
// SYN_STREAM with an empty SYN_REPLY); `ClientSession` (spdy_client.h) is the other side.
//
// Driving it (single-threaded: one strand owns the object; nothing here blocks or calls out):
//   on bytes read:    absl::Status s = session.Feed(bytes);
//                     for (Event& e : session.TakeEvents()) handle(e);
//                     write session.TakeOutput();  if (!s.ok()) { flush, then close }
//   on app action:    session.SendData(...) / ResetStream / AcknowledgeData / Ping / GoAway;
//                     then handle TakeEvents() and write TakeOutput() the same way.
//   close the transport once Finished() (GOAWAY exchanged, no streams, output drained).
// After the 101 response, write TakeOutput() (our opening frames), and Feed any bytes that were
// read past the HTTP request head before reading the socket again. Events describe what already
// happened: by the time one is handled its stream may be gone (a later frame of the same batch
// reset it), and calls on it then return NOT_FOUND. ResetStream drops data still queued on the
// stream, so a graceful end is: FIN what is done, wait for QueuedBytes(id) == 0, then reset or
// GoAway as kubelet does (its connection Close resets every stream, then sends GOAWAY).
//
// Flow control (SPDY/3.1: 64 KiB initial window per stream and for the session):
//  - receiving: every DATA byte delivered in a kData event is "unacknowledged" until the caller
//    calls AcknowledgeData(stream, n) after consuming it (e.g. once written to the container's
//    stdin); WINDOW_UPDATE frames go out as bytes are acknowledged. SessionOptions::auto_ack
//    acknowledges on delivery instead.
//  - sending: SendData never refuses bytes; what the peer's windows do not allow yet waits in a
//    per-stream queue (QueuedBytes) and goes out as WINDOW_UPDATEs arrive (then kWritable).
//    Apply back-pressure on the producer from QueuedBytes() and OutputSize().
//  - moby/spdystream (kubelet, kubectl, crictl, the API server: every Go client) implements no
//    flow control: it never sends SETTINGS or WINDOW_UPDATE, ignores ours, and writes whatever
//    it has. Waiting for its WINDOW_UPDATE would stall a stream after 64 KiB, so with
//    FlowControl::kAuto (the default) we respect the peer's windows only once it has shown it
//    speaks SPDY/3.1 flow control (a SETTINGS or WINDOW_UPDATE frame; our ClientSession sends
//    SETTINGS first), and we never punish a peer for overrunning ours (back-pressure on such a
//    peer is the caller's: stop reading the socket while too much is unacknowledged).
//    FlowControl::kOn also resets a stream (FLOW_CONTROL_ERROR) or fails the session when the
//    peer overruns a window. Windows are tracked, and WINDOW_UPDATEs sent, in every mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "stream/spdy_frame.h"

namespace tether::spdy {

enum class FlowControl {
  kAuto,  // respect the peer's windows once it sent SETTINGS or WINDOW_UPDATE (see above)
  kOn,    // always respect them, and reset/fail a peer that overruns ours
  kOff,   // never respect them (track and send WINDOW_UPDATE only)
};

struct SessionOptions {
  FrameLimits limits;
  FlowControl flow_control = FlowControl::kAuto;
  // Send SETTINGS(INITIAL_WINDOW_SIZE = initial_window) as the first frame. spdystream ignores
  // it; a SPDY/3.1 peer learns our window from it.
  bool send_settings = true;
  // Our receive window per stream (only advertised with send_settings; otherwise 64 KiB).
  uint32_t initial_window = kDefaultWindow;
  // Our session receive window; above 64 KiB it is opened with an initial WINDOW_UPDATE.
  uint32_t session_window = kDefaultWindow;
  // Acknowledge received DATA on delivery (WINDOW_UPDATEs without waiting for the consumer).
  bool auto_ack = false;
  // Largest DATA frame we send.
  size_t max_send_frame = 32 * 1024;
  // Peer-initiated streams open at once; more are refused with RST_STREAM(REFUSED_STREAM).
  size_t max_concurrent_streams = 1000;
  // Server: answer every SYN_STREAM with an empty SYN_REPLY at once, as kubelet does. When false
  // the caller must AcceptStream or RejectStream each kStreamOpened (the client waits for it).
  bool auto_accept = true;
};

struct Event {
  enum class Type {
    kStreamOpened,   // server: the peer opened stream_id with `headers` (streamtype, port, ...)
    kStreamReplied,  // client: the server accepted our stream (SYN_REPLY `headers`)
    kHeaders,        // a HEADERS frame on stream_id (`headers`)
    kData,           // `data` (non-empty) on stream_id; acknowledge it once consumed
    kRemoteClosed,   // the peer half-closed stream_id (FIN): no more data from it
    kStreamClosed,   // both sides sent FIN: stream_id is finished and forgotten
    kStreamReset,    // the peer reset stream_id (`rst_status`), or a GOAWAY dropped our stream
    kStreamError,    // we reset stream_id (`rst_status`, `message`): the peer broke the protocol
                     // on it (bad or duplicate id, data after FIN, unknown stream, window
                     // overrun with kOn) or it was refused (too many streams)
    kWritable,       // data queued on stream_id by the windows has all been written
    kPong,           // the peer answered our Ping(`ping_id`)
    kGoAway,         // the peer sent GOAWAY(`last_good_stream_id`, `goaway_status`)
  };
  Type type;
  StreamId stream_id = 0;
  Headers headers;
  std::string data;
  RstStatus rst_status = RstStatus::kCancel;
  GoAwayStatus goaway_status = GoAwayStatus::kOk;
  StreamId last_good_stream_id = 0;
  uint32_t ping_id = 0;
  std::string message;
};

std::string_view EventTypeName(Event::Type type);

class Session {
 public:
  enum class Role { kClient, kServer };

  virtual ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Role role() const { return role_; }

  // Bytes read from the peer, split anywhere. Complete frames are processed at once (events and
  // answers queued); an incomplete one is kept for the next call. A non-OK status is fatal (a
  // malformed frame, a broken header compression stream, a session window overrun): a
  // GOAWAY(PROTOCOL_ERROR) is queued in the output, every stream is dropped, and every later
  // call returns the same status. Flush the output and close the transport.
  absl::Status Feed(std::string_view bytes);

  // The events since the last call, in order.
  std::vector<Event> TakeEvents();

  // The bytes to write to the peer, in order; TakeOutput clears them.
  bool HasOutput() const { return !output_.empty(); }
  size_t OutputSize() const { return output_.size(); }
  std::string TakeOutput();

  // Queues `data` on the stream (then FIN when `fin`): written at once as far as the peer's
  // windows allow, the rest when they open. NOT_FOUND for an unknown or finished stream,
  // FAILED_PRECONDITION once FIN was queued, on a unidirectional stream, or on a server stream
  // not accepted yet. Client streams hold their data until the server's SYN_REPLY.
  absl::Status SendData(StreamId id, std::string_view data, bool fin = false);
  // Half-closes our side (an empty DATA with FIN after what is queued), as spdystream's Close.
  absl::Status CloseStream(StreamId id) { return SendData(id, {}, true); }
  // A HEADERS frame on an open stream.
  absl::Status SendHeaders(StreamId id, const Headers& headers, bool fin = false);
  // RST_STREAM: drops the stream and its queued data at once (no event). CANCEL is what
  // spdystream's Reset sends. NOT_FOUND for an unknown stream.
  absl::Status ResetStream(StreamId id, RstStatus status = RstStatus::kCancel);
  // The caller consumed `bytes` of data delivered on the stream: reopens the windows
  // (WINDOW_UPDATE once half a window is consumed). Ignored for a finished stream.
  void AcknowledgeData(StreamId id, size_t bytes);
  // Sends a PING and returns its id; the answer arrives as kPong.
  uint32_t Ping();
  // Sends GOAWAY(last stream id we accepted, status) once: the peer's later streams are ignored;
  // open ones go on. Close the transport when Finished().
  void GoAway(GoAwayStatus status = GoAwayStatus::kOk);

  bool IsOpen(StreamId id) const { return streams_.count(id) != 0; }
  // Bytes accepted by SendData and not yet written (held back by windows or a missing reply).
  size_t QueuedBytes(StreamId id) const;
  size_t QueuedBytes() const { return queued_bytes_; }
  size_t ActiveStreams() const { return streams_.size(); }
  bool goaway_sent() const { return goaway_sent_; }
  bool goaway_received() const { return goaway_received_; }
  bool failed() const { return !failed_.ok(); }
  // Whether the peer's windows are being respected when sending (see FlowControl).
  bool flow_control_enforced() const;
  // A GOAWAY went either way (or a fatal error), no stream is left and the output is drained.
  bool Finished() const;

 protected:
  Session(Role role, SessionOptions options);

  // Client: SYN_STREAM with the next odd id.
  absl::StatusOr<StreamId> OpenStreamImpl(const Headers& headers, bool fin);
  bool IsReplied(StreamId id) const;
  // Server: SYN_REPLY / RST_STREAM for a stream not answered yet.
  absl::Status AcceptStreamImpl(StreamId id, const Headers& headers);
  absl::Status RejectStreamImpl(StreamId id, RstStatus status);

 private:
  struct Stream {
    bool local = false;           // we opened it
    bool replied = false;         // SYN_REPLY sent (server) / received (client)
    bool local_fin = false;       // FIN queued: no more SendData
    bool local_fin_sent = false;  // FIN written (or unidirectional: we may not send)
    bool remote_fin = false;      // the peer sent FIN
    bool blocked = false;         // data was held back: emit kWritable when drained
    int64_t send_window = 0;
    int64_t recv_window = 0;
    uint64_t unacked = 0;   // delivered, not acknowledged by the caller
    uint64_t consumed = 0;  // acknowledged, not yet returned by a stream WINDOW_UPDATE
    std::string queue;      // bytes to send from queue_head
    size_t queue_head = 0;
  };

  absl::Status HandleFrame(Frame frame);
  void OnSynStream(SynStreamFrame& f);
  void OnSynReply(SynReplyFrame& f);
  void OnHeaders(HeadersFrame& f);
  absl::Status OnData(DataFrame& f);
  void OnRst(const RstStreamFrame& f);
  absl::Status OnSettings(const SettingsFrame& f);
  void OnPing(const PingFrame& f);
  void OnGoAway(const GoAwayFrame& f);
  absl::Status OnWindowUpdate(const WindowUpdateFrame& f);

  absl::Status Fail(absl::Status status);
  void Write(const Frame& frame);
  void Emit(Event event) { events_.push_back(std::move(event)); }
  // RST_STREAM `id` for a protocol violation and report it; drops the stream if known.
  void StreamError(StreamId id, RstStatus status, std::string message);
  void RemoveStream(StreamId id);
  void MarkRemoteFin(StreamId id, Stream& s);
  void MaybeFinish(StreamId id, Stream& s);
  void Pump(StreamId id, Stream& s);
  void PumpAll();
  void CreditSession(uint64_t bytes);
  bool PeerParity(StreamId id) const;
  bool WasOpened(StreamId id) const;
  bool Enforce() const { return flow_control_enforced(); }

  Role role_;
  SessionOptions options_;
  FrameParser parser_;
  FrameWriter writer_;
  std::string input_;  // an incomplete frame from the previous Feed
  std::string output_;
  std::vector<Event> events_;
  absl::Status failed_;

  std::map<StreamId, Stream> streams_;
  size_t peer_streams_ = 0;  // open streams the peer initiated
  StreamId next_local_id_;
  StreamId last_peer_id_ = 0;
  uint32_t next_ping_id_;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;

  bool peer_flow_control_ = false;
  uint32_t recv_initial_window_;
  uint32_t session_window_;  // our session receive window size
  uint32_t peer_initial_window_ = kDefaultWindow;
  int64_t session_send_window_ = kDefaultWindow;
  int64_t session_recv_window_ = kDefaultWindow;
  uint64_t session_consumed_ = 0;
  size_t queued_bytes_ = 0;
};

// The side kubelet's streaming server plays.
class ServerSession : public Session {
 public:
  explicit ServerSession(SessionOptions options = {});

  // With auto_accept off: answer a kStreamOpened. Accept sends SYN_REPLY (empty headers unless
  // given); Reject sends RST_STREAM (REFUSED_STREAM unless given). FAILED_PRECONDITION if the
  // stream was answered already, NOT_FOUND if unknown.
  absl::Status AcceptStream(StreamId id, const Headers& headers = {}) {
    return AcceptStreamImpl(id, headers);
  }
  absl::Status RejectStream(StreamId id, RstStatus status = RstStatus::kRefusedStream) {
    return RejectStreamImpl(id, status);
  }
};

// Completions of SendData for writers that want back-pressure: a callback added after sending
// on a stream is ready once that stream has nothing left queued in the session.
template <class Callback>
class SentCallbacks {
 public:
  void Add(StreamId id, Callback callback) { waiting_.emplace_back(id, std::move(callback)); }
  // The ready callbacks, in the order they were added; they are no longer held.
  std::vector<Callback> TakeReady(const Session& session) {
    std::vector<Callback> ready;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (session.QueuedBytes(it->first) == 0) {
        ready.push_back(std::move(it->second));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    return ready;
  }
  void Clear() { waiting_.clear(); }

 private:
  std::deque<std::pair<StreamId, Callback>> waiting_;
};

}  // namespace tether::spdy
