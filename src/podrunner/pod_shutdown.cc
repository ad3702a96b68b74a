// Shutting a pod down in kubelet's order: preStop hooks, the regular containers together, then
// the sidecars one by one from the last, then the sandbox; by the runner that ran it
// (PodRunner::Shutdown) or from what the runtime lists (DownPod, `play --down`).
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "podrunner/hooks.h"
#include "podrunner/pod_runner.h"
#include "util/file.h"
#include "util/log.h"

namespace tether::podrunner {
namespace {

// Stops `regular` together, then `sidecars` one by one from the last; `stop` stops one (its
// preStop hook, then StopContainer).
void StopInOrder(const std::vector<std::string>& regular, const std::vector<std::string>& sidecars,
                 const std::function<void(const std::string&)>& killing,
                 const std::function<absl::Status(const std::string&)>& stop) {
  std::vector<std::thread> stops;
  for (const std::string& id : regular) {
    if (killing) killing(id);
    stops.emplace_back([&stop, id] {
      auto st = stop(id);
      if (!IgnoreNotFound(st)) spdlog::warn("play: stop container {}: {}", id, st.message());
    });
  }
  for (auto& t : stops) t.join();
  for (auto it = sidecars.rbegin(); it != sidecars.rend(); ++it) {
    if (killing) killing(*it);
    auto st = stop(*it);
    if (!IgnoreNotFound(st)) spdlog::warn("play: stop container {}: {}", *it, st.message());
  }
}

}  // namespace

void PodRunner::Shutdown() {
  std::vector<std::string> regular, sidecars;
  std::map<std::string, Instance*> by_id;
  for (Instance& c : regular_) {
    if (c.state == State::kRunning) regular.push_back(c.id);
    by_id[c.id] = &c;
  }
  for (Instance& c : inits_) {
    if (c.role == Role::kSidecar && c.state == State::kRunning) sidecars.push_back(c.id);
    by_id[c.id] = &c;
  }
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.probes) c.probes->Stop();
    }
  }
  StopInOrder(
      regular, sidecars,
      [&](const std::string& id) {
        Instance* c = by_id[id];
        Emit("Normal", "Killing", c, absl::StrCat("Stopping container ", c->spec->name));
      },
      [&](const std::string& id) {
        Instance* c = by_id.at(id);  // from several threads: no operator[]
        return StopWithPreStop(client_, prober_, clock_, *c->spec, TargetOf(*c),
                               pod_.termination_grace_period_seconds,
                               [&](const std::string& reason, const std::string& message) {
                                 Emit("Warning", reason, c, message);
                               });
      });
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      if (c.state == State::kRunning) c.state = State::kExited;
    }
  }
  auto st = client_->StopPodSandbox(sandbox_id_);
  if (!IgnoreNotFound(st)) spdlog::warn("play: stop pod sandbox: {}", st.message());
  if (!options_.remove) return;
  for (auto* list : {&inits_, &regular_}) {
    for (Instance& c : *list) {
      std::vector<std::string> ids = c.old;
      if (!c.id.empty()) ids.push_back(c.id);
      for (const std::string& id : ids) {
        auto rm = client_->RemoveContainer(id);
        if (!IgnoreNotFound(rm)) spdlog::warn("play: remove container {}: {}", id, rm.message());
      }
    }
  }
  st = client_->RemovePodSandbox(sandbox_id_);
  if (!IgnoreNotFound(st)) spdlog::warn("play: remove pod sandbox: {}", st.message());
  RemoveAll(absl::StrCat(options_.volume_root, "/", uid_)).IgnoreError();
}

// --- play --down -----------------------------------------------------------------------------

absl::StatusOr<int> DownPod(RuntimeClient* client, const PodManifest& pod,
                            const RunnerOptions& options) {
  std::map<std::string, std::string> labels = {
      {kPodNameLabel, pod.name}, {kPodNamespaceLabel, pod.namespace_}, {kPlayLabel, "true"}};
  if (!pod.uid.empty()) labels[kPodUidLabel] = pod.uid;
  auto sandboxes = client->ListPodSandbox(labels);
  if (!sandboxes.ok()) return sandboxes.status();
  for (const runtime::v1::PodSandbox& sandbox : *sandboxes) {
    auto containers = client->ListContainers(sandbox.id());
    if (!containers.ok()) return containers.status();
    std::map<std::string, int> sidecar_order;
    for (size_t i = 0; i < pod.init_containers.size(); ++i) {
      if (pod.init_containers[i].sidecar) sidecar_order[pod.init_containers[i].name] = i;
    }
    std::vector<std::string> regular;
    std::vector<std::pair<int, std::string>> sidecars;
    for (const runtime::v1::Container& c : *containers) {
      if (c.state() != runtime::v1::CONTAINER_RUNNING &&
          c.state() != runtime::v1::CONTAINER_CREATED) {
        continue;
      }
      auto name = c.labels().find(kContainerNameLabel);
      std::string n = name == c.labels().end() ? "" : name->second;
      if (sidecar_order.contains(n)) {
        sidecars.emplace_back(sidecar_order[n], c.id());
      } else {
        regular.push_back(c.id());
      }
    }
    std::sort(sidecars.begin(), sidecars.end());
    std::vector<std::string> sidecar_ids;
    for (auto& [_, id] : sidecars) sidecar_ids.push_back(id);
    // preStop hooks as the runner would run them.
    std::map<std::string, const ContainerSpec*> spec_of_id;
    for (const runtime::v1::Container& c : *containers) {
      auto name = c.labels().find(kContainerNameLabel);
      if (name == c.labels().end()) continue;
      for (const auto* list : {&pod.init_containers, &pod.containers}) {
        for (const ContainerSpec& spec : *list) {
          if (spec.name == name->second) spec_of_id[c.id()] = &spec;
        }
      }
    }
    std::string pod_ip = "127.0.0.1";
    if (!pod.host_network) {
      auto status = client->PodSandboxStatus(sandbox.id());
      pod_ip = status.ok() ? status->network().ip() : "";
    }
    std::unique_ptr<Prober> own_prober;
    Prober* prober = options.prober;
    if (prober == nullptr) {
      own_prober = std::make_unique<RuntimeProber>(client);
      prober = own_prober.get();
    }
    Clock* clock = options.clock != nullptr ? options.clock : RealClock();
    const int64_t grace = pod.termination_grace_period_seconds;
    StopInOrder(regular, sidecar_ids, nullptr, [&](const std::string& id) {
      auto spec = spec_of_id.find(id);
      if (spec == spec_of_id.end()) return client->StopContainer(id, grace);
      ProbeTarget target{
          .container_id = id, .container_name = spec->second->name, .pod_ip = pod_ip};
      return StopWithPreStop(client, prober, clock, *spec->second, target, grace,
                             [&](const std::string& reason, const std::string& message) {
                               spdlog::warn("play: {} {}: {}", reason, spec->second->name, message);
                             });
    });
    if (auto st = client->StopPodSandbox(sandbox.id()); !IgnoreNotFound(st)) return st;
    if (options.remove) {
      for (const runtime::v1::Container& c : *containers) {
        if (auto st = client->RemoveContainer(c.id()); !IgnoreNotFound(st)) return st;
      }
      if (auto st = client->RemovePodSandbox(sandbox.id()); !IgnoreNotFound(st)) return st;
      if (!sandbox.metadata().uid().empty()) {
        RemoveAll(absl::StrCat(options.volume_root, "/", sandbox.metadata().uid())).IgnoreError();
      }
    }
  }
  return static_cast<int>(sandboxes->size());
}

}  // namespace tether::podrunner
