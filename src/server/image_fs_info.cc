// ImageFsInfo: bytes and inodes used by the image filesystem (content store and snapshots).
#include <sys/stat.h>

#include <filesystem>

#include "absl/time/clock.h"
#include "server/runtime_service.h"

namespace tether {
namespace {

void AddUsage(const std::string& dir, uint64_t* bytes, uint64_t* inodes) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;
    *bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    *inodes += 1;
  }
}

}  // namespace

grpc::Status ImageService::ImageFsInfo(Ctx*, const runtime::v1::ImageFsInfoRequest*,
                                       runtime::v1::ImageFsInfoResponse* resp) {
  uint64_t bytes = 0, inodes = 0;
  for (const char* sub : {"/content", "/snapshots", "/pause-rootfs"}) {
    AddUsage(config_.root + sub, &bytes, &inodes);
  }
  auto* fs = resp->add_image_filesystems();
  fs->set_timestamp(absl::ToUnixNanos(absl::Now()));
  fs->mutable_fs_id()->set_mountpoint(config_.root + "/snapshots");
  fs->mutable_used_bytes()->set_value(bytes);
  fs->mutable_inodes_used()->set_value(inodes);
  // Containers' writable layers live with the snapshots on the same filesystem.
  *resp->add_container_filesystems() = *fs;
  return grpc::Status::OK;
}

}  // namespace tether
