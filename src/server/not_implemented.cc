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

grpc::Status RuntimeService::CreateContainer(Ctx*, const runtime::v1::CreateContainerRequest*,
                                             runtime::v1::CreateContainerResponse*) {
  return NotYet("CreateContainer", "containers");
}

grpc::Status RuntimeService::StartContainer(Ctx*, const runtime::v1::StartContainerRequest*,
                                            runtime::v1::StartContainerResponse*) {
  return NotYet("StartContainer", "containers");
}

grpc::Status RuntimeService::StopContainer(Ctx*, const runtime::v1::StopContainerRequest*,
                                           runtime::v1::StopContainerResponse*) {
  return NotYet("StopContainer", "containers");
}

grpc::Status RuntimeService::RemoveContainer(Ctx*, const runtime::v1::RemoveContainerRequest*,
                                             runtime::v1::RemoveContainerResponse*) {
  return NotYet("RemoveContainer", "containers");
}

grpc::Status RuntimeService::ListContainers(Ctx*, const runtime::v1::ListContainersRequest*,
                                            runtime::v1::ListContainersResponse*) {
  return NotYet("ListContainers", "containers");
}

grpc::Status RuntimeService::ContainerStatus(Ctx*, const runtime::v1::ContainerStatusRequest*,
                                             runtime::v1::ContainerStatusResponse*) {
  return NotYet("ContainerStatus", "containers");
}

grpc::Status RuntimeService::UpdateContainerResources(
    Ctx*, const runtime::v1::UpdateContainerResourcesRequest*,
    runtime::v1::UpdateContainerResourcesResponse*) {
  return NotYet("UpdateContainerResources", "containers");
}

grpc::Status RuntimeService::ReopenContainerLog(Ctx*, const runtime::v1::ReopenContainerLogRequest*,
                                                runtime::v1::ReopenContainerLogResponse*) {
  return NotYet("ReopenContainerLog", "containers");
}

grpc::Status RuntimeService::ExecSync(Ctx*, const runtime::v1::ExecSyncRequest*,
                                      runtime::v1::ExecSyncResponse*) {
  return NotYet("ExecSync", "containers");
}

grpc::Status RuntimeService::Exec(Ctx*, const runtime::v1::ExecRequest*,
                                  runtime::v1::ExecResponse*) {
  return NotYet("Exec", "streaming");
}

grpc::Status RuntimeService::Attach(Ctx*, const runtime::v1::AttachRequest*,
                                    runtime::v1::AttachResponse*) {
  return NotYet("Attach", "streaming");
}

grpc::Status RuntimeService::PortForward(Ctx*, const runtime::v1::PortForwardRequest*,
                                         runtime::v1::PortForwardResponse*) {
  return NotYet("PortForward", "streaming");
}

grpc::Status RuntimeService::ContainerStats(Ctx*, const runtime::v1::ContainerStatsRequest*,
                                            runtime::v1::ContainerStatsResponse*) {
  return NotYet("ContainerStats", "containers");
}

grpc::Status RuntimeService::ListContainerStats(Ctx*, const runtime::v1::ListContainerStatsRequest*,
                                                runtime::v1::ListContainerStatsResponse*) {
  return NotYet("ListContainerStats", "containers");
}

grpc::Status RuntimeService::PodSandboxStats(Ctx*, const runtime::v1::PodSandboxStatsRequest*,
                                             runtime::v1::PodSandboxStatsResponse*) {
  return NotYet("PodSandboxStats", "containers");
}

grpc::Status RuntimeService::ListPodSandboxStats(Ctx*,
                                                 const runtime::v1::ListPodSandboxStatsRequest*,
                                                 runtime::v1::ListPodSandboxStatsResponse*) {
  return NotYet("ListPodSandboxStats", "containers");
}

grpc::Status RuntimeService::CheckpointContainer(Ctx*,
                                                 const runtime::v1::CheckpointContainerRequest*,
                                                 runtime::v1::CheckpointContainerResponse*) {
  return NotYet("CheckpointContainer", "not planned");
}

grpc::Status RuntimeService::GetContainerEvents(
    Ctx*, const runtime::v1::GetEventsRequest*,
    grpc::ServerWriter<runtime::v1::ContainerEventResponse>*) {
  return NotYet("GetContainerEvents", "conformance");
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

grpc::Status ImageService::ListImages(Ctx*, const runtime::v1::ListImagesRequest*,
                                      runtime::v1::ListImagesResponse*) {
  return NotYet("ListImages", "images");
}

grpc::Status ImageService::ImageStatus(Ctx*, const runtime::v1::ImageStatusRequest*,
                                       runtime::v1::ImageStatusResponse*) {
  return NotYet("ImageStatus", "images");
}

grpc::Status ImageService::PullImage(Ctx*, const runtime::v1::PullImageRequest*,
                                     runtime::v1::PullImageResponse*) {
  return NotYet("PullImage", "images");
}

grpc::Status ImageService::RemoveImage(Ctx*, const runtime::v1::RemoveImageRequest*,
                                       runtime::v1::RemoveImageResponse*) {
  return NotYet("RemoveImage", "images");
}

}  // namespace tether
