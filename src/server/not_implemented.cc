// Verbs later issues implement: each answers UNIMPLEMENTED with a message, never a crash.
#include "absl/strings/str_cat.h"
#include "server/runtime_service.h"

namespace tether {
namespace {

grpc::Status NotYet(const char* verb, const char* issue) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      absl::StrCat(verb, " is not implemented yet in tether (", issue, ")"));
}

}  // namespace

grpc::Status RuntimeService::CheckpointContainer(Ctx*,
                                                 const runtime::v1::CheckpointContainerRequest*,
                                                 runtime::v1::CheckpointContainerResponse*) {
  return NotYet("CheckpointContainer", "not planned");
}

grpc::Status RuntimeService::ListMetricDescriptors(Ctx*,
                                                   const runtime::v1::ListMetricDescriptorsRequest*,
                                                   runtime::v1::ListMetricDescriptorsResponse*) {
  return NotYet("ListMetricDescriptors", "not planned");
}

grpc::Status RuntimeService::ListPodSandboxMetrics(Ctx*,
                                                   const runtime::v1::ListPodSandboxMetricsRequest*,
                                                   runtime::v1::ListPodSandboxMetricsResponse*) {
  return NotYet("ListPodSandboxMetrics", "not planned");
}

}  // namespace tether
