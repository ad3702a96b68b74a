// Image references with Docker/containerd normalization and the distribution/reference grammar:
//   busybox            -> docker.io/library/busybox:latest
//   user/img           -> docker.io/user/img:latest
//   host:5000/a/b:v1   -> host:5000/a/b:v1
//   name@sha256:<hex>  -> docker.io/library/name@sha256:<hex> (no tag added)
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tether {

inline constexpr char kDockerDomain[] = "docker.io";

struct Reference {
  std::string domain;  // "docker.io", "registry.k8s.io", "localhost:5000", ...
  std::string path;    // repository path within the domain: "library/busybox"
  std::string tag;     // empty only when a digest is given without a tag
  std::string digest;  // "sha256:<hex>" or empty

  // domain/path, e.g. "docker.io/library/busybox".
  std::string Name() const { return domain + "/" + path; }
  // name[:tag][@digest], fully qualified.
  std::string String() const;
  // What the manifest is fetched by: the digest when there is one, else the tag.
  const std::string& Identifier() const { return digest.empty() ? tag : digest; }

  bool operator==(const Reference&) const = default;
};

// Parses and normalizes an image reference. INVALID_ARGUMENT naming the problem for an empty
// reference, an invalid domain, path component or tag, uppercase in the repository path, a bad
// digest, a name longer than 255 characters, or a bare 64-hex image id.
//
// The domain rule is distribution/reference's: the first '/'-separated component is a domain
// when it contains '.' or ':', is "localhost", or contains uppercase letters (a repository path
// never does); otherwise the domain is docker.io, and a single-component docker.io path gets the
// "library/" prefix. "index.docker.io" is normalized to "docker.io".
absl::StatusOr<Reference> ParseReference(const std::string& ref);

}  // namespace tether
