// tetherctl output for images: sizes, the images table, image filters, credentials. Pure
// functions, laid out as crictl v1.32 prints them.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/v1/api.pb.h"

namespace tether::ctl {

// docker/go-units HumanSizeWithPrecision: decimal units (B, kB, MB, GB, ...) and Go's "%.*g",
// e.g. HumanSize(77834560, 3) == "77.8MB". `images` uses precision 3, stats 4 (HumanSize).
std::string HumanSize(double bytes, int precision = 4);

// The first repo digest split at '@': {"docker.io/library/nginx", "sha256:..."};
// {"<none>", "<none>"} without digests, {"errorName", "errorRepoDigest"} for a malformed one.
std::pair<std::string, std::string> NormalizeRepoDigest(
    const google::protobuf::RepeatedPtrField<std::string>& repo_digests);

// Each repo tag split at its last ':' into {repository, tag}; without tags one pair
// {image_name, "<none>"}; "<none>" as a repository is replaced by `image_name`.
std::vector<std::pair<std::string, std::string>> NormalizeRepoTagPairs(
    const google::protobuf::RepeatedPtrField<std::string>& repo_tags, absl::string_view image_name);

// crictl's order: by first repo tag, else first repo digest, else id.
void SortImages(std::vector<runtime::v1::Image>& images);

// `images --filter`: dangling=true|false, reference=<regexp>, before=<ref|id|name@digest>,
// since=<...>, applied in order. An unknown filter is INVALID_ARGUMENT.
absl::StatusOr<std::vector<runtime::v1::Image>> FilterImages(
    std::vector<runtime::v1::Image> images, const std::vector<std::string>& filters);

struct ImagesTableOptions {
  bool quiet = false;    // ids only
  bool verbose = false;  // "ID: ..." blocks
  bool digests = false;  // DIGEST column
  bool no_trunc = false;
  bool pinned = false;  // PINNED column
};
// `images` in table form: IMAGE, TAG, [DIGEST,] IMAGE ID, SIZE[, PINNED], a row per tag.
std::string ImagesTable(const std::vector<runtime::v1::Image>& images,
                        const ImagesTableOptions& options);

// `inspecti -o table`.
std::string ImageStatusTable(const runtime::v1::ImageStatusResponse& response, bool verbose);

// `imagefsinfo -o table`.
std::string ImageFsInfoTable(const runtime::v1::ImageFsInfoResponse& response);

// Registry credentials from --creds USER[:PASSWORD] or --auth BASE64 (not both); nullopt when
// neither is given.
absl::StatusOr<std::optional<runtime::v1::AuthConfig>> ParseAuth(absl::string_view creds,
                                                                 absl::string_view auth);

}  // namespace tether::ctl
