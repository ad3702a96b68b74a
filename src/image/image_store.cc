#include "image/image_store.h"

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "image/image_archive.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {
namespace {

constexpr int kParallelLayers = 3;
constexpr size_t kMaxConfigSize = 8 << 20;

std::string TagOf(const Reference& r) { return r.Name() + ":" + r.tag; }
std::string DigestRefOf(const Reference& r, const std::string& digest) {
  return r.Name() + "@" + digest;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

nlohmann::json ImageRecord::ToJson() const {
  nlohmann::json layers_json = nlohmann::json::array();
  for (const auto& l : layers) {
    layers_json.push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
  }
  return {{"id", id},
          {"repo_tags", repo_tags},
          {"repo_digests", repo_digests},
          {"manifest_digest", manifest_digest},
          {"layers", layers_json},
          {"diff_ids", diff_ids},
          {"chain_ids", chain_ids},
          {"size", size},
          {"pinned", pinned}};
}

absl::StatusOr<ImageRecord> ImageRecord::FromJson(const nlohmann::json& j) {
  try {
    ImageRecord r;
    r.id = j.at("id").get<std::string>();
    r.repo_tags = j.value("repo_tags", std::vector<std::string>{});
    r.repo_digests = j.value("repo_digests", std::vector<std::string>{});
    r.manifest_digest = j.value("manifest_digest", "");
    for (const auto& l : j.value("layers", nlohmann::json::array())) {
      r.layers.push_back({l.value("mediaType", ""), l.value("digest", ""), l.value("size", 0)});
    }
    r.diff_ids = j.value("diff_ids", std::vector<std::string>{});
    r.chain_ids = j.value("chain_ids", std::vector<std::string>{});
    r.size = j.value("size", int64_t{0});
    r.pinned = j.value("pinned", false);
    return r;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("bad image record: ", e.what()));
  }
}

ImageStore::ImageStore(const Config& config, std::shared_ptr<ContentStore> content,
                       std::shared_ptr<Snapshotter> snapshots,
                       std::shared_ptr<RegistryClient> registry)
    : config_(config),
      content_(std::move(content)),
      snapshots_(std::move(snapshots)),
      registry_(std::move(registry)),
      records_(config.root + "/images") {}

absl::Status ImageStore::Init() {
  if (auto st = records_.Init(); !st.ok()) return st;
  // Spooled archives are anonymous files; a named leftover (filesystems without O_TMPFILE, a
  // crash between create and unlink) goes with the directory.
  if (auto st = RemoveAll(ImportDir()); !st.ok()) return st;
  if (auto st = MakeDirs(ImportDir(), 0700); !st.ok()) return st;
  std::vector<std::string> errors;
  for (auto& [key, j] : records_.LoadAll(&errors)) {
    auto r = ImageRecord::FromJson(j);
    if (!r.ok()) {
      spdlog::error("skipping image record {}: {}", key, r.status().message());
      continue;
    }
    auto config = content_->ReadBlob(r->id, kMaxConfigSize);
    bool complete = config.ok();
    for (const auto& c : r->chain_ids) complete = complete && snapshots_->Has(c);
    if (!complete) {
      spdlog::warn("image {}: content missing; dropping its record", r->id);
      (void)records_.Remove(key);
      continue;
    }
    r->config = MakeSharedJson(nlohmann::json::parse(*config, nullptr, false));
    absl::MutexLock l(&mu_);
    images_[r->id] = std::move(*r);
  }
  for (const auto& e : errors) spdlog::error("skipping unreadable image record: {}", e);
  spdlog::info("recovered {} images", images_.size());
  return absl::OkStatus();
}

absl::StatusOr<ImageRecord> ImageStore::FindLocked(const std::string& ref) const {
  if (ref.empty()) return absl::InvalidArgumentError("image: reference is required");
  std::string id = ref;
  if (!absl::StartsWith(id, "sha256:") && id.size() == 64 &&
      id.find_first_not_of("0123456789abcdef") == std::string::npos) {
    id = "sha256:" + id;
  }
  if (auto it = images_.find(id); it != images_.end()) return it->second;
  auto parsed = ParseReference(ref);
  if (parsed.ok()) {
    std::string tag = parsed->tag.empty() ? "" : TagOf(*parsed);
    std::string by_digest = parsed->digest.empty() ? "" : DigestRefOf(*parsed, parsed->digest);
    for (const auto& [iid, img] : images_) {
      if (!parsed->digest.empty()) {
        if (std::find(img.repo_digests.begin(), img.repo_digests.end(), by_digest) !=
            img.repo_digests.end()) {
          return img;
        }
      } else if (std::find(img.repo_tags.begin(), img.repo_tags.end(), tag) !=
                 img.repo_tags.end()) {
        return img;
      }
    }
  }
  // A unique prefix of an id, as crictl users type them.
  std::string prefix = absl::StartsWith(ref, "sha256:") ? ref : "sha256:" + ref;
  if (ref.size() >= 3 && ref.find_first_not_of("0123456789abcdef:sha") == std::string::npos) {
    const ImageRecord* found = nullptr;
    for (auto it = images_.lower_bound(prefix); it != images_.end(); ++it) {
      if (!absl::StartsWith(it->first, prefix)) break;
      if (found) return absl::InvalidArgumentError("image id prefix " + ref + " is ambiguous");
      found = &it->second;
    }
    if (found) return *found;
  }
  if (!parsed.ok() && !LooksLikeHexPrefix(ref)) return parsed.status();
  return absl::NotFoundError(absl::StrCat("image \"", ref, "\" not found"));
}

bool ImageStore::LooksLikeHexPrefix(const std::string& s) {
  std::string h = absl::StartsWith(s, "sha256:") ? s.substr(7) : s;
  return !h.empty() && h.find_first_not_of("0123456789abcdef") == std::string::npos;
}

absl::StatusOr<ImageRecord> ImageStore::Find(const std::string& ref) const {
  absl::MutexLock l(&mu_);
  return FindLocked(ref);
}

std::vector<ImageRecord> ImageStore::List() const {
  absl::MutexLock l(&mu_);
  std::vector<ImageRecord> out;
  for (const auto& [id, img] : images_) out.push_back(img);
  return out;
}

absl::StatusOr<ResolvedImage> ImageStore::ResolveForContainer(const std::string& ref) {
  auto img = Find(ref);
  if (!img.ok()) return img.status();
  ResolvedImage r;
  r.id = img->id;
  r.name = ref;
  if (auto parsed = ParseReference(ref); parsed.ok()) r.name = parsed->String();
  if (absl::StartsWith(ref, "sha256:") || ref == Hex(img->id) || LooksLikeHexPrefix(ref)) {
    r.name = img->repo_tags.empty() ? img->id : img->repo_tags.front();
  }
  r.repo_digest = img->repo_digests.empty() ? img->id : img->repo_digests.front();
  r.chain_ids = img->chain_ids;
  r.config = *img->config;
  return r;
}

absl::Status ImageStore::FetchToStore(const Reference& ref, const ResolvedManifest& where,
                                      const Descriptor& d, const RegistryAuth* auth,
                                      absl::Time deadline, const std::atomic<bool>* cancel) {
  // One download per digest, however many pulls want it.
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock l(&mu_);
    if (content_->Has(d.digest)) return absl::OkStatus();
    std::string key = "blob:" + d.digest;
    if (auto it = flights_.find(key); it != flights_.end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<Flight>();
      flights_[key] = flight;
      leader = true;
    }
    if (!leader) {
      mu_.Await(absl::Condition(
          +[](Flight* f) { return f->done; }, flight.get()));
      if (flight->status.ok() || content_->Has(d.digest)) return absl::OkStatus();
      // The leader failed (perhaps its own deadline): try ourselves.
      return absl::UnavailableError(
          absl::StrCat("download of ", d.digest, " failed: ", flight->status.message()));
    }
  }
  absl::Status st = [&]() -> absl::Status {
    auto writer = content_->NewWriter(d.digest, d.size);
    if (!writer.ok()) return writer.status();
    auto fetched = registry_->FetchBlob(
        ref, where, d, auth, deadline,
        [&](const char* data, size_t n) { return (*writer)->Write(data, n); }, cancel);
    if (!fetched.ok()) {
      (*writer)->Abort();
      return fetched;
    }
    return (*writer)->Commit();
  }();
  absl::MutexLock l(&mu_);
  flight->done = true;
  flight->status = st;
  flights_.erase("blob:" + d.digest);
  return st;
}

absl::StatusOr<std::string> ImageStore::Pull(const std::string& ref_text, const RegistryAuth* auth,
                                             absl::Time deadline, const std::atomic<bool>* cancel) {
  auto ref = ParseReference(ref_text);
  if (!ref.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("image: ", ref.status().message()));
  }
  absl::ReaderMutexLock gc(&gc_mu_);
  return DoPull(*ref, auth, deadline, cancel);
}

absl::StatusOr<std::string> ImageStore::DoPull(const Reference& ref, const RegistryAuth* auth,
                                               absl::Time deadline,
                                               const std::atomic<bool>* cancel) {
  absl::Time start = absl::Now();
  auto manifest = registry_->Resolve(ref, auth, deadline, cancel);
  if (!manifest.ok()) return manifest.status();
  // The config names the image and lists the layers' uncompressed digests.
  if (auto st = FetchToStore(ref, *manifest, manifest->config(), auth, deadline, cancel);
      !st.ok()) {
    return st;
  }
  auto record = NewRecord(manifest->config_digest, manifest->config_size, manifest->manifest_digest,
                          manifest->layers, ref.String());
  if (!record.ok()) return record.status();
  ImageRecord img = *std::move(record);
  (void)content_->Put(manifest->manifest_digest, manifest->manifest_json);

  // Layers download and unpack in parallel, a few at a time.
  if (auto st = UnpackLayers(img,
                             [&](size_t i) {
                               return FetchToStore(ref, *manifest, img.layers[i], auth, deadline,
                                                   cancel);
                             });
      !st.ok()) {
    return st;
  }

  if (!ref.tag.empty()) img.repo_tags.push_back(TagOf(ref));
  img.repo_digests.push_back(DigestRefOf(ref, manifest->repo_digest));
  auto id = Commit(std::move(img));
  if (id.ok()) {
    spdlog::info("pulled {} as {} in {}", ref.String(), *id,
                 absl::FormatDuration(absl::Now() - start));
  }
  return id;
}

absl::StatusOr<ImageRecord> ImageStore::NewRecord(const std::string& config_digest,
                                                  int64_t config_size,
                                                  const std::string& manifest_digest,
                                                  std::vector<Descriptor> layers,
                                                  const std::string& what) {
  auto config_text = content_->ReadBlob(config_digest, kMaxConfigSize);
  if (!config_text.ok()) return config_text.status();
  auto config = nlohmann::json::parse(*config_text, nullptr, false);
  if (!config.is_object()) {
    return absl::DataLossError(absl::StrCat("image config ", config_digest, " is not JSON"));
  }
  ImageRecord img;
  img.id = config_digest;
  img.manifest_digest = manifest_digest;
  img.layers = std::move(layers);
  img.config = MakeSharedJson(config);
  try {
    for (const auto& d : config.at("rootfs").at("diff_ids")) img.diff_ids.push_back(d);
  } catch (const nlohmann::json::exception&) {
    return absl::DataLossError(absl::StrCat("image config ", img.id, " has no rootfs.diff_ids"));
  }
  if (img.diff_ids.size() != img.layers.size()) {
    return absl::DataLossError(absl::StrCat("image ", what, ": manifest has ", img.layers.size(),
                                            " layers, config has ", img.diff_ids.size(),
                                            " diff ids"));
  }
  img.chain_ids = Snapshotter::ChainIds(img.diff_ids);
  img.size = config_size;
  for (const auto& l : img.layers) img.size += l.size;
  return img;
}

absl::Status ImageStore::UnpackLayers(const ImageRecord& img,
                                      const std::function<absl::Status(size_t)>& fetch) {
  std::atomic<size_t> next{0};
  absl::Mutex err_mu;
  absl::Status first_error;
  auto worker = [&] {
    for (size_t i = next++; i < img.layers.size(); i = next++) {
      {
        absl::MutexLock l(&err_mu);
        if (!first_error.ok()) return;
      }
      absl::Status st;
      if (!snapshots_->Has(img.chain_ids[i])) {
        if (fetch) st = fetch(i);
        if (st.ok()) {
          st = snapshots_->Commit(img.chain_ids[i], content_->PathOf(img.layers[i].digest),
                                  img.diff_ids[i]);
        }
      }
      if (!st.ok()) {
        absl::MutexLock l(&err_mu);
        if (first_error.ok()) first_error = st;
      }
    }
  };
  std::vector<std::thread> workers;
  int n = std::min<int>(kParallelLayers, static_cast<int>(img.layers.size()));
  for (int i = 1; i < n; ++i) workers.emplace_back(worker);
  worker();
  for (auto& t : workers) t.join();
  return first_error;
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::Import(int archive_fd,
                                                            const std::vector<std::string>& tags,
                                                            std::function<bool()> cancelled) {
  absl::Time start = absl::Now();
  std::vector<std::string> extra;
  for (size_t i = 0; i < tags.size(); ++i) {
    auto ref = ParseReference(tags[i]);
    if (!ref.ok() || ref->tag.empty() || !ref->digest.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tags[", i, "]: \"", tags[i], "\" is not a name:tag reference",
                       ref.ok() ? "" : absl::StrCat(" (", ref.status().message(), ")")));
    }
    extra.push_back(TagOf(*ref));
  }
  std::vector<ImageRecord> records;
  absl::Status failed;
  {
    absl::ReaderMutexLock gc(&gc_mu_);  // the blobs stay until the images are recorded
    failed = [&]() -> absl::Status {
      ArchiveOptions options;
      options.cancelled = cancelled;
      auto images = ReadImageArchive(archive_fd, *content_, options);
      if (!images.ok()) return images.status();
      if (!extra.empty() && images->size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("tags: the archive holds ", images->size(),
                                                       " images; a tag names exactly one"));
      }
      for (auto& a : *images) {
        auto record = NewRecord(a.config_digest, a.config_size, a.manifest_digest, a.layers,
                                a.repo_tags.empty() ? a.config_digest : a.repo_tags.front());
        if (!record.ok()) return record.status();
        if (cancelled && cancelled())
          return absl::CancelledError("import: cancelled by the client");
        if (auto st = UnpackLayers(*record, nullptr); !st.ok()) return st;
        record->repo_tags = a.repo_tags;
        record->repo_digests = a.repo_digests;
        for (const auto& t : extra) AddUnique(&record->repo_tags, t);
        records.push_back(*std::move(record));
      }
      // Only complete images are recorded, all of them at the end.
      for (auto& r : records) {
        auto id = Commit(r);
        if (!id.ok()) return id.status();
        auto committed = Find(*id);
        if (committed.ok()) r = *std::move(committed);
      }
      return absl::OkStatus();
    }();
  }
  if (!failed.ok()) {
    // The archive is the client's input: content that does not match what the archive says
    // (a layer whose diff id differs) is a bad archive, not data lost here.
    if (absl::IsDataLoss(failed)) failed = absl::InvalidArgumentError(failed.message());
    spdlog::warn("import failed: {}", failed.message());
    // Blobs and layers of the failed import go now, unless a pull is running (then they go with
    // the next collection).
    if (gc_mu_.WriterTryLock()) {
      CollectGarbageLocked();
      gc_mu_.WriterUnlock();
    }
    return failed;
  }
  for (const auto& r : records) {
    spdlog::info("imported {} ({}) in {}", r.id, absl::StrJoin(r.repo_tags, ", "),
                 absl::FormatDuration(absl::Now() - start));
  }
  return records;
}

absl::StatusOr<std::string> ImageStore::Commit(ImageRecord img) {
  absl::MutexLock l(&mu_);
  // A tag names one image: take it from whichever image had it.
  for (const auto& tag : img.repo_tags) {
    for (auto& [id, other] : images_) {
      if (id == img.id) continue;
      auto it = std::find(other.repo_tags.begin(), other.repo_tags.end(), tag);
      if (it == other.repo_tags.end()) continue;
      other.repo_tags.erase(it);
      if (auto st = records_.Write(Hex(id), other.ToJson()); !st.ok()) return st;
    }
  }
  if (auto it = images_.find(img.id); it != images_.end()) {
    for (const auto& t : it->second.repo_tags) AddUnique(&img.repo_tags, t);
    for (const auto& d : it->second.repo_digests) AddUnique(&img.repo_digests, d);
    img.pinned = img.pinned || it->second.pinned;
  }
  if (auto st = records_.Write(Hex(img.id), img.ToJson()); !st.ok()) return st;
  std::string id = img.id;
  images_[id] = std::move(img);
  return id;
}

absl::Status ImageStore::Remove(const std::string& ref) {
  {
    absl::MutexLock l(&mu_);
    auto found = FindLocked(ref);
    if (!found.ok()) return absl::IsNotFound(found.status()) ? absl::OkStatus() : found.status();
    ImageRecord& img = images_[found->id];
    auto parsed = ParseReference(ref);
    bool by_tag = parsed.ok() && parsed->digest.empty() && !absl::StartsWith(ref, "sha256:") &&
                  std::find(img.repo_tags.begin(), img.repo_tags.end(), TagOf(*parsed)) !=
                      img.repo_tags.end();
    if (by_tag && img.repo_tags.size() > 1) {
      img.repo_tags.erase(std::find(img.repo_tags.begin(), img.repo_tags.end(), TagOf(*parsed)));
      spdlog::info("image {}: untagged {}", img.id, TagOf(*parsed));
      return records_.Write(Hex(img.id), img.ToJson());
    }
    if (auto st = records_.Remove(Hex(img.id)); !st.ok()) return st;
    spdlog::info("image {}: removed", img.id);
    images_.erase(img.id);
  }
  CollectGarbage();
  return absl::OkStatus();
}

void ImageStore::CollectGarbage() {
  absl::WriterMutexLock gc(&gc_mu_);
  CollectGarbageLocked();
}

void ImageStore::CollectGarbageLocked() {
  std::set<std::string> blobs, chains;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, img] : images_) {
      blobs.insert(img.id);
      blobs.insert(img.manifest_digest);
      for (const auto& l : img.layers) blobs.insert(l.digest);
      chains.insert(img.chain_ids.begin(), img.chain_ids.end());
    }
  }
  if (in_use_) {
    for (const auto& c : in_use_()) chains.insert(c);
  }
  int removed_blobs = 0, removed_snapshots = 0;
  for (const auto& d : content_->List()) {
    if (blobs.count(d)) continue;
    if (content_->Delete(d).ok()) ++removed_blobs;
  }
  for (const auto& c : snapshots_->List()) {
    if (chains.count(c)) continue;
    if (snapshots_->Remove(c).ok()) ++removed_snapshots;
  }
  if (removed_blobs || removed_snapshots) {
    spdlog::info("garbage collection: removed {} blobs and {} snapshots", removed_blobs,
                 removed_snapshots);
  }
}

}  // namespace tether
