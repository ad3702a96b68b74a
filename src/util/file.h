// Files: atomic writes (temp + fsync + rename + fsync dir), reads, directories.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether {

// Writes `data` to `path` so that a crash at any point leaves either the old or the new content.
absl::Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Creates `path` and its parents; existing directories are fine.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);
// Removes `path` recursively without crossing into mounted filesystems (a mount point inside is
// an error, so that a forgotten bind mount never loses data). Missing is fine.
absl::Status RemoveAll(const std::string& path);
// Removes a file; missing is fine.
absl::Status RemoveFile(const std::string& path);
bool PathExists(const std::string& path);
// fsync(2) of a directory, so that a create, rename or unlink in it is durable. Best effort: errors
// are ignored.
void FsyncDir(const std::string& dir);
// The status for errno after the failed operation `what` ("write /path"): RESOURCE_EXHAUSTED when
// the disk or quota is full, INTERNAL otherwise.
absl::Status ErrnoError(const std::string& what);

}  // namespace tether
