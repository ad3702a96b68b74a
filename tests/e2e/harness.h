// End-to-end harness: a real tetherd on its own root, state dir, socket and CNI network, driven
// over gRPC. Every test that uses it owns one daemon and removes everything it made.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/v1/api.grpc.pb.h"

namespace tether::e2e {

// Skips the current test unless we are root and runc, conmon and the CNI plugins are installed.
bool CanRunE2E(std::string* why);

// Several e2e runs may share a machine (one per work tree): TETHER_E2E_NET=N (0-99) gives a run its
// own bridge, subnet (10.(89+N).0.0/16) and pod log root.
int E2ENet();
std::string E2ESubnetPrefix();  // "10.89." for net 0
std::string E2ELogRoot();       // "/tmp/tether-e2e-logs" for net 0

struct DaemonOptions {
  std::string bridge = "tethere2e" + std::to_string(E2ENet());
  std::string subnet = E2ESubnetPrefix() + "0.0/16";
  bool with_network = true;       // false: an empty CNI conf dir (NetworkReady false)
  std::string extra_plugin_json;  // appended to the plugin chain, e.g. a failing plugin
  std::string sandbox_image;      // tetherd's sandbox_image ("" = the built-in pause)
  uint64_t import_max_bytes = 0;  // tetherd's import_max_bytes (0 = its default)
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options = {});
  ~Daemon();  // stops the daemon (SIGTERM), removes pods it still has, deletes its dirs

  absl::Status Start();
  void Kill9();      // kill -9, as a crash would
  void Terminate();  // SIGTERM, waits for exit
  bool Running() const { return pid_ > 0; }

  runtime::v1::RuntimeService::Stub& runtime() { return *runtime_; }
  runtime::v1::ImageService::Stub& images() { return *images_; }
  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }
  const std::string& socket() const { return socket_; }
  const std::string& base() const { return base_; }
  const std::string& bin_dir() const { return bin_dir_; }
  std::string Log() const;  // the daemon's log so far
  pid_t pid() const { return pid_; }

  // RunPodSandbox with a minimal valid config named `name`; returns the id.
  absl::StatusOr<std::string> RunPod(const std::string& name,
                                     runtime::v1::PodSandboxConfig* config_out = nullptr);
  absl::StatusOr<runtime::v1::PodSandboxStatusResponse> PodStatus(const std::string& id,
                                                                  bool verbose = true);
  absl::StatusOr<std::string> Pull(const std::string& image);
  absl::StatusOr<std::string> CreateContainer(const std::string& pod_id,
                                              const runtime::v1::ContainerConfig& config,
                                              const runtime::v1::PodSandboxConfig& pod_config);
  absl::Status StartContainer(const std::string& id);
  absl::Status StopContainer(const std::string& id, int64_t timeout);
  absl::Status RemoveContainer(const std::string& id);
  absl::StatusOr<runtime::v1::ContainerStatusResponse> ContainerStatus(const std::string& id,
                                                                       bool verbose = true);
  // Polls ContainerStatus (test side) until the container has exited or `seconds` pass.
  absl::StatusOr<runtime::v1::ContainerStatus> WaitExited(const std::string& id, int seconds = 10);
  absl::StatusOr<runtime::v1::ExecSyncResponse> Exec(const std::string& id,
                                                     std::vector<std::string> cmd,
                                                     int64_t timeout = 0);

 private:
  DaemonOptions options_;
  std::string base_, root_, state_, socket_, log_path_, cni_dir_, bin_dir_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> runtime_;
  std::unique_ptr<runtime::v1::ImageService::Stub> images_;
};

runtime::v1::PodSandboxConfig PodConfig(const std::string& name);
// PodConfig(name) with the pod's PID namespace shared by its containers (NamespaceMode POD).
runtime::v1::PodSandboxConfig SharedPidPodConfig(const std::string& name);

// For test bodies: a failure is a test failure (EXPECT, with the daemon's log) and returns "".
// RunPodSandbox with `*config` (PodConfig of its name when it has no metadata); the pod's id.
std::string StartedPod(Daemon& d, runtime::v1::PodSandboxConfig* config);
// CreateContainer + StartContainer in `pod`: the id of the running container.
std::string StartedContainer(Daemon& d, const std::string& pod,
                             const runtime::v1::PodSandboxConfig& pod_config,
                             const runtime::v1::ContainerConfig& config);

// The test registry the CTest fixture started ("127.0.0.1:PORT"), or "" when there is none.
std::string TestRegistry();
// Test images are named under this host, which tetherd's config mirrors to the test registry.
inline constexpr char kMirroredHost[] = "registry.tether.test";
std::string TestImage(const std::string& name);  // "registry.tether.test/tether-test/NAME:1"
runtime::v1::ContainerConfig ContainerConfig(const std::string& name, const std::string& image,
                                             std::vector<std::string> command);
// Runs a command and returns its stdout (error on non-zero exit).
absl::StatusOr<std::string> Sh(const std::vector<std::string>& argv);
// Lines of /proc/self/mountinfo that mention `needle`.
std::vector<std::string> MountsMentioning(const std::string& needle);
// Polls `pred` every 100 ms for up to `seconds`; whether it held (a last look at the deadline).
bool Eventually(const std::function<bool()>& pred, int seconds);

}  // namespace tether::e2e

#define REQUIRE_REGISTRY()                                                           \
  do {                                                                               \
    if (::tether::e2e::TestRegistry().empty())                                       \
      GTEST_SKIP() << "no test registry: run through ctest (fixture test_registry)"; \
  } while (0)

#define REQUIRE_E2E()                                           \
  do {                                                          \
    std::string why_;                                           \
    if (!::tether::e2e::CanRunE2E(&why_)) GTEST_SKIP() << why_; \
  } while (0)
