#include "image/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "image/digest.h"
#include "image/reference.h"
#include "nlohmann/json.hpp"
#include "util/log.h"

namespace tether {
namespace {

using json = nlohmann::json;

constexpr size_t kBlock = 1 << 20;
constexpr int kMaxLinkHops = 16;
constexpr char kOciLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
constexpr char kOciLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kOciLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";
constexpr char kContainerdNameAnnotation[] = "io.containerd.image.name";

absl::Status Bad(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("archive: ", why));
}

// Normalizes an entry name or a link target joined to its directory: no "." or empty
// components. Absolute paths and ".." above the archive's root are escapes.
absl::StatusOr<std::string> NormalizePath(const std::string& path, const std::string& what) {
  if (absl::StartsWith(path, "/")) {
    return Bad(absl::StrCat(what, " \"", path, "\": absolute path escapes the archive"));
  }
  std::vector<std::string> parts;
  for (absl::string_view c : absl::StrSplit(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (parts.empty()) {
        return Bad(absl::StrCat(what, " \"", path, "\": path escapes the archive"));
      }
      parts.pop_back();
      continue;
    }
    parts.emplace_back(c);
  }
  return absl::StrJoin(parts, "/");
}

// Entry names may not use ".." at all (tar writers never need it).
absl::StatusOr<std::string> NormalizeEntryName(const std::string& name) {
  for (absl::string_view c : absl::StrSplit(name, '/')) {
    if (c == "..") return Bad(absl::StrCat("entry \"", name, "\": path escapes the archive"));
  }
  return NormalizePath(name, "entry");
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

// libarchive reads the spooled file through pread, so two passes need no seeking.
struct FdSource {
  int fd;
  off_t offset = 0;
  off_t size = 0;
  std::vector<char> buf = std::vector<char>(kBlock);
  const std::function<bool()>* cancelled = nullptr;  // polled before every block
  bool was_cancelled = false;
};

la_ssize_t FdRead(archive* a, void* user, const void** out) {
  auto* s = static_cast<FdSource*>(user);
  if (s->cancelled != nullptr && *s->cancelled && (*s->cancelled)()) {
    s->was_cancelled = true;
    archive_set_error(a, ECANCELED, "cancelled");
    return -1;
  }
  for (;;) {
    ssize_t n = pread(s->fd, s->buf.data(), s->buf.size(), s->offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "read: %s", strerror(errno));
      return -1;
    }
    s->offset += n;
    *out = s->buf.data();
    return n;
  }
}

la_int64_t FdSkip(archive*, void* user, la_int64_t request) {
  auto* s = static_cast<FdSource*>(user);
  la_int64_t n = std::max<la_int64_t>(0, std::min<la_int64_t>(request, s->size - s->offset));
  s->offset += n;
  return n;
}

absl::StatusOr<ArchivePtr> OpenArchive(FdSource* source) {
  struct stat st;
  if (fstat(source->fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("stat archive: ", strerror(errno)));
  }
  source->size = st.st_size;
  source->offset = 0;
  ArchivePtr a(archive_read_new());
  if (!a) return absl::ResourceExhaustedError("archive_read_new failed");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_set_read_callback(a.get(), FdRead);
  archive_read_set_skip_callback(a.get(), FdSkip);
  archive_read_set_callback_data(a.get(), source);
  if (archive_read_open1(a.get()) != ARCHIVE_OK) {
    return Bad(absl::StrCat("cannot open: ", ArchiveError(a.get())));
  }
  return a;
}

struct Entry {
  enum Kind { kFile, kLink } kind = kFile;
  std::string link;  // kLink: the target, normalized
  int64_t size = 0;
  std::string digest;  // kFile: sha256 of the content
  std::string head;    // kFile: the first bytes (compression magic)
  bool kept = false;   // kFile: content is in `data`
  std::string data;
};

std::string LayerMediaType(const std::string& head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b) {
    return kOciLayerGzip;
  }
  if (head.size() >= 4 && head.compare(0, 4, "\x28\xb5\x2f\xfd") == 0) return kOciLayerZstd;
  return kOciLayerTar;
}

class Reader {
 public:
  Reader(int fd, ContentStore& content, const ArchiveOptions& options)
      : fd_(fd), content_(content), options_(options) {}

  absl::StatusOr<std::vector<ArchiveImage>> Read() {
    auto images = ReadImages();
    // A read stopped by the client's cancellation fails wherever it was (even where libarchive
    // shrugged off the failed read); say why.
    if (cancelled_) return absl::CancelledError("import: cancelled by the client");
    return images;
  }

 private:
  absl::StatusOr<std::vector<ArchiveImage>> ReadImages() {
    if (auto st = Index(); !st.ok()) return st;
    std::vector<ArchiveImage> images;
    if (entries_.count("index.json")) {
      auto oci = ReadOciLayout();
      if (!oci.ok()) return oci.status();
      images = *std::move(oci);
    } else if (entries_.count("manifest.json")) {
      auto docker = ReadDockerSave();
      if (!docker.ok()) return docker.status();
      images = *std::move(docker);
    } else {
      return Bad(
          "neither an OCI image layout (no index.json) nor a docker save tarball (no "
          "manifest.json)");
    }
    if (images.empty()) return Bad("holds no image");
    if (auto st = StoreBlobs(); !st.ok()) return st;
    return images;
  }

  // Every archive read goes through one of these: it polls the caller's cancellation.
  struct Source : FdSource {
    explicit Source(Reader* r) : FdSource{r->fd_}, reader(r) { cancelled = &r->options_.cancelled; }
    ~Source() { reader->cancelled_ = reader->cancelled_ || was_cancelled; }
    Reader* reader;
  };

  // --- First pass: index every entry -------------------------------------------------------
  absl::Status Index() {
    Source source(this);
    auto a = OpenArchive(&source);
    if (!a.ok()) return a.status();
    archive_entry* e = nullptr;
    for (;;) {
      int r = archive_read_next_header(a->get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return Bad(absl::StrCat("not a readable tar archive: ", ArchiveError(a->get())));
      }
      const char* raw = archive_entry_pathname(e);
      if (raw == nullptr) return Bad("an entry has no name");
      auto name = NormalizeEntryName(raw);
      if (!name.ok()) return name.status();
      mode_t type = archive_entry_filetype(e);
      const char* hardlink = archive_entry_hardlink(e);
      if (type == AE_IFDIR || name->empty()) continue;
      Entry entry;
      if (hardlink != nullptr) {
        auto target = NormalizeEntryName(hardlink);
        if (!target.ok()) return target.status();
        entry.kind = Entry::kLink;
        entry.link = *target;
      } else if (type == AE_IFLNK) {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr) return Bad(absl::StrCat("symlink \"", *name, "\" has no target"));
        if (absl::StartsWith(target, "/")) {
          return Bad(absl::StrCat("symlink \"", *name, "\" -> \"", target,
                                  "\": absolute path escapes the archive"));
        }
        auto resolved = NormalizePath(absl::StrCat(DirName(*name), "/", target),
                                      absl::StrCat("symlink \"", *name, "\" ->"));
        if (!resolved.ok()) return resolved.status();
        entry.kind = Entry::kLink;
        entry.link = *resolved;
      } else if (type == AE_IFREG) {
        if (auto st = HashEntry(a->get(), *name, &entry); !st.ok()) return st;
      } else {
        continue;  // devices, fifos: nothing an image archive needs
      }
      if (!entries_.emplace(*name, std::move(entry)).second) {
        return Bad(absl::StrCat("entry \"", *name, "\" appears twice"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status HashEntry(archive* a, const std::string& name, Entry* entry) {
    Sha256 hash;
    // The size is counted as the data is read, not taken from the header.
    bool keep = true;
    std::vector<char> buf(kBlock);
    for (;;) {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0) {
        return Bad(absl::StrCat("entry \"", name, "\" is truncated or corrupt: ", ArchiveError(a)));
      }
      if (n == 0) break;
      hash.Update(buf.data(), static_cast<size_t>(n));
      if (entry->head.size() < 8) {
        entry->head.append(buf.data(),
                           std::min<size_t>(8 - entry->head.size(), static_cast<size_t>(n)));
      }
      entry->size += n;
      if (keep && static_cast<size_t>(entry->size) <= options_.max_document &&
          kept_bytes_ + static_cast<size_t>(entry->size) <= options_.max_kept) {
        entry->data.append(buf.data(), static_cast<size_t>(n));
      } else {
        keep = false;
        entry->data.clear();
        entry->data.shrink_to_fit();
      }
    }
    entry->digest = hash.Digest();
    entry->kept = keep;
    if (keep) kept_bytes_ += entry->data.size();
    return absl::OkStatus();
  }

  // The regular file `name` refers to, following links inside the archive.
  absl::StatusOr<std::pair<std::string, const Entry*>> Resolve(const std::string& given,
                                                               const std::string& what) {
    auto name = NormalizeEntryName(given);
    if (!name.ok()) return name.status();
    std::string at = *name;
    for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
      auto it = entries_.find(at);
      if (it == entries_.end()) {
        return Bad(absl::StrCat(what, ": \"", given, "\" is missing from the archive"));
      }
      if (it->second.kind == Entry::kFile) return std::make_pair(at, &it->second);
      at = it->second.link;
    }
    return Bad(absl::StrCat(what, ": \"", given, "\": too many levels of links"));
  }

  absl::StatusOr<std::string> Document(const std::string& name, const Entry& e,
                                       const std::string& what) {
    if (static_cast<size_t>(e.size) > options_.max_document) {
      return Bad(absl::StrCat(what, " \"", name, "\" has ", e.size, " bytes, more than the limit ",
                              options_.max_document));
    }
    if (!e.kept) {
      return absl::ResourceExhaustedError(
          absl::StrCat("archive: too many small files to keep in memory; cannot read ", what, " \"",
                       name, "\""));
    }
    return e.data;
  }

  static absl::StatusOr<json> ParseJson(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) return Bad(absl::StrCat(what, " is not valid JSON"));
    return j;
  }

  // The blob `d` of an OCI layout, checked against its descriptor, queued for the store.
  absl::StatusOr<const Entry*> Blob(const Descriptor& d, const std::string& what) {
    auto parsed = ParseDigest(d.digest);
    if (!parsed.ok()) {
      return Bad(absl::StrCat(what, ": bad digest \"", d.digest, "\" (want sha256:<64 hex>)"));
    }
    std::string path = "blobs/sha256/" + parsed->hex;
    auto found = Resolve(path, absl::StrCat(what, " ", d.digest));
    if (!found.ok()) return found.status();
    const Entry* e = found->second;
    if (e->digest != d.digest) {
      return Bad(
          absl::StrCat(what, " ", d.digest, " (", path, "): content has digest ", e->digest));
    }
    if (d.size != e->size) {
      return Bad(absl::StrCat(what, " ", d.digest, " (", path, "): descriptor says ", d.size,
                              " bytes, the archive has ", e->size));
    }
    return e;
  }

  void Need(const std::string& name, const Entry* e) {
    needed_.emplace(name, std::make_pair(e->digest, e->size));
  }
  absl::Status NeedBlob(const Descriptor& d, const std::string& what) {
    auto parsed = ParseDigest(d.digest);
    auto found = Resolve("blobs/sha256/" + (parsed.ok() ? parsed->hex : std::string()), what);
    if (!found.ok()) return found.status();
    Need(found->first, found->second);
    return absl::OkStatus();
  }

  // --- OCI image layout ---------------------------------------------------------------------
  absl::StatusOr<std::vector<ArchiveImage>> ReadOciLayout() {
    if (entries_.count("oci-layout")) {
      auto layout = Resolve("oci-layout", "oci-layout");
      if (!layout.ok()) return layout.status();
      auto text = Document("oci-layout", *layout->second, "oci-layout");
      if (!text.ok()) return text.status();
      auto j = ParseJson(*text, "oci-layout");
      if (!j.ok()) return j.status();
      if (!j->is_object() || !j->contains("imageLayoutVersion")) {
        return Bad("oci-layout has no imageLayoutVersion");
      }
    }
    auto index_entry = Resolve("index.json", "index.json");
    if (!index_entry.ok()) return index_entry.status();
    auto text = Document("index.json", *index_entry->second, "index.json");
    if (!text.ok()) return text.status();
    auto entries = ParseIndex(*text);
    if (!entries.ok()) return Bad(absl::StrCat("index.json: ", entries.status().message()));
    auto index_json = ParseJson(*text, "index.json");
    if (!index_json.ok()) return index_json.status();
    const json& manifests = (*index_json)["manifests"];

    std::map<std::string, ArchiveImage> by_manifest;
    std::vector<std::string> order;
    std::vector<std::string> skipped;
    for (size_t i = 0; i < entries->size(); ++i) {
      const IndexEntry& top = (*entries)[i];
      if (top.attestation) continue;
      std::string what = absl::StrCat("index.json manifests[", i, "]");
      if (top.has_platform && !IsIndexMediaType(top.descriptor.media_type) &&
          !SelectPlatform({top}, options_.platform).ok()) {
        skipped.push_back(top.platform.String());
        continue;
      }
      auto blob = Blob(top.descriptor, what);
      if (!blob.ok()) return blob.status();
      auto doc = Document(top.descriptor.digest, **blob, what);
      if (!doc.ok()) return doc.status();
      auto type = DetectManifestMediaType(top.descriptor.media_type, *doc);
      if (!type.ok()) return Bad(absl::StrCat(what, ": ", type.status().message()));
      Descriptor manifest_desc = top.descriptor;
      std::string manifest_text = *doc;
      if (IsIndexMediaType(*type)) {
        auto nested = ParseIndex(*doc);
        if (!nested.ok()) return Bad(absl::StrCat(what, ": ", nested.status().message()));
        auto chosen = SelectPlatform(*nested, options_.platform);
        if (!chosen.ok()) return Bad(absl::StrCat(what, ": ", chosen.status().message()));
        manifest_desc = *chosen;
        what = absl::StrCat(what, " manifest ", chosen->digest);
        auto mblob = Blob(manifest_desc, what);
        if (!mblob.ok()) return mblob.status();
        auto mdoc = Document(manifest_desc.digest, **mblob, what);
        if (!mdoc.ok()) return mdoc.status();
        auto mtype = DetectManifestMediaType(manifest_desc.media_type, *mdoc);
        if (!mtype.ok()) return Bad(absl::StrCat(what, ": ", mtype.status().message()));
        if (!IsImageManifestMediaType(*mtype)) {
          return Bad(absl::StrCat(what, ": not an image manifest (", *mtype, ")"));
        }
        manifest_text = *mdoc;
      } else if (!IsImageManifestMediaType(*type)) {
        return Bad(absl::StrCat(what, ": not an image manifest or index (", *type, ")"));
      }
      auto manifest = ParseImageManifest(manifest_text);
      if (!manifest.ok()) return Bad(absl::StrCat(what, ": ", manifest.status().message()));
      if (auto st = NeedBlob(manifest_desc, what); !st.ok()) return st;
      auto config = Blob(manifest->config, what + " config");
      if (!config.ok()) return config.status();
      if (auto st = NeedBlob(manifest->config, what + " config"); !st.ok()) return st;
      for (size_t l = 0; l < manifest->layers.size(); ++l) {
        std::string lwhat = absl::StrCat(what, " layer ", l);
        auto layer = Blob(manifest->layers[l], lwhat);
        if (!layer.ok()) return layer.status();
        if (auto st = NeedBlob(manifest->layers[l], lwhat); !st.ok()) return st;
      }
      auto [it, inserted] = by_manifest.try_emplace(manifest_desc.digest);
      ArchiveImage& img = it->second;
      if (inserted) {
        order.push_back(manifest_desc.digest);
        img.config_digest = manifest->config.digest;
        img.config_size = manifest->config.size;
        img.manifest_digest = manifest_desc.digest;
        img.layers = manifest->layers;
      }
      // Names: containerd's full-name annotation, else a ref.name that is a full reference.
      std::string name;
      if (i < manifests.size() && manifests[i].is_object() &&
          manifests[i].contains("annotations") && manifests[i]["annotations"].is_object()) {
        const json& ann = manifests[i]["annotations"];
        if (ann.contains(kContainerdNameAnnotation) && ann[kContainerdNameAnnotation].is_string()) {
          name = ann[kContainerdNameAnnotation].get<std::string>();
        } else if (ann.contains(kRefNameAnnotation) && ann[kRefNameAnnotation].is_string()) {
          std::string ref = ann[kRefNameAnnotation].get<std::string>();
          if (ref.find_first_of("/:@") != std::string::npos) name = ref;
        }
      }
      if (!name.empty()) {
        auto parsed = ParseReference(name);
        if (!parsed.ok()) {
          return Bad(
              absl::StrCat(what, ": image name \"", name, "\": ", parsed.status().message()));
        }
        if (!parsed->tag.empty()) AddUnique(&img.repo_tags, parsed->Name() + ":" + parsed->tag);
        AddUnique(&img.repo_digests, parsed->Name() + "@" + top.descriptor.digest);
      }
    }
    if (order.empty() && !skipped.empty()) {
      return Bad(absl::StrCat("no image for ", options_.platform.String(),
                              " (index.json has: ", absl::StrJoin(skipped, ", "), ")"));
    }
    std::vector<ArchiveImage> out;
    for (const auto& d : order) out.push_back(std::move(by_manifest[d]));
    return out;
  }

  static void AddUnique(std::vector<std::string>* v, const std::string& s) {
    if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
  }

  // --- docker save --------------------------------------------------------------------------
  absl::StatusOr<std::vector<ArchiveImage>> ReadDockerSave() {
    auto top = Resolve("manifest.json", "manifest.json");
    if (!top.ok()) return top.status();
    auto text = Document("manifest.json", *top->second, "manifest.json");
    if (!text.ok()) return text.status();
    auto j = ParseJson(*text, "manifest.json");
    if (!j.ok()) return j.status();
    if (!j->is_array()) return Bad("manifest.json is not an array");
    std::map<std::string, ArchiveImage> by_config;
    std::vector<std::string> order;
    for (size_t i = 0; i < j->size(); ++i) {
      const json& m = (*j)[i];
      std::string what = absl::StrCat("manifest.json[", i, "]");
      if (!m.is_object() || !m.contains("Config") || !m["Config"].is_string()) {
        return Bad(what + ": no Config");
      }
      if (!m.contains("Layers") || !m["Layers"].is_array()) return Bad(what + ": no Layers");
      std::string config_name = m["Config"].get<std::string>();
      auto config = Resolve(config_name, what + " Config");
      if (!config.ok()) return config.status();
      auto config_text = Document(config_name, *config->second, what + " Config");
      if (!config_text.ok()) return config_text.status();
      auto config_json =
          ParseJson(*config_text, absl::StrCat(what, " Config \"", config_name, "\""));
      if (!config_json.ok()) return config_json.status();
      std::vector<std::string> diff_ids;
      try {
        for (const auto& d : config_json->at("rootfs").at("diff_ids")) {
          diff_ids.push_back(d.get<std::string>());
        }
      } catch (const json::exception&) {
        return Bad(absl::StrCat(what, " Config \"", config_name, "\" has no rootfs.diff_ids"));
      }
      const json& layers = m["Layers"];
      if (layers.size() != diff_ids.size()) {
        return Bad(absl::StrCat(what, ": ", layers.size(), " Layers but the config has ",
                                diff_ids.size(), " diff ids"));
      }
      Need(config->first, config->second);
      ArchiveImage img;
      img.config_digest = config->second->digest;
      img.config_size = config->second->size;
      for (size_t l = 0; l < layers.size(); ++l) {
        std::string lwhat = absl::StrCat(what, " Layers[", l, "]");
        if (!layers[l].is_string()) return Bad(lwhat + " is not a string");
        std::string layer_name = layers[l].get<std::string>();
        auto layer = Resolve(layer_name, lwhat);
        if (!layer.ok()) return layer.status();
        const Entry* e = layer->second;
        std::string type = LayerMediaType(e->head);
        if (type == kOciLayerTar && e->digest != diff_ids[l]) {
          return Bad(absl::StrCat(lwhat, " \"", layer_name, "\": its sha256 ", e->digest,
                                  " is not the config's diff id ", diff_ids[l]));
        }
        Need(layer->first, e);
        img.layers.push_back({type, e->digest, e->size});
      }
      // The OCI image manifest of the image, as a registry would have served it.
      json manifest = {
          {"schemaVersion", 2},
          {"mediaType", kMediaTypeOciManifest},
          {"config",
           {{"mediaType", kOciConfig}, {"digest", img.config_digest}, {"size", img.config_size}}},
          {"layers", json::array()}};
      for (const auto& l : img.layers) {
        manifest["layers"].push_back(
            {{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
      }
      std::string manifest_text = manifest.dump();
      img.manifest_digest = Sha256Digest(manifest_text);
      made_.emplace(img.manifest_digest, std::move(manifest_text));
      if (m.contains("RepoTags") && m["RepoTags"].is_array()) {
        for (const auto& t : m["RepoTags"]) {
          if (!t.is_string()) return Bad(what + ": RepoTags holds a non-string");
          auto parsed = ParseReference(t.get<std::string>());
          if (!parsed.ok() || parsed->tag.empty() || !parsed->digest.empty()) {
            return Bad(absl::StrCat(
                what, ": RepoTags \"", t.get<std::string>(), "\" is not a name:tag reference",
                parsed.ok() ? "" : absl::StrCat(" (", parsed.status().message(), ")")));
          }
          AddUnique(&img.repo_tags, parsed->Name() + ":" + parsed->tag);
        }
      }
      auto [it, inserted] = by_config.try_emplace(img.config_digest);
      if (inserted) {
        order.push_back(img.config_digest);
        it->second = std::move(img);
      } else {
        for (const auto& t : img.repo_tags) AddUnique(&it->second.repo_tags, t);
      }
    }
    std::vector<ArchiveImage> out;
    for (const auto& d : order) out.push_back(std::move(by_config[d]));
    return out;
  }

  // --- Second pass: blobs into the content store --------------------------------------------
  absl::Status StoreBlobs() {
    for (const auto& [digest, text] : made_) {
      if (auto st = content_.Put(digest, text); !st.ok()) return st;
    }
    std::map<std::string, std::pair<std::string, int64_t>> pending;
    for (const auto& [name, want] : needed_) {
      if (content_.Has(want.first)) continue;
      const Entry& e = entries_.at(name);
      if (e.kept) {
        if (auto st = content_.Put(want.first, e.data); !st.ok()) return st;
        continue;
      }
      pending.emplace(name, want);
    }
    if (pending.empty()) return absl::OkStatus();
    Source source(this);
    auto a = OpenArchive(&source);
    if (!a.ok()) return a.status();
    archive_entry* e = nullptr;
    std::vector<char> buf(kBlock);
    while (!pending.empty()) {
      int r = archive_read_next_header(a->get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return Bad(absl::StrCat("not a readable tar archive: ", ArchiveError(a->get())));
      }
      auto name = NormalizeEntryName(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
      if (!name.ok()) return name.status();
      auto it = pending.find(*name);
      if (it == pending.end() || archive_entry_filetype(e) != AE_IFREG ||
          archive_entry_hardlink(e) != nullptr) {
        continue;
      }
      auto writer = content_.NewWriter(it->second.first, it->second.second);
      if (!writer.ok()) return writer.status();
      for (;;) {
        la_ssize_t n = archive_read_data(a->get(), buf.data(), buf.size());
        if (n < 0) {
          return Bad(absl::StrCat("entry \"", *name,
                                  "\" is truncated or corrupt: ", ArchiveError(a->get())));
        }
        if (n == 0) break;
        if (auto st = (*writer)->Write(buf.data(), static_cast<size_t>(n)); !st.ok()) return st;
      }
      if (auto st = (*writer)->Commit(); !st.ok()) return st;
      pending.erase(it);
    }
    if (!pending.empty()) {
      return absl::InternalError(
          absl::StrCat("archive: \"", pending.begin()->first, "\" vanished between two reads"));
    }
    return absl::OkStatus();
  }

  int fd_;
  ContentStore& content_;
  const ArchiveOptions& options_;
  std::map<std::string, Entry> entries_;
  size_t kept_bytes_ = 0;
  std::map<std::string, std::pair<std::string, int64_t>> needed_;  // entry name → digest, size
  std::map<std::string, std::string> made_;                        // manifests made, by digest
  bool cancelled_ = false;
};

}  // namespace

absl::StatusOr<std::vector<ArchiveImage>> ReadImageArchive(int fd, ContentStore& content,
                                                           const ArchiveOptions& options) {
  return Reader(fd, content, options).Read();
}

absl::StatusOr<std::unique_ptr<ArchiveSpool>> ArchiveSpool::Create(const std::string& dir,
                                                                   int64_t max_bytes) {
  Fd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid() && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string path = dir + "/import-XXXXXX";
    fd.reset(mkostemp(path.data(), O_CLOEXEC));
    if (fd.valid()) unlink(path.c_str());
  }
  if (!fd.valid()) {
    return absl::InternalError(absl::StrCat("create a spool file in ", dir, ": ", strerror(errno)));
  }
  return std::unique_ptr<ArchiveSpool>(new ArchiveSpool(std::move(fd), max_bytes));
}

absl::Status ArchiveSpool::Write(const char* data, size_t n) {
  if (size_ + static_cast<int64_t>(n) > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("archive: larger than the import limit of ", max_bytes_, " bytes"));
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd_.get(), data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      std::string msg = absl::StrCat("spool the archive: ", strerror(err));
      if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
      return absl::InternalError(msg);
    }
    done += static_cast<size_t>(w);
  }
  size_ += static_cast<int64_t>(n);
  return absl::OkStatus();
}

}  // namespace tether
