#include "tetherctl/image_output.h"

#include <re2/re2.h>

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

constexpr char kNone[] = "<none>";

using ImageList = std::vector<runtime::v1::Image>;

// The first "repository:tag" of an image as crictl's before/since filters compare it.
std::string FirstRepoTag(const runtime::v1::Image& image) {
  const auto pairs =
      NormalizeRepoTagPairs(image.repo_tags(), NormalizeRepoDigest(image.repo_digests()).first);
  return absl::StrCat(pairs.front().first, ":", pairs.front().second);
}

// crictl's filterByBeforeSince: the images up to (not including) the first one that matches.
ImageList TakeUntil(absl::string_view value, const ImageList& images) {
  const bool colon = absl::StrContains(value, ":");
  const bool at = absl::StrContains(value, "@");
  ImageList out;
  for (const auto& image : images) {
    if (colon && !at) {  // <image-name>[:<tag>]
      if (FirstRepoTag(image) == value) break;
      out.push_back(image);
    }
    if (!colon && !at) {  // <image id>
      if (absl::StartsWith(image.id(), value)) break;
      out.push_back(image);
    }
    if (colon && at && !image.repo_digests().empty()) {  // <image@digest>
      if (absl::StartsWith(image.repo_digests(0), value)) break;
      out.push_back(image);
    }
  }
  return out;
}

}  // namespace

std::string HumanSize(double bytes, int precision) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  size_t unit = 0;
  while (bytes >= 1000.0 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000.0;
    ++unit;
  }
  return absl::StrFormat("%.*g%s", precision, bytes, kUnits[unit]);
}

std::pair<std::string, std::string> NormalizeRepoDigest(
    const google::protobuf::RepeatedPtrField<std::string>& repo_digests) {
  if (repo_digests.empty()) return {kNone, kNone};
  std::vector<std::string> parts = absl::StrSplit(repo_digests[0], '@');
  if (parts.size() != 2) return {"errorName", "errorRepoDigest"};
  return {parts[0], parts[1]};
}

std::vector<std::pair<std::string, std::string>> NormalizeRepoTagPairs(
    const google::protobuf::RepeatedPtrField<std::string>& repo_tags,
    absl::string_view image_name) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (repo_tags.empty()) {
    pairs.emplace_back(std::string(image_name), kNone);
    return pairs;
  }
  for (const std::string& repo_tag : repo_tags) {
    const size_t colon = repo_tag.rfind(':');
    if (colon == std::string::npos) {
      pairs.emplace_back("errorRepoTag", "errorRepoTag");
      continue;
    }
    std::string name = repo_tag.substr(0, colon);
    if (name == kNone) name = std::string(image_name);
    pairs.emplace_back(std::move(name), repo_tag.substr(colon + 1));
  }
  return pairs;
}

void SortImages(std::vector<runtime::v1::Image>& images) {
  // Not a strict weak order when images with and without tags mix (as in crictl), hence the
  // stable merge sort, which tolerates that.
  std::stable_sort(images.begin(), images.end(), [](const auto& a, const auto& b) {
    if (!a.repo_tags().empty() && !b.repo_tags().empty()) return a.repo_tags(0) < b.repo_tags(0);
    if (!a.repo_digests().empty() && !b.repo_digests().empty()) {
      return a.repo_digests(0) < b.repo_digests(0);
    }
    return a.id() < b.id();
  });
}

absl::StatusOr<std::vector<runtime::v1::Image>> FilterImages(
    std::vector<runtime::v1::Image> images, const std::vector<std::string>& filters) {
  for (const std::string& filter : filters) {
    absl::string_view value = filter;
    if (absl::ConsumePrefix(&value, "before=")) {
      std::reverse(images.begin(), images.end());
      images = TakeUntil(value, images);
      std::reverse(images.begin(), images.end());
    } else if (absl::ConsumePrefix(&value, "dangling=")) {
      ImageList out;
      for (auto& image : images) {
        if ((value == "true" && image.repo_tags().empty()) ||
            (value == "false" && !image.repo_tags().empty())) {
          out.push_back(std::move(image));
        }
      }
      images = std::move(out);
    } else if (absl::ConsumePrefix(&value, "reference=")) {
      RE2 re(re2::StringPiece(value.data(), value.size()), RE2::Quiet);
      if (!re.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter images: error parsing regexp: ", re.error()));
      }
      ImageList out;
      for (auto& image : images) {
        const std::string name = NormalizeRepoDigest(image.repo_digests()).first;
        if (RE2::PartialMatch(name, re) || name == value) out.push_back(std::move(image));
      }
      images = std::move(out);
    } else if (absl::ConsumePrefix(&value, "since=")) {
      images = TakeUntil(value, images);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("filter images: unknown filter flag: ", filter));
    }
  }
  return images;
}

std::string ImagesTable(const std::vector<runtime::v1::Image>& images,
                        const ImagesTableOptions& options) {
  std::string out;
  Table table;
  if (!options.verbose && !options.quiet) {
    std::vector<std::string> header = {"IMAGE", "TAG"};
    if (options.digests) header.push_back("DIGEST");
    header.insert(header.end(), {"IMAGE ID", "SIZE"});
    if (options.pinned) header.push_back("PINNED");
    table.AddRow(std::move(header));
  }
  for (const auto& image : images) {
    if (options.quiet) {
      absl::StrAppend(&out, image.id(), "\n");
      continue;
    }
    if (!options.verbose) {
      auto [name, digest] = NormalizeRepoDigest(image.repo_digests());
      std::string id = image.id();
      if (!options.no_trunc) {
        id = TruncateId(id, "sha256:");
        digest = TruncateId(digest, "sha256:");
      }
      const std::string size = HumanSize(static_cast<double>(image.size()), 3);
      for (auto& [repo, tag] : NormalizeRepoTagPairs(image.repo_tags(), name)) {
        std::vector<std::string> row = {repo, tag};
        if (options.digests) row.push_back(digest);
        row.insert(row.end(), {id, size});
        if (options.pinned) row.push_back(image.pinned() ? "true" : "false");
        table.AddRow(std::move(row));
      }
      continue;
    }
    absl::StrAppend(&out, "ID: ", image.id(), "\n");
    for (const auto& tag : image.repo_tags()) absl::StrAppend(&out, "RepoTags: ", tag, "\n");
    for (const auto& digest : image.repo_digests()) {
      absl::StrAppend(&out, "RepoDigests: ", digest, "\n");
    }
    if (image.size() != 0) absl::StrAppend(&out, "Size: ", image.size(), "\n");
    // Go prints the *Int64Value pointer's struct: "&Int64Value{Value:0,}".
    if (image.has_uid())
      absl::StrAppend(&out, "Uid: &Int64Value{Value:", image.uid().value(), ",}\n");
    if (!image.username().empty()) absl::StrAppend(&out, "Username: ", image.username(), "\n");
    if (image.pinned()) absl::StrAppend(&out, "Pinned: true\n");
    out += "\n";
  }
  return out + table.Render();
}

std::string ImageStatusTable(const runtime::v1::ImageStatusResponse& response, bool verbose) {
  const runtime::v1::Image& image = response.image();
  std::string out = absl::StrCat("ID: ", image.id(), "\n");
  for (const auto& tag : image.repo_tags()) absl::StrAppend(&out, "Tag: ", tag, "\n");
  for (const auto& digest : image.repo_digests()) absl::StrAppend(&out, "Digest: ", digest, "\n");
  absl::StrAppend(&out, "Size: ", HumanSize(static_cast<double>(image.size()), 3), "\n");
  if (verbose) {
    absl::StrAppend(&out, "Info: ",
                    GoMapString(std::map<std::string, std::string>(response.info().begin(),
                                                                   response.info().end())),
                    "\n");
  }
  return out;
}

std::string ImageFsInfoTable(const runtime::v1::ImageFsInfoResponse& response) {
  std::string out;
  auto print = [&out](absl::string_view label, const auto& filesystems) {
    absl::StrAppend(&out, label, " Filesystem \n");
    for (int i = 0; i < filesystems.size(); ++i) {
      const runtime::v1::FilesystemUsage& fs = filesystems[i];
      absl::StrAppend(&out, "TimeStamp[", i, "]: ", fs.timestamp(), "\n");
      absl::StrAppend(&out, "Disk[", i,
                      "]: ", HumanSize(static_cast<double>(fs.used_bytes().value())), "\n");
      absl::StrAppend(&out, "Inodes[", i, "]: ", fs.inodes_used().value(), "\n");
      absl::StrAppend(&out, "Mountpoint[", i, "]: ", fs.fs_id().mountpoint(), "\n");
    }
  };
  print("Container", response.container_filesystems());
  print("Image", response.image_filesystems());
  return out;
}

absl::StatusOr<std::optional<runtime::v1::AuthConfig>> ParseAuth(absl::string_view creds,
                                                                 absl::string_view auth) {
  if (!creds.empty() && !auth.empty()) {
    return absl::InvalidArgumentError("both `--creds` and `--auth` are specified");
  }
  runtime::v1::AuthConfig config;
  if (!creds.empty()) {
    const size_t colon = creds.find(':');
    if (colon == 0) return absl::InvalidArgumentError("username can't be empty");
    config.set_username(std::string(creds.substr(0, colon)));
    if (colon != absl::string_view::npos) config.set_password(std::string(creds.substr(colon + 1)));
    return config;
  }
  if (!auth.empty()) {
    config.set_auth(std::string(auth));
    return config;
  }
  return std::nullopt;
}

}  // namespace tether::ctl
