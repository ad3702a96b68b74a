#include "oci/userns.h"

#include "absl/strings/str_cat.h"

namespace tether {
namespace {

absl::StatusOr<IdMapping> OneMapping(
    const google::protobuf::RepeatedPtrField<runtime::v1::IDMapping>& maps,
    const std::string& field) {
  if (maps.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": exactly one mapping is supported, got ", maps.size()));
  }
  const auto& m = maps[0];
  if (m.container_id() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, "[0].container_id: must be 0 (container id 0 must be mapped), got ",
                     m.container_id()));
  }
  if (m.length() == 0) return absl::InvalidArgumentError(field + "[0].length: must be positive");
  if (uint64_t{m.host_id()} + m.length() > (uint64_t{1} << 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, "[0]: host ids ", m.host_id(), "+", m.length(), " overflow 32 bits"));
  }
  return IdMapping{m.container_id(), m.host_id(), m.length()};
}

}  // namespace

absl::StatusOr<std::optional<UsernsMappings>> PodUserns(const runtime::v1::NamespaceOption& ns,
                                                        const std::string& field) {
  if (!ns.has_userns_options()) return std::nullopt;
  const auto& u = ns.userns_options();
  const std::string f = field + ".userns_options";
  switch (u.mode()) {
    case runtime::v1::NODE:
      if (u.uids_size() > 0 || u.gids_size() > 0) {
        return absl::InvalidArgumentError(f + ": NODE takes no uid or gid mappings");
      }
      return std::nullopt;
    case runtime::v1::POD:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(f, ".mode: ", runtime::v1::NamespaceMode_Name(u.mode()),
                       " is not supported for user namespaces (POD or NODE)"));
  }
  if (ns.network() == runtime::v1::NODE || ns.pid() == runtime::v1::NODE ||
      ns.ipc() == runtime::v1::NODE) {
    return absl::InvalidArgumentError(
        f +
        ": a pod in its own user namespace cannot use the host's network, PID or IPC namespace");
  }
  UsernsMappings out;
  auto uids = OneMapping(u.uids(), f + ".uids");
  if (!uids.ok()) return uids.status();
  auto gids = OneMapping(u.gids(), f + ".gids");
  if (!gids.ok()) return gids.status();
  out.uids = *uids;
  out.gids = *gids;
  return out;
}

nlohmann::json OciIdMappings(const IdMapping& m) {
  return nlohmann::json::array(
      {{{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.length}}});
}

}  // namespace tether
