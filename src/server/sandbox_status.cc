// PodSandboxStatus and ListPodSandbox: answered from memory.
#include "absl/strings/match.h"
#include "google/protobuf/util/json_util.h"
#include "server/cri_convert.h"
#include "server/runtime_service.h"
#include "server/status.h"

namespace tether {

runtime::v1::PodSandboxState SandboxStateToCri(SandboxState s) {
  return s == SandboxState::kReady ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY;
}

void FillSandboxStatus(const SandboxRecord& r, runtime::v1::PodSandboxStatus* s) {
  s->set_id(r.id);
  *s->mutable_metadata() = r.config.metadata();
  s->set_state(SandboxStateToCri(r.state));
  s->set_created_at(r.created_at);
  if (!r.ips.empty() && r.state == SandboxState::kReady) {
    s->mutable_network()->set_ip(r.ips[0]);
    for (size_t i = 1; i < r.ips.size(); ++i) {
      s->mutable_network()->add_additional_ips()->set_ip(r.ips[i]);
    }
  }
  auto* ns = s->mutable_linux()->mutable_namespaces()->mutable_options();
  *ns = r.config.linux().security_context().namespace_options();
  *s->mutable_labels() = r.config.labels();
  *s->mutable_annotations() = r.config.annotations();
  s->set_runtime_handler(r.runtime_handler);
}

namespace {

std::string VerboseInfo(const SandboxRecord& r) {
  std::string config_json;
  google::protobuf::util::JsonPrintOptions opts;
  (void)google::protobuf::util::MessageToJsonString(r.config, &config_json, opts);
  nlohmann::json info = {
      {"pid", r.pid},
      {"processStatus", r.state == SandboxState::kReady ? "running" : "stopped"},
      {"netNamespaceClosed", r.netns_path.empty() || !r.network_attached},
      {"netnsPath", r.netns_path},
      {"image", r.image_id.empty() ? std::string("tether-pause (built in)") : r.image_id},
      {"runtimeHandler", r.runtime_handler},
      {"runtimeType", r.runtime_name},
      {"config", nlohmann::json::parse(config_json, nullptr, false)},
      {"runtimeSpec", *r.runtime_spec},
      {"cniResult", *r.cni_result},
      {"bundle", r.bundle_dir},
      {"monitorPid", r.monitor_pid}};
  return info.dump();
}

bool Matches(const SandboxRecord& r, const runtime::v1::PodSandboxFilter& f) {
  if (!f.id().empty() && !absl::StartsWith(r.id, f.id())) return false;
  if (f.has_state() && f.state().state() != SandboxStateToCri(r.state)) return false;
  return LabelsMatch(f.label_selector(), r.config.labels());
}

}  // namespace

grpc::Status RuntimeService::PodSandboxStatus(Ctx*, const runtime::v1::PodSandboxStatusRequest* req,
                                              runtime::v1::PodSandboxStatusResponse* resp) {
  auto sb = sandboxes_->Get(req->pod_sandbox_id());
  if (!sb.ok()) return ToGrpc(sb.status());
  SandboxRecord r = (*sb)->Snapshot();
  FillSandboxStatus(r, resp->mutable_status());
  if (req->verbose()) (*resp->mutable_info())["info"] = VerboseInfo(r);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::ListPodSandbox(Ctx*, const runtime::v1::ListPodSandboxRequest* req,
                                            runtime::v1::ListPodSandboxResponse* resp) {
  for (const auto& sb : sandboxes_->List()) {
    SandboxRecord r = sb->Snapshot();
    if (req->has_filter() && !Matches(r, req->filter())) continue;
    auto* item = resp->add_items();
    item->set_id(r.id);
    *item->mutable_metadata() = r.config.metadata();
    item->set_state(SandboxStateToCri(r.state));
    item->set_created_at(r.created_at);
    *item->mutable_labels() = r.config.labels();
    *item->mutable_annotations() = r.config.annotations();
    item->set_runtime_handler(r.runtime_handler);
  }
  return grpc::Status::OK;
}

}  // namespace tether
