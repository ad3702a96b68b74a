// Port forwarding: each forwarded connection is a pair of channels (data, error) and a TCP
// connection to 127.0.0.1:PORT (then [::1]:PORT) inside the pod's network namespace. The socket
// is created by a short-lived thread that entered the namespace (a socket keeps its namespace
// for life), then connected and relayed by the connection's strand. Host-network pods dial in
// tetherd's own namespace. A failed dial is reported as text on the pair's error channel.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "stream/channel.h"
#include "util/fd.h"

namespace tether::stream {

struct PortPair {
  ChannelId data = 0;
  ChannelId error = 0;
  uint16_t port = 0;
};

// Non-blocking TCP sockets (IPv4, and IPv6 when the namespace has it) created in the network
// namespace at `netns_path` ("" = our own).
struct NetnsSockets {
  Fd v4, v6;
};
absl::StatusOr<NetnsSockets> TcpSocketsIn(const std::string& netns_path);

class PortForwardSession : public ChannelHandler,
                           public std::enable_shared_from_this<PortForwardSession> {
 public:
  // `finish_when_done`: WebSocket, where the connection carries a fixed set of pairs and ends
  // with them; over SPDY the client opens pairs for as long as the connection lives.
  PortForwardSession(boost::asio::any_io_executor strand, std::shared_ptr<Transport> transport,
                     std::string netns_path, std::string pod, bool finish_when_done);
  ~PortForwardSession() override;

  void AddPair(PortPair pair);

  void OnData(ChannelId ch, std::string data, Callback consumed) override;
  void OnRemoteClose(ChannelId ch) override;
  void OnReset(ChannelId ch) override;
  void OnTransportClosed() override;

 private:
  struct Conn;
  std::shared_ptr<Conn> Find(ChannelId ch) const;
  void Connect(std::shared_ptr<Conn> c, bool v6);
  void ReadTarget(std::shared_ptr<Conn> c);
  void PumpTarget(std::shared_ptr<Conn> c);
  void Fail(std::shared_ptr<Conn> c, const std::string& message);
  void MaybeEnd(std::shared_ptr<Conn> c);
  void Linger(std::shared_ptr<Conn> c);
  void End(std::shared_ptr<Conn> c);

  boost::asio::any_io_executor ex_;
  std::shared_ptr<Transport> transport_;
  const std::string netns_path_;
  const std::string pod_;
  const bool finish_when_done_;
  bool closed_ = false;
  std::map<ChannelId, std::shared_ptr<Conn>> conns_;  // by data channel
};

}  // namespace tether::stream
