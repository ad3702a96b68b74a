#include "sandbox/sandbox_manager.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"

namespace tether {

SandboxPaths SandboxPaths::From(const Config& c) {
  return {.records = c.root + "/sandboxes",
          .pause_rootfs = c.root + "/pause-rootfs",
          .bundles = c.state + "/sandboxes",
          .netns = c.state + "/netns",
          .exits = c.state + "/exits",
          .sockets = c.state + "/sockets",
          .runtime_config = c.root + "/runtime-config.json"};
}

SandboxManager::SandboxManager(const Config& config, std::shared_ptr<CniNetwork> network,
                               std::shared_ptr<Monitor> monitor, Runtimes runtimes)
    : config_(config),
      paths_(SandboxPaths::From(config)),
      network_(std::move(network)),
      monitor_(std::move(monitor)),
      runtimes_(std::move(runtimes)),
      records_(paths_.records) {}

std::shared_ptr<OciRuntime> SandboxManager::RuntimeOf(const SandboxRecord& r) const {
  auto it = runtimes_.find(r.runtime_name);
  return it == runtimes_.end() ? nullptr : it->second;
}

absl::StatusOr<std::shared_ptr<Sandbox>> SandboxManager::Get(const std::string& id) const {
  if (id.empty()) return absl::InvalidArgumentError("pod_sandbox_id is required");
  absl::MutexLock l(&mu_);
  return FindByIdPrefix(sandboxes_, id, "pod sandbox");
}

std::vector<std::shared_ptr<Sandbox>> SandboxManager::List() const {
  absl::MutexLock l(&mu_);
  return ValuesOf(sandboxes_);
}

bool SandboxManager::OnExit(const std::string& id, int exit_code) {
  std::shared_ptr<Sandbox> sb;
  {
    absl::MutexLock l(&mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return false;
    sb = it->second;
  }
  SandboxRecord snapshot;
  {
    absl::MutexLock l(&sb->mu_);
    sb->exited_ = true;
    if (sb->record_.state != SandboxState::kReady) return true;
    sb->record_.state = SandboxState::kNotReady;
    snapshot = sb->record_;
  }
  spdlog::warn("sandbox {}: pause exited with code {}; sandbox is NOTREADY", id, exit_code);
  if (auto st = PersistRecord(snapshot); !st.ok()) {
    spdlog::error("sandbox {}: cannot record exit: {}", id, st.message());
  }
  return true;
}

absl::Status SandboxManager::SetPodCidr(const std::string& cidr) {
  {
    absl::MutexLock l(&mu_);
    if (pod_cidr_ == cidr) return absl::OkStatus();
    pod_cidr_ = cidr;
  }
  spdlog::info("pod CIDR set to \"{}\"", cidr);
  return WriteFileAtomic(paths_.runtime_config, nlohmann::json{{"pod_cidr", cidr}}.dump(), 0600);
}

std::string SandboxManager::pod_cidr() const {
  absl::MutexLock l(&mu_);
  return pod_cidr_;
}

void SandboxManager::SetContainerHooks(ContainerHook stop_all, ContainerHook remove_all) {
  stop_containers_ = std::move(stop_all);
  remove_containers_ = std::move(remove_all);
}

void SandboxManager::SetSandboxImageHooks(ImageRootfsPrepare prepare, ImageRootfsRelease release) {
  prepare_image_rootfs_ = std::move(prepare);
  release_image_rootfs_ = std::move(release);
}

std::vector<std::string> SandboxManager::ChainIdsInUse() const {
  std::vector<std::string> out;
  for (const auto& sb : List()) {
    auto r = sb->Snapshot();
    out.insert(out.end(), r.chain_ids.begin(), r.chain_ids.end());
  }
  return out;
}

CniAttachment SandboxManager::AttachmentOf(const SandboxRecord& r) const {
  CniAttachment a;
  a.container_id = r.id;
  a.netns_path = r.netns_path;
  const auto& m = r.config.metadata();
  a.args = {{"K8S_POD_NAMESPACE", m.namespace_()},
            {"K8S_POD_NAME", m.name()},
            {"K8S_POD_INFRA_CONTAINER_ID", r.id},
            {"K8S_POD_UID", m.uid()}};
  for (const auto& p : r.config.port_mappings()) {
    if (p.host_port() <= 0) continue;  // only ports published on the host are mappings
    CniPortMapping pm;
    pm.protocol = p.protocol() == runtime::v1::UDP    ? "udp"
                  : p.protocol() == runtime::v1::SCTP ? "sctp"
                                                      : "tcp";
    pm.container_port = p.container_port();
    pm.host_port = p.host_port();
    pm.host_ip = p.host_ip();
    a.port_mappings.push_back(pm);
  }
  // Bandwidth from the well-known pod annotations, as kubelet's CNI users read them.
  auto parse_rate = [](const std::string& v) -> uint64_t {
    // Kubernetes quantities: plain number or with k/M/G (decimal) suffix.
    if (v.empty()) return 0;
    double num = 0;
    size_t pos = 0;
    try {
      num = std::stod(v, &pos);
    } catch (...) {
      return 0;
    }
    std::string suffix = v.substr(pos);
    double mult = suffix == "k" ? 1e3 : suffix == "M" ? 1e6 : suffix == "G" ? 1e9 : 1;
    return static_cast<uint64_t>(num * mult);
  };
  const auto& ann = r.config.annotations();
  if (auto it = ann.find("kubernetes.io/ingress-bandwidth"); it != ann.end()) {
    a.bandwidth.ingress_rate = parse_rate(it->second);
    a.bandwidth.ingress_burst = UINT32_MAX;
  }
  if (auto it = ann.find("kubernetes.io/egress-bandwidth"); it != ann.end()) {
    a.bandwidth.egress_rate = parse_rate(it->second);
    a.bandwidth.egress_burst = UINT32_MAX;
  }
  a.pod_cidr = r.pod_cidr;
  return a;
}

}  // namespace tether
