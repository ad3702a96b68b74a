#include "stream/spdy_stream_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "stream/ws_client.h"

namespace tether::stream {
namespace {

using Clock = std::chrono::steady_clock;

int LeftMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpdyStreamClient>> SpdyStreamClient::Connect(
    const std::string& url, const std::vector<std::string>& protocols,
    std::chrono::milliseconds timeout) {
  auto parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<SpdyStreamClient> c(new SpdyStreamClient());
  bool v6 = parsed->host.find(':') != std::string::npos;
  c->fd_.reset(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(parsed->port);
    inet_pton(AF_INET6, parsed->host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(parsed->port);
    if (inet_pton(AF_INET, parsed->host.c_str(), &a->sin_addr) != 1) {
      return absl::InvalidArgumentError("host must be an IP address: " + parsed->host);
    }
    len = sizeof *a;
  }
  if (connect(c->fd_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return absl::UnavailableError(absl::StrCat("connect ", url, ": ", strerror(errno)));
  }
  std::string req = absl::StrCat("POST ", parsed->target, " HTTP/1.1\r\nHost: ", parsed->host, ":",
                                 parsed->port, "\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n");
  for (const auto& p : protocols) absl::StrAppend(&req, "X-Stream-Protocol-Version: ", p, "\r\n");
  absl::StrAppend(&req, "Content-Length: 0\r\n\r\n");
  if (auto st = WriteAll(c->fd_.get(), req); !st.ok()) return st;
  // The response head, byte by byte: nothing past it may be consumed here.
  auto deadline = Clock::now() + timeout;
  std::string head;
  while (!absl::EndsWith(head, "\r\n\r\n")) {
    pollfd p{c->fd_.get(), POLLIN, 0};
    if (poll(&p, 1, LeftMs(deadline)) <= 0) {
      return absl::DeadlineExceededError("no upgrade response");
    }
    char ch;
    ssize_t n = read(c->fd_.get(), &ch, 1);
    if (n <= 0) return absl::UnavailableError("connection closed during the upgrade");
    head.push_back(ch);
    if (head.size() > 64 * 1024) return absl::InternalError("oversized response head");
  }
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  int code = 0;
  if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &code)) {
    return absl::InternalError("bad response: " + lines[0]);
  }
  if (code != 101) {
    absl::StatusCode sc = code == 404   ? absl::StatusCode::kNotFound
                          : code == 403 ? absl::StatusCode::kPermissionDenied
                          : code == 400 ? absl::StatusCode::kInvalidArgument
                                        : absl::StatusCode::kUnavailable;
    return absl::Status(sc, "upgrade refused: " + lines[0]);
  }
  for (const auto& line : lines) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (absl::EqualsIgnoreCase(line.substr(0, colon), "X-Stream-Protocol-Version")) {
      c->protocol_ = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  c->session_ = std::make_unique<spdy::ClientSession>();
  if (auto st = c->Flush(); !st.ok()) return st;
  return c;
}

absl::Status SpdyStreamClient::Flush() {
  if (!fd_.valid()) return absl::FailedPreconditionError("aborted");
  if (!session_->HasOutput()) return absl::OkStatus();
  return WriteAll(fd_.get(), session_->TakeOutput());
}

absl::Status SpdyStreamClient::WriteRaw(std::string_view bytes) {
  if (!fd_.valid()) return absl::FailedPreconditionError("aborted");
  return WriteAll(fd_.get(), bytes);
}

void SpdyStreamClient::Handle() {
  for (spdy::Event& e : session_->TakeEvents()) {
    using T = spdy::Event::Type;
    Stream& s = streams_[e.stream_id];
    switch (e.type) {
      case T::kStreamReplied:
        s.replied = true;
        break;
      case T::kData:
        session_->AcknowledgeData(e.stream_id, e.data.size());
        s.data += e.data;
        break;
      case T::kRemoteClosed:
        s.remote_fin = true;
        break;
      case T::kStreamReset:
      case T::kStreamError:
        s.reset = true;
        break;
      case T::kGoAway:
        goaway_ = true;
        break;
      default:
        break;
    }
  }
}

absl::Status SpdyStreamClient::ReadOnce(std::chrono::milliseconds timeout) {
  if (!fd_.valid()) return absl::FailedPreconditionError("aborted");
  pollfd p{fd_.get(), POLLIN, 0};
  int r = poll(&p, 1, static_cast<int>(timeout.count()));
  if (r == 0) return absl::DeadlineExceededError("timed out");
  char buf[65536];
  ssize_t n = read(fd_.get(), buf, sizeof buf);
  if (n <= 0) {
    closed_ = true;
    return absl::OkStatus();
  }
  absl::Status st = session_->Feed(std::string_view(buf, static_cast<size_t>(n)));
  Handle();
  if (auto f = Flush(); !f.ok()) return f;
  return st;
}

absl::Status SpdyStreamClient::PumpUntil(std::function<bool()> done,
                                         std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (closed_) return absl::UnavailableError("the server closed the connection");
    int left = LeftMs(deadline);
    if (left == 0) return absl::DeadlineExceededError("timed out");
    if (auto st = ReadOnce(std::chrono::milliseconds(left)); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<SpdyStreamClient::StreamId> SpdyStreamClient::Open(
    const spdy::Headers& headers, std::chrono::milliseconds timeout) {
  auto id = session_->OpenStream(headers);
  if (!id.ok()) return id.status();
  if (auto st = Flush(); !st.ok()) return st;
  StreamId sid = *id;
  auto st = PumpUntil([&] { return streams_[sid].replied || streams_[sid].reset; }, timeout);
  if (!st.ok()) return st;
  if (streams_[sid].reset) return absl::AbortedError("the server refused the stream");
  return sid;
}

absl::Status SpdyStreamClient::Send(StreamId id, std::string_view data, bool fin) {
  if (auto st = session_->SendData(id, data, fin); !st.ok()) return st;
  return Flush();
}

absl::Status SpdyStreamClient::Reset(StreamId id) {
  if (auto st = session_->ResetStream(id); !st.ok()) return st;
  return Flush();
}

}  // namespace tether::stream
