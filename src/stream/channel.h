// The seam between a streaming connection (WebSocket or SPDY) and what runs over it (a remote
// command or port forwarding). Both sides are driven from the connection's strand: no call here
// may block, and no locking is needed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace tether::stream {

// A WebSocket channel number, or a SPDY stream id.
using ChannelId = uint32_t;
using Callback = std::function<void()>;

// The connection, as a session sees it.
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `data` on the channel. `sent` runs once the connection can take more (the bytes are
  // on their way): producers wait for it before reading more, which bounds buffering. It does not
  // run when the connection is gone by then.
  virtual void Send(ChannelId ch, std::string data, Callback sent) = 0;
  // We will send nothing more on the channel (SPDY: FIN; WebSocket: nothing to do).
  virtual void CloseSend(ChannelId ch) = 0;
  // Abandons the channel both ways (SPDY: RST_STREAM; WebSocket: nothing to do).
  virtual void Reset(ChannelId ch) = 0;
  // The session is done: flush what is queued, then close the connection gracefully.
  virtual void Finish() = 0;
};

// A session, as the connection sees it.
class ChannelHandler {
 public:
  virtual ~ChannelHandler() = default;
  // Bytes from the client. Call `consumed` once they are used (written on); the connection reads
  // on meanwhile only up to a bound.
  virtual void OnData(ChannelId ch, std::string data, Callback consumed) = 0;
  // The client will send nothing more on the channel (SPDY FIN, WebSocket v5 close signal).
  virtual void OnRemoteClose(ChannelId ch) = 0;
  // The client abandoned the channel (SPDY RST_STREAM).
  virtual void OnReset(ChannelId ch) = 0;
  // The connection is gone (client went away, idle timeout, protocol error, shutdown): stop
  // everything; the transport must not be used any more.
  virtual void OnTransportClosed() = 0;
};

}  // namespace tether::stream
