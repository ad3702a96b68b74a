// The CRI calls the pod runner makes, behind an interface so that the state machine is tested
// with a fake; GrpcRuntimeClient is the real one over tetherd's socket.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/v1/api.grpc.pb.h"

namespace tether::podrunner {

class RuntimeClient {
 public:
  virtual ~RuntimeClient() = default;

  virtual absl::StatusOr<std::string> RunPodSandbox(
      const runtime::v1::PodSandboxConfig& config) = 0;
  virtual absl::Status StopPodSandbox(const std::string& id) = 0;
  virtual absl::Status RemovePodSandbox(const std::string& id) = 0;
  // NOT_FOUND when there is no such sandbox.
  virtual absl::StatusOr<runtime::v1::PodSandboxStatus> PodSandboxStatus(const std::string& id) = 0;
  // Sandboxes whose labels include all of `labels`.
  virtual absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPodSandbox(
      const std::map<std::string, std::string>& labels) = 0;

  // Whether the image is present (ImageStatus answers an image).
  virtual absl::StatusOr<bool> ImagePresent(const std::string& image) = 0;
  // Returns the image reference.
  virtual absl::StatusOr<std::string> PullImage(const std::string& image,
                                                const runtime::v1::PodSandboxConfig& config) = 0;

  virtual absl::StatusOr<std::string> CreateContainer(
      const std::string& pod_id, const runtime::v1::ContainerConfig& config,
      const runtime::v1::PodSandboxConfig& sandbox_config) = 0;
  virtual absl::Status StartContainer(const std::string& id) = 0;
  virtual absl::Status StopContainer(const std::string& id, int64_t timeout_seconds) = 0;
  virtual absl::Status RemoveContainer(const std::string& id) = 0;
  virtual absl::StatusOr<runtime::v1::ContainerStatus> ContainerStatus(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(
      const std::string& pod_id) = 0;
  // Runs `cmd` in the container (probes and hooks); `timeout` zero: none, else rounded up to
  // whole seconds. DEADLINE_EXCEEDED when the command timed out. Not pure, so that clients
  // made before it keep compiling: the default answers UNIMPLEMENTED.
  virtual absl::StatusOr<runtime::v1::ExecSyncResponse> ExecSync(
      const std::string& id, const std::vector<std::string>& cmd, absl::Duration timeout);
};

// Over CRI stubs owned by the caller (tetherctl's client, or an e2e test's daemon).
class GrpcRuntimeClient : public RuntimeClient {
 public:
  GrpcRuntimeClient(runtime::v1::RuntimeService::StubInterface* runtime,
                    runtime::v1::ImageService::StubInterface* images,
                    absl::Duration call_timeout = absl::Minutes(2));

  absl::StatusOr<std::string> RunPodSandbox(const runtime::v1::PodSandboxConfig& config) override;
  absl::Status StopPodSandbox(const std::string& id) override;
  absl::Status RemovePodSandbox(const std::string& id) override;
  absl::StatusOr<runtime::v1::PodSandboxStatus> PodSandboxStatus(const std::string& id) override;
  absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPodSandbox(
      const std::map<std::string, std::string>& labels) override;
  absl::StatusOr<bool> ImagePresent(const std::string& image) override;
  absl::StatusOr<std::string> PullImage(const std::string& image,
                                        const runtime::v1::PodSandboxConfig& config) override;
  absl::StatusOr<std::string> CreateContainer(
      const std::string& pod_id, const runtime::v1::ContainerConfig& config,
      const runtime::v1::PodSandboxConfig& sandbox_config) override;
  absl::Status StartContainer(const std::string& id) override;
  absl::Status StopContainer(const std::string& id, int64_t timeout_seconds) override;
  absl::Status RemoveContainer(const std::string& id) override;
  absl::StatusOr<runtime::v1::ContainerStatus> ContainerStatus(const std::string& id) override;
  absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(
      const std::string& pod_id) override;
  absl::StatusOr<runtime::v1::ExecSyncResponse> ExecSync(const std::string& id,
                                                         const std::vector<std::string>& cmd,
                                                         absl::Duration timeout) override;

 private:
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::ZeroDuration());

  runtime::v1::RuntimeService::StubInterface* runtime_;
  runtime::v1::ImageService::StubInterface* images_;
  absl::Duration call_timeout_;
};

// Stop and remove are idempotent: NOT_FOUND means already done.
inline bool IgnoreNotFound(const absl::Status& st) { return st.ok() || absl::IsNotFound(st); }

}  // namespace tether::podrunner
