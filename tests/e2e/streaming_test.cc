// Exec, Attach and PortForward end to end: the RPCs hand out URLs, our own WebSocket and SPDY
// clients use them against real runc, conmon and pods.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "stream/spdy_stream_client.h"
#include "stream/ws_client.h"
#include "tests/e2e/harness.h"
#include "util/fd.h"

namespace tether::e2e {
namespace {

using stream::SpdyStreamClient;
using stream::WsChannelClient;

grpc::Status Call(runtime::v1::RuntimeService::Stub& rt, const runtime::v1::ExecRequest& req,
                  std::string* url) {
  grpc::ClientContext ctx;
  runtime::v1::ExecResponse resp;
  auto st = rt.Exec(&ctx, req, &resp);
  *url = resp.url();
  return st;
}

runtime::v1::ExecRequest ExecReq(const std::string& id, std::vector<std::string> cmd, bool in,
                                 bool out, bool err, bool tty) {
  runtime::v1::ExecRequest r;
  r.set_container_id(id);
  for (auto& c : cmd) r.add_cmd(c);
  r.set_stdin(in);
  r.set_stdout(out);
  r.set_stderr(err);
  r.set_tty(tty);
  return r;
}

// Whether any process's command line contains `needle`.
bool ProcessWithCmdline(const std::string& needle) {
  auto out = Sh({"ps", "-eo", "args"});
  return out.ok() && absl::StrContains(*out, needle);
}

uint16_t FreeLoopbackPort() {
  Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

class StreamingE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
    daemon_ = std::make_unique<Daemon>();
    ASSERT_TRUE(daemon_->Start().ok());
    auto id = daemon_->Pull(TestImage("busybox"));
    ASSERT_TRUE(id.ok()) << id.status() << daemon_->Log();
  }

  std::string Pod(const std::string& name, runtime::v1::PodSandboxConfig* config,
                  bool host_network = false) {
    *config = PodConfig(name);
    if (host_network) {
      config->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
          runtime::v1::NODE);
    }
    auto id = daemon_->RunPod(name, config);
    EXPECT_TRUE(id.ok()) << id.status() << daemon_->Log();
    return id.ok() ? *id : "";
  }

  std::string Run(const std::string& pod, const runtime::v1::PodSandboxConfig& pod_config,
                  const runtime::v1::ContainerConfig& config) {
    return StartedContainer(*daemon_, pod, pod_config, config);
  }

  // A pod with a long-running busybox container.
  std::string Sleeper(const std::string& name) {
    auto pod = Pod(name, &pod_config_);
    return Run(pod, pod_config_,
               ContainerConfig("main", TestImage("busybox"), {"sleep", "100000"}));
  }

  std::string ExecUrl(const runtime::v1::ExecRequest& req) {
    std::string url;
    auto st = Call(daemon_->runtime(), req, &url);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return url;
  }

  std::string PortForwardUrl(const std::string& pod, std::vector<int> ports) {
    runtime::v1::PortForwardRequest req;
    req.set_pod_sandbox_id(pod);
    for (int p : ports) req.add_port(p);
    runtime::v1::PortForwardResponse resp;
    grpc::ClientContext ctx;
    auto st = daemon_->runtime().PortForward(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.url();
  }

  // GET / through a SPDY port forward; returns what came back.
  std::string HttpThroughSpdy(const std::string& url, int port) {
    auto c = SpdyStreamClient::Connect(url, {"portforward.k8s.io"});
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return "";
    std::string p = std::to_string(port);
    auto err = (*c)->Open({{"streamtype", "error"}, {"port", p}, {"requestid", "0"}});
    auto data = (*c)->Open({{"streamtype", "data"}, {"port", p}, {"requestid", "0"}});
    EXPECT_TRUE(err.ok() && data.ok());
    if (!err.ok() || !data.ok()) return "";
    (void)(*c)->CloseSend(*err);
    EXPECT_TRUE((*c)->Send(*data, "GET / HTTP/1.0\r\n\r\n").ok());
    auto st = (*c)->PumpUntil([&] { return (*c)->RemoteClosed(*data); });
    EXPECT_TRUE(st.ok()) << st << " error stream: " << (*c)->Data(*err);
    std::string body = (*c)->Data(*data);
    (void)(*c)->Reset(*data);
    EXPECT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
    EXPECT_EQ((*c)->Data(*err), "");
    return body;
  }

  void ExpectHealthy() {
    grpc::ClientContext ctx;
    runtime::v1::VersionResponse v;
    EXPECT_TRUE(daemon_->runtime().Version(&ctx, {}, &v).ok());
  }

  std::unique_ptr<Daemon> daemon_;
  runtime::v1::PodSandboxConfig pod_config_;
};

TEST_F(StreamingE2E, ExecWithoutTtyOverWebSocketAndSpdy) {
  auto cid = Sleeper("exec");
  ASSERT_FALSE(cid.empty());
  auto req = ExecReq(cid, {"sh", "-c", "echo out; echo err >&2; exit 3"}, false, true, true, false);

  auto ws = WsChannelClient::Connect(ExecUrl(req), {"v5.channel.k8s.io", "v4.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->protocol(), "v5.channel.k8s.io");
  std::vector<std::string> out;
  ASSERT_TRUE((*ws)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[1], "out\n");
  EXPECT_EQ(out[2], "err\n");
  auto status = nlohmann::json::parse(out[3]);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NonZeroExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(status["details"]["causes"][0]["message"], "3");

  auto spdy = SpdyStreamClient::Connect(ExecUrl(req), {"v4.channel.k8s.io"});
  ASSERT_TRUE(spdy.ok()) << spdy.status();
  auto& c = **spdy;
  auto err = c.Open({{"streamtype", "error"}});
  auto sout = c.Open({{"streamtype", "stdout"}});
  auto serr = c.Open({{"streamtype", "stderr"}});
  ASSERT_TRUE(err.ok() && sout.ok() && serr.ok());
  ASSERT_TRUE(c.PumpUntil([&] { return c.RemoteClosed(*err); }).ok());
  EXPECT_EQ(c.Data(*sout), "out\n");
  EXPECT_EQ(c.Data(*serr), "err\n");
  EXPECT_TRUE(absl::StrContains(c.Data(*err), R"("message":"3")")) << c.Data(*err);

  // Success, and stdin to a command that reads it.
  auto req2 = ExecReq(cid, {"sh", "-c", "tr a-z A-Z"}, true, true, true, false);
  auto s2 = SpdyStreamClient::Connect(ExecUrl(req2), {"v4.channel.k8s.io"});
  ASSERT_TRUE(s2.ok());
  auto e2 = (*s2)->Open({{"streamtype", "error"}});
  auto i2 = (*s2)->Open({{"streamtype", "stdin"}});
  auto o2 = (*s2)->Open({{"streamtype", "stdout"}});
  auto r2 = (*s2)->Open({{"streamtype", "stderr"}});
  ASSERT_TRUE(e2.ok() && i2.ok() && o2.ok() && r2.ok());
  ASSERT_TRUE((*s2)->Send(*i2, "shout\n", true).ok());
  ASSERT_TRUE((*s2)->PumpUntil([&] { return (*s2)->RemoteClosed(*e2); }).ok());
  EXPECT_EQ((*s2)->Data(*o2), "SHOUT\n");
  EXPECT_EQ((*s2)->Data(*e2), R"({"metadata":{},"status":"Success"})");
}

TEST_F(StreamingE2E, ExecWithTtyEchoesStdinAndResizes) {
  auto cid = Sleeper("tty");
  ASSERT_FALSE(cid.empty());
  auto req = ExecReq(cid, {"sh"}, true, true, false, true);
  // SPDY, as kubectl and crictl do by default.
  auto spdy = SpdyStreamClient::Connect(ExecUrl(req), {"v4.channel.k8s.io"});
  ASSERT_TRUE(spdy.ok()) << spdy.status();
  auto& c = **spdy;
  auto err = c.Open({{"streamtype", "error"}});
  auto in = c.Open({{"streamtype", "stdin"}});
  auto out = c.Open({{"streamtype", "stdout"}});
  auto resize = c.Open({{"streamtype", "resize"}});
  ASSERT_TRUE(err.ok() && in.ok() && out.ok() && resize.ok());
  ASSERT_TRUE(c.Send(*resize, R"({"Width":123,"Height":45})").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(c.Send(*in, "stty size; echo mark-$((40+2))\n").ok());
  auto st = c.PumpUntil([&] { return absl::StrContains(c.Data(*out), "mark-42"); });
  ASSERT_TRUE(st.ok()) << st << c.Data(*out);
  EXPECT_TRUE(absl::StrContains(c.Data(*out), "45 123")) << c.Data(*out);
  // A resize mid-session reaches the terminal.
  ASSERT_TRUE(c.Send(*resize, R"({"Width":80,"Height":20})").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(c.Send(*in, "stty size; exit 7\n").ok());
  ASSERT_TRUE(c.PumpUntil([&] { return c.RemoteClosed(*err); }).ok()) << c.Data(*out);
  EXPECT_TRUE(absl::StrContains(c.Data(*out), "20 80")) << c.Data(*out);
  EXPECT_TRUE(absl::StrContains(c.Data(*err), R"("message":"7")")) << c.Data(*err);

  // The same over WebSocket v5.
  auto ws = WsChannelClient::Connect(ExecUrl(req), {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  ASSERT_TRUE((*ws)->Send(4, R"({"Width":99,"Height":11})").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE((*ws)->Send(0, "stty size; exit 0\n").ok());
  std::vector<std::string> o;
  ASSERT_TRUE((*ws)->ReadAll(&o).ok());
  ASSERT_GE(o.size(), 4u);
  EXPECT_TRUE(absl::StrContains(o[1], "11 99")) << o[1];
  EXPECT_EQ(o[3], R"({"metadata":{},"status":"Success"})");
}

TEST_F(StreamingE2E, ExecOfAMissingBinaryFails) {
  auto cid = Sleeper("missing");
  ASSERT_FALSE(cid.empty());
  auto req = ExecReq(cid, {"/no/such/binary"}, false, true, true, false);
  auto ws = WsChannelClient::Connect(ExecUrl(req), {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  std::vector<std::string> out;
  ASSERT_TRUE((*ws)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 4u);
  auto status = nlohmann::json::parse(out[3]);
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_TRUE(absl::StrContains(status.dump(), "no/such/binary")) << status.dump();
  ExpectHealthy();
}

TEST_F(StreamingE2E, RpcValidation) {
  auto cid = Sleeper("validate");
  ASSERT_FALSE(cid.empty());
  std::string url;
  EXPECT_EQ(
      Call(daemon_->runtime(), ExecReq(cid, {"ls"}, false, true, true, true), &url).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);  // tty with stderr
  EXPECT_EQ(
      Call(daemon_->runtime(), ExecReq(cid, {"ls"}, false, false, false, false), &url).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Call(daemon_->runtime(), ExecReq(cid, {}, false, true, false, false), &url).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Call(daemon_->runtime(), ExecReq("f00d", {"ls"}, false, true, false, false), &url)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(daemon_->StopContainer(cid, 0).ok());
  EXPECT_EQ(
      Call(daemon_->runtime(), ExecReq(cid, {"ls"}, false, true, false, false), &url).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  runtime::v1::PortForwardRequest pf;
  pf.set_pod_sandbox_id("f00d");
  runtime::v1::PortForwardResponse resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(daemon_->runtime().PortForward(&ctx, pf, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(StreamingE2E, BadTokensAre404) {
  auto cid = Sleeper("token");
  ASSERT_FALSE(cid.empty());
  std::string url = ExecUrl(ExecReq(cid, {"true"}, false, true, false, false));
  std::string bad = url.substr(0, url.rfind('/') + 1) + "AAAAAAAAAAAAAAAA";
  auto ws = WsChannelClient::Connect(bad, {"v5.channel.k8s.io"});
  EXPECT_EQ(ws.status().code(), absl::StatusCode::kNotFound) << ws.status();
  auto spdy = SpdyStreamClient::Connect(bad, {"v4.channel.k8s.io"});
  EXPECT_EQ(spdy.status().code(), absl::StatusCode::kNotFound) << spdy.status();
  // Single use: the first connection takes it, the second gets 404.
  auto first = WsChannelClient::Connect(url, {"v5.channel.k8s.io"});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = SpdyStreamClient::Connect(url, {"v4.channel.k8s.io"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kNotFound) << second.status();
}

TEST_F(StreamingE2E, AttachToACatContainer) {
  auto pod = Pod("attach", &pod_config_);
  auto config = ContainerConfig("cat", TestImage("busybox"), {"cat"});
  config.set_stdin(true);
  auto cid = Run(pod, pod_config_, config);
  ASSERT_FALSE(cid.empty());
  runtime::v1::AttachRequest req;
  req.set_container_id(cid);
  req.set_stdin(true);
  req.set_stdout(true);
  req.set_stderr(true);
  runtime::v1::AttachResponse resp;
  grpc::ClientContext ctx;
  auto rpc = daemon_->runtime().Attach(&ctx, req, &resp);
  ASSERT_TRUE(rpc.ok()) << rpc.error_message();

  auto spdy = SpdyStreamClient::Connect(resp.url(), {"v4.channel.k8s.io"});
  ASSERT_TRUE(spdy.ok()) << spdy.status();
  auto& c = **spdy;
  auto err = c.Open({{"streamtype", "error"}});
  auto in = c.Open({{"streamtype", "stdin"}});
  auto out = c.Open({{"streamtype", "stdout"}});
  auto serr = c.Open({{"streamtype", "stderr"}});
  ASSERT_TRUE(err.ok() && in.ok() && out.ok() && serr.ok());
  ASSERT_TRUE(c.Send(*in, "hello attach\n").ok());
  auto st = c.PumpUntil([&] { return c.Data(*out) == "hello attach\n"; });
  EXPECT_TRUE(st.ok()) << st << " got: " << c.Data(*out) << daemon_->Log();
  // Closing stdin detaches; the container keeps running.
  ASSERT_TRUE(c.CloseSend(*in).ok());
  ASSERT_TRUE(c.PumpUntil([&] { return c.RemoteClosed(*err); }).ok());
  EXPECT_EQ(c.Data(*err), R"({"metadata":{},"status":"Success"})");
  auto s = daemon_->ContainerStatus(cid, false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->status().state(), runtime::v1::CONTAINER_RUNNING);

  // Attach again over WebSocket: still there.
  runtime::v1::AttachResponse resp2;
  grpc::ClientContext ctx2;
  ASSERT_TRUE(daemon_->runtime().Attach(&ctx2, req, &resp2).ok());
  auto ws = WsChannelClient::Connect(resp2.url(), {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  ASSERT_TRUE((*ws)->Send(0, "again\n").ok());
  std::string got;
  while (got != "again\n") {
    auto m = (*ws)->Read();
    ASSERT_TRUE(m.ok()) << m.status() << " got " << got;
    if (m->channel == 1) got += m->data;
  }
  (*ws)->Close();
}

TEST_F(StreamingE2E, PortForwardIntoThePodNetwork) {
  auto pod = Pod("pf", &pod_config_);
  auto cid = Run(pod, pod_config_,
                 ContainerConfig("web", TestImage("busybox"),
                                 {"httpd", "-f", "-p", "8080", "-h", "/var/www"}));
  ASSERT_FALSE(cid.empty());
  std::string body;
  for (int i = 0; i < 50; ++i) {  // httpd may take a moment to listen
    body = HttpThroughSpdy(PortForwardUrl(pod, {8080}), 8080);
    if (absl::StrContains(body, "hello from tether")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(absl::StrContains(body, "hello from tether")) << body;
  // The port is not reachable from the host's loopback: this went through the pod's namespace.

  // WebSocket (v4.channel.k8s.io): ports from the request.
  auto ws = WsChannelClient::Connect(PortForwardUrl(pod, {8080}), {"v4.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.status();
  ASSERT_TRUE((*ws)->Send(0, "GET / HTTP/1.0\r\n\r\n").ok());
  std::vector<std::string> out;
  ASSERT_TRUE((*ws)->ReadAll(&out).ok());
  ASSERT_GE(out.size(), 1u);
  EXPECT_TRUE(absl::StrContains(out[0], "hello from tether")) << out[0];
  EXPECT_EQ(out[0].substr(0, 2), std::string("\x90\x1f", 2));  // the port prefix

  // Nothing listens on 9: the error stream says so, the connection stays usable.
  auto c = SpdyStreamClient::Connect(PortForwardUrl(pod, {9}), {"portforward.k8s.io"});
  ASSERT_TRUE(c.ok());
  auto err = (*c)->Open({{"streamtype", "error"}, {"port", "9"}, {"requestid", "1"}});
  auto data = (*c)->Open({{"streamtype", "data"}, {"port", "9"}, {"requestid", "1"}});
  ASSERT_TRUE(err.ok() && data.ok());
  ASSERT_TRUE((*c)->PumpUntil([&] { return (*c)->RemoteClosed(*err); }).ok());
  EXPECT_TRUE(absl::StrContains((*c)->Data(*err), "error forwarding port 9")) << (*c)->Data(*err);
}

TEST_F(StreamingE2E, PortForwardInAHostNetworkPod) {
  auto pod = Pod("pfhost", &pod_config_, /*host_network=*/true);
  ASSERT_FALSE(pod.empty());
  uint16_t port = FreeLoopbackPort();
  auto cid = Run(
      pod, pod_config_,
      ContainerConfig("web", TestImage("busybox"),
                      {"httpd", "-f", "-p", absl::StrCat("127.0.0.1:", port), "-h", "/var/www"}));
  ASSERT_FALSE(cid.empty());
  std::string body;
  for (int i = 0; i < 50; ++i) {
    body = HttpThroughSpdy(PortForwardUrl(pod, {port}), port);
    if (absl::StrContains(body, "hello from tether")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(absl::StrContains(body, "hello from tether")) << body;
}

TEST_F(StreamingE2E, MalformedFramesAndAbruptDisconnectLeaveNothingBehind) {
  auto cid = Sleeper("abrupt");
  ASSERT_FALSE(cid.empty());
  // Garbage after the upgrade: that connection ends, the daemon does not.
  auto bad = SpdyStreamClient::Connect(ExecUrl(ExecReq(cid, {"true"}, false, true, false, false)),
                                       {"v4.channel.k8s.io"});
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE((*bad)->WriteRaw(std::string(64, '\xff')).ok());
  EXPECT_FALSE((*bad)->PumpUntil([] { return false; }, std::chrono::seconds(10)).ok());
  EXPECT_TRUE((*bad)->Closed());
  auto badws = WsChannelClient::Connect(ExecUrl(ExecReq(cid, {"cat"}, true, true, false, false)),
                                        {"v5.channel.k8s.io"});
  ASSERT_TRUE(badws.ok());
  ASSERT_TRUE((*badws)->SendRaw(std::string("\xff", 1)).ok());
  ASSERT_TRUE((*badws)->SendRaw("not binary", false).ok());
  ASSERT_TRUE((*badws)->SendClose(0).ok());
  std::vector<std::string> out;
  ASSERT_TRUE((*badws)->ReadAll(&out).ok());
  EXPECT_EQ(out.size() > 3 ? out[3] : "", R"({"metadata":{},"status":"Success"})");

  // A client that vanishes mid-exec: the exec'd process is killed and reaped.
  for (bool use_ws : {false, true}) {
    std::string marker = use_ws ? "sleep 4242" : "sleep 4343";
    auto req = ExecReq(cid, {"sh", "-c", "echo started; exec " + marker}, false, true, true, false);
    if (use_ws) {
      auto ws = WsChannelClient::Connect(ExecUrl(req), {"v5.channel.k8s.io"});
      ASSERT_TRUE(ws.ok());
      std::string got;
      while (!absl::StrContains(got, "started")) {
        auto m = (*ws)->Read();
        ASSERT_TRUE(m.ok()) << m.status();
        got += m->data;
      }
      ASSERT_TRUE(ProcessWithCmdline(marker));
      (*ws)->Abort();
    } else {
      auto spdy = SpdyStreamClient::Connect(ExecUrl(req), {"v4.channel.k8s.io"});
      ASSERT_TRUE(spdy.ok());
      auto err = (*spdy)->Open({{"streamtype", "error"}});
      auto o = (*spdy)->Open({{"streamtype", "stdout"}});
      auto e = (*spdy)->Open({{"streamtype", "stderr"}});
      ASSERT_TRUE(err.ok() && o.ok() && e.ok());
      ASSERT_TRUE((*spdy)->PumpUntil([&] { return (*spdy)->Data(*o) == "started\n"; }).ok());
      ASSERT_TRUE(ProcessWithCmdline(marker));
      (*spdy)->Abort();
    }
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      gone = !ProcessWithCmdline(marker) && !ProcessWithCmdline(cid + "/exec-");
    }
    EXPECT_TRUE(gone) << marker << " or its runc is still there";
  }
  // The bundle holds no leftovers of the execs (process.json, pid file, runtime log).
  auto ls = Sh({"ls", daemon_->state() + "/containers/" + cid});
  ASSERT_TRUE(ls.ok()) << ls.status();
  EXPECT_FALSE(absl::StrContains(*ls, "exec-")) << *ls;
  ExpectHealthy();
  auto url = ExecUrl(ExecReq(cid, {"echo", "alive"}, false, true, false, false));
  auto ws = WsChannelClient::Connect(url, {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok());
  std::vector<std::string> o;
  ASSERT_TRUE((*ws)->ReadAll(&o).ok());
  EXPECT_EQ(o.size() > 1 ? o[1] : "", "alive\n");
}

}  // namespace
}  // namespace tether::e2e
