// absl::Status → grpc::Status, in one place.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace tether {

grpc::Status ToGrpc(const absl::Status& status);

}  // namespace tether
