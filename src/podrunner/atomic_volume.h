// A configMap volume's files written the way kubelet's AtomicWriter does it, so that a running
// pod sees a change all at once and without a restart:
//
//   <dir>/..2026_12_06_05_40_00.123456789/<path>   the files of one version
//   <dir>/..data -> ..2026_12_06_05_40_00.123456789
//   <dir>/<first component of a path> -> ..data/<first component>
//
// An update writes a new timestamped directory, points a `..data_tmp` symlink at it and renames
// that over `..data` (the one atomic step), adds the user-visible symlinks it needs, then removes
// the old directory and the symlinks of paths that are gone. A container that mounts <dir> reads
// through the relative symlinks, so it sees the old files or the new ones, never a mix.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "podrunner/manifest.h"

namespace tether::podrunner {

// Writes `files` into `dir` (made when missing). Returns false, touching nothing, when `dir`
// already holds exactly these files and modes; true when it wrote a new version.
absl::StatusOr<bool> WriteAtomicVolume(const std::string& dir,
                                       const std::vector<VolumeFile>& files);

}  // namespace tether::podrunner
