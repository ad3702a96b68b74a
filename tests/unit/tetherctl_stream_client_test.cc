// tetherctl's streaming client (cmd/tetherctl/stream_client.h) against our streaming server
// in-process, with a fake exec backend and a local echo server for port forwarding: SPDY and
// WebSocket, plain and TLS (a self-signed certificate made with the openssl CLI at test time),
// and the server's limits (token lifetime, session timeout).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "stream/backend_factory.h"
#include "stream/streaming_server.h"
#include "tetherctl/stream_client.h"
#include "util/fd.h"
#include "util/process.h"

namespace tether::ctl {
namespace {

using stream::CommandBackend;
using stream::CommandResult;
using stream::StdStream;
using stream::StreamingOptions;
using stream::StreamingServer;

// "hello" on stdout and "warn" on stderr, stdin echoed as "echo:<data>" on stdout, resizes
// reported as "size WxH"; exits with the code in cmd[1] when stdin closes (at once without
// stdin), or never with cmd[2] == "forever".
class EchoBackend : public CommandBackend, public std::enable_shared_from_this<EchoBackend> {
 public:
  EchoBackend(boost::asio::any_io_executor ex, stream::ExecRequest req, std::atomic<int>* cancels)
      : ex_(std::move(ex)), req_(std::move(req)), cancels_(cancels) {}
  void Start(Sink sink) override {
    sink_ = std::move(sink);
    auto self = shared_from_this();
    boost::asio::post(ex_, [self] {
      self->sink_.output(StdStream::kStdout, "hello", [] {});
      if (!self->req_.tty) self->sink_.output(StdStream::kStderr, "warn", [] {});
      if (!self->req_.stdin && !(self->req_.cmd.size() > 2 && self->req_.cmd[2] == "forever")) {
        self->Exit();
      }
    });
  }
  void WriteStdin(std::string data, stream::Callback written) override {
    sink_.output(StdStream::kStdout, "echo:" + data, [] {});
    written();
  }
  void CloseStdin() override { Exit(); }
  void Resize(stream::TerminalSize s) override {
    sink_.output(StdStream::kStdout, absl::StrCat("size ", s.width, "x", s.height, ";"), [] {});
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
  stream::ExecRequest req_;
  std::atomic<int>* cancels_;
  Sink sink_;
};

class FakeBackends : public stream::BackendFactory {
 public:
  std::shared_ptr<CommandBackend> Exec(boost::asio::any_io_executor strand,
                                       boost::asio::thread_pool&,
                                       const stream::ExecRequest& r) override {
    return std::make_shared<EchoBackend>(strand, r, &cancels);
  }
  std::shared_ptr<CommandBackend> Attach(boost::asio::any_io_executor,
                                         const stream::AttachRequest&) override {
    return nullptr;
  }
  std::atomic<int> cancels{0};
};

// A TCP echo server on 127.0.0.1.
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
          while ((n = read(c, buf, sizeof buf)) > 0) (void)!write(c, buf, static_cast<size_t>(n));
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

// A loopback port nothing listens on (bound, then closed).
uint16_t DeadPort() {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

std::string ReadAllFd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct Pipe {
  Pipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    r.reset(p[0]);
    w.reset(p[1]);
  }
  Fd r, w;
};

struct SessionOutput {
  absl::StatusOr<int> code = 0;
  std::string out, err;
};

// Runs a session with `input` on stdin (none when nullopt; its end after `eof_delay`),
// collecting stdout and stderr.
SessionOutput RunSession(const std::string& url, DialOptions dial, std::optional<std::string> input,
                         bool tty = false,
                         std::function<std::optional<stream::TerminalSize>()> size = nullptr,
                         std::chrono::milliseconds eof_delay = std::chrono::milliseconds(0)) {
  Pipe in, out, err;
  if (input) {
    EXPECT_EQ(write(in.w.get(), input->data(), input->size()), static_cast<ssize_t>(input->size()));
  }
  std::thread closer([&] {
    std::this_thread::sleep_for(eof_delay);
    in.w.reset();
  });
  RemoteCommandIo io;
  io.stdin_fd = input ? in.r.get() : -1;
  io.stdout_fd = out.w.get();
  io.stderr_fd = tty ? -1 : err.w.get();
  io.tty = tty;
  io.terminal_size = std::move(size);
  SessionOutput result;
  result.code = RunRemoteCommand(url, dial, io);
  closer.join();
  out.w.reset();
  err.w.reset();
  result.out = ReadAllFd(out.r.get());
  result.err = ReadAllFd(err.r.get());
  return result;
}

class StreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(StreamingOptions o) {
    server_.reset();
    o.port = 0;
    backends_ = std::make_shared<FakeBackends>();
    server_ = std::make_unique<StreamingServer>(o, backends_);
    auto st = server_->Start();
    ASSERT_TRUE(st.ok()) << st;
  }

  std::string ExecUrl(bool in, bool tty, const std::string& code, bool forever = false) {
    stream::ExecRequest r;
    r.container_id = "0123456789abcdef";
    r.cmd = {"sh", code};
    if (forever) r.cmd.push_back("forever");
    r.stdin = in;
    r.stdout = true;
    r.stderr = !tty;
    r.tty = tty;
    auto url = server_->GetExec(r);
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }

  std::string PortForwardUrl() {
    stream::PortForwardRequest p;
    p.sandbox_id = "pod0123456789";
    auto url = server_->GetPortForward(p);
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : "";
  }

  void WaitNoConnections() {
    for (int i = 0; i < 300 && server_->connections() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(server_->connections(), 0u);
  }

  std::shared_ptr<FakeBackends> backends_;
  std::unique_ptr<StreamingServer> server_;
};

DialOptions Over(StreamTransport t) {
  DialOptions o;
  o.transport = t;
  o.timeout = absl::Seconds(10);
  return o;
}

TEST(StreamClientParseTest, Urls) {
  auto u = ParseStreamUrl("http://127.0.0.1:4567/exec/abc?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 4567);
  EXPECT_EQ(u->target, "/exec/abc?x=1");
  u = ParseStreamUrl("https://[::1]:99/attach/t");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 99);
  u = ParseStreamUrl("https://node.example/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 443);
  EXPECT_FALSE(ParseStreamUrl("ftp://h/x").ok());
  EXPECT_FALSE(ParseStreamUrl("http://h:0/x").ok());
  EXPECT_FALSE(ParseStreamUrl("http://h:99999/x").ok());
  EXPECT_FALSE(ParseStreamUrl("http://:80/x").ok());
}

TEST(StreamClientParseTest, PortMappings) {
  auto m = ParsePortMapping("8080");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, 8080);
  EXPECT_EQ(m->remote, 8080);
  m = ParsePortMapping("9000:80");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, 9000);
  EXPECT_EQ(m->remote, 80);
  m = ParsePortMapping(":80");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, 0);
  m = ParsePortMapping("0:80");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, 0);
  EXPECT_FALSE(ParsePortMapping("0").ok());
  EXPECT_FALSE(ParsePortMapping("80:").ok());
  EXPECT_FALSE(ParsePortMapping("a:80").ok());
  EXPECT_FALSE(ParsePortMapping("80:70000").ok());
  EXPECT_EQ(ParseStreamTransport("websocket").value(), StreamTransport::kWebSocket);
  EXPECT_FALSE(ParseStreamTransport("http2").ok());
}

TEST(StreamClientParseTest, ExitCodes) {
  EXPECT_EQ(ExitCodeFromStatus(R"({"metadata":{},"status":"Success"})").value(), 0);
  EXPECT_EQ(ExitCodeFromStatus("").value(), 0);
  EXPECT_EQ(
      ExitCodeFromStatus(
          R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}})")
          .value(),
      3);
  auto failed = ExitCodeFromStatus(
      R"({"metadata":{},"status":"Failure","message":"exec: no such file","reason":"InternalError"})");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "exec: no such file");
  EXPECT_FALSE(ExitCodeFromStatus(
                   R"({"status":"Failure","reason":"NonZeroExitCode","details":{"causes":"x"}})")
                   .ok());
  EXPECT_EQ(ExitCodeFromStatus("plain text error").status().message(), "plain text error");
}

TEST_F(StreamClientTest, ExecSeparatesStreamsAndReturnsTheExitCode) {
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    SCOPED_TRACE(t == StreamTransport::kSpdy ? "spdy" : "websocket");
    auto r = RunSession(ExecUrl(false, false, "3"), Over(t), std::nullopt);
    ASSERT_TRUE(r.code.ok()) << r.code.status();
    EXPECT_EQ(*r.code, 3);
    EXPECT_EQ(r.out, "hello");
    EXPECT_EQ(r.err, "warn");
    // stdin is forwarded and its end reaches the command (WebSocket: v5's close signal).
    r = RunSession(ExecUrl(true, false, "0"), Over(t), "some input");
    ASSERT_TRUE(r.code.ok()) << r.code.status();
    EXPECT_EQ(*r.code, 0);
    EXPECT_EQ(r.out, "helloecho:some input");
    EXPECT_EQ(r.err, "warn");
  }
  WaitNoConnections();
}

TEST_F(StreamClientTest, TtyGetsTheTerminalSize) {
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    auto r = RunSession(
        ExecUrl(true, true, "7"), Over(t), "", true,
        [] {
          return stream::TerminalSize{132, 43};
        },
        std::chrono::milliseconds(300));
    ASSERT_TRUE(r.code.ok()) << r.code.status();
    EXPECT_EQ(*r.code, 7);
    EXPECT_TRUE(absl::StrContains(r.out, "size 132x43;")) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST_F(StreamClientTest, UsedOrUnknownTokensAreRefused) {
  std::string url = ExecUrl(false, false, "0");
  ASSERT_TRUE(RunSession(url, Over(StreamTransport::kSpdy), std::nullopt).code.ok());
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    auto again = RunSession(url, Over(t), std::nullopt);
    EXPECT_EQ(again.code.status().code(), absl::StatusCode::kNotFound) << again.code.status();
  }
}

TEST_F(StreamClientTest, TokensExpireAfterTheirLifetime) {
  StreamingOptions o;
  o.token_ttl = absl::Milliseconds(200);
  StartServer(o);
  std::string url = ExecUrl(false, false, "0");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto r = RunSession(url, Over(StreamTransport::kSpdy), std::nullopt);
  EXPECT_EQ(r.code.status().code(), absl::StatusCode::kNotFound) << r.code.status();
  // A fresh one works.
  r = RunSession(ExecUrl(false, false, "0"), Over(StreamTransport::kSpdy), std::nullopt);
  EXPECT_TRUE(r.code.ok()) << r.code.status();
}

TEST_F(StreamClientTest, SessionTimeoutEndsABusySession) {
  StreamingOptions o;
  o.max_duration = std::chrono::milliseconds(500);
  o.idle_timeout = std::chrono::hours(1);
  StartServer(o);
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    int before = backends_->cancels;
    auto start = std::chrono::steady_clock::now();
    // A command that never ends on its own.
    auto r = RunSession(ExecUrl(false, false, "0", /*forever=*/true), Over(t), std::nullopt);
    EXPECT_FALSE(r.code.ok()) << "the session should have been cut";
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(450));
    for (int i = 0; i < 200 && backends_->cancels == before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(backends_->cancels, before + 1);  // the command was stopped
  }
  WaitNoConnections();
}

// --- port forwarding -------------------------------------------------------------------------

// RunPortForward on a thread; the listening port from its "Forwarding from" line.
class Forwarder {
 public:
  Forwarder(const std::string& url, StreamTransport t, uint16_t remote) {
    PortForwardIo io;
    io.stop_signals = {};
    io.stop_fd = stop_.r.get();
    io.info = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      info_.push_back(line);
      auto colon = line.find("127.0.0.1:");
      if (colon != std::string::npos) {
        (void)absl::SimpleAtoi(line.substr(colon + 10, line.find(' ', colon) - colon - 10),
                               &local_);
      }
    };
    io.error = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      errors_.push_back(line);
    };
    thread_ = std::thread([this, url, t, remote, io] {
      result_ = RunPortForward(url, Over(t), {{0, remote}}, io);
      done_ = true;
    });
    for (int i = 0; i < 500 && Local() == 0 && !Done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Forwarder() { (void)Stop(); }
  absl::Status Stop() {
    if (thread_.joinable()) {
      stop_.w.reset();  // EOF on the stop fd
      thread_.join();
    }
    return result_;
  }
  int Local() {
    std::lock_guard<std::mutex> l(mu_);
    return local_;
  }
  bool Done() { return done_; }
  std::vector<std::string> Errors() {
    std::lock_guard<std::mutex> l(mu_);
    return errors_;
  }

 private:
  Pipe stop_;
  std::mutex mu_;
  int local_ = 0;
  std::vector<std::string> info_, errors_;
  std::atomic<bool> done_{false};
  absl::Status result_;
  std::thread thread_;
};

// Connects to 127.0.0.1:port, sends `data`, half-closes and reads to EOF.
std::string RoundTrip(int port, const std::string& data) {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
  timeval tv{10, 0};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!write(s.get(), data.data(), data.size());
  shutdown(s.get(), SHUT_WR);
  return ReadAllFd(s.get());
}

TEST_F(StreamClientTest, PortForwardOverSpdyAndTunneledWebSocket) {
  EchoServer echo;
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    SCOPED_TRACE(t == StreamTransport::kSpdy ? "spdy" : "websocket");
    Forwarder f(PortForwardUrl(), t, echo.port());
    ASSERT_NE(f.Local(), 0);
    // Several connections, one after the other and at once, over the one streaming connection.
    EXPECT_EQ(RoundTrip(f.Local(), "first"), "first");
    std::string big(300 * 1024, 'x');
    std::string got_big;
    std::thread other([&] { got_big = RoundTrip(f.Local(), big); });
    EXPECT_EQ(RoundTrip(f.Local(), "second"), "second");
    other.join();
    EXPECT_EQ(got_big.size(), big.size());
    EXPECT_TRUE(f.Errors().empty());
    EXPECT_TRUE(f.Stop().ok());
  }
  WaitNoConnections();
}

TEST_F(StreamClientTest, PortForwardToAPortWithoutListenerReportsKubeletsMessage) {
  uint16_t dead = DeadPort();
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    Forwarder f(PortForwardUrl(), t, dead);
    ASSERT_NE(f.Local(), 0);
    EXPECT_EQ(RoundTrip(f.Local(), "anyone?"), "");
    std::vector<std::string> errors;
    for (int i = 0; i < 200 && errors.empty(); ++i) {
      errors = f.Errors();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(errors.size(), 1u);
    std::string p = std::to_string(dead);
    EXPECT_EQ(errors[0].substr(0, errors[0].find(" IPv6 ")),
              absl::StrCat("an error occurred forwarding ", f.Local(), " -> ", p,
                           ": error forwarding port ", p,
                           " to pod pod0123456789, uid : failed to execute portforward in network "
                           "namespace \"host\": failed to connect to localhost:",
                           p, " inside namespace \"pod0123456789\", IPv4: dial tcp4 127.0.0.1:", p,
                           ": connect: connection refused"))
        << errors[0];
    EXPECT_TRUE(absl::StrContains(errors[0], absl::StrCat(" IPv6 dial tcp6 [::1]:", p, ": ")))
        << errors[0];
    // The forwarder goes on after a failed connection.
    EXPECT_TRUE(f.Stop().ok());
  }
}

// --- TLS ---------------------------------------------------------------------------------------

class TlsStreamClientTest : public StreamClientTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("tether-tls-test-", getpid(), "-", rand());
    std::filesystem::create_directories(dir_);
    for (const char* name : {"server", "other"}) {
      auto r =
          RunProcess({.argv = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                               "-keyout", (dir_ / absl::StrCat(name, ".key")).string(), "-out",
                               (dir_ / absl::StrCat(name, ".crt")).string(), "-days", "1", "-subj",
                               "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                      .timeout = std::chrono::seconds(60)});
      if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << "openssl CLI unavailable";
    }
    StreamingOptions o;
    o.tls_cert_file = (dir_ / "server.crt").string();
    o.tls_key_file = (dir_ / "server.key").string();
    StartServer(o);
  }
  void TearDown() override {
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::filesystem::path dir_;
};

TEST_F(TlsStreamClientTest, ExecAndPortForwardOverHttps) {
  EXPECT_TRUE(absl::StartsWith(server_->base_url(), "https://127.0.0.1:")) << server_->base_url();
  for (auto t : {StreamTransport::kSpdy, StreamTransport::kWebSocket}) {
    auto r = RunSession(ExecUrl(true, false, "4"), Over(t), "tls");
    ASSERT_TRUE(r.code.ok()) << r.code.status();
    EXPECT_EQ(*r.code, 4);
    EXPECT_EQ(r.out, "helloecho:tls");
    EXPECT_EQ(r.err, "warn");
    // Verified against the right CA: fine; against another: refused.
    DialOptions verified = Over(t);
    verified.ca_file = (dir_ / "server.crt").string();
    r = RunSession(ExecUrl(false, false, "0"), verified, std::nullopt);
    EXPECT_TRUE(r.code.ok()) << r.code.status();
    DialOptions wrong = Over(t);
    wrong.ca_file = (dir_ / "other.crt").string();
    r = RunSession(ExecUrl(false, false, "0"), wrong, std::nullopt);
    EXPECT_EQ(r.code.status().code(), absl::StatusCode::kUnavailable) << r.code.status();
    EXPECT_TRUE(absl::StrContains(r.code.status().message(), "TLS handshake")) << r.code.status();
  }
  // Plain HTTP to the TLS port gets nowhere.
  std::string url = ExecUrl(false, false, "0");
  std::string plain = "http://" + url.substr(std::string("https://").size());
  auto r = RunSession(plain, Over(StreamTransport::kSpdy), std::nullopt);
  EXPECT_FALSE(r.code.ok());
  EchoServer echo;
  {
    Forwarder f(PortForwardUrl(), StreamTransport::kSpdy, echo.port());
    ASSERT_NE(f.Local(), 0);
    EXPECT_EQ(RoundTrip(f.Local(), "over tls"), "over tls");
  }
  WaitNoConnections();
}

TEST(StreamServerTlsConfigTest, BadCertificatesAreRefusedAtStart) {
  StreamingOptions o;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  StreamingServer s(o, std::make_shared<FakeBackends>());
  EXPECT_EQ(s.Start().code(), absl::StatusCode::kInvalidArgument);
  StreamingOptions half;
  half.tls_cert_file = "/nonexistent/cert.pem";
  StreamingServer s2(half, std::make_shared<FakeBackends>());
  EXPECT_EQ(s2.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::ctl
