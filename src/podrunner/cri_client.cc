#include "podrunner/cri_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace tether::podrunner {
namespace {

using Runtime = runtime::v1::RuntimeService::StubInterface;
using Images = runtime::v1::ImageService::StubInterface;

// gRPC codes are absl's codes, number for number.
absl::Status FromGrpc(absl::string_view what, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

// Pulling may rightly take long.
constexpr absl::Duration kPullTimeout = absl::Hours(1);

}  // namespace

GrpcRuntimeClient::GrpcRuntimeClient(Runtime* runtime, Images* images, absl::Duration call_timeout)
    : runtime_(runtime), images_(images), call_timeout_(call_timeout) {}

std::unique_ptr<grpc::ClientContext> GrpcRuntimeClient::Context(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout == absl::ZeroDuration()) timeout = call_timeout_;
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

absl::StatusOr<std::string> GrpcRuntimeClient::RunPodSandbox(
    const runtime::v1::PodSandboxConfig& config) {
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  runtime::v1::RunPodSandboxResponse response;
  auto st = runtime_->RunPodSandbox(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("RunPodSandbox", st);
  return response.pod_sandbox_id();
}

absl::Status GrpcRuntimeClient::StopPodSandbox(const std::string& id) {
  runtime::v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  runtime::v1::StopPodSandboxResponse response;
  return FromGrpc("StopPodSandbox", runtime_->StopPodSandbox(Context().get(), request, &response));
}

absl::Status GrpcRuntimeClient::RemovePodSandbox(const std::string& id) {
  runtime::v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  runtime::v1::RemovePodSandboxResponse response;
  return FromGrpc("RemovePodSandbox",
                  runtime_->RemovePodSandbox(Context().get(), request, &response));
}

absl::StatusOr<runtime::v1::PodSandboxStatus> GrpcRuntimeClient::PodSandboxStatus(
    const std::string& id) {
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(id);
  runtime::v1::PodSandboxStatusResponse response;
  auto st = runtime_->PodSandboxStatus(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("PodSandboxStatus", st);
  return response.status();
}

absl::StatusOr<std::vector<runtime::v1::PodSandbox>> GrpcRuntimeClient::ListPodSandbox(
    const std::map<std::string, std::string>& labels) {
  runtime::v1::ListPodSandboxRequest request;
  for (const auto& [k, v] : labels) (*request.mutable_filter()->mutable_label_selector())[k] = v;
  runtime::v1::ListPodSandboxResponse response;
  auto st = runtime_->ListPodSandbox(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("ListPodSandbox", st);
  return std::vector<runtime::v1::PodSandbox>(response.items().begin(), response.items().end());
}

absl::StatusOr<bool> GrpcRuntimeClient::ImagePresent(const std::string& image) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  runtime::v1::ImageStatusResponse response;
  auto st = images_->ImageStatus(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("ImageStatus", st);
  return response.has_image() && !response.image().id().empty();
}

absl::StatusOr<std::string> GrpcRuntimeClient::PullImage(
    const std::string& image, const runtime::v1::PodSandboxConfig& config) {
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  *request.mutable_sandbox_config() = config;
  runtime::v1::PullImageResponse response;
  auto st = images_->PullImage(Context(kPullTimeout).get(), request, &response);
  if (!st.ok()) return FromGrpc("PullImage", st);
  return response.image_ref();
}

absl::StatusOr<std::string> GrpcRuntimeClient::CreateContainer(
    const std::string& pod_id, const runtime::v1::ContainerConfig& config,
    const runtime::v1::PodSandboxConfig& sandbox_config) {
  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(pod_id);
  *request.mutable_config() = config;
  *request.mutable_sandbox_config() = sandbox_config;
  runtime::v1::CreateContainerResponse response;
  auto st = runtime_->CreateContainer(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("CreateContainer", st);
  return response.container_id();
}

absl::Status GrpcRuntimeClient::StartContainer(const std::string& id) {
  runtime::v1::StartContainerRequest request;
  request.set_container_id(id);
  runtime::v1::StartContainerResponse response;
  return FromGrpc("StartContainer", runtime_->StartContainer(Context().get(), request, &response));
}

absl::Status GrpcRuntimeClient::StopContainer(const std::string& id, int64_t timeout_seconds) {
  runtime::v1::StopContainerRequest request;
  request.set_container_id(id);
  request.set_timeout(timeout_seconds);
  runtime::v1::StopContainerResponse response;
  // The call may take the whole grace period.
  return FromGrpc(
      "StopContainer",
      runtime_->StopContainer(Context(call_timeout_ + absl::Seconds(timeout_seconds)).get(),
                              request, &response));
}

absl::Status GrpcRuntimeClient::RemoveContainer(const std::string& id) {
  runtime::v1::RemoveContainerRequest request;
  request.set_container_id(id);
  runtime::v1::RemoveContainerResponse response;
  return FromGrpc("RemoveContainer",
                  runtime_->RemoveContainer(Context().get(), request, &response));
}

absl::StatusOr<runtime::v1::ContainerStatus> GrpcRuntimeClient::ContainerStatus(
    const std::string& id) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(id);
  runtime::v1::ContainerStatusResponse response;
  auto st = runtime_->ContainerStatus(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("ContainerStatus", st);
  return response.status();
}

absl::StatusOr<std::vector<runtime::v1::Container>> GrpcRuntimeClient::ListContainers(
    const std::string& pod_id) {
  runtime::v1::ListContainersRequest request;
  request.mutable_filter()->set_pod_sandbox_id(pod_id);
  runtime::v1::ListContainersResponse response;
  auto st = runtime_->ListContainers(Context().get(), request, &response);
  if (!st.ok()) return FromGrpc("ListContainers", st);
  return std::vector<runtime::v1::Container>(response.containers().begin(),
                                             response.containers().end());
}

absl::StatusOr<runtime::v1::ExecSyncResponse> RuntimeClient::ExecSync(
    const std::string&, const std::vector<std::string>&, absl::Duration) {
  return absl::UnimplementedError("ExecSync: not offered by this runtime client");
}

absl::StatusOr<runtime::v1::ExecSyncResponse> GrpcRuntimeClient::ExecSync(
    const std::string& id, const std::vector<std::string>& cmd, absl::Duration timeout) {
  runtime::v1::ExecSyncRequest request;
  request.set_container_id(id);
  for (const std::string& arg : cmd) request.add_cmd(arg);
  int64_t seconds = 0;
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    seconds = absl::ToInt64Seconds(absl::Ceil(timeout, absl::Seconds(1)));
  }
  request.set_timeout(seconds);
  runtime::v1::ExecSyncResponse response;
  // The call lasts as long as the command may; without a timeout, as long as it takes.
  auto context = seconds > 0 ? Context(call_timeout_ + absl::Seconds(seconds))
                             : std::make_unique<grpc::ClientContext>();
  auto st = runtime_->ExecSync(context.get(), request, &response);
  if (!st.ok()) return FromGrpc("ExecSync", st);
  return response;
}

}  // namespace tether::podrunner
