// The image store: images by id (config digest) with their tags and digests, pulled from
// registries into the content store and unpacked into snapshots. Records survive restarts;
// an image exists only once all of it is stored, so an interrupted pull leaves no half image.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "image/content_store.h"
#include "image/image_provider.h"
#include "image/registry_client.h"
#include "image/snapshotter.h"
#include "store/record_dir.h"
#include "util/shared_json.h"

namespace tether {

struct ImageRecord {
  std::string id;                         // sha256:<config digest hex>
  std::vector<std::string> repo_tags;     // "docker.io/library/busybox:latest"
  std::vector<std::string> repo_digests;  // "docker.io/library/busybox@sha256:…"
  std::string manifest_digest;
  std::vector<Descriptor> layers;
  std::vector<std::string> diff_ids;
  std::vector<std::string> chain_ids;
  int64_t size = 0;  // config + compressed layers, as registries count it
  bool pinned = false;
  SharedJson config = NullJson();  // the OCI image config (from the content store; immutable)

  nlohmann::json ToJson() const;  // the persisted part (config stays a blob)
  static absl::StatusOr<ImageRecord> FromJson(const nlohmann::json& j);
};

class ImageStore : public ImageProvider {
 public:
  ImageStore(const Config& config, std::shared_ptr<ContentStore> content,
             std::shared_ptr<Snapshotter> snapshots, std::shared_ptr<RegistryClient> registry);

  // Loads records, drops ones whose content is gone, deletes unreferenced leftovers.
  absl::Status Init();
  absl::StatusOr<std::string> Pull(const std::string& ref, const RegistryAuth* auth,
                                   absl::Time deadline, const std::atomic<bool>* cancel = nullptr);
  // By id, unique id prefix, tag (normalized) or digest reference: NOT_FOUND when absent.
  absl::StatusOr<ImageRecord> Find(const std::string& ref) const;
  std::vector<ImageRecord> List() const;
  // Untags when `ref` is one of several tags, else deletes the image; then collects garbage.
  // NOT_FOUND is success.
  absl::Status Remove(const std::string& ref);
  absl::StatusOr<ResolvedImage> ResolveForContainer(const std::string& ref) override;
  // Chain ids that running or created containers still stack (kept by garbage collection).
  void SetInUse(std::function<std::vector<std::string>()> in_use) { in_use_ = std::move(in_use); }
  // Deletes blobs and snapshots no image or container references.
  void CollectGarbage();
  // Stores a pulled or imported image (content already in the stores) under `tags`.
  absl::StatusOr<std::string> Commit(ImageRecord image);
  // Imports every image of an archive (an OCI layout tar or a `docker save` tarball, see
  // image/image_archive.h) read from `archive_fd`: blobs into the content store, layers
  // unpacked as a pull unpacks them, then recorded with the archive's names plus `tags` (the
  // archive must then hold one image). Nothing is recorded unless every image is complete. Bad
  // archives are INVALID_ARGUMENT naming what is wrong; once `cancelled` answers true (polled
  // while the archive is read and between layers) the import stops with CANCELLED. Returns the
  // records as committed.
  absl::StatusOr<std::vector<ImageRecord>> Import(int archive_fd,
                                                  const std::vector<std::string>& tags,
                                                  std::function<bool()> cancelled = {});
  // Where clients' archives are spooled while they are imported (<root>/import).
  std::string ImportDir() const { return config_.root + "/import"; }

 private:
  absl::StatusOr<std::string> DoPull(const Reference& ref, const RegistryAuth* auth,
                                     absl::Time deadline, const std::atomic<bool>* cancel);
  absl::Status FetchToStore(const Reference& ref, const ResolvedManifest& where,
                            const Descriptor& d, const RegistryAuth* auth, absl::Time deadline,
                            const std::atomic<bool>* cancel);
  // The record of an image whose config is in the content store: diff ids, chain ids, size.
  absl::StatusOr<ImageRecord> NewRecord(const std::string& config_digest, int64_t config_size,
                                        const std::string& manifest_digest,
                                        std::vector<Descriptor> layers, const std::string& what);
  // Unpacks the layers of `img` that have no snapshot yet, a few at a time; `fetch(i)` (when
  // set) first brings layer i's blob into the content store.
  absl::Status UnpackLayers(const ImageRecord& img,
                            const std::function<absl::Status(size_t)>& fetch);
  void CollectGarbageLocked();
  absl::StatusOr<ImageRecord> FindLocked(const std::string& ref) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static std::string Hex(const std::string& digest) { return digest.substr(digest.find(':') + 1); }
  static bool LooksLikeHexPrefix(const std::string& s);

  const Config& config_;
  std::shared_ptr<ContentStore> content_;
  std::shared_ptr<Snapshotter> snapshots_;
  std::shared_ptr<RegistryClient> registry_;
  RecordDir records_;
  std::function<std::vector<std::string>()> in_use_;

  mutable absl::Mutex mu_;
  std::map<std::string, ImageRecord> images_ ABSL_GUARDED_BY(mu_);  // by id
  // Single flight: one download per blob and one pull per reference at a time.
  struct Flight {
    bool done = false;
    absl::Status status;
    std::string result;
  };
  std::map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  absl::Mutex gc_mu_;  // pulls hold it shared; garbage collection exclusively
};

}  // namespace tether
