// ExecSync, UpdateContainerResources, ReopenContainerLog.
#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

grpc::Status RuntimeService::ExecSync(Ctx*, const runtime::v1::ExecSyncRequest* req,
                                      runtime::v1::ExecSyncResponse* resp) {
  if (req->container_id().empty()) return Required("container_id");
  if (req->cmd_size() == 0) return Required("cmd");
  std::vector<std::string> cmd(req->cmd().begin(), req->cmd().end());
  auto r = containers_->ExecSync(req->container_id(), cmd, req->timeout());
  if (!r.ok()) return ToGrpc(r.status());
  resp->set_stdout(std::move(r->stdout_data));
  resp->set_stderr(std::move(r->stderr_data));
  resp->set_exit_code(r->exit_code);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::UpdateContainerResources(
    Ctx*, const runtime::v1::UpdateContainerResourcesRequest* req,
    runtime::v1::UpdateContainerResourcesResponse*) {
  if (req->container_id().empty()) return Required("container_id");
  return ToGrpc(containers_->UpdateResources(req->container_id(), req->linux()));
}

grpc::Status RuntimeService::ReopenContainerLog(Ctx*,
                                                const runtime::v1::ReopenContainerLogRequest* req,
                                                runtime::v1::ReopenContainerLogResponse*) {
  if (req->container_id().empty()) return Required("container_id");
  return ToGrpc(containers_->ReopenLog(req->container_id()));
}

}  // namespace tether
