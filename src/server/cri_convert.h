// Domain records → CRI messages, shared by the status, list and event verbs.
#pragma once

#include "container/container.h"
#include "runtime/v1/api.pb.h"
#include "sandbox/sandbox.h"

namespace tether {

runtime::v1::ContainerState ContainerStateToCri(ContainerState s);
void FillImageSpec(const ContainerRecord& r, runtime::v1::ImageSpec* image);
void FillContainerStatus(const ContainerRecord& r, runtime::v1::ContainerStatus* s);
runtime::v1::PodSandboxState SandboxStateToCri(SandboxState s);
void FillSandboxStatus(const SandboxRecord& r, runtime::v1::PodSandboxStatus* s);

}  // namespace tether
