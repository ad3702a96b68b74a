// Fakes the sandbox and container manager tests share.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "network/cni.h"
#include "oci/monitor.h"

namespace tether::fake {

// The process "exited" at once: pid 0 is no process, so Stop finds nothing to kill.
class FakeMonitor : public Monitor {
 public:
  absl::StatusOr<MonitorStarted> Create(const MonitorSpec& spec) override {
    if (on_create) on_create(spec);  // a test's stand-in for conmon + `runc create` taking time
    return MonitorStarted{.container_pid = 0, .monitor_pid = 0};
  }

  std::function<void(const MonitorSpec&)> on_create;
};

// A network that is always ready and wires nothing.
class NoNetwork : public CniNetwork {
 public:
  absl::Status Ready() override { return absl::OkStatus(); }
  absl::StatusOr<CniResult> Add(const CniAttachment&) override { return CniResult{}; }
  absl::Status Del(const CniAttachment&) override { return absl::OkStatus(); }
  absl::Status Check(const CniAttachment&) override { return absl::OkStatus(); }
  std::string NetworkName() override { return "none"; }
};

}  // namespace tether::fake
