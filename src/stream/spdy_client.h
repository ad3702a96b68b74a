// The client side of a SPDY/3.1 session (spdy_session.h): what kubectl / kubelet's client-go
// do against a streaming server. For tests and `tetherctl exec/attach/port-forward`.
//
//   ClientSession c;                         // queues SETTINGS
//   StreamId err = *c.OpenStream({{"streamtype", "error"}});
//   StreamId in = *c.OpenStream({{"streamtype", "stdin"}});
//   ... write c.TakeOutput() to the socket, Feed what comes back, wait for kStreamReplied on
//   each stream (client-go waits for every reply before using the streams), then
//   c.SendData(in, bytes); c.CloseStream(in);   // data sent before the reply is held until it
//
// Single-threaded, like Session.
#pragma once

#include "absl/status/statusor.h"
#include "stream/spdy_frame.h"
#include "stream/spdy_session.h"

namespace tether::spdy {

class ClientSession : public Session {
 public:
  explicit ClientSession(SessionOptions options = {});

  // SYN_STREAM with the next odd id (1, 3, 5, ...) and `headers` (lower-case names, e.g.
  // streamtype, port, requestid); `fin` half-closes at once. FAILED_PRECONDITION after a
  // GOAWAY either way; INVALID_ARGUMENT for headers that cannot be sent (duplicate or empty
  // names, over the header block limit).
  absl::StatusOr<StreamId> OpenStream(const Headers& headers, bool fin = false) {
    return OpenStreamImpl(headers, fin);
  }
  // Whether the server answered the stream with SYN_REPLY.
  bool IsReplied(StreamId id) const { return Session::IsReplied(id); }
};

}  // namespace tether::spdy
