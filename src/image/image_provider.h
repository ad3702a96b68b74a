// The seam between containers and images: what CreateContainer needs to know about an image.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tether {

struct ResolvedImage {
  std::string id;           // sha256:<config digest>
  std::string name;         // the reference as the caller gave it, normalized (or the id)
  std::string repo_digest;  // repo@sha256:… when known, else the id
  std::vector<std::string> chain_ids;  // snapshots, bottom layer first
  nlohmann::json config;               // the OCI image config document
};

class ImageProvider {
 public:
  virtual ~ImageProvider() = default;
  // By id, id prefix, tag or digest reference; NOT_FOUND when the image is not here.
  virtual absl::StatusOr<ResolvedImage> ResolveForContainer(const std::string& ref) = 0;
};

}  // namespace tether
