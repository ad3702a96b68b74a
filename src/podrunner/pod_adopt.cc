// Adoption: a runner taking over a sandbox that an earlier runner of the same manifest made
// (static pods after tetherd or the watcher restarted).
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "podrunner/pod_runner.h"

namespace tether::podrunner {

// Every container of the sandbox that the manifest names becomes its instance's current attempt
// (the highest attempt; earlier ones are kept to be removed) and counts as running: the first
// Refresh() then reads their states as for any exit, so an exited init container counts as done
// and an exited app is restarted per the restartPolicy. One still CREATED is started when its
// turn comes. Containers the manifest does not name (a debug container) are left alone.
absl::Status PodRunner::Adopt() {
  const std::string& id = options_.adopt_sandbox_id;
  auto containers = client_->ListContainers(id);
  if (!containers.ok()) return containers.status();
  std::vector<runtime::v1::Container> list = *std::move(containers);
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.metadata().attempt(), a.created_at()) <
           std::make_pair(b.metadata().attempt(), b.created_at());
  });
  std::map<std::string, Instance*> by_name;
  for (auto* l : {&inits_, &regular_}) {
    for (Instance& c : *l) by_name[c.spec->name] = &c;
  }
  bool any_regular = false;
  for (const runtime::v1::Container& k : list) {
    auto it = by_name.find(k.metadata().name());
    if (it == by_name.end()) continue;
    Instance& c = *it->second;
    if (!c.id.empty()) c.old.push_back(c.id);
    c.id = k.id();
    c.ever_started = true;
    c.restarts = static_cast<int>(k.metadata().attempt());
    c.state = State::kRunning;
    c.running_since = clock_->Now();
    if (k.state() == runtime::v1::CONTAINER_CREATED) {
      // Made but never started (the runner, or tetherd, died while StartContainer was in
      // flight): this attempt is started as it is, not made again.
      c.state = State::kWaiting;
      c.created_not_started = true;
    }
    any_regular |= c.role == Role::kRegular;
  }
  sandbox_id_ = id;
  if (any_regular) {
    init_done_ = true;
    phase_ = PodPhase::kRunning;
  }
  Emit("Normal", "Adopted", nullptr,
       absl::StrCat("Pod sandbox ", id.substr(0, 13), " and its containers were adopted"));
  PublishStatus();
  return absl::OkStatus();
}

}  // namespace tether::podrunner
