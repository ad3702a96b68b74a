// A SPDY/3.1 client session (stream/spdy_client.h) driven over a Link: it feeds what the link
// reads into the session, hands the session's events to a Handler and writes its output.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/error.hpp>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "stream/spdy_client.h"
#include "tetherctl/stream_link.h"

namespace tether::ctl::streaming {

class SpdyDriver {
 public:
  using StreamId = spdy::StreamId;
  struct Handler {
    std::function<void(StreamId)> replied;            // the server accepted the stream
    std::function<void(StreamId, std::string)> data;  // call Ack once consumed
    std::function<void(StreamId)> remote_closed;
    std::function<void(StreamId)> reset;
    std::function<void(const std::string& why)> closed;  // the connection is gone
  };

  SpdyDriver(boost::asio::io_context& io, Link& link, Handler handler)
      : io_(io), link_(link), h_(std::move(handler)) {
    link_.on_write_error = [this](boost::beast::error_code ec) {
      Closed("write: " + ec.message());
    };
  }

  void Start() {
    Flush();
    ReadLoop();
  }
  absl::StatusOr<StreamId> Open(const spdy::Headers& headers) {
    if (closed_) return absl::UnavailableError("the connection is closed");
    auto id = session_.OpenStream(headers);
    Flush();
    return id;
  }
  // `sent` runs once the bytes left the session (also when the stream is gone).
  void Send(StreamId id, std::string_view data, Callback sent) {
    if (closed_) return;
    if (!session_.SendData(id, data).ok()) {
      if (sent) boost::asio::post(io_, std::move(sent));
      return;
    }
    if (sent) sent_.Add(id, std::move(sent));
    Flush();
  }
  void CloseSend(StreamId id) {
    if (closed_) return;
    (void)session_.CloseStream(id);
    Flush();
  }
  void Reset(StreamId id) {
    if (closed_) return;
    (void)session_.ResetStream(id);
    Flush();
  }
  void Ack(StreamId id, size_t n) {
    if (closed_) return;
    session_.AcknowledgeData(id, n);
    Flush();
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    link_.Close();
  }
  bool closed() const { return closed_; }

 private:
  void ReadLoop() {
    link_.Read([this](boost::beast::error_code ec, std::string bytes) {
      if (closed_) return;
      if (ec) {
        Closed(ec == boost::asio::error::eof || ec == boost::beast::websocket::error::closed
                   ? ""
                   : ec.message());
        return;
      }
      absl::Status st = session_.Feed(bytes);
      Handle();
      Flush();
      if (!st.ok()) {
        Closed(absl::StrCat("SPDY protocol error: ", st.message()));
        return;
      }
      ReadLoop();
    });
  }

  void Handle() {
    for (;;) {
      std::vector<spdy::Event> events = session_.TakeEvents();
      if (events.empty()) return;
      for (spdy::Event& e : events) {
        if (closed_) return;
        using T = spdy::Event::Type;
        switch (e.type) {
          case T::kStreamReplied:
            if (h_.replied) h_.replied(e.stream_id);
            break;
          case T::kData:
            if (h_.data) h_.data(e.stream_id, std::move(e.data));
            break;
          case T::kRemoteClosed:
            if (h_.remote_closed) h_.remote_closed(e.stream_id);
            break;
          case T::kStreamReset:
          case T::kStreamError:
            if (h_.reset) h_.reset(e.stream_id);
            break;
          default:
            break;
        }
      }
    }
  }

  void Flush() {
    if (closed_) return;
    std::vector<Callback> ready = sent_.TakeReady(session_);
    if (!session_.HasOutput()) {
      for (auto& cb : ready) boost::asio::post(io_, std::move(cb));
      return;
    }
    link_.Send(session_.TakeOutput(), [ready = std::move(ready)] {
      for (const auto& cb : ready) cb();
    });
  }

  void Closed(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    link_.Close();
    if (h_.closed) h_.closed(why);
  }

  boost::asio::io_context& io_;
  Link& link_;
  Handler h_;
  spdy::ClientSession session_;
  spdy::SentCallbacks<Callback> sent_;
  bool closed_ = false;
};

// Writes all of `data` to a blocking or non-blocking fd (the terminal's file may have been made

}  // namespace tether::ctl::streaming
