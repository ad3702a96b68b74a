// tetherctl's connection to tetherd: one gRPC channel per endpoint, CRI stubs, call deadlines.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/v1/api.grpc.pb.h"
#include "tether/v1/images.grpc.pb.h"

namespace tether::ctl {

inline constexpr absl::string_view kDefaultEndpoint = "unix:///run/tether/tether.sock";
// Environment variables that set the endpoints when the flags are not given.
inline constexpr const char* kEndpointEnv = "TETHER_ENDPOINT";
inline constexpr const char* kImageEndpointEnv = "TETHER_IMAGE_ENDPOINT";

struct ClientOptions {
  std::string runtime_endpoint = std::string(kDefaultEndpoint);
  std::string image_endpoint;  // empty: the runtime endpoint
  // How long to wait for the socket to accept a connection.
  absl::Duration connect_timeout = absl::Seconds(2);
  // Deadline of every call.
  absl::Duration call_timeout = absl::Seconds(120);
};

// "unix:///run/x.sock" and "unix:/run/x.sock" stay as they are; an absolute path becomes a
// unix:// endpoint. Other schemes are INVALID_ARGUMENT (tetherd only listens on a unix socket).
absl::StatusOr<std::string> NormalizeEndpoint(absl::string_view endpoint);

// A timeout flag: Go-style durations ("2s", "1m30s", "500ms") or a bare number of seconds.
// Must be positive.
absl::StatusOr<absl::Duration> ParseTimeout(absl::string_view text);

// Channels are made on first use and checked to connect within the connect timeout, so a
// missing daemon is reported as such rather than as a failed call.
class CriClient {
 public:
  explicit CriClient(ClientOptions options);

  absl::StatusOr<runtime::v1::RuntimeService::StubInterface*> Runtime();
  absl::StatusOr<runtime::v1::ImageService::StubInterface*> Image();
  // Tether's own image API (tether.v1: import), on the image endpoint.
  absl::StatusOr<tether::v1::TetherImages::StubInterface*> TetherImages();

  // A context whose deadline is now + call timeout (or `timeout` when given).
  std::unique_ptr<grpc::ClientContext> NewCallContext(
      absl::Duration timeout = absl::ZeroDuration()) const;

  const ClientOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const std::string& endpoint);

  ClientOptions options_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // by normalized endpoint
  std::unique_ptr<runtime::v1::RuntimeService::StubInterface> runtime_;
  std::unique_ptr<runtime::v1::ImageService::StubInterface> image_;
  std::unique_ptr<tether::v1::TetherImages::StubInterface> tether_images_;
};

}  // namespace tether::ctl
