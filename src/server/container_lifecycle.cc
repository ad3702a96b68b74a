// CreateContainer, StartContainer, StopContainer, RemoveContainer.
#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

grpc::Status RuntimeService::CreateContainer(Ctx*, const runtime::v1::CreateContainerRequest* req,
                                             runtime::v1::CreateContainerResponse* resp) {
  if (req->pod_sandbox_id().empty()) return Required("pod_sandbox_id");
  if (!req->has_config()) return Required("config");
  auto id = containers_->Create(req->pod_sandbox_id(), req->config(), req->sandbox_config());
  if (!id.ok()) return ToGrpc(id.status());
  resp->set_container_id(*id);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::StartContainer(Ctx*, const runtime::v1::StartContainerRequest* req,
                                            runtime::v1::StartContainerResponse*) {
  if (req->container_id().empty()) return Required("container_id");
  return ToGrpc(containers_->Start(req->container_id()));
}

grpc::Status RuntimeService::StopContainer(Ctx*, const runtime::v1::StopContainerRequest* req,
                                           runtime::v1::StopContainerResponse*) {
  if (req->container_id().empty()) return Required("container_id");
  return ToGrpc(containers_->Stop(req->container_id(), req->timeout()));
}

grpc::Status RuntimeService::RemoveContainer(Ctx*, const runtime::v1::RemoveContainerRequest* req,
                                             runtime::v1::RemoveContainerResponse*) {
  if (req->container_id().empty()) return Required("container_id");
  return ToGrpc(containers_->Remove(req->container_id()));
}

}  // namespace tether
