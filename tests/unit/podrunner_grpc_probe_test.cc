// grpc probes: the real prober's grpc.health.v1 client against grpc::Servers on 127.0.0.1, one
// with gRPC's own health service, one without any, one that answers too late.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "podrunner/probe.h"
#include "podrunner_fakes.h"
#include "podrunner_http_server.h"
#include "runtime/v1/api.grpc.pb.h"

namespace tether::podrunner {
namespace {

using fake::FakeClock;
using fake::FakeRuntime;
using ::testing::HasSubstr;

// A server on 127.0.0.1 with `service` and, with `health`, gRPC's default grpc.health.v1
// service.
struct LocalGrpcServer {
  LocalGrpcServer(grpc::Service* service, bool health) {
    grpc::EnableDefaultHealthCheckService(health);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    if (service != nullptr) b.RegisterService(service);
    server = b.BuildAndStart();
    grpc::EnableDefaultHealthCheckService(false);
  }
  ~LocalGrpcServer() { server->Shutdown(std::chrono::system_clock::now()); }
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

Handler GrpcHandler(int port, const std::string& service) {
  Handler h;
  h.kind = Handler::Kind::kGrpc;
  h.port = port;
  h.grpc_service = service;
  return h;
}

class GrpcProbeTest : public ::testing::Test {
 protected:
  GrpcProbeTest() : runtime_(&clock_), prober_(&runtime_) {}
  ProbeOutcome Probe(int port, const std::string& service,
                     absl::Duration timeout = absl::Seconds(10)) {
    return prober_.Probe(GrpcHandler(port, service), target_, timeout);
  }

  FakeClock clock_;
  FakeRuntime runtime_;
  RuntimeProber prober_;
  ProbeTarget target_{.container_id = "c1", .container_name = "a", .pod_ip = "127.0.0.1"};
};

TEST_F(GrpcProbeTest, ServingIsASuccessAndEveryOtherAnswerAFailure) {
  runtime::v1::RuntimeService::Service other;  // gRPC wants a service of ours besides health
  LocalGrpcServer s(&other, /*health=*/true);
  ASSERT_NE(s.server, nullptr);
  ASSERT_GT(s.port, 0);
  auto* health = s.server->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  health->SetServingStatus("ready", true);
  health->SetServingStatus("sick", false);

  ProbeOutcome whole = Probe(s.port, "");  // the server as a whole: SERVING by default
  EXPECT_EQ(whole.result, ProbeResult::kSuccess) << whole.output;
  EXPECT_EQ(whole.output, "service healthy");
  ProbeOutcome ready = Probe(s.port, "ready");
  EXPECT_EQ(ready.result, ProbeResult::kSuccess) << ready.output;

  ProbeOutcome sick = Probe(s.port, "sick");
  EXPECT_EQ(sick.result, ProbeResult::kFailure);
  EXPECT_EQ(sick.output, "service unhealthy (responded with \"NOT_SERVING\")");
  ProbeOutcome unknown = Probe(s.port, "nope");
  EXPECT_EQ(unknown.result, ProbeResult::kFailure);
  EXPECT_THAT(unknown.output, HasSubstr("error: health rpc probe failed: rpc error: code = "
                                        "NOT_FOUND"));

  // The status changes with the server's.
  health->SetServingStatus("sick", true);
  EXPECT_EQ(Probe(s.port, "sick").result, ProbeResult::kSuccess);
  health->SetServingStatus(false);  // every service
  EXPECT_EQ(Probe(s.port, "").result, ProbeResult::kFailure);
}

TEST_F(GrpcProbeTest, AServerWithoutTheHealthServiceFails) {
  runtime::v1::RuntimeService::Service other;  // some service, all unimplemented
  LocalGrpcServer s(&other, /*health=*/false);
  ASSERT_NE(s.server, nullptr);
  ProbeOutcome out = Probe(s.port, "");
  EXPECT_EQ(out.result, ProbeResult::kFailure);
  EXPECT_THAT(out.output, HasSubstr("error: this server does not implement the grpc health "
                                    "protocol (grpc.health.v1.Health)"));
}

// Answers Check after `delay`.
class SlowHealth final : public grpc::health::v1::Health::Service {
 public:
  explicit SlowHealth(absl::Duration delay) : delay_(delay) {}
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    absl::SleepFor(delay_);
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }

 private:
  absl::Duration delay_;
};

TEST_F(GrpcProbeTest, TimeoutsAreFailures) {
  SlowHealth slow(absl::Seconds(3));
  LocalGrpcServer s(&slow, /*health=*/false);
  ASSERT_NE(s.server, nullptr);
  ProbeOutcome late = Probe(s.port, "", absl::Seconds(1));
  EXPECT_EQ(late.result, ProbeResult::kFailure);
  EXPECT_EQ(late.output, "timeout: health rpc did not complete within 1s");
  // Our own service definition is the one gRPC's clients speak: in time, it answers SERVING.
  EXPECT_EQ(Probe(s.port, "", absl::Seconds(10)).result, ProbeResult::kSuccess);

  const int port = ClosedLoopbackPort();
  ASSERT_GT(port, 0);
  ProbeOutcome closed = Probe(port, "", absl::Seconds(1));
  EXPECT_EQ(closed.result, ProbeResult::kFailure);
  EXPECT_THAT(closed.output, HasSubstr(absl::StrCat("timeout: failed to connect service "
                                                    "\"127.0.0.1:",
                                                    port, "\" within 1s")));
  // Without a pod IP there is nothing to probe: an error, not a failure.
  EXPECT_EQ(prober_.Probe(GrpcHandler(s.port, ""), ProbeTarget{}, absl::Seconds(1)).result,
            ProbeResult::kError);
}

}  // namespace
}  // namespace tether::podrunner
