#include "container/container.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tether {

const char* ContainerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreating:
      return "CREATING";
    case ContainerState::kCreated:
      return "CREATED";
    case ContainerState::kRunning:
      return "RUNNING";
    case ContainerState::kExited:
      return "EXITED";
  }
  return "UNKNOWN";
}

nlohmann::json ContainerRecord::ToJson() const {
  std::string config_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(config, &config_json, opts);
  return {{"id", id},
          {"sandbox_id", sandbox_id},
          {"config", nlohmann::json::parse(config_json)},
          {"image_id", image_id},
          {"image_ref", image_ref},
          {"image_repo_digest", image_repo_digest},
          {"chain_ids", chain_ids},
          {"runtime_name", runtime_name},
          {"state", ContainerStateName(state)},
          {"created_at", created_at},
          {"started_at", started_at},
          {"finished_at", finished_at},
          {"exit_code", exit_code},
          {"reason", reason},
          {"message", message},
          {"pid", pid},
          {"pid_start_time", pid_start_time},
          {"monitor_pid", monitor_pid},
          {"bundle_dir", bundle_dir},
          {"rootfs", rootfs},
          {"log_path", log_path},
          {"runtime_spec", *runtime_spec},
          {"stop_signal", stop_signal},
          {"uid", uid},
          {"username", username}};
}

absl::StatusOr<ContainerRecord> ContainerRecord::FromJson(const nlohmann::json& j) {
  try {
    ContainerRecord r;
    r.id = j.at("id").get<std::string>();
    if (!google::protobuf::util::JsonStringToMessage(j.at("config").dump(), &r.config).ok()) {
      return absl::DataLossError(absl::StrCat("container ", r.id, ": bad config"));
    }
    r.sandbox_id = j.value("sandbox_id", "");
    r.image_id = j.value("image_id", "");
    r.image_ref = j.value("image_ref", "");
    r.image_repo_digest = j.value("image_repo_digest", "");
    r.chain_ids = j.value("chain_ids", std::vector<std::string>{});
    r.runtime_name = j.value("runtime_name", "");
    std::string st = j.value("state", "CREATING");
    r.state = st == "CREATED"   ? ContainerState::kCreated
              : st == "RUNNING" ? ContainerState::kRunning
              : st == "EXITED"  ? ContainerState::kExited
                                : ContainerState::kCreating;
    r.created_at = j.value("created_at", int64_t{0});
    r.started_at = j.value("started_at", int64_t{0});
    r.finished_at = j.value("finished_at", int64_t{0});
    r.exit_code = j.value("exit_code", 0);
    r.reason = j.value("reason", "");
    r.message = j.value("message", "");
    r.pid = j.value("pid", 0);
    r.pid_start_time = j.value("pid_start_time", uint64_t{0});
    r.monitor_pid = j.value("monitor_pid", 0);
    r.bundle_dir = j.value("bundle_dir", "");
    r.rootfs = j.value("rootfs", "");
    r.log_path = j.value("log_path", "");
    r.runtime_spec = MakeSharedJson(j.value("runtime_spec", nlohmann::json()));
    r.stop_signal = j.value("stop_signal", "");
    r.uid = j.value("uid", int64_t{0});
    r.username = j.value("username", "");
    return r;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad container record: ", e.what()));
  }
}

}  // namespace tether
