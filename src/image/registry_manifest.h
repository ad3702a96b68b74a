// Manifest media types, parsing of image manifests and indexes, and platform selection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether {

inline constexpr char kMediaTypeOciIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kMediaTypeOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaTypeDockerManifestList[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaTypeDockerManifest[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kMediaTypeDockerSchema1[] =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr char kMediaTypeDockerSchema1Signed[] =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
// The annotation BuildKit puts on attestation manifests inside an index.
inline constexpr char kDockerReferenceTypeAnnotation[] = "vnd.docker.reference.type";

// The Accept header value for manifest requests: both index types and both manifest types.
const std::string& ManifestAcceptHeader();

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  bool operator==(const Descriptor&) const = default;
};

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;         // "" when none
  std::string String() const;  // "linux/arm64/v8", "linux/amd64"
  // This node's platform, from the compiler's target (linux/amd64 on x86-64).
  static Platform Host();
};

struct IndexEntry {
  Descriptor descriptor;
  bool has_platform = false;
  Platform platform;
  bool attestation = false;  // carries the vnd.docker.reference.type annotation
};

struct ImageManifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

bool IsIndexMediaType(const std::string& media_type);
bool IsImageManifestMediaType(const std::string& media_type);
bool IsSchema1MediaType(const std::string& media_type);

// The media type of a manifest document from the response's Content-Type, falling back to the
// document's own "mediaType" and then its shape (a "manifests" array is an index, "config" +
// "layers" a manifest). Schema 1 (by type or by "schemaVersion": 1) is FAILED_PRECONDITION
// "schema 1 manifests are not supported"; anything else unknown is FAILED_PRECONDITION naming it.
absl::StatusOr<std::string> DetectManifestMediaType(const std::string& content_type,
                                                    const std::string& body);

// Parses an image manifest (OCI or Docker schema 2). FAILED_PRECONDITION for malformed documents.
absl::StatusOr<ImageManifest> ParseImageManifest(const std::string& body);
// Parses an OCI index or Docker manifest list.
absl::StatusOr<std::vector<IndexEntry>> ParseIndex(const std::string& body);

// Chooses the entry to run on `want`: attestation entries are ignored; os and architecture must
// match (architecture aliases such as x86_64/aarch64 are normalized); an exact variant beats a
// compatible lower one (arm v7 runs v6; amd64 v3 runs v2), which beats an entry without a variant.
// Entries without a platform are a last resort. NOT_FOUND listing the platforms on offer when
// nothing fits.
absl::StatusOr<Descriptor> SelectPlatform(const std::vector<IndexEntry>& entries,
                                          const Platform& want);

}  // namespace tether
