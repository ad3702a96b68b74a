// Version, Status, RuntimeConfig, UpdateRuntimeConfig. Status answers from memory: the network
// condition from the CNI configuration cache, the rest from what was probed at start.
#include "server/runtime_service.h"
#include "server/status.h"
#include "util/log.h"

namespace tether {

grpc::Status RuntimeService::Version(Ctx*, const runtime::v1::VersionRequest*,
                                     runtime::v1::VersionResponse* resp) {
  resp->set_version("0.1.0");  // the CRI API's own "kubelet API version" field, as others send
  resp->set_runtime_name("tether");
  resp->set_runtime_version(TETHER_VERSION);
  resp->set_runtime_api_version("v1");
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Status(Ctx*, const runtime::v1::StatusRequest* req,
                                    runtime::v1::StatusResponse* resp) {
  auto* runtime_ready = resp->mutable_status()->add_conditions();
  runtime_ready->set_type("RuntimeReady");
  runtime_ready->set_status(true);
  auto* network_ready = resp->mutable_status()->add_conditions();
  network_ready->set_type("NetworkReady");
  auto net = sandboxes_->network()->Ready();
  network_ready->set_status(net.ok());
  if (!net.ok()) {
    network_ready->set_reason("NetworkPluginNotReady");
    network_ready->set_message(std::string("Network plugin returns error: ") +
                               std::string(net.message()));
  }
  for (const auto& [name, rt] : config_.runtimes) {
    auto* h = resp->add_runtime_handlers();
    h->set_name(name == config_.default_runtime ? "" : name);
    h->mutable_features()->set_recursive_read_only_mounts(containers_->SupportsRro(name));
    // Pods in their own user namespace (NamespaceMode POD): the kernel must have them.
    h->mutable_features()->set_user_namespaces(user_namespaces_);
    if (name == config_.default_runtime) {
      auto* named = resp->add_runtime_handlers();
      *named = *h;
      named->set_name(name);
    }
  }
  resp->mutable_features()->set_supplemental_groups_policy(true);
  if (req->verbose()) {
    nlohmann::json info = config_.ToJson();
    // Never print credentials.
    for (auto& [host, reg] : info["registries"].items()) {
      if (reg.is_object() && reg.contains("auth")) reg["auth"] = "<redacted>";
    }
    info["podCIDR"] = sandboxes_->pod_cidr();
    info["networkName"] = sandboxes_->network()->NetworkName();
    (*resp->mutable_info())["config"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::RuntimeConfig(Ctx*, const runtime::v1::RuntimeConfigRequest*,
                                           runtime::v1::RuntimeConfigResponse* resp) {
  resp->mutable_linux()->set_cgroup_driver(config_.cgroup_driver == "systemd"
                                               ? runtime::v1::CgroupDriver::SYSTEMD
                                               : runtime::v1::CgroupDriver::CGROUPFS);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::UpdateRuntimeConfig(Ctx*,
                                                 const runtime::v1::UpdateRuntimeConfigRequest* req,
                                                 runtime::v1::UpdateRuntimeConfigResponse*) {
  const std::string& cidr = req->runtime_config().network_config().pod_cidr();
  return ToGrpc(sandboxes_->SetPodCidr(cidr));
}

}  // namespace tether
