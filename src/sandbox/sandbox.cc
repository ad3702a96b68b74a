#include "sandbox/sandbox.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tether {

const char* SandboxStateName(SandboxState s) {
  switch (s) {
    case SandboxState::kCreating:
      return "CREATING";
    case SandboxState::kReady:
      return "READY";
    case SandboxState::kNotReady:
      return "NOTREADY";
  }
  return "UNKNOWN";
}

std::string ReservationKey(const runtime::v1::PodSandboxMetadata& m) {
  return absl::StrCat(m.name(), "_", m.namespace_(), "_", m.uid(), "_", m.attempt());
}

std::string SandboxRecord::ReservationKey() const {
  return tether::ReservationKey(config.metadata());
}

bool SandboxRecord::host_network() const {
  return config.linux().security_context().namespace_options().network() ==
         runtime::v1::NamespaceMode::NODE;
}
bool SandboxRecord::host_ipc() const {
  return config.linux().security_context().namespace_options().ipc() ==
         runtime::v1::NamespaceMode::NODE;
}
bool SandboxRecord::host_pid() const {
  return config.linux().security_context().namespace_options().pid() ==
         runtime::v1::NamespaceMode::NODE;
}

nlohmann::json SandboxRecord::ToJson() const {
  std::string config_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(config, &config_json, opts);
  return {{"id", id},
          {"config", nlohmann::json::parse(config_json)},
          {"runtime_handler", runtime_handler},
          {"runtime_name", runtime_name},
          {"state", SandboxStateName(state)},
          {"created_at", created_at},
          {"netns_path", netns_path},
          {"bundle_dir", bundle_dir},
          {"shm_path", shm_path},
          {"cgroup_parent", cgroup_parent},
          {"pid", pid},
          {"pid_start_time", pid_start_time},
          {"monitor_pid", monitor_pid},
          {"ips", ips},
          {"cni_result", *cni_result},
          {"network_attached", network_attached},
          {"runtime_deleted", runtime_deleted},
          {"pod_cidr", pod_cidr},
          {"runtime_spec", *runtime_spec},
          {"image_id", image_id},
          {"chain_ids", chain_ids}};
}

absl::StatusOr<SandboxRecord> SandboxRecord::FromJson(const nlohmann::json& j) {
  try {
    SandboxRecord r;
    r.id = j.at("id").get<std::string>();
    auto st = google::protobuf::util::JsonStringToMessage(j.at("config").dump(), &r.config);
    if (!st.ok()) return absl::DataLossError(absl::StrCat("sandbox ", r.id, ": bad config"));
    r.runtime_handler = j.value("runtime_handler", "");
    r.runtime_name = j.value("runtime_name", "");
    std::string state = j.value("state", "CREATING");
    r.state = state == "READY"      ? SandboxState::kReady
              : state == "NOTREADY" ? SandboxState::kNotReady
                                    : SandboxState::kCreating;
    r.created_at = j.value("created_at", int64_t{0});
    r.netns_path = j.value("netns_path", "");
    r.bundle_dir = j.value("bundle_dir", "");
    r.shm_path = j.value("shm_path", "");
    r.cgroup_parent = j.value("cgroup_parent", "");
    r.pid = j.value("pid", 0);
    r.pid_start_time = j.value("pid_start_time", uint64_t{0});
    r.monitor_pid = j.value("monitor_pid", 0);
    r.ips = j.value("ips", std::vector<std::string>{});
    r.cni_result = MakeSharedJson(j.value("cni_result", nlohmann::json()));
    r.network_attached = j.value("network_attached", false);
    r.runtime_deleted = j.value("runtime_deleted", false);
    r.pod_cidr = j.value("pod_cidr", "");
    r.runtime_spec = MakeSharedJson(j.value("runtime_spec", nlohmann::json()));
    r.image_id = j.value("image_id", "");
    r.chain_ids = j.value("chain_ids", std::vector<std::string>{});
    return r;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad sandbox record: ", e.what()));
  }
}

}  // namespace tether
