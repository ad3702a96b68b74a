// Image archives (tetherctl import): OCI layout tars and docker save tarballs read into the
// content store; malformed archives (missing blob, digest and size mismatch, path escapes,
// not a tar, truncated) refused with INVALID_ARGUMENT naming the problem, storing nothing.
#include "image/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "image/digest.h"
#include "nlohmann/json.hpp"
#include "util/fd.h"
#include "util/file.h"
#include "util/id.h"

namespace tether {
namespace {

using json = nlohmann::json;

struct TarItem {
  std::string name;
  std::string data;
  char type = 'f';  // 'f' file, 'd' dir, 's' symlink, 'h' hardlink
  std::string link;
};

la_ssize_t AppendTo(archive*, void* user, const void* data, size_t n) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

std::string Tar(const std::vector<TarItem>& items, bool gzip = false) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open(a, &out, nullptr, AppendTo, nullptr);
  for (const auto& t : items) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_perm(e, 0644);
    switch (t.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case 's':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.link.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.link.c_str());
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()));
    }
    archive_write_header(a, e);
    if (t.type == 'f' && !t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

std::string Hex(const std::string& digest) { return digest.substr(7); }
std::string BlobPath(const std::string& data) { return "blobs/sha256/" + Hex(Sha256Digest(data)); }
json Desc(const std::string& media_type, const std::string& data) {
  return {{"mediaType", media_type}, {"digest", Sha256Digest(data)}, {"size", data.size()}};
}

constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kIndexType[] = "application/vnd.oci.image.index.v1+json";
constexpr char kLayerType[] = "application/vnd.oci.image.layer.v1.tar";

// A small image: one layer tar, its config and OCI manifest.
struct TestImage {
  std::string layer, config, manifest;
  explicit TestImage(const std::string& content, const std::string& arch = "amd64",
                     size_t pad = 0) {
    layer = Tar({{"etc/hello", content + std::string(pad, 'x')}});
    config = json({{"architecture", arch},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"sh"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(layer)}}}}})
                 .dump();
    manifest = json({{"schemaVersion", 2},
                     {"mediaType", kManifestType},
                     {"config", Desc("application/vnd.oci.image.config.v1+json", config)},
                     {"layers", {Desc(kLayerType, layer)}}})
                   .dump();
  }
  std::vector<TarItem> Blobs() const {
    return {{BlobPath(layer), layer}, {BlobPath(config), config}, {BlobPath(manifest), manifest}};
  }
};

std::vector<TarItem> OciLayout(const json& index, std::vector<TarItem> blobs) {
  std::vector<TarItem> items = {{"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"},
                                {"index.json", index.dump()},
                                {"blobs", "", 'd'},
                                {"blobs/sha256", "", 'd'}};
  items.insert(items.end(), blobs.begin(), blobs.end());
  return items;
}

json IndexOf(const std::string& manifest, const json& annotations = json::object()) {
  json d = Desc(kManifestType, manifest);
  if (!annotations.empty()) d["annotations"] = annotations;
  return {{"schemaVersion", 2}, {"manifests", {d}}};
}

class ImageArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tether-archive-" + NewId().substr(0, 12));
    content_ = std::make_unique<ContentStore>(dir_ + "/root");
    ASSERT_TRUE(content_->Init().ok());
    options_.platform = {"linux", "amd64", ""};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::vector<ArchiveImage>> Read(const std::string& bytes) {
    std::string path = absl::StrCat(dir_, "/archive-", n_++, ".tar");
    EXPECT_TRUE(WriteFileAtomic(path, bytes).ok());
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    return ReadImageArchive(fd.get(), *content_, options_);
  }
  // INVALID_ARGUMENT containing every `parts`, and nothing stored.
  void ExpectBad(const std::string& bytes, std::vector<std::string> parts) {
    auto r = Read(bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    for (const auto& p : parts)
      EXPECT_TRUE(absl::StrContains(r.status().message(), p)) << r.status();
    EXPECT_TRUE(content_->List().empty());
  }

  std::string dir_;
  std::unique_ptr<ContentStore> content_;
  ArchiveOptions options_;
  int n_ = 0;
};

TEST_F(ImageArchiveTest, OciLayoutTarWithNameAnnotations) {
  TestImage img("one");
  json index = IndexOf(img.manifest, {{"org.opencontainers.image.ref.name", "example.com/a/b:1"}});
  // A second entry for the same manifest, named by containerd's annotation, and a bare tag that
  // names no repository.
  json again = Desc(kManifestType, img.manifest);
  again["annotations"] = {{"io.containerd.image.name", "busybox:2"},
                          {"org.opencontainers.image.ref.name", "2"}};
  index["manifests"].push_back(again);
  auto r = Read(Tar(OciLayout(index, img.Blobs())));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  const ArchiveImage& a = r->front();
  EXPECT_EQ(a.config_digest, Sha256Digest(img.config));
  EXPECT_EQ(a.config_size, static_cast<int64_t>(img.config.size()));
  EXPECT_EQ(a.manifest_digest, Sha256Digest(img.manifest));
  ASSERT_EQ(a.layers.size(), 1u);
  EXPECT_EQ(a.layers[0].digest, Sha256Digest(img.layer));
  EXPECT_EQ(a.repo_tags,
            (std::vector<std::string>{"example.com/a/b:1", "docker.io/library/busybox:2"}));
  EXPECT_EQ(a.repo_digests,
            (std::vector<std::string>{"example.com/a/b@" + a.manifest_digest,
                                      "docker.io/library/busybox@" + a.manifest_digest}));
  for (const auto& blob : {img.layer, img.config, img.manifest}) {
    auto stored = content_->ReadBlob(Sha256Digest(blob), 1 << 20);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, blob);
  }
}

TEST_F(ImageArchiveTest, BareTagNamesNothingAndGzippedArchiveReads) {
  TestImage img("one");
  auto r = Read(Tar(
      OciLayout(IndexOf(img.manifest, {{"org.opencontainers.image.ref.name", "1"}}), img.Blobs()),
      /*gzip=*/true));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE(r->front().repo_tags.empty());
  EXPECT_TRUE(r->front().repo_digests.empty());
}

TEST_F(ImageArchiveTest, NestedIndexSelectsThisPlatformOnly) {
  TestImage amd("amd"), arm("arm", "arm64");
  json nested = {
      {"schemaVersion", 2},
      {"mediaType", kIndexType},
      {"manifests", {Desc(kManifestType, arm.manifest), Desc(kManifestType, amd.manifest)}}};
  nested["manifests"][0]["platform"] = {{"os", "linux"}, {"architecture", "arm64"}};
  nested["manifests"][1]["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  std::string nested_text = nested.dump();
  json index = {{"schemaVersion", 2}, {"manifests", {Desc(kIndexType, nested_text)}}};
  index["manifests"][0]["annotations"] = {{"io.containerd.image.name", "example.com/multi:1"}};
  // Only the amd64 image's blobs (and the arm64 manifest) are in the archive: the arm64 config
  // and layer are not needed.
  auto blobs = amd.Blobs();
  blobs.push_back({BlobPath(nested_text), nested_text});
  blobs.push_back({BlobPath(arm.manifest), arm.manifest});
  auto r = Read(Tar(OciLayout(index, blobs)));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().manifest_digest, Sha256Digest(amd.manifest));
  EXPECT_EQ(r->front().config_digest, Sha256Digest(amd.config));
  // The repo digest is that of what index.json names: the index.
  EXPECT_EQ(r->front().repo_digests,
            (std::vector<std::string>{"example.com/multi@" + Sha256Digest(nested_text)}));
  EXPECT_FALSE(content_->Has(Sha256Digest(arm.config)));

  options_.platform = {"linux", "s390x", ""};
  auto none = Read(Tar(OciLayout(index, blobs)));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument) << none.status();
  EXPECT_TRUE(absl::StrContains(none.status().message(), "linux/s390x")) << none.status();
}

TEST_F(ImageArchiveTest, LargeBlobsStreamInTheSecondPass) {
  options_.max_document = 4096;
  TestImage img("big", "amd64", 100000);  // the layer is far above the document limit
  auto r = Read(Tar(OciLayout(IndexOf(img.manifest), img.Blobs())));
  ASSERT_TRUE(r.ok()) << r.status();
  auto size = content_->Size(Sha256Digest(img.layer));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, static_cast<int64_t>(img.layer.size()));
  // A document above the limit is refused, naming it.
  options_.max_document = 64;
  TestImage other("other");
  auto big = Read(Tar(OciLayout(IndexOf(other.manifest), other.Blobs())));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument) << big.status();
  EXPECT_TRUE(absl::StrContains(big.status().message(), "limit")) << big.status();
}

// Cancellation is polled before every block of both passes: whichever block it comes at, the
// read stops with CANCELLED; a read that is never cancelled succeeds.
TEST_F(ImageArchiveTest, CancellationStopsEitherPass) {
  options_.max_document = 4096;
  TestImage img("cancel", "amd64",
                3 << 20);  // a layer of several blocks, stored by the second pass
  std::string archive = Tar(OciLayout(IndexOf(img.manifest), img.Blobs()));
  int polls = 0;
  options_.cancelled = [&] {
    ++polls;
    return false;
  };
  ASSERT_TRUE(Read(archive).ok());
  const int total = polls;
  ASSERT_GT(total, 4);  // both passes read more than one block
  for (int at = 0; at < total; ++at) {
    // An empty store each time, so that the second pass has every blob to store.
    content_ = std::make_unique<ContentStore>(absl::StrCat(dir_, "/root-", at));
    ASSERT_TRUE(content_->Init().ok());
    polls = 0;
    options_.cancelled = [&] { return polls++ >= at; };
    auto r = Read(archive);
    ASSERT_FALSE(r.ok()) << "cancelled at poll " << at;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << at << ": " << r.status();
  }
}

TEST_F(ImageArchiveTest, DockerSaveTarball) {
  TestImage img("docker");
  std::string config_hex = Hex(Sha256Digest(img.config));
  // Two layers: the second is the same tar through a symlink (old docker save does that for
  // repeated layers); a hardlink names the config a second time.
  json config = json::parse(img.config);
  config["rootfs"]["diff_ids"].push_back(Sha256Digest(img.layer));
  std::string config_text = config.dump();
  config_hex = Hex(Sha256Digest(config_text));
  json manifest = json::array({{{"Config", config_hex + ".json"},
                                {"RepoTags", {"busybox:latest", "example.com/x/y:v1"}},
                                {"Layers", {"aaa/layer.tar", "bbb/layer.tar"}}}});
  std::vector<TarItem> items = {{"aaa", "", 'd'},
                                {"aaa/layer.tar", img.layer},
                                {"bbb", "", 'd'},
                                {"bbb/layer.tar", "", 's', "../aaa/layer.tar"},
                                {config_hex + ".json", config_text},
                                {"config-copy.json", "", 'h', config_hex + ".json"},
                                {"manifest.json", manifest.dump()},
                                {"repositories", "{}"}};
  auto r = Read(Tar(items));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  const ArchiveImage& a = r->front();
  EXPECT_EQ(a.config_digest, "sha256:" + config_hex);
  EXPECT_EQ(a.repo_tags,
            (std::vector<std::string>{"docker.io/library/busybox:latest", "example.com/x/y:v1"}));
  EXPECT_TRUE(a.repo_digests.empty());
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(a.layers[1].digest, Sha256Digest(img.layer));
  // The OCI manifest made for it is stored and names the same config and layers.
  auto stored = content_->ReadBlob(a.manifest_digest, 1 << 20);
  ASSERT_TRUE(stored.ok()) << stored.status();
  json m = json::parse(*stored);
  EXPECT_EQ(m["mediaType"], kManifestType);
  EXPECT_EQ(m["config"]["digest"], a.config_digest);
  EXPECT_EQ(m["layers"].size(), 2u);
  EXPECT_TRUE(content_->Has(Sha256Digest(img.layer)));
  EXPECT_TRUE(content_->Has(a.config_digest));
}

TEST_F(ImageArchiveTest, DockerSaveGzipLayerIsTypedByItsMagic) {
  std::string layer = Tar({{"etc/x", "x"}});
  std::string gz = Tar({{"etc/x", "x"}}, /*gzip=*/true);  // a gzipped tar (diff id: of `layer`)
  std::string config =
      json({{"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(layer)}}}}}).dump();
  json manifest =
      json::array({{{"Config", "c.json"}, {"RepoTags", nullptr}, {"Layers", {"l.tar.gz"}}}});
  auto r = Read(Tar({{"c.json", config}, {"l.tar.gz", gz}, {"manifest.json", manifest.dump()}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->front().layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_TRUE(r->front().repo_tags.empty());
}

TEST_F(ImageArchiveTest, MissingBlobIsNamed) {
  TestImage img("one");
  auto blobs = img.Blobs();
  blobs.erase(blobs.begin());  // the layer
  ExpectBad(Tar(OciLayout(IndexOf(img.manifest), blobs)), {Sha256Digest(img.layer), "missing"});
}

TEST_F(ImageArchiveTest, DigestAndSizeMismatchesAreNamed) {
  TestImage img("one");
  auto blobs = img.Blobs();
  blobs[0].data = Tar({{"etc/hello", "two"}});  // same size, other content
  ExpectBad(Tar(OciLayout(IndexOf(img.manifest), blobs)),
            {Sha256Digest(img.layer), "content has digest"});
  // The descriptor's size is wrong.
  json index = IndexOf(img.manifest);
  index["manifests"][0]["size"] = img.manifest.size() + 1;
  ExpectBad(Tar(OciLayout(index, img.Blobs())), {"descriptor says"});
  // docker save: an uncompressed layer that is not the config's diff id.
  std::string config =
      json({{"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest("other")}}}}}).dump();
  json manifest = json::array({{{"Config", "c.json"}, {"Layers", {"l.tar"}}}});
  ExpectBad(Tar({{"c.json", config}, {"l.tar", img.layer}, {"manifest.json", manifest.dump()}}),
            {"l.tar", "diff id"});
  // More layers than diff ids.
  manifest = json::array({{{"Config", "c.json"}, {"Layers", {"l.tar", "l.tar"}}}});
  ExpectBad(Tar({{"c.json", config}, {"l.tar", img.layer}, {"manifest.json", manifest.dump()}}),
            {"2 Layers", "1 diff ids"});
}

TEST_F(ImageArchiveTest, PathEscapesAreRefused) {
  TestImage img("one");
  auto with = [&](TarItem extra) {
    auto items = OciLayout(IndexOf(img.manifest), img.Blobs());
    items.push_back(std::move(extra));
    return Tar(items);
  };
  ExpectBad(with({"../escape", "x"}), {"../escape", "escapes"});
  ExpectBad(with({"blobs/../../escape", "x"}), {"escapes"});
  ExpectBad(with({"/etc/passwd", "x"}), {"/etc/passwd", "escapes"});
  ExpectBad(with({"evil", "", 's', "../../etc/passwd"}), {"evil", "escapes"});
  ExpectBad(with({"evil", "", 's', "/etc/passwd"}), {"evil", "escapes"});
  ExpectBad(with({"evil", "", 'h', "../etc/passwd"}), {"escapes"});
  // A docker manifest naming a file outside the archive.
  json manifest = json::array({{{"Config", "../c.json"}, {"Layers", json::array()}}});
  ExpectBad(Tar({{"manifest.json", manifest.dump()}}), {"../c.json", "escapes"});
}

TEST_F(ImageArchiveTest, NotAnImageArchive) {
  ExpectBad("this is not a tar archive at all, just some text that goes on for a while......",
            {"archive"});
  ExpectBad(Tar({{"hello.txt", "hi"}}), {"index.json", "manifest.json"});
  ExpectBad(Tar({{"index.json", "{not json"}}), {"index.json"});
  ExpectBad(Tar({{"manifest.json", "{}"}}), {"manifest.json"});
  // Truncated in the middle of a blob.
  TestImage img("one", "amd64", 50000);
  std::string whole = Tar(OciLayout(IndexOf(img.manifest), img.Blobs()));
  ExpectBad(whole.substr(0, whole.size() / 2), {"truncated"});
  // The same entry twice.
  ExpectBad(Tar({{"manifest.json", "[]"}, {"manifest.json", "[]"}}), {"twice"});
  // An empty index.
  ExpectBad(Tar({{"index.json", R"({"schemaVersion":2,"manifests":[]})"}}), {"no image"});
}

TEST(ArchiveSpoolTest, AnonymousAndBounded) {
  std::string dir =
      std::filesystem::temp_directory_path() / ("tether-spool-" + NewId().substr(0, 12));
  ASSERT_TRUE(MakeDirs(dir, 0700).ok());
  {
    auto spool = ArchiveSpool::Create(dir, 10);
    ASSERT_TRUE(spool.ok()) << spool.status();
    EXPECT_TRUE((*spool)->Write("12345", 5).ok());
    EXPECT_TRUE((*spool)->Write("67890", 5).ok());
    auto over = (*spool)->Write("x", 1);
    EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted) << over;
    EXPECT_EQ((*spool)->size(), 10);
    char buf[16] = {0};
    EXPECT_EQ(pread((*spool)->fd(), buf, sizeof buf, 0), 10);
    EXPECT_EQ(std::string(buf), "1234567890");
    // Nothing in the directory has a name, even while the spool lives.
    EXPECT_TRUE(std::filesystem::is_empty(dir));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tether
