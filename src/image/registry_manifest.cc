#include "image/registry_manifest.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "image/digest.h"
#include "nlohmann/json.hpp"

namespace tether {
namespace {

using nlohmann::json;

absl::Status Malformed(const std::string& what, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("malformed ", what, ": ", why));
}

absl::StatusOr<json> ParseJson(const std::string& body, const std::string& what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed(what, "not valid JSON");
  if (!j.is_object()) return Malformed(what, "not a JSON object");
  return j;
}

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return Malformed(what, "descriptor is not an object");
  Descriptor d;
  if (j.contains("mediaType")) {
    if (!j["mediaType"].is_string()) return Malformed(what, "mediaType is not a string");
    d.media_type = j["mediaType"].get<std::string>();
  }
  if (!j.contains("digest") || !j["digest"].is_string()) return Malformed(what, "no digest");
  d.digest = j["digest"].get<std::string>();
  if (absl::Status s = ValidateDigest(d.digest); !s.ok()) {
    return Malformed(what, std::string(s.message()));
  }
  if (!j.contains("size") || !j["size"].is_number_integer()) return Malformed(what, "no size");
  d.size = j["size"].get<int64_t>();
  if (d.size < 0) return Malformed(what, absl::StrCat("negative size for ", d.digest));
  return d;
}

std::string NormalizeArch(const std::string& arch, std::string* variant) {
  std::string a = absl::AsciiStrToLower(arch);
  std::string v = absl::AsciiStrToLower(*variant);
  if (a == "x86_64" || a == "x86-64" || a == "amd64") {
    a = "amd64";
    if (v == "v1") v = "";
  } else if (a == "aarch64" || a == "arm64") {
    a = "arm64";
    if (v == "v8" || v == "8") v = "";
  } else if (a == "armhf") {
    a = "arm";
    v = "v7";
  } else if (a == "armel") {
    a = "arm";
    v = "v6";
  } else if (a == "arm") {
    if (v.empty()) v = "v7";
    if (v.size() == 1 && absl::ascii_isdigit(static_cast<unsigned char>(v[0]))) v = "v" + v;
  } else if (a == "i386" || a == "i686") {
    a = "386";
  }
  *variant = v;
  return a;
}

int VariantNumber(const std::string& v) {
  int n = 0;
  if (v.size() < 2 || v[0] != 'v' || !absl::SimpleAtoi(v.substr(1), &n)) return -1;
  return n;
}

// Higher is better; negative is incompatible.
int VariantScore(const std::string& have, const std::string& want) {
  if (have == want) return 1000;
  int h = VariantNumber(have), w = VariantNumber(want);
  if (h >= 0 && w >= 0 && h < w) return 100 + h;  // an older variant of the same architecture
  if (have.empty()) return 50;                    // a generic build
  return -1;
}

}  // namespace

const std::string& ManifestAcceptHeader() {
  static const std::string* accept =
      new std::string(absl::StrJoin({kMediaTypeOciIndex, kMediaTypeOciManifest,
                                     kMediaTypeDockerManifestList, kMediaTypeDockerManifest},
                                    ", "));
  return *accept;
}

std::string Platform::String() const {
  std::string s = absl::StrCat(os, "/", architecture);
  if (!variant.empty()) absl::StrAppend(&s, "/", variant);
  return s;
}

Platform Platform::Host() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", ""};
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
  return {"linux", "arm", "v7"};
#elif defined(__arm__)
  return {"linux", "arm", "v6"};
#elif defined(__i386__)
  return {"linux", "386", ""};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return {"linux", "ppc64le", ""};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__riscv) && __riscv_xlen == 64
  return {"linux", "riscv64", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

bool IsIndexMediaType(const std::string& t) {
  return t == kMediaTypeOciIndex || t == kMediaTypeDockerManifestList;
}
bool IsImageManifestMediaType(const std::string& t) {
  return t == kMediaTypeOciManifest || t == kMediaTypeDockerManifest;
}
bool IsSchema1MediaType(const std::string& t) {
  return t == kMediaTypeDockerSchema1 || t == kMediaTypeDockerSchema1Signed;
}

absl::StatusOr<std::string> DetectManifestMediaType(const std::string& content_type,
                                                    const std::string& body) {
  // "type/subtype; charset=..." -> "type/subtype"
  std::string ct = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';'))));
  static const absl::Status kSchema1 =
      absl::FailedPreconditionError("schema 1 manifests are not supported");
  if (IsSchema1MediaType(ct)) return kSchema1;
  if (IsIndexMediaType(ct) || IsImageManifestMediaType(ct)) return ct;
  absl::StatusOr<json> j = ParseJson(body, "manifest");
  if (!j.ok()) return j.status();
  if (j->contains("schemaVersion") && (*j)["schemaVersion"] == 1) return kSchema1;
  if (j->contains("mediaType") && (*j)["mediaType"].is_string()) {
    std::string mt = (*j)["mediaType"].get<std::string>();
    if (IsSchema1MediaType(mt)) return kSchema1;
    if (IsIndexMediaType(mt) || IsImageManifestMediaType(mt)) return mt;
    return absl::FailedPreconditionError(
        absl::StrCat("unsupported manifest media type \"", mt, "\""));
  }
  if (j->contains("manifests")) return std::string(kMediaTypeOciIndex);
  if (j->contains("config") && j->contains("layers")) return std::string(kMediaTypeOciManifest);
  return absl::FailedPreconditionError(absl::StrCat("unsupported manifest (Content-Type \"",
                                                    content_type, "\" and no known mediaType)"));
}

absl::StatusOr<ImageManifest> ParseImageManifest(const std::string& body) {
  absl::StatusOr<json> j = ParseJson(body, "image manifest");
  if (!j.ok()) return j.status();
  if (j->contains("schemaVersion") && (*j)["schemaVersion"] != 2) {
    return Malformed("image manifest", "schemaVersion is not 2");
  }
  ImageManifest m;
  if (!j->contains("config")) return Malformed("image manifest", "no config");
  absl::StatusOr<Descriptor> config = ParseDescriptor((*j)["config"], "image manifest config");
  if (!config.ok()) return config.status();
  m.config = *std::move(config);
  if (j->contains("layers")) {
    const json& layers = (*j)["layers"];
    if (!layers.is_array()) return Malformed("image manifest", "layers is not an array");
    for (const json& l : layers) {
      absl::StatusOr<Descriptor> d = ParseDescriptor(l, "image manifest layer");
      if (!d.ok()) return d.status();
      m.layers.push_back(*std::move(d));
    }
  }
  return m;
}

absl::StatusOr<std::vector<IndexEntry>> ParseIndex(const std::string& body) {
  absl::StatusOr<json> j = ParseJson(body, "image index");
  if (!j.ok()) return j.status();
  if (!j->contains("manifests") || !(*j)["manifests"].is_array()) {
    return Malformed("image index", "no manifests array");
  }
  std::vector<IndexEntry> out;
  for (const json& m : (*j)["manifests"]) {
    IndexEntry e;
    absl::StatusOr<Descriptor> d = ParseDescriptor(m, "image index entry");
    if (!d.ok()) return d.status();
    e.descriptor = *std::move(d);
    if (m.contains("platform") && m["platform"].is_object()) {
      const json& p = m["platform"];
      e.has_platform = true;
      e.platform.os = p.value("os", "");
      e.platform.architecture = p.value("architecture", "");
      e.platform.variant = p.value("variant", "");
    }
    if (m.contains("annotations") && m["annotations"].is_object() &&
        m["annotations"].contains(kDockerReferenceTypeAnnotation)) {
      e.attestation = true;
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<Descriptor> SelectPlatform(const std::vector<IndexEntry>& entries,
                                          const Platform& want) {
  std::string want_variant = want.variant;
  std::string want_arch = NormalizeArch(want.architecture, &want_variant);
  std::string want_os = absl::AsciiStrToLower(want.os);
  const Descriptor* best = nullptr;
  int best_score = -1;
  std::vector<std::string> offered;
  for (const IndexEntry& e : entries) {
    if (e.attestation) continue;
    const std::string& mt = e.descriptor.media_type;
    if (!mt.empty() && !IsIndexMediaType(mt) && !IsImageManifestMediaType(mt)) continue;
    int score;
    if (!e.has_platform) {
      score = 1;
      offered.push_back("(no platform)");
    } else {
      offered.push_back(e.platform.String());
      std::string variant = e.platform.variant;
      std::string arch = NormalizeArch(e.platform.architecture, &variant);
      if (absl::AsciiStrToLower(e.platform.os) != want_os || arch != want_arch) continue;
      score = VariantScore(variant, want_variant);
    }
    if (score > best_score) {
      best_score = score;
      best = &e.descriptor;
    }
  }
  if (best == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no manifest for platform ", want.String(), " in the image index (it has: ",
                     offered.empty() ? "nothing" : absl::StrJoin(offered, ", "), ")"));
  }
  return *best;
}

}  // namespace tether
