// The real prober's httpGet redirects, as kubelet's HTTP prober and lifecycle handlers follow
// them: up to 10 requests to the first request's host; a redirect to another host ends a probe as
// a success with a warning; a longer chain is a failure. Against servers on 127.0.0.1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "podrunner/probe.h"
#include "podrunner_fakes.h"
#include "podrunner_http_server.h"

namespace tether::podrunner {
namespace {

using fake::FakeClock;
using fake::FakeRuntime;
using ::testing::HasSubstr;

// GET /r/N redirects to /r/N-1 (relative Location), GET /r/0 and /ok answer 200; /away/N
// redirects to `away` + "/ok" (another server); anything else 404.
HttpReply Chain(const std::string& req, const std::string& away) {
  const std::string path = req.substr(4, req.find(' ', 4) - 4);
  int n = 0;
  if (absl::StartsWith(path, "/r/") && absl::SimpleAtoi(path.substr(3), &n)) {
    if (n == 0) return 200;
    return HttpReply(n % 2 == 0 ? 302 : 307, absl::StrCat("/r/", n - 1));
  }
  if (path == "/ok") return 200;
  if (path == "/away") return HttpReply(301, absl::StrCat(away, "/ok"));
  return 404;
}

class HttpRedirectTest : public ::testing::Test {
 protected:
  HttpRedirectTest() : runtime_(&clock_), prober_(&runtime_) {}

  Handler Get(const LocalHttpServer& server, const std::string& path) {
    Handler h;
    h.kind = Handler::Kind::kHttpGet;
    h.port = server.port();
    h.path = path;
    return h;
  }
  ProbeOutcome Probe(const LocalHttpServer& server, const std::string& path) {
    return prober_.Probe(Get(server, path), target_, absl::Seconds(10));
  }

  FakeClock clock_;
  FakeRuntime runtime_;
  RuntimeProber prober_;
  ProbeTarget target_{.container_id = "c1", .container_name = "a", .pod_ip = "127.0.0.1"};
};

TEST_F(HttpRedirectTest, SameHostRedirectsAreFollowedUpToTenRequests) {
  LocalHttpServer server([](const std::string& req) { return Chain(req, ""); });
  ProbeOutcome three = Probe(server, "/r/3");
  EXPECT_EQ(three.result, ProbeResult::kSuccess) << three.output;
  EXPECT_FALSE(three.warning);
  EXPECT_EQ(server.requests().size(), 4u);
  // The redirected requests keep the probe's headers.
  EXPECT_THAT(server.requests().back(), HasSubstr("GET /r/0 "));
  EXPECT_THAT(server.requests().back(), HasSubstr("User-Agent: kube-probe/"));

  // 9 redirects: the 10th request answers 200.
  ProbeOutcome nine = Probe(server, "/r/9");
  EXPECT_EQ(nine.result, ProbeResult::kSuccess) << nine.output;
  EXPECT_EQ(server.requests().size(), 4u + 10u);

  // 10 redirects: Go's client stops after the 10th request.
  ProbeOutcome ten = Probe(server, "/r/10");
  EXPECT_EQ(ten.result, ProbeResult::kFailure);
  EXPECT_THAT(ten.output, HasSubstr("stopped after 10 redirects"));
  EXPECT_THAT(ten.output, HasSubstr("/r/0\""));
  EXPECT_EQ(server.requests().size(), 4u + 10u + 10u);
}

TEST_F(HttpRedirectTest, ARedirectToAnotherPortOfTheSameHostIsFollowed) {
  LocalHttpServer target([](const std::string& req) { return Chain(req, ""); });
  LocalHttpServer server([&](const std::string& req) {
    return Chain(req, absl::StrCat("http://127.0.0.1:", target.port()));
  });
  ProbeOutcome out = Probe(server, "/away");
  EXPECT_EQ(out.result, ProbeResult::kSuccess) << out.output;
  EXPECT_FALSE(out.warning);
  ASSERT_EQ(target.requests().size(), 1u);
  EXPECT_THAT(target.requests()[0], HasSubstr("GET /ok "));
}

TEST_F(HttpRedirectTest, ARedirectToAnotherHostEndsTheProbeAsASuccessWithAWarning) {
  LocalHttpServer target([](const std::string& req) { return Chain(req, ""); });
  // "localhost" is another host name than 127.0.0.1, though the same machine: not followed.
  LocalHttpServer server([&](const std::string& req) {
    return Chain(req, absl::StrCat("http://localhost:", target.port()));
  });
  ProbeOutcome out = Probe(server, "/away");
  EXPECT_EQ(out.result, ProbeResult::kSuccess);
  EXPECT_TRUE(out.warning);
  EXPECT_THAT(out.output, HasSubstr("Probe terminated redirects, Response body: status 301"));
  EXPECT_TRUE(target.requests().empty());
  // A 3xx without a Location is an answer as it is: the same warning.
  LocalHttpServer bare([](const std::string&) { return 302; });
  ProbeOutcome no_location = Probe(bare, "/");
  EXPECT_EQ(no_location.result, ProbeResult::kSuccess);
  EXPECT_TRUE(no_location.warning);
  // A plain 200 has none.
  EXPECT_FALSE(Probe(server, "/ok").warning);
}

TEST_F(HttpRedirectTest, HooksFollowTheSameRules) {
  LocalHttpServer target([](const std::string& req) { return Chain(req, ""); });
  LocalHttpServer server([&](const std::string& req) {
    return Chain(req, absl::StrCat("http://localhost:", target.port()));
  });
  EXPECT_TRUE(prober_.Hook(Get(server, "/r/5"), target_, absl::Seconds(10)).ok());
  EXPECT_EQ(server.requests().size(), 6u);
  // Another host: the redirect is the hook's answer, which is a success for a hook.
  EXPECT_TRUE(prober_.Hook(Get(server, "/away"), target_, absl::Seconds(10)).ok());
  EXPECT_TRUE(target.requests().empty());
  absl::Status ten = prober_.Hook(Get(server, "/r/10"), target_, absl::Seconds(10));
  EXPECT_FALSE(ten.ok());
  EXPECT_THAT(ten.message(), HasSubstr("stopped after 10 redirects"));
}

}  // namespace
}  // namespace tether::podrunner
