// Domain records → CRI messages, shared by the status, list and event verbs.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "container/container.h"
#include "container/container_manager.h"
#include "google/protobuf/map.h"
#include "runtime/v1/api.pb.h"
#include "sandbox/sandbox.h"

namespace tether {

runtime::v1::ContainerState ContainerStateToCri(ContainerState s);
void FillImageSpec(const ContainerRecord& r, runtime::v1::ImageSpec* image);
void FillContainerStatus(const ContainerRecord& r, runtime::v1::ContainerStatus* s);
runtime::v1::PodSandboxState SandboxStateToCri(SandboxState s);
void FillSandboxStatus(const SandboxRecord& r, runtime::v1::PodSandboxStatus* s);

// Whether `labels` hold every key and value of a filter's label selector.
bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& selector,
                 const google::protobuf::Map<std::string, std::string>& labels);
// A container's record by id or unique prefix; one still being created is NOT_FOUND, as if it
// were not there yet.
absl::StatusOr<ContainerRecord> VisibleContainer(const ContainerManager& containers,
                                                 const std::string& id);

}  // namespace tether
