// The CRI RuntimeService: validates requests, calls the domain managers, translates results.
// One source file per verb group (sandbox_*.cc, runtime_info.cc, ...).
#pragma once

#include <unistd.h>

#include <memory>
#include <vector>

#include "config/config.h"
#include "container/container_manager.h"
#include "image/image_store.h"
#include "runtime/v1/api.grpc.pb.h"
#include "sandbox/sandbox_manager.h"
#include "server/event_hub.h"
#include "stats/stats_cache.h"

namespace tether {

namespace stream {
class StreamingServer;  // stream/streaming_server.h
}  // namespace stream

class RuntimeService final : public runtime::v1::RuntimeService::Service {
 public:
  RuntimeService(const Config& config, std::shared_ptr<SandboxManager> sandboxes,
                 std::shared_ptr<ContainerManager> containers,
                 std::shared_ptr<StatsCache> stats = nullptr)  // for the *Stats verbs (stats.cc)
      : config_(config),
        sandboxes_(std::move(sandboxes)),
        containers_(std::move(containers)),
        stats_(std::move(stats)) {
    containers_->SetEventSink(
        [this](const ContainerRecord& r, runtime::v1::ContainerEventType type) {
          PublishContainerEvent(r, type);
        });
  }

  // Exec, Attach and PortForward (streaming.cc) hand out URLs of this server; without one they
  // answer UNAVAILABLE.
  void SetStreamingServer(std::shared_ptr<stream::StreamingServer> server) {
    streaming_ = std::move(server);
  }

  using Ctx = grpc::ServerContext;
  // runtime_info.cc
  grpc::Status Version(Ctx*, const runtime::v1::VersionRequest*,
                       runtime::v1::VersionResponse*) override;
  grpc::Status Status(Ctx*, const runtime::v1::StatusRequest*,
                      runtime::v1::StatusResponse*) override;
  grpc::Status RuntimeConfig(Ctx*, const runtime::v1::RuntimeConfigRequest*,
                             runtime::v1::RuntimeConfigResponse*) override;
  grpc::Status UpdateRuntimeConfig(Ctx*, const runtime::v1::UpdateRuntimeConfigRequest*,
                                   runtime::v1::UpdateRuntimeConfigResponse*) override;
  // sandbox_run.cc, sandbox_stop.cc, sandbox_status.cc
  grpc::Status RunPodSandbox(Ctx*, const runtime::v1::RunPodSandboxRequest*,
                             runtime::v1::RunPodSandboxResponse*) override;
  grpc::Status StopPodSandbox(Ctx*, const runtime::v1::StopPodSandboxRequest*,
                              runtime::v1::StopPodSandboxResponse*) override;
  grpc::Status RemovePodSandbox(Ctx*, const runtime::v1::RemovePodSandboxRequest*,
                                runtime::v1::RemovePodSandboxResponse*) override;
  grpc::Status PodSandboxStatus(Ctx*, const runtime::v1::PodSandboxStatusRequest*,
                                runtime::v1::PodSandboxStatusResponse*) override;
  grpc::Status ListPodSandbox(Ctx*, const runtime::v1::ListPodSandboxRequest*,
                              runtime::v1::ListPodSandboxResponse*) override;
  // container_lifecycle.cc, container_status.cc, container_exec.cc
  // (the rest, in not_implemented.cc, answer UNIMPLEMENTED until their issue lands)
  grpc::Status CreateContainer(Ctx*, const runtime::v1::CreateContainerRequest*,
                               runtime::v1::CreateContainerResponse*) override;
  grpc::Status StartContainer(Ctx*, const runtime::v1::StartContainerRequest*,
                              runtime::v1::StartContainerResponse*) override;
  grpc::Status StopContainer(Ctx*, const runtime::v1::StopContainerRequest*,
                             runtime::v1::StopContainerResponse*) override;
  grpc::Status RemoveContainer(Ctx*, const runtime::v1::RemoveContainerRequest*,
                               runtime::v1::RemoveContainerResponse*) override;
  grpc::Status ListContainers(Ctx*, const runtime::v1::ListContainersRequest*,
                              runtime::v1::ListContainersResponse*) override;
  grpc::Status ContainerStatus(Ctx*, const runtime::v1::ContainerStatusRequest*,
                               runtime::v1::ContainerStatusResponse*) override;
  grpc::Status UpdateContainerResources(Ctx*, const runtime::v1::UpdateContainerResourcesRequest*,
                                        runtime::v1::UpdateContainerResourcesResponse*) override;
  grpc::Status ReopenContainerLog(Ctx*, const runtime::v1::ReopenContainerLogRequest*,
                                  runtime::v1::ReopenContainerLogResponse*) override;
  grpc::Status ExecSync(Ctx*, const runtime::v1::ExecSyncRequest*,
                        runtime::v1::ExecSyncResponse*) override;
  grpc::Status Exec(Ctx*, const runtime::v1::ExecRequest*, runtime::v1::ExecResponse*) override;
  grpc::Status Attach(Ctx*, const runtime::v1::AttachRequest*,
                      runtime::v1::AttachResponse*) override;
  grpc::Status PortForward(Ctx*, const runtime::v1::PortForwardRequest*,
                           runtime::v1::PortForwardResponse*) override;
  // stats.cc
  grpc::Status ContainerStats(Ctx*, const runtime::v1::ContainerStatsRequest*,
                              runtime::v1::ContainerStatsResponse*) override;
  grpc::Status ListContainerStats(Ctx*, const runtime::v1::ListContainerStatsRequest*,
                                  runtime::v1::ListContainerStatsResponse*) override;
  grpc::Status PodSandboxStats(Ctx*, const runtime::v1::PodSandboxStatsRequest*,
                               runtime::v1::PodSandboxStatsResponse*) override;
  grpc::Status ListPodSandboxStats(Ctx*, const runtime::v1::ListPodSandboxStatsRequest*,
                                   runtime::v1::ListPodSandboxStatsResponse*) override;
  grpc::Status CheckpointContainer(Ctx*, const runtime::v1::CheckpointContainerRequest*,
                                   runtime::v1::CheckpointContainerResponse*) override;
  grpc::Status GetContainerEvents(
      Ctx*, const runtime::v1::GetEventsRequest*,
      grpc::ServerWriter<runtime::v1::ContainerEventResponse>*) override;
  grpc::Status ListMetricDescriptors(Ctx*, const runtime::v1::ListMetricDescriptorsRequest*,
                                     runtime::v1::ListMetricDescriptorsResponse*) override;
  grpc::Status ListPodSandboxMetrics(Ctx*, const runtime::v1::ListPodSandboxMetricsRequest*,
                                     runtime::v1::ListPodSandboxMetricsResponse*) override;

 private:
  const Config& config_;
  std::shared_ptr<SandboxManager> sandboxes_;
  std::shared_ptr<ContainerManager> containers_;
  std::shared_ptr<StatsCache> stats_;  // writable-layer cache, CPU samples, cgroup reader
  std::shared_ptr<stream::StreamingServer> streaming_;
  // Probed once here, so that Status answers from memory.
  const bool user_namespaces_ = access("/proc/self/ns/user", F_OK) == 0;
  EventHub events_;
  void PublishContainerEvent(const ContainerRecord& r, runtime::v1::ContainerEventType type);
};

// The CRI ImageService; image_service.cc (the image issue fills it in).
class ImageService final : public runtime::v1::ImageService::Service {
 public:
  // `stats` walks the image filesystem for ImageFsInfo (ImageFsLayers must be in its lister).
  ImageService(const Config& config, std::shared_ptr<ImageStore> images,
               std::shared_ptr<StatsCache> stats = nullptr)
      : config_(config), images_(std::move(images)), stats_(std::move(stats)) {}
  using Ctx = grpc::ServerContext;
  grpc::Status ListImages(Ctx*, const runtime::v1::ListImagesRequest*,
                          runtime::v1::ListImagesResponse*) override;
  grpc::Status ImageStatus(Ctx*, const runtime::v1::ImageStatusRequest*,
                           runtime::v1::ImageStatusResponse*) override;
  grpc::Status PullImage(Ctx*, const runtime::v1::PullImageRequest*,
                         runtime::v1::PullImageResponse*) override;
  grpc::Status RemoveImage(Ctx*, const runtime::v1::RemoveImageRequest*,
                           runtime::v1::RemoveImageResponse*) override;
  grpc::Status ImageFsInfo(Ctx*, const runtime::v1::ImageFsInfoRequest*,
                           runtime::v1::ImageFsInfoResponse*) override;

 private:
  void RefreshFsUsage();  // after a pull or removal: walk the image filesystem soon

  const Config& config_;
  std::shared_ptr<ImageStore> images_;
  std::shared_ptr<StatsCache> stats_;
};

// The image filesystem's directories as stats-cache entries (image_fs_info.cc): the daemon adds
// them to the cache's lister so that ImageFsInfo answers from memory.
std::vector<StatsCache::Layer> ImageFsLayers(const Config& config);

}  // namespace tether
