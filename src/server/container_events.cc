// GetContainerEvents: a server stream of container lifecycle events, each with the pod sandbox's
// status and the statuses of its containers attached (for kubelet's evented PLEG).
#include "server/cri_convert.h"
#include "server/runtime_service.h"
#include "absl/time/clock.h"
#include "util/log.h"

namespace tether {

void RuntimeService::PublishContainerEvent(const ContainerRecord& r,
                                           runtime::v1::ContainerEventType type) {
  // A started container's writable layer is measured right away, not at the next sweep.
  if (stats_ && type == runtime::v1::CONTAINER_STARTED_EVENT) stats_->RequestRefresh(r.id);
  if (events_.subscribers() == 0) return;
  runtime::v1::ContainerEventResponse ev;
  ev.set_container_id(r.id);
  ev.set_container_event_type(type);
  ev.set_created_at(absl::ToUnixNanos(absl::Now()));
  if (auto sb = sandboxes_->Get(r.sandbox_id); sb.ok()) {
    FillSandboxStatus((*sb)->Snapshot(), ev.mutable_pod_sandbox_status());
  }
  for (const auto& c : containers_->List()) {
    ContainerRecord cr = c->id() == r.id ? r : c->Snapshot();
    if (cr.sandbox_id != r.sandbox_id || cr.state == ContainerState::kCreating) continue;
    FillContainerStatus(cr, ev.add_containers_statuses());
  }
  if (type == runtime::v1::CONTAINER_DELETED_EVENT) {
    // The deleted container is gone from the list; report its last status.
    bool listed = false;
    for (const auto& s : ev.containers_statuses()) listed = listed || s.id() == r.id;
    if (!listed) FillContainerStatus(r, ev.add_containers_statuses());
  }
  events_.Publish(ev);
}

grpc::Status RuntimeService::GetContainerEvents(
    Ctx* ctx, const runtime::v1::GetEventsRequest*,
    grpc::ServerWriter<runtime::v1::ContainerEventResponse>* writer) {
  auto sub = events_.Subscribe();
  spdlog::debug("GetContainerEvents: subscriber joined ({} now)", events_.subscribers());
  runtime::v1::ContainerEventResponse ev;
  while (!ctx->IsCancelled()) {
    if (!sub->Next(&ev, absl::Milliseconds(500))) continue;
    if (!writer->Write(ev)) break;
  }
  events_.Unsubscribe(sub);
  spdlog::debug("GetContainerEvents: subscriber left ({} dropped events)", sub->dropped());
  return grpc::Status::OK;
}

}  // namespace tether
