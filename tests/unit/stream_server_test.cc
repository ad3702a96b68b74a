// The streaming server in-process, with fake command backends (no root, no runtime): HTTP
// routing and tokens, the WebSocket protocols, port forwarding to a local echo server, limits.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "stream/backend_factory.h"
#include "stream/spdy_stream_client.h"
#include "stream/streaming_server.h"
#include "stream/ws_client.h"
#include "util/fd.h"

namespace tether::stream {
namespace {

// Says hello on stdout and stderr, echoes stdin as "echo:<data>", reports resizes, and exits
// with the code in cmd[1] when stdin closes (at once without stdin).
class EchoBackend : public CommandBackend, public std::enable_shared_from_this<EchoBackend> {
 public:
  EchoBackend(boost::asio::any_io_executor ex, ExecRequest req, std::atomic<int>* cancels)
      : ex_(std::move(ex)), req_(std::move(req)), cancels_(cancels) {}
  void Start(Sink sink) override {
    sink_ = std::move(sink);
    auto self = shared_from_this();
    boost::asio::post(ex_, [self] {
      self->sink_.output(StdStream::kStdout, "hello", [] {});
      self->sink_.output(StdStream::kStderr, "warn", [] {});
      if (!self->req_.stdin) self->Exit();
    });
  }
  void WriteStdin(std::string data, Callback written) override {
    sink_.output(StdStream::kStdout, "echo:" + data, [] {});
    written();
  }
  void CloseStdin() override { Exit(); }
  void Resize(TerminalSize s) override {
    sink_.output(StdStream::kStdout, absl::StrCat("size ", s.width, "x", s.height), [] {});
  }
  void Cancel() override {
    ++*cancels_;
    sink_ = {};
  }

 private:
  void Exit() {
    int code = 0;
    if (req_.cmd.size() > 1) (void)absl::SimpleAtoi(req_.cmd[1], &code);
    if (sink_.done) sink_.done(CommandResult::Exited(code));
  }
  boost::asio::any_io_executor ex_;
  ExecRequest req_;
  std::atomic<int>* cancels_;
  Sink sink_;
};

class FakeBackends : public BackendFactory {
 public:
  std::shared_ptr<CommandBackend> Exec(boost::asio::any_io_executor strand,
                                       boost::asio::thread_pool&, const ExecRequest& r) override {
    return std::make_shared<EchoBackend>(strand, r, &cancels);
  }
  std::shared_ptr<CommandBackend> Attach(boost::asio::any_io_executor strand,
                                         const AttachRequest& a) override {
    ExecRequest r;
    r.stdin = a.stdin;
    r.stdout = a.stdout;
    r.stderr = a.stderr;
    r.tty = a.tty;
    return std::make_shared<EchoBackend>(strand, r, &cancels);
  }
  std::atomic<int> cancels{0};
};

// A raw HTTP request; returns the status line.
std::string RawHttp(int port, const std::string& request) {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
  (void)!write(s.get(), request.data(), request.size());
  std::string out;
  char buf[4096];
  timeval tv{5, 0};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t n;
  while ((n = read(s.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out.substr(0, out.find("\r\n"));
}

// A TCP echo server on 127.0.0.1 for port forwarding.
class EchoServer {
 public:
  EchoServer() {
    fd_.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_.get(), 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = accept(fd_.get(), nullptr, nullptr);
        if (c < 0) return;
        std::thread([c] {
          char buf[4096];
          ssize_t n;
          while ((n = read(c, buf, sizeof buf)) > 0) {
            if (std::string(buf, static_cast<size_t>(n)) == "bye") break;
            (void)!write(c, buf, static_cast<size_t>(n));
          }
          close(c);
        }).detach();
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  Fd fd_;
  uint16_t port_ = 0;
  std::thread thread_;
};

class StreamServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(StreamingOptions o) {
    server_.reset();
    o.port = 0;
    backends_ = std::make_shared<FakeBackends>();
    server_ = std::make_unique<StreamingServer>(o, backends_);
    ASSERT_TRUE(server_->Start().ok());
  }

  std::string ExecUrl(bool in, bool out, bool err, bool tty, int code) {
    ExecRequest r;
    r.container_id = "0123456789abcdef";
    r.cmd = {"sh", std::to_string(code)};
    r.stdin = in;
    r.stdout = out;
    r.stderr = err;
    r.tty = tty;
    auto url = server_->GetExec(r);
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }

  void WaitNoConnections() {
    for (int i = 0; i < 200 && server_->connections() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(server_->connections(), 0u);
  }

  std::shared_ptr<FakeBackends> backends_;
  std::unique_ptr<StreamingServer> server_;
};

TEST_F(StreamServerTest, UrlShape) {
  std::string url = ExecUrl(false, true, false, false, 0);
  EXPECT_TRUE(absl::StartsWith(url, absl::StrCat("http://127.0.0.1:", server_->port(), "/exec/")))
      << url;
}

TEST_F(StreamServerTest, WebSocketV5ExecRelaysAndReportsExitCode) {
  auto c = WsChannelClient::Connect(ExecUrl(true, true, true, false, 3),
                                    {"v5.channel.k8s.io", "v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "v5.channel.k8s.io");
  // kubelet's "connection is up" message: empty, on the lowest writable channel.
  auto first = (*c)->Read();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->channel, 1);
  EXPECT_EQ(first->data, "");
  ASSERT_TRUE((*c)->Send(0, "abc").ok());
  ASSERT_TRUE((*c)->SendClose(0).ok());
  std::vector<std::string> out;
  ASSERT_TRUE((*c)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[1], "helloecho:abc");
  EXPECT_EQ(out[2], "warn");
  auto status = nlohmann::json::parse(out[3]);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "3");
  WaitNoConnections();
}

TEST_F(StreamServerTest, WebSocketV4Base64AndSuccess) {
  auto c =
      WsChannelClient::Connect(ExecUrl(false, true, false, false, 0), {"v4.base64.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "v4.base64.channel.k8s.io");
  std::vector<std::string> out;
  ASSERT_TRUE((*c)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[1], "hello");
  EXPECT_EQ(out[2], "");  // stderr was not requested
  EXPECT_EQ(out[3], R"({"metadata":{},"status":"Success"})");
}

TEST_F(StreamServerTest, ResizeOverWebSocket) {
  auto c = WsChannelClient::Connect(ExecUrl(true, true, false, true, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Send(4, R"({"Width":132,"Height":43})").ok());
  ASSERT_TRUE((*c)->SendClose(0).ok());
  std::vector<std::string> out;
  ASSERT_TRUE((*c)->ReadAll(&out).ok());
  EXPECT_EQ(out[1], "hellosize 132x43");
}

TEST_F(StreamServerTest, UnknownAndUsedTokensAre404) {
  std::string url = ExecUrl(false, true, false, false, 0);
  std::string path = url.substr(url.find("/exec/"));
  EXPECT_EQ(RawHttp(server_->port(), "GET /exec/nope HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 404 Not Found");
  // A token for exec does not open attach.
  std::string token = path.substr(6);
  EXPECT_EQ(RawHttp(server_->port(), "GET /attach/" + token + " HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 404 Not Found");
  // ... and was consumed by that attempt.
  auto c = WsChannelClient::Connect(url, {"v5.channel.k8s.io"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound) << c.status();
  EXPECT_EQ(RawHttp(server_->port(), "GET /other/x HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 404 Not Found");
}

TEST_F(StreamServerTest, NonUpgradeAndBadProtocolsAreRefused) {
  std::string url = ExecUrl(false, true, false, false, 0);
  std::string path = url.substr(url.find("/exec/"));
  EXPECT_EQ(RawHttp(server_->port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 400 Bad Request");
  url = ExecUrl(false, true, false, false, 0);
  path = url.substr(url.find("/exec/"));
  EXPECT_EQ(RawHttp(server_->port(),
                    "POST " + path +
                        " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                        "X-Stream-Protocol-Version: v9.channel.k8s.io\r\n\r\n"),
            "HTTP/1.1 403 Forbidden");
  url = ExecUrl(false, true, false, false, 0);
  path = url.substr(url.find("/exec/"));
  EXPECT_EQ(RawHttp(server_->port(), "PUT " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed");
  url = ExecUrl(false, true, false, false, 0);
  auto c = WsChannelClient::Connect(url, {"v9.channel.k8s.io"});
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(RawHttp(server_->port(), "garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request");
  std::string big =
      "GET /exec/x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(RawHttp(server_->port(), big), "HTTP/1.1 431 Request Header Fields Too Large");
  WaitNoConnections();
}

TEST_F(StreamServerTest, MalformedMessagesAreDropped) {
  auto c = WsChannelClient::Connect(ExecUrl(true, true, false, false, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->SendRaw(std::string("\xff", 1)).ok());          // short close signal
  ASSERT_TRUE((*c)->SendRaw(std::string("\xff\x00\x00", 3)).ok());  // long close signal
  ASSERT_TRUE((*c)->SendRaw("").ok());                              // empty
  ASSERT_TRUE((*c)->SendRaw(std::string("\x09zzz", 4)).ok());       // unknown channel
  ASSERT_TRUE((*c)->SendRaw("text frame", false).ok());             // text in a binary protocol
  ASSERT_TRUE((*c)->Send(4, "{not json").ok());                     // resize garbage
  ASSERT_TRUE((*c)->Send(0, "still here").ok());
  ASSERT_TRUE((*c)->SendClose(0).ok());
  std::vector<std::string> out;
  ASSERT_TRUE((*c)->ReadAll(&out).ok());
  EXPECT_EQ(out[1], "helloecho:still here");
  EXPECT_EQ(out[3], R"({"metadata":{},"status":"Success"})");
}

TEST_F(StreamServerTest, AbruptDisconnectCancelsTheBackend) {
  auto c = WsChannelClient::Connect(ExecUrl(true, true, false, false, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Read().ok());
  (*c)->Abort();
  for (int i = 0; i < 200 && backends_->cancels == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(backends_->cancels, 1);
  WaitNoConnections();
}

TEST_F(StreamServerTest, IdleConnectionsAreClosed) {
  StreamingOptions o;
  o.idle_timeout = std::chrono::milliseconds(200);
  StartServer(o);
  auto c = WsChannelClient::Connect(ExecUrl(true, true, false, false, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<std::string> out;
  auto st = (*c)->ReadAll(&out, std::chrono::seconds(5));
  EXPECT_NE(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_EQ(backends_->cancels, 1);
  WaitNoConnections();
}

TEST_F(StreamServerTest, HandshakeTimeout) {
  StreamingOptions o;
  o.handshake_timeout = std::chrono::milliseconds(200);
  StartServer(o);
  // Connect and say nothing: the server hangs up.
  EXPECT_EQ(RawHttp(server_->port(), ""), "");
  WaitNoConnections();
}

TEST_F(StreamServerTest, WebSocketPortForward) {
  EchoServer echo;
  PortForwardRequest p;
  p.sandbox_id = "pod0123456789";
  p.ports = {echo.port()};
  auto url = server_->GetPortForward(p);
  ASSERT_TRUE(url.ok());
  auto c = WsChannelClient::Connect(*url, {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string prefix = PortPrefix(echo.port());
  auto m = (*c)->Read();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->channel, 0);
  EXPECT_EQ(m->data, prefix);
  m = (*c)->Read();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->channel, 1);
  EXPECT_EQ(m->data, prefix);
  ASSERT_TRUE((*c)->Send(0, "ping").ok());
  m = (*c)->Read();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->channel, 0);
  EXPECT_EQ(m->data, "ping");
  // The target hangs up: the pair, and with it the connection, ends.
  ASSERT_TRUE((*c)->Send(0, "bye").ok());
  std::vector<std::string> out;
  EXPECT_TRUE((*c)->ReadAll(&out).ok());
  WaitNoConnections();
}

TEST_F(StreamServerTest, WebSocketPortForwardQueryPortsAndRefusedDial) {
  // A port nobody listens on (bound, never listening).
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t dead = ntohs(a.sin_port);
  PortForwardRequest p;
  p.sandbox_id = "pod0123456789";
  auto url = server_->GetPortForward(p);
  ASSERT_TRUE(url.ok());
  auto c = WsChannelClient::Connect(absl::StrCat(*url, "?port=", dead), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<std::string> out;
  ASSERT_TRUE((*c)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 2u);
  EXPECT_TRUE(absl::StrContains(out[1], "error forwarding port")) << out[1];
  EXPECT_TRUE(absl::StrContains(out[1], "refused")) << out[1];
}

TEST_F(StreamServerTest, ConnectionLimit) {
  StreamingOptions o;
  o.max_connections = 1;
  StartServer(o);
  auto c = WsChannelClient::Connect(ExecUrl(true, true, false, false, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(RawHttp(server_->port(), "GET /exec/x HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 503 Service Unavailable");
}

// --- SPDY ------------------------------------------------------------------------------------

TEST_F(StreamServerTest, SpdyExecRelaysAndReportsExitCode) {
  auto c = SpdyStreamClient::Connect(ExecUrl(true, true, true, false, 7),
                                     {"v4.channel.k8s.io", "v3.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->protocol(), "v4.channel.k8s.io");
  auto err = (*c)->Open({{"streamtype", "error"}});
  auto in = (*c)->Open({{"streamtype", "stdin"}});
  auto out = (*c)->Open({{"streamtype", "stdout"}});
  auto errs = (*c)->Open({{"streamtype", "stderr"}});
  ASSERT_TRUE(err.ok() && in.ok() && out.ok() && errs.ok());
  ASSERT_TRUE((*c)->Send(*in, "xyz", true).ok());
  ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
  EXPECT_EQ((*c)->Data(*out), "helloecho:xyz");
  EXPECT_EQ((*c)->Data(*errs), "warn");
  auto status = nlohmann::json::parse((*c)->Data(*err));
  EXPECT_EQ(status["details"]["causes"][0]["message"], "7");
  EXPECT_TRUE((*c)->RemoteClosed(*out));
  // The server says GOAWAY and hangs up.
  EXPECT_FALSE((*c)->PumpUntil([] { return false; }, std::chrono::seconds(10)).ok());
  EXPECT_TRUE((*c)->GoAwayReceived());
  EXPECT_TRUE((*c)->Closed());
  c->reset();  // the client hangs up too; the server stops lingering
  WaitNoConnections();
}

TEST_F(StreamServerTest, SpdyTtyResizeAndV2TextStatus) {
  auto c = SpdyStreamClient::Connect(ExecUrl(true, true, false, true, 2), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  auto err = (*c)->Open({{"streamtype", "error"}});
  auto in = (*c)->Open({{"streamtype", "stdin"}});
  auto out = (*c)->Open({{"streamtype", "stdout"}});
  auto resize = (*c)->Open({{"streamtype", "resize"}});
  ASSERT_TRUE(err.ok() && in.ok() && out.ok() && resize.ok());
  ASSERT_TRUE((*c)->Send(*resize, R"({"Width":90,"Height":30})").ok());
  ASSERT_TRUE(
      (*c)->PumpUntil([&] { return absl::StrContains((*c)->Data(*out), "size 90x30"); }).ok());
  ASSERT_TRUE((*c)->CloseSend(*in).ok());
  ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
  EXPECT_TRUE(absl::StrContains((*c)->Data(*err), "NonZeroExitCode"));

  // v2: no resize stream with a tty; the error stream is plain text.
  auto c2 = SpdyStreamClient::Connect(ExecUrl(false, true, false, true, 2), {"v2.channel.k8s.io"});
  ASSERT_TRUE(c2.ok()) << c2.status();
  auto err2 = (*c2)->Open({{"streamtype", "error"}});
  auto out2 = (*c2)->Open({{"streamtype", "stdout"}});
  ASSERT_TRUE(err2.ok() && out2.ok());
  ASSERT_TRUE((*c2)->PumpUntil([&] { return (*c2)->RemoteClosed(*err2); }).ok());
  EXPECT_EQ((*c2)->Data(*err2), "command terminated with non-zero exit code: exit status 2");
}

TEST_F(StreamServerTest, SpdyMissingStreamsTimeOut) {
  StreamingOptions o;
  o.stream_creation_timeout = std::chrono::milliseconds(300);
  StartServer(o);
  auto c = SpdyStreamClient::Connect(ExecUrl(true, true, false, false, 0), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Open({{"streamtype", "error"}}).ok());
  EXPECT_FALSE((*c)->PumpUntil([] { return false; }, std::chrono::seconds(5)).ok());
  EXPECT_TRUE((*c)->Closed());
  EXPECT_EQ(backends_->cancels, 0);  // never started
  WaitNoConnections();
}

TEST_F(StreamServerTest, SpdyGarbageClosesOnlyThatConnection) {
  auto c = SpdyStreamClient::Connect(ExecUrl(true, true, false, false, 0), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Open({{"streamtype", "error"}}).ok());
  ASSERT_TRUE((*c)->WriteRaw(std::string("\x80\x03\x00\x63\xff\xff\xff\xff garbage", 18)).ok());
  EXPECT_FALSE((*c)->PumpUntil([] { return false; }, std::chrono::seconds(10)).ok());
  EXPECT_TRUE((*c)->Closed());
  c->reset();
  WaitNoConnections();
  // The server goes on.
  auto again =
      WsChannelClient::Connect(ExecUrl(false, true, false, false, 0), {"v5.channel.k8s.io"});
  ASSERT_TRUE(again.ok()) << again.status();
  std::vector<std::string> out;
  EXPECT_TRUE((*again)->ReadAll(&out).ok());
}

TEST_F(StreamServerTest, SpdyAbruptDisconnectCancels) {
  auto c = SpdyStreamClient::Connect(ExecUrl(true, true, false, false, 0), {"v4.channel.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Open({{"streamtype", "error"}}).ok());
  ASSERT_TRUE((*c)->Open({{"streamtype", "stdin"}}).ok());
  ASSERT_TRUE((*c)->Open({{"streamtype", "stdout"}}).ok());
  (*c)->Abort();
  for (int i = 0; i < 200 && backends_->cancels == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(backends_->cancels, 1);
  WaitNoConnections();
}

TEST_F(StreamServerTest, SpdyPortForward) {
  EchoServer echo;
  PortForwardRequest p;
  p.sandbox_id = "pod0123456789";
  auto url = server_->GetPortForward(p);
  ASSERT_TRUE(url.ok());
  auto c = SpdyStreamClient::Connect(*url, {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string port = std::to_string(echo.port());
  // Two forwarded connections at once over the one SPDY connection.
  for (int round = 0; round < 2; ++round) {
    std::string rid = std::to_string(round);
    auto err = (*c)->Open({{"streamtype", "error"}, {"port", port}, {"requestid", rid}});
    ASSERT_TRUE(err.ok()) << err.status();
    ASSERT_TRUE((*c)->CloseSend(*err).ok());  // as client-go: it never writes on it
    auto data = (*c)->Open({{"streamtype", "data"}, {"port", port}, {"requestid", rid}});
    ASSERT_TRUE(data.ok());
    ASSERT_TRUE((*c)->Send(*data, "ping" + rid).ok());
    ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->Data(*data) == "ping" + rid; }).ok())
        << (*c)->Data(*data);
    ASSERT_TRUE((*c)->Send(*data, "bye").ok());  // the echo server hangs up
    ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*data); }).ok());
    ASSERT_TRUE((*c)->Reset(*data).ok());  // as client-go once the remote side is done
    ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
    EXPECT_EQ((*c)->Data(*err), "");
  }
  // A port nobody listens on: the error stream says so.
  auto err = (*c)->Open({{"streamtype", "error"}, {"port", "1"}, {"requestid", "9"}});
  auto data = (*c)->Open({{"streamtype", "data"}, {"port", "1"}, {"requestid", "9"}});
  ASSERT_TRUE(err.ok() && data.ok());
  ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
  EXPECT_TRUE(absl::StrContains((*c)->Data(*err), "error forwarding port 1")) << (*c)->Data(*err);
  // Bad headers are refused.
  EXPECT_FALSE((*c)->Open({{"streamtype", "data"}, {"port", "0"}}).ok());
  EXPECT_FALSE((*c)->Open({{"streamtype", "bogus"}, {"port", "80"}}).ok());
}

TEST_F(StreamServerTest, SpdyPortForwardPairTimeout) {
  StreamingOptions o;
  o.stream_creation_timeout = std::chrono::milliseconds(300);
  StartServer(o);
  PortForwardRequest p;
  p.sandbox_id = "pod0123456789";
  auto url = server_->GetPortForward(p);
  auto c = SpdyStreamClient::Connect(*url, {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok()) << c.status();
  auto err = (*c)->Open({{"streamtype", "error"}, {"port", "80"}, {"requestid", "1"}});
  ASSERT_TRUE(err.ok());
  ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
  EXPECT_TRUE(absl::StrContains((*c)->Data(*err), "timed out")) << (*c)->Data(*err);
}

TEST_F(StreamServerTest, SpdyTunneledInWebSocketPortForward) {
  EchoServer echo;
  PortForwardRequest p;
  p.sandbox_id = "pod0123456789";
  auto url = server_->GetPortForward(p);
  ASSERT_TRUE(url.ok());
  // client-go's tunneling dialer (crictl port-forward --transport websocket).
  auto ws = WsChannelClient::Connect(*url, {"SPDY/3.1+portforward.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->protocol(), "SPDY/3.1+portforward.k8s.io");
  spdy::ClientSession session;
  std::string port = std::to_string(echo.port());
  auto err = session.OpenStream({{"streamtype", "error"}, {"port", port}, {"requestid", "0"}});
  auto data = session.OpenStream({{"streamtype", "data"}, {"port", port}, {"requestid", "0"}});
  ASSERT_TRUE(err.ok() && data.ok());
  ASSERT_TRUE(session.SendData(*data, "tunnel").ok());
  std::string got;
  for (int i = 0; i < 50 && got != "tunnel"; ++i) {
    if (session.HasOutput()) {
      ASSERT_TRUE((*ws)->SendRaw(session.TakeOutput()).ok());
    }
    auto m = (*ws)->ReadRaw();
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(session.Feed(*m).ok());
    for (auto& e : session.TakeEvents()) {
      if (e.type == spdy::Event::Type::kData && e.stream_id == *data) got += e.data;
    }
  }
  EXPECT_EQ(got, "tunnel");
  (*ws)->Close();
  WaitNoConnections();
}

}  // namespace
}  // namespace tether::stream
