// StopPodSandbox and RemovePodSandbox: both idempotent.
#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

grpc::Status RuntimeService::StopPodSandbox(Ctx*, const runtime::v1::StopPodSandboxRequest* req,
                                            runtime::v1::StopPodSandboxResponse*) {
  if (req->pod_sandbox_id().empty()) return Required("pod_sandbox_id");
  return ToGrpc(sandboxes_->Stop(req->pod_sandbox_id()));
}

grpc::Status RuntimeService::RemovePodSandbox(Ctx*, const runtime::v1::RemovePodSandboxRequest* req,
                                              runtime::v1::RemovePodSandboxResponse*) {
  if (req->pod_sandbox_id().empty()) return Required("pod_sandbox_id");
  return ToGrpc(sandboxes_->Remove(req->pod_sandbox_id()));
}

}  // namespace tether
