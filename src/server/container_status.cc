// ContainerStatus and ListContainers: answered from memory.
#include "absl/strings/match.h"
#include "server/cri_convert.h"
#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

runtime::v1::ContainerState ContainerStateToCri(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return runtime::v1::CONTAINER_CREATED;
    case ContainerState::kRunning:
      return runtime::v1::CONTAINER_RUNNING;
    case ContainerState::kExited:
      return runtime::v1::CONTAINER_EXITED;
    default:
      return runtime::v1::CONTAINER_UNKNOWN;
  }
}

void FillImageSpec(const ContainerRecord& r, runtime::v1::ImageSpec* image) {
  *image = r.config.image();
  image->set_image(r.image_ref.empty() ? r.config.image().image() : r.image_ref);
}

void FillContainerStatus(const ContainerRecord& r, runtime::v1::ContainerStatus* s) {
  s->set_id(r.id);
  *s->mutable_metadata() = r.config.metadata();
  s->set_state(ContainerStateToCri(r.state));
  s->set_created_at(r.created_at);
  s->set_started_at(r.started_at);
  s->set_finished_at(r.finished_at);
  s->set_exit_code(r.exit_code);
  FillImageSpec(r, s->mutable_image());
  s->set_image_ref(r.image_repo_digest.empty() ? r.image_id : r.image_repo_digest);
  s->set_image_id(r.image_id);
  s->set_reason(r.reason);
  s->set_message(r.message);
  *s->mutable_labels() = r.config.labels();
  *s->mutable_annotations() = r.config.annotations();
  *s->mutable_mounts() = r.config.mounts();
  s->set_log_path(r.log_path);
  if (r.config.linux().has_resources()) {
    *s->mutable_resources()->mutable_linux() = r.config.linux().resources();
  }
  auto* user = s->mutable_user()->mutable_linux();
  const auto& spec_user = r.runtime_spec->value("process", nlohmann::json::object())
                              .value("user", nlohmann::json::object());
  user->set_uid(spec_user.value("uid", int64_t{0}));
  user->set_gid(spec_user.value("gid", int64_t{0}));
  for (const auto& g : spec_user.value("additionalGids", std::vector<int64_t>{})) {
    user->add_supplemental_groups(g);
  }
}

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& selector,
                 const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

absl::StatusOr<ContainerRecord> VisibleContainer(const ContainerManager& containers,
                                                 const std::string& id) {
  auto c = containers.Get(id);
  if (!c.ok()) return c.status();
  ContainerRecord r = (*c)->Snapshot();
  if (r.state == ContainerState::kCreating) {
    return absl::NotFoundError("container \"" + id + "\" not found");
  }
  return r;
}

namespace {

std::string VerboseInfo(const ContainerRecord& r) {
  nlohmann::json info = {{"sandboxID", r.sandbox_id},
                         {"pid", r.state == ContainerState::kRunning ? r.pid : 0},
                         {"removing", false},
                         {"snapshotKey", r.id},
                         {"snapshotter", "overlayfs"},
                         {"runtimeType", r.runtime_name},
                         {"runtimeSpec", *r.runtime_spec},
                         {"bundle", r.bundle_dir},
                         {"rootfs", r.rootfs},
                         {"monitorPid", r.monitor_pid}};
  return info.dump();
}

bool Matches(const ContainerRecord& r, const runtime::v1::ContainerFilter& f) {
  if (!f.id().empty() && !absl::StartsWith(r.id, f.id())) return false;
  if (f.has_state() && f.state().state() != ContainerStateToCri(r.state)) return false;
  if (!f.pod_sandbox_id().empty() && !absl::StartsWith(r.sandbox_id, f.pod_sandbox_id())) {
    return false;
  }
  return LabelsMatch(f.label_selector(), r.config.labels());
}

}  // namespace

grpc::Status RuntimeService::ContainerStatus(Ctx*, const runtime::v1::ContainerStatusRequest* req,
                                             runtime::v1::ContainerStatusResponse* resp) {
  auto r = VisibleContainer(*containers_, req->container_id());
  if (!r.ok()) return ToGrpc(r.status());
  FillContainerStatus(*r, resp->mutable_status());
  if (req->verbose()) (*resp->mutable_info())["info"] = VerboseInfo(*r);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListContainers(Ctx*, const runtime::v1::ListContainersRequest* req,
                                            runtime::v1::ListContainersResponse* resp) {
  for (const auto& c : containers_->List()) {
    ContainerRecord r = c->Snapshot();
    if (r.state == ContainerState::kCreating) continue;
    if (req->has_filter() && !Matches(r, req->filter())) continue;
    auto* item = resp->add_containers();
    item->set_id(r.id);
    item->set_pod_sandbox_id(r.sandbox_id);
    *item->mutable_metadata() = r.config.metadata();
    FillImageSpec(r, item->mutable_image());
    item->set_image_ref(r.image_repo_digest.empty() ? r.image_id : r.image_repo_digest);
    item->set_image_id(r.image_id);
    item->set_state(ContainerStateToCri(r.state));
    item->set_created_at(r.created_at);
    *item->mutable_labels() = r.config.labels();
    *item->mutable_annotations() = r.config.annotations();
  }
  return grpc::Status::OK;
}

}  // namespace tether
