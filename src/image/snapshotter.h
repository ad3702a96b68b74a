// Snapshotter: unpacked layers addressed by chain id, and container root filesystems made of
// them with overlayfs.
//
// Layout under `root` (e.g. <root>/snapshots, 0700):
//   layers/<chain hex>/fs        one unpacked layer (a read-only overlay lowerdir)
//   layers/<chain hex>/diff_id   its diff id, for inspection
//   containers/<id>/upper, work  a container's writable layer and overlay's work dir
//   ingest/                      layers being unpacked and layers being removed (cleared by Init)
//   empty/                       the lowerdir of images without layers
// A layer directory appears by one atomic rename of a fully unpacked, verified and synced temp
// directory, so layers/<hex>/fs existing means the layer is complete.
//
// Mounting: overlay's lowerdir list is top first. The options of mount(2) are limited to a page
// (4096 bytes), about 40 layers with absolute paths here. In order:
//   1. the new mount API (fsopen/fsconfig/fsmount/move_mount) with one "lowerdir+" per layer
//      (Linux 6.8+): no length limit and no cwd games;
//   2. mount(2) with absolute paths, when the options fit in a page;
//   3. mount(2) with paths relative to layers/, from a forked child that chdir()s there (the
//      daemon is multithreaded: its own cwd is never changed). That fits about 60 layers; beyond
//      it is FAILED_PRECONDITION.
//
// Thread-safety: filesystem state only. Concurrent Commit()s of one chain id are safe (one rename
// wins; the others discard their copy). The caller keeps a layer alive while a container uses it
// (Remove() does not check mounts).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tether {

class Snapshotter {
 public:
  enum class MountMethod { kAuto, kNewApi, kLegacy, kLegacyRelative };

  explicit Snapshotter(std::string root);

  // Creates the directories; clears ingest/ (interrupted unpacks and removals).
  absl::Status Init();

  // The chain id of layers 0..`upto` (inclusive) per the OCI image spec: ChainID(L0) = DiffID(L0),
  // ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)). Empty when `upto` is out of
  // range.
  static std::string ChainId(const std::vector<std::string>& diff_ids, size_t upto);
  // The chain id of every prefix: result[i] == ChainId(diff_ids, i).
  static std::vector<std::string> ChainIds(const std::vector<std::string>& diff_ids);

  bool Has(const std::string& chain_id) const;
  // <root>/layers/<hex>/fs (whether or not it exists); empty for a malformed chain id.
  std::string DirOf(const std::string& chain_id) const;
  // Unpacks `blob_path` into a temp directory, checks its diff id against `expected_diff_id`
  // (DATA_LOSS on mismatch, nothing kept), syncs and renames it into place. Already present is
  // success.
  absl::Status Commit(const std::string& chain_id, const std::string& blob_path,
                      const std::string& expected_diff_id);
  // Deletes the layer; missing is fine.
  absl::Status Remove(const std::string& chain_id);
  // Every committed chain id ("sha256:<hex>"), sorted.
  std::vector<std::string> List() const;

  // Mounts a container's root filesystem at `mount_root` (created if missing): overlay of
  // `chain_ids` (bottom to top; every one must be committed, else NOT_FOUND) with
  // containers/<id>/{upper,work}. No layers: the lowerdir is empty/. Already mounted at
  // `mount_root` is success (a retried call). Returns `mount_root`.
  absl::StatusOr<std::string> PrepareContainer(const std::string& container_id,
                                               const std::vector<std::string>& chain_ids,
                                               const std::string& mount_root);
  // Unmounts `mount_root`, deletes the upper and work dirs and `mount_root` itself when empty.
  // Idempotent.
  absl::Status RemoveContainer(const std::string& container_id, const std::string& mount_root);
  // The container's writable layer (for Usage()).
  std::string UpperDirOf(const std::string& container_id) const;
  // All layers (for Usage(): the image filesystem).
  std::string LayersDir() const { return root_ + "/layers"; }

  // Bytes (allocated blocks) and inodes used under `dir`, hardlinks counted once, not crossing
  // into other mounts.
  static absl::StatusOr<std::pair<uint64_t, uint64_t>> Usage(const std::string& dir);

  const std::string& root() const { return root_; }
  // Tests: force one mounting strategy.
  void set_mount_method_for_testing(MountMethod m) { mount_method_ = m; }

 private:
  std::string IngestDir() const { return root_ + "/ingest"; }
  std::string EmptyDir() const { return root_ + "/empty"; }
  std::string ContainerDir(const std::string& id) const { return root_ + "/containers/" + id; }
  absl::Status MountOverlay(const std::vector<std::string>& lowers_top_first,
                            const std::string& upper, const std::string& work,
                            const std::string& target) const;

  std::string root_;
  MountMethod mount_method_ = MountMethod::kAuto;
};

}  // namespace tether
