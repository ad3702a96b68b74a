// grpc probes as kubelet runs them (pkg/probe/grpc): grpc.health.v1.Health/Check over plaintext
// to the pod's IP, the dial and the call within the probe's timeout; SERVING is a success, any
// other answer or error a failure, with kubelet's messages.
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "podrunner/probe.h"

namespace tether::podrunner {

ProbeOutcome GrpcHealthCheck(const std::string& host, int port, const std::string& service,
                             absl::Duration timeout) {
  const std::string addr = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                               : absl::StrCat(host, ":", port);
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix("kube-probe/1");
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);          // never through a proxy from the env
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own, as kubelet's
  auto channel = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
  const std::string within = absl::FormatDuration(timeout);
  if (!channel->WaitForConnected(deadline)) {
    return {ProbeResult::kFailure,
            absl::StrCat("timeout: failed to connect service \"", addr, "\" within ", within,
                         ": context deadline exceeded")};
  }
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(deadline);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    switch (status.error_code()) {
      case grpc::StatusCode::UNIMPLEMENTED:
        return {ProbeResult::kFailure,
                absl::StrCat("error: this server does not implement the grpc health protocol "
                             "(grpc.health.v1.Health): ",
                             status.error_message())};
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return {ProbeResult::kFailure,
                absl::StrCat("timeout: health rpc did not complete within ", within)};
      default:
        return {ProbeResult::kFailure,
                absl::StrCat(
                    "error: health rpc probe failed: rpc error: code = ",
                    absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                    " desc = ", status.error_message())};
    }
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return {
        ProbeResult::kFailure,
        absl::StrCat("service unhealthy (responded with \"",
                     grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()),
                     "\")")};
  }
  return {ProbeResult::kSuccess, "service healthy"};
}

}  // namespace tether::podrunner
