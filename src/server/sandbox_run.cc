#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

grpc::Status RuntimeService::RunPodSandbox(Ctx*, const runtime::v1::RunPodSandboxRequest* req,
                                           runtime::v1::RunPodSandboxResponse* resp) {
  if (!req->has_config()) return Required("config");
  auto id = sandboxes_->Run(req->config(), req->runtime_handler());
  if (!id.ok()) return ToGrpc(id.status());
  resp->set_pod_sandbox_id(*id);
  return grpc::Status::OK;
}

}  // namespace tether
