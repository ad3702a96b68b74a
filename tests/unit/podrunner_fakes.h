// Fakes for the pod runner's unit tests: a clock that moves only when slept on, and a CRI
// runtime whose containers run and exit by script on that clock.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "podrunner/cri_client.h"
#include "podrunner/pod_runner.h"

namespace tether::podrunner::fake {

class FakeClock : public Clock {
 public:
  absl::Time Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  void Sleep(absl::Duration d) override {
    std::lock_guard<std::mutex> l(mu_);
    now_ += d;
  }

 private:
  std::mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

// How a container's attempts behave: run for `run` then exit with `code`; the last entry repeats.
struct Attempt {
  absl::Duration run;
  int code = 0;
};

class FakeRuntime : public RuntimeClient {
 public:
  explicit FakeRuntime(FakeClock* clock) : clock_(clock) {}

  std::map<std::string, std::vector<Attempt>> scripts;  // by container name
  std::vector<std::string> calls;                       // "Create app", "Stop sidecar", ...
  std::set<std::string> present_images;

  struct Fake {
    std::string name;
    uint32_t attempt = 0;
    runtime::v1::ContainerState state = runtime::v1::CONTAINER_CREATED;
    absl::Time created, started, finished;
    int code = 0;
    Attempt script;
  };
  std::map<std::string, Fake> containers;  // by id
  bool sandbox_ready = false;
  std::string pod_ip;  // PodSandboxStatus' network.ip
  // ExecSync's answer (probes and hooks) for a running container; null: exit 0. Called without
  // the fake's lock held.
  std::function<absl::StatusOr<runtime::v1::ExecSyncResponse>(const Fake& c,
                                                              const std::vector<std::string>& cmd)>
      exec;
  std::map<std::string, std::vector<int64_t>> stop_timeouts;  // StopContainer's, by name

  static runtime::v1::ExecSyncResponse ExitCode(int code, const std::string& out = "") {
    runtime::v1::ExecSyncResponse r;
    r.set_exit_code(code);
    r.set_stdout(out);
    return r;
  }

  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls;
  }
  // Index of a call in the log, or -1.
  int IndexOf(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i] == call) return static_cast<int>(i);
    }
    return -1;
  }
  int Count(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(std::count(calls.begin(), calls.end(), call));
  }
  std::vector<Fake> Named(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Fake> out;
    for (auto& [id, c] : containers) {
      if (c.name == name) out.push_back(c);
    }
    std::sort(out.begin(), out.end(),
              [](const Fake& a, const Fake& b) { return a.attempt < b.attempt; });
    return out;
  }
  bool AllRunning(const std::vector<std::string>& names) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& n : names) {
      bool running = false;
      for (auto& [id, c] : containers) {
        Update(c);
        running |= c.name == n && c.state == runtime::v1::CONTAINER_RUNNING;
      }
      if (!running) return false;
    }
    return true;
  }

  absl::StatusOr<std::string> RunPodSandbox(const runtime::v1::PodSandboxConfig& c) override {
    Log("RunPodSandbox " + c.metadata().name());
    sandbox_ready = true;
    return std::string("sandbox1");
  }
  absl::Status StopPodSandbox(const std::string&) override {
    Log("StopPodSandbox");
    std::lock_guard<std::mutex> l(mu_);
    sandbox_ready = false;
    for (auto& [id, c] : containers) {
      Update(c);
      if (c.state == runtime::v1::CONTAINER_RUNNING) Exit(c, 137);
    }
    return absl::OkStatus();
  }
  absl::Status RemovePodSandbox(const std::string&) override {
    Log("RemovePodSandbox");
    return absl::OkStatus();
  }
  absl::StatusOr<runtime::v1::PodSandboxStatus> PodSandboxStatus(const std::string&) override {
    runtime::v1::PodSandboxStatus s;
    std::lock_guard<std::mutex> l(mu_);
    s.set_state(sandbox_ready ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY);
    s.mutable_network()->set_ip(pod_ip);
    return s;
  }
  absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPodSandbox(
      const std::map<std::string, std::string>&) override {
    return std::vector<runtime::v1::PodSandbox>{};
  }
  absl::StatusOr<bool> ImagePresent(const std::string& image) override {
    std::lock_guard<std::mutex> l(mu_);
    return present_images.contains(image);
  }
  absl::StatusOr<std::string> PullImage(const std::string& image,
                                        const runtime::v1::PodSandboxConfig&) override {
    Log("Pull " + image);
    std::lock_guard<std::mutex> l(mu_);
    present_images.insert(image);
    return image;
  }
  absl::StatusOr<std::string> CreateContainer(const std::string&,
                                              const runtime::v1::ContainerConfig& config,
                                              const runtime::v1::PodSandboxConfig&) override {
    const std::string& name = config.metadata().name();
    Log("Create " + name);
    std::lock_guard<std::mutex> l(mu_);
    std::string id = absl::StrCat("c", containers.size() + 1);
    Fake f{.name = name, .attempt = config.metadata().attempt(), .created = clock_->Now()};
    const auto& script = scripts[name];
    f.script = script.empty() ? Attempt{absl::InfiniteDuration()}
                              : script[std::min<size_t>(f.attempt, script.size() - 1)];
    containers[id] = f;
    return id;
  }
  absl::Status StartContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    Fake& c = containers.at(id);
    calls.push_back("Start " + c.name);
    c.state = runtime::v1::CONTAINER_RUNNING;
    c.started = clock_->Now();
    return absl::OkStatus();
  }
  absl::Status StopContainer(const std::string& id, int64_t timeout) override {
    std::lock_guard<std::mutex> l(mu_);
    Fake& c = containers.at(id);
    calls.push_back("Stop " + c.name);
    stop_timeouts[c.name].push_back(timeout);
    Update(c);
    if (c.state == runtime::v1::CONTAINER_RUNNING) Exit(c, 137);
    return absl::OkStatus();
  }
  absl::Status RemoveContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    calls.push_back("Remove " + containers.at(id).name);
    return absl::OkStatus();
  }
  absl::StatusOr<runtime::v1::ContainerStatus> ContainerStatus(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = containers.find(id);
    if (it == containers.end()) return absl::NotFoundError(id);
    Update(it->second);
    runtime::v1::ContainerStatus s;
    s.set_id(id);
    s.set_state(it->second.state);
    s.set_exit_code(it->second.code);
    return s;
  }
  absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(const std::string&) override {
    return std::vector<runtime::v1::Container>{};
  }
  absl::StatusOr<runtime::v1::ExecSyncResponse> ExecSync(const std::string& id,
                                                         const std::vector<std::string>& cmd,
                                                         absl::Duration) override {
    Fake c;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = containers.find(id);
      if (it == containers.end()) return absl::NotFoundError(id);
      Update(it->second);
      calls.push_back(absl::StrCat("Exec ", it->second.name, " ", absl::StrJoin(cmd, " ")));
      if (it->second.state != runtime::v1::CONTAINER_RUNNING) {
        return absl::FailedPreconditionError(absl::StrCat(id, " is not running"));
      }
      c = it->second;
    }
    if (!exec) return ExitCode(0);
    return exec(c, cmd);
  }

 private:
  void Log(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    calls.push_back(call);
  }
  // A running container whose script says it has exited by now.
  void Update(Fake& c) {
    if (c.state != runtime::v1::CONTAINER_RUNNING) return;
    if (clock_->Now() >= c.started + c.script.run) {
      c.state = runtime::v1::CONTAINER_EXITED;
      c.code = c.script.code;
      c.finished = c.started + c.script.run;
    }
  }
  void Exit(Fake& c, int code) {
    c.state = runtime::v1::CONTAINER_EXITED;
    c.code = code;
    c.finished = clock_->Now();
  }

  FakeClock* clock_;
  std::mutex mu_;
};

// A Pod manifest named p with `spec` (YAML lines indented by two) as its spec.
inline std::string PodWith(const std::string& spec) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + spec;
}

}  // namespace tether::podrunner::fake
