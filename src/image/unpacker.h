// Layer unpacking: one OCI/Docker layer blob (tar; plain, gzip, zstd, bzip2 or xz) into its
// own directory, in the form overlayfs expects of a lower layer. Layers are not applied on top
// of their parent; they are stacked later as overlay lowerdirs.
//
// What is kept: numeric owners, modes (setuid/setgid/sticky included), mtimes, xattrs
// (SCHILY.xattr / LIBARCHIVE.xattr, except trusted.overlay.* which only we may set), hardlinks,
// symlinks (stored as-is), device nodes and fifos. Sockets are skipped.
// OCI whiteouts: `.wh.NAME` becomes a 0/0 character device NAME (overlayfs whiteout), and
// `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory. Other `.wh..wh.` names (aufs
// metadata) are skipped.
//
// Containment: a leading "/" is stripped (the entry lands inside the target); any ".."
// component is rejected. Parents are opened with openat2(RESOLVE_IN_ROOT) relative to the
// target, so a symlink in the layer (`evil -> /etc`) resolves inside the target and never
// outside it; hardlink targets are resolved the same way. The final component is never
// followed. Errors: INVALID_ARGUMENT naming the entry for unsafe or unsupported entries,
// DATA_LOSS for a corrupt stream. On any error the target directory is removed.
//
// The diff id is the sha256 of the uncompressed tar stream. It is computed while extracting, in
// one pass: one libarchive reader decompresses the blob ("raw" format) and feeds
// a second reader (tar formats, no filters) through a callback that hashes what passes; the
// rest of the stream after the tar's end (padding) is hashed too.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tether {

// Unpacks `blob_path` into `target_dir`, which must not exist or be an empty directory (its
// parent must exist). Returns the diff id ("sha256:<hex>"). Needs root (owners, device nodes,
// whiteouts, trusted xattrs).
absl::StatusOr<std::string> UnpackLayer(const std::string& blob_path,
                                        const std::string& target_dir);

// The diff id of a layer blob without unpacking it.
absl::StatusOr<std::string> DiffIdOf(const std::string& blob_path);

}  // namespace tether
