// ImageFsInfo: bytes and inodes used by the image filesystem (content store, snapshots and the
// pause's root filesystem), answered from memory. The directories are walked by the stats
// cache's low-priority thread along with the writable layers (daemon.cc lists them), every sweep
// and soon after a pull or a removal, never on the request path; containerd likewise answers from
// its periodically synced snapshot usage.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime_service.h"

namespace tether {

std::vector<StatsCache::Layer> ImageFsLayers(const Config& config) {
  std::vector<StatsCache::Layer> out;
  for (const char* sub : {"/content", "/snapshots", "/pause-rootfs"}) {
    std::string dir = config.root + sub;
    out.push_back({.id = absl::StrCat("image-fs:", dir), .dir = dir});
  }
  return out;
}

void ImageService::RefreshFsUsage() {
  if (!stats_) return;
  for (const auto& layer : ImageFsLayers(config_)) stats_->RequestRefresh(layer.id);
}

grpc::Status ImageService::ImageFsInfo(Ctx*, const runtime::v1::ImageFsInfoRequest*,
                                       runtime::v1::ImageFsInfoResponse* resp) {
  if (!stats_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "image filesystem usage is not tracked in this server");
  }
  uint64_t bytes = 0, inodes = 0;
  int64_t timestamp = 0;
  for (const auto& layer : ImageFsLayers(config_)) {
    auto usage = stats_->WritableLayer(layer.id);  // nothing yet: a walk is on its way
    if (!usage) continue;
    bytes += usage->bytes;
    inodes += usage->inodes;
    timestamp = std::max(timestamp, usage->timestamp);
  }
  auto* fs = resp->add_image_filesystems();
  // Until the first walk lands (just after start) the usage is zero, stamped now.
  fs->set_timestamp(timestamp != 0 ? timestamp : absl::ToUnixNanos(absl::Now()));
  fs->mutable_fs_id()->set_mountpoint(config_.root + "/snapshots");
  fs->mutable_used_bytes()->set_value(bytes);
  fs->mutable_inodes_used()->set_value(inodes);
  // Containers' writable layers live with the snapshots on the same filesystem.
  *resp->add_container_filesystems() = *fs;
  return grpc::Status::OK;
}

}  // namespace tether
