// Image archives for `tetherctl import` (air-gapped nodes): an OCI image layout packed as a tar,
// or a `docker save` tarball (manifest.json with RepoTags, config JSON, layer tars). The archive
// itself may be compressed (gzip, zstd, xz, bzip2), as `docker load` accepts.
//
// Reading happens in two passes over the archive, which never touches the filesystem by entry
// name (nothing is extracted): the first pass indexes every entry (normalized name, type, size,
// sha256 of its content, the first bytes) and keeps small files (JSON documents) in memory; the
// images are then resolved and checked; the second pass streams the blobs that are needed and
// not kept into the content store, each through a ContentWriter that verifies it again.
//
// OCI layout: index.json names the images; a nested index selects this node's platform as a
// pull does. Every blob used (index, manifest, config, layers) must be present under
// blobs/sha256/<hex> with the size and digest its descriptor gives. Names come from the
// `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name` when that is a
// full reference (a bare tag such as "1" names no repository and is ignored); repo digests are
// name@<digest of the index.json entry>.
// docker save: each manifest.json entry's Config is the image config (its sha256 is the image
// id), Layers are layer tars in order (usually uncompressed: their sha256 must then be the
// config's diff id; gzip and zstd layers are checked by the unpacker instead). An OCI image
// manifest is made for the image and stored, so that the image is recorded like a pulled one.
// When an archive has both index.json and manifest.json (docker 25+), the OCI layout is used.
//
// Safety: entry names and link targets are normalized inside the archive; absolute names and
// names or link targets that climb out with ".." are INVALID_ARGUMENT naming the entry. Links
// are followed inside the archive only (at most 16 hops). Every other problem of the archive
// (not a tar, truncated, missing blob, digest or size mismatch, malformed JSON, a layer count
// that does not match the config) is INVALID_ARGUMENT naming the file or digest.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "image/content_store.h"
#include "image/registry_manifest.h"
#include "util/fd.h"

namespace tether {

// One image of an archive, its config, manifest and layer blobs already in the content store.
struct ArchiveImage {
  std::string config_digest;  // the image id
  int64_t config_size = 0;
  std::string manifest_digest;  // an image manifest in the content store
  std::vector<Descriptor> layers;
  std::vector<std::string> repo_tags;     // normalized, "docker.io/library/busybox:1"
  std::vector<std::string> repo_digests;  // "docker.io/library/busybox@sha256:…" (OCI only)
};

struct ArchiveOptions {
  Platform platform = Platform::Host();  // chosen from nested indexes
  size_t max_document = 8 << 20;         // index, manifests, configs, manifest.json
  size_t max_kept = 64 << 20;            // small files kept in memory by the first pass, in all
  // Polled before every block read: once it answers true the read stops with CANCELLED.
  std::function<bool()> cancelled;
};

// Reads the archive in `fd` (with pread: the file offset is not used) and stores the blobs of
// its images in `content`. Blobs are stored before the caller records anything; a failed read
// may leave some blobs behind, which garbage collection deletes as it does a failed pull's.
absl::StatusOr<std::vector<ArchiveImage>> ReadImageArchive(int fd, ContentStore& content,
                                                           const ArchiveOptions& options = {});

// An archive received from a client, spooled to an anonymous file (O_TMPFILE, or a file unlinked
// at once where the filesystem lacks it) under `dir`: it never has a name a crash could leave
// behind, and it is gone when the spool is destroyed.
class ArchiveSpool {
 public:
  // RESOURCE_EXHAUSTED once more than `max_bytes` are written.
  static absl::StatusOr<std::unique_ptr<ArchiveSpool>> Create(const std::string& dir,
                                                              int64_t max_bytes);
  absl::Status Write(const char* data, size_t n);
  int fd() const { return fd_.get(); }
  int64_t size() const { return size_; }

 private:
  ArchiveSpool(Fd fd, int64_t max_bytes) : fd_(std::move(fd)), max_bytes_(max_bytes) {}
  Fd fd_;
  int64_t max_bytes_;
  int64_t size_ = 0;
};

}  // namespace tether
