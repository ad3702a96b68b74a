// The tetherctl binary's streaming commands against a real tetherd: exec (streams apart, exit
// code, stdin, a tty on a pseudo-terminal with resizes), attach, and port-forward into a pod over
// SPDY and over SPDY-in-WebSocket (SPDY/3.1+portforward.k8s.io), including kubelet's error text
// for a port nothing listens on.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/pty_process.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// GET / from 127.0.0.1:port; what came back ("" when the connection failed or was closed).
std::string HttpGet(int port) {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "";
  timeval tv{20, 0};
  setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = "GET / HTTP/1.0\r\n\r\n";
  (void)!write(s.get(), req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(s.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  // httpd closes after an HTTP/1.0 answer: the forwarder must pass that on as the end of the
  // connection (it ends the pair within a second, as containerd does), not leave it open.
  EXPECT_EQ(n, 0) << "the forwarded connection was not closed: " << strerror(errno);
  return out;
}

// A tetherctl left running (port-forward): stdout on a pipe, stderr in a file.
class Background {
 public:
  Background(std::vector<std::string> argv, const std::string& err_path) : err_path_(err_path) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    out_.reset(p[0]);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(p[1], 1);
      int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(e, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(p[1]);
  }
  ~Background() { (void)Stop(); }

  // Reads stdout until a line contains `needle`; returns that line.
  std::string WaitForLine(const std::string& needle, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto nl = buf_.find('\n');
      while (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (absl::StrContains(line, needle)) return line;
        nl = buf_.find('\n');
      }
      pollfd p{out_.get(), POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char b[1024];
      ssize_t n = read(out_.get(), b, sizeof b);
      if (n <= 0) return "";
      buf_.append(b, static_cast<size_t>(n));
    }
    return "";
  }

  // SIGTERM and wait; the exit code (-1 when killed).
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int st = 0;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return exit_code_;
  }
  std::string Stderr() const {
    auto s = ReadFile(err_path_);
    return s.ok() ? *s : "";
  }

 private:
  std::string err_path_;
  Fd out_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string buf_;
};

class TetherctlStreamE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
  }

  std::string Pod(const std::string& name) {
    pod_config_ = PodConfig(name);
    auto id = daemon_->RunPod(name, &pod_config_);
    EXPECT_TRUE(id.ok()) << id.status() << daemon_->Log();
    return id.ok() ? *id : "";
  }

  std::string Run(const std::string& pod, const runtime::v1::ContainerConfig& config) {
    auto id = daemon_->CreateContainer(pod, config, pod_config_);
    EXPECT_TRUE(id.ok()) << id.status() << daemon_->Log();
    if (!id.ok()) return "";
    auto st = daemon_->StartContainer(*id);
    EXPECT_TRUE(st.ok()) << st;
    return *id;
  }

  std::vector<std::string> Argv(std::vector<std::string> args) {
    std::vector<std::string> argv = {TETHERCTL_PATH, "-r", daemon_->socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ProcessResult Ctl(std::vector<std::string> args, std::string input = "") {
    auto r = RunProcess(
        {.argv = Argv(std::move(args)), .stdin_data = input, .timeout = std::chrono::seconds(60)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ProcessResult{};
  }

  std::unique_ptr<Daemon> daemon_;
  runtime::v1::PodSandboxConfig pod_config_;
};

TEST_F(TetherctlStreamE2E, ExecKeepsStdoutAndStderrApartAndPassesTheExitCode) {
  auto cid = Run(Pod("exec"), ContainerConfig("main", TestImage("busybox"), {"sleep", "100000"}));
  ASSERT_FALSE(cid.empty());
  for (std::string transport : {"spdy", "websocket"}) {
    SCOPED_TRACE(transport);
    auto r =
        Ctl({"exec", "--transport", transport, cid, "sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    // stdin reaches the command and its end too.
    r = Ctl({"exec", "-i", "--transport", transport, cid, "tr", "a-z", "A-Z"}, "shout\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "SHOUT\n");
    // A command that cannot start: the runtime's reason, exit code 1.
    r = Ctl({"exec", "--transport", transport, cid, "/no/such/binary"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(absl::StrContains(r.err, "no/such/binary")) << r.err;
  }
  // The synchronous form is still there.
  auto r = Ctl({"exec", "-s", cid, "sh", "-c", "echo sync; echo e >&2; exit 2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "sync\n");
  EXPECT_EQ(r.err, "e\n");
}

TEST_F(TetherctlStreamE2E, ExecWithATtyOnAPseudoTerminal) {
  auto cid = Run(Pod("tty"), ContainerConfig("main", TestImage("busybox"), {"sleep", "100000"}));
  ASSERT_FALSE(cid.empty());
  for (std::string transport : {"spdy", "websocket"}) {
    SCOPED_TRACE(transport);
    auto tty =
        PtyProcess::Start(Argv({"exec", "-it", "--transport", transport, cid, "sh"}), 31, 97);
    ASSERT_TRUE(tty.ok()) << tty.status();
    ASSERT_TRUE(tty->ReadUntil("# ", absl::Seconds(20))) << tty->seen();  // the shell's prompt
    ASSERT_TRUE(tty->Type("stty size; echo mark-$((40+2))\r"));
    ASSERT_TRUE(tty->ReadUntil("mark-42", absl::Seconds(20))) << tty->seen();
    EXPECT_TRUE(absl::StrContains(tty->seen(), "31 97")) << tty->seen();
    // A resize of our terminal (SIGWINCH to tetherctl) reaches the remote one.
    ASSERT_TRUE(tty->Resize(20, 80));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(tty->Type("stty size; exit 7\r"));
    tty->ReadToEnd(absl::Seconds(20));
    EXPECT_TRUE(absl::StrContains(tty->seen(), "20 80")) << tty->seen();
    auto code = tty->Wait();
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 7) << tty->seen();
  }
}

TEST_F(TetherctlStreamE2E, AttachSendsStdinAndReadsBothStreams) {
  auto pod = Pod("attach");
  auto config = ContainerConfig("reader", TestImage("busybox"),
                                {"sh", "-c", "read line; echo got-$line; echo on-stderr >&2"});
  config.set_stdin(true);
  config.set_stdin_once(true);
  auto cid = Run(pod, config);
  ASSERT_FALSE(cid.empty());
  auto r = Ctl({"attach", "-i", cid}, "hi\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "got-hi\n");
  EXPECT_EQ(r.err, "on-stderr\n");
  auto exited = daemon_->WaitExited(cid, 20);
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->exit_code(), 0);

  // Without -i, over WebSocket: the output until the container exits (attach reports no exit
  // code, as kubelet's).
  auto ticker = Run(pod, ContainerConfig("ticker", TestImage("busybox"),
                                         {"sh", "-c", "sleep 3; echo tick; sleep 1; exit 4"}));
  ASSERT_FALSE(ticker.empty());
  r = Ctl({"attach", "--transport", "websocket", ticker});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tick\n");
  // Not created with stdin: -i is refused by the runtime.
  auto sleeper = Run(pod, ContainerConfig("sleeper", TestImage("busybox"), {"sleep", "100000"}));
  ASSERT_FALSE(sleeper.empty());
  r = Ctl({"attach", "-i", sleeper}, "x\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "not created with stdin")) << r.err;
}

TEST_F(TetherctlStreamE2E, PortForwardToAWebServerOverSpdyAndSpdyInWebSocket) {
  auto pod = Pod("pf");
  auto cid = Run(pod, ContainerConfig("web", TestImage("busybox"),
                                      {"httpd", "-f", "-p", "8080", "-h", "/var/www"}));
  ASSERT_FALSE(cid.empty());
  for (std::string transport : {"spdy", "websocket"}) {
    SCOPED_TRACE(transport);
    Background pf(Argv({"port-forward", "--transport", transport, pod, ":8080"}),
                  daemon_->base() + "/pf-" + transport + ".err");
    std::string line = pf.WaitForLine("Forwarding from 127.0.0.1:", std::chrono::seconds(20));
    ASSERT_FALSE(line.empty()) << pf.Stderr();
    int port = 0;
    size_t at = line.find("127.0.0.1:") + 10;
    ASSERT_TRUE(absl::SimpleAtoi(line.substr(at, line.find(' ', at) - at), &port)) << line;
    EXPECT_TRUE(absl::EndsWith(line, " -> 8080")) << line;
    std::string body;
    for (int i = 0; i < 50 && !absl::StrContains(body, "hello from tether"); ++i) {
      body = HttpGet(port);  // httpd may take a moment to listen
      if (!absl::StrContains(body, "hello from tether")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    EXPECT_TRUE(absl::StrContains(body, "hello from tether")) << body << pf.Stderr();
    // A second connection over the same streaming connection.
    EXPECT_TRUE(absl::StrContains(HttpGet(port), "hello from tether")) << pf.Stderr();
    EXPECT_EQ(pf.Stop(), 0) << pf.Stderr();
  }
}

TEST_F(TetherctlStreamE2E, PortForwardToAPortNothingListensOn) {
  auto pod = Pod("pfdead");
  ASSERT_FALSE(pod.empty());
  auto status = daemon_->PodStatus(pod);
  ASSERT_TRUE(status.ok()) << status.status();
  for (std::string transport : {"spdy", "websocket"}) {
    SCOPED_TRACE(transport);
    Background pf(Argv({"port-forward", "--transport", transport, pod, "0:9"}),
                  daemon_->base() + "/pfdead-" + transport + ".err");
    std::string line = pf.WaitForLine("Forwarding from 127.0.0.1:", std::chrono::seconds(20));
    ASSERT_FALSE(line.empty()) << pf.Stderr();
    int port = 0;
    size_t at = line.find("127.0.0.1:") + 10;
    ASSERT_TRUE(absl::SimpleAtoi(line.substr(at, line.find(' ', at) - at), &port)) << line;
    EXPECT_EQ(HttpGet(port), "");
    std::string err;
    for (int i = 0; i < 100 && !absl::StrContains(err, "IPv6"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      err = pf.Stderr();
    }
    // kubelet's wrapping of containerd's message, as client-go prints it.
    EXPECT_TRUE(absl::StrContains(
        err, absl::StrCat("an error occurred forwarding ", port,
                          " -> 9: error forwarding port 9 to pod ", pod,
                          ", uid : failed to execute portforward in network namespace \"")))
        << err;
    EXPECT_TRUE(absl::StrContains(
        err, absl::StrCat("\": failed to connect to localhost:9 inside namespace \"", pod,
                          "\", IPv4: dial tcp4 127.0.0.1:9: connect: connection refused IPv6 "
                          "dial tcp6 [::1]:9: ")))
        << err;
    // Still forwarding: the next connection gets the same answer, then a clean stop.
    EXPECT_EQ(HttpGet(port), "");
    EXPECT_EQ(pf.Stop(), 0) << pf.Stderr();
  }
}

}  // namespace
}  // namespace tether::e2e
