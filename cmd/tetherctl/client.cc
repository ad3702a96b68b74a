#include "tetherctl/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace tether::ctl {
namespace {

// As crictl: responses (ListContainers on a busy node) may be large.
constexpr int kMaxMessageSize = 16 * 1024 * 1024;

// The filesystem path of a unix endpoint, or "" for anything else.
std::string UnixPath(absl::string_view endpoint) {
  if (absl::ConsumePrefix(&endpoint, "unix://")) return std::string(endpoint);
  if (absl::ConsumePrefix(&endpoint, "unix:")) return std::string(endpoint);
  return "";
}

}  // namespace

absl::StatusOr<std::string> NormalizeEndpoint(absl::string_view endpoint) {
  if (endpoint.empty()) return absl::InvalidArgumentError("the runtime endpoint is empty");
  if (endpoint.front() == '/') return absl::StrCat("unix://", endpoint);
  if (absl::StartsWith(endpoint, "unix:")) {
    if (UnixPath(endpoint).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint ", endpoint, " has no path"));
    }
    return std::string(endpoint);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported endpoint \"", endpoint, "\": use unix:///path/to/socket or an absolute path"));
}

absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text) {
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid timeout \"", text, "\": use e.g. 30, 30s, 2m or 500ms"));
  }
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("the timeout must be positive: ", text));
  }
  return d;
}

CriClient::CriClient(ClientOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CriClient::Connect(const std::string& endpoint) {
  auto normalized = NormalizeEndpoint(endpoint);
  if (!normalized.ok()) return normalized.status();
  if (auto it = channels_.find(*normalized); it != channels_.end()) return it->second;

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  args.SetMaxSendMessageSize(kMaxMessageSize);
  auto channel = grpc::CreateCustomChannel(*normalized, grpc::InsecureChannelCredentials(), args);
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.connect_timeout);
  if (!channel->WaitForConnected(deadline)) {
    std::string why =
        absl::StrCat("timed out after ", absl::FormatDuration(options_.connect_timeout));
    struct stat st;
    const std::string path = UnixPath(*normalized);
    if (!path.empty() && ::stat(path.c_str(), &st) != 0) {
      why = absl::StrCat(path, ": ", std::strerror(errno));
    }
    return absl::UnavailableError(absl::StrCat("connect to the runtime endpoint ", *normalized,
                                               ": ", why, " (is tetherd running?)"));
  }
  channels_[*normalized] = channel;
  return channel;
}

absl::StatusOr<runtime::v1::RuntimeService::StubInterface*> CriClient::Runtime() {
  if (runtime_ == nullptr) {
    auto channel = Connect(options_.runtime_endpoint);
    if (!channel.ok()) return channel.status();
    runtime_ = runtime::v1::RuntimeService::NewStub(*channel);
  }
  return runtime_.get();
}

absl::StatusOr<runtime::v1::ImageService::StubInterface*> CriClient::Image() {
  if (image_ == nullptr) {
    auto channel = Connect(options_.image_endpoint.empty() ? options_.runtime_endpoint
                                                           : options_.image_endpoint);
    if (!channel.ok()) return channel.status();
    image_ = runtime::v1::ImageService::NewStub(*channel);
  }
  return image_.get();
}

absl::StatusOr<tether::v1::TetherImages::StubInterface*> CriClient::TetherImages() {
  if (tether_images_ == nullptr) {
    auto channel = Connect(options_.image_endpoint.empty() ? options_.runtime_endpoint
                                                           : options_.image_endpoint);
    if (!channel.ok()) return channel.status();
    tether_images_ = tether::v1::TetherImages::NewStub(*channel);
  }
  return tether_images_.get();
}

std::unique_ptr<grpc::ClientContext> CriClient::NewCallContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  const absl::Duration t = timeout > absl::ZeroDuration() ? timeout : options_.call_timeout;
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(t));
  return context;
}

}  // namespace tether::ctl
