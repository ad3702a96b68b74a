// absl::Status → grpc::Status, in one place; the INVALID_ARGUMENT for a missing field.
#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace tether {

grpc::Status ToGrpc(const absl::Status& status);
// INVALID_ARGUMENT naming the missing request field: "<field>: is required".
grpc::Status Required(const char* field);

}  // namespace tether
