// The CRI ImageService: ListImages, ImageStatus, PullImage, RemoveImage (ImageFsInfo has its own
// file). Lists and status answer from memory.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/runtime_service.h"
#include "server/status.h"
#include "util/log.h"
#include "util/memory.h"

namespace tether {
namespace {

void FillImage(const ImageRecord& img, runtime::v1::Image* out) {
  out->set_id(img.id);
  for (const auto& t : img.repo_tags) out->add_repo_tags(t);
  for (const auto& d : img.repo_digests) out->add_repo_digests(d);
  out->set_size(static_cast<uint64_t>(img.size));
  out->mutable_spec()->set_image(img.id);
  out->set_pinned(img.pinned);
  // The image's User: a number (or number:group) is a uid, anything else a name.
  std::string user = img.config->value("config", nlohmann::json::object()).value("User", "");
  std::string first = user.substr(0, user.find(':'));
  int64_t uid;
  if (!first.empty() && absl::SimpleAtoi(first, &uid)) {
    out->mutable_uid()->set_value(uid);
  } else if (!first.empty()) {
    out->set_username(first);
  }
}

}  // namespace

grpc::Status ImageService::ListImages(Ctx*, const runtime::v1::ListImagesRequest* req,
                                      runtime::v1::ListImagesResponse* resp) {
  std::string want = req->filter().image().image();
  std::string want_id;
  if (!want.empty()) {
    auto found = images_->Find(want);
    if (!found.ok()) return grpc::Status::OK;
    want_id = found->id;
  }
  for (const auto& img : images_->List()) {
    if (!want_id.empty() && img.id != want_id) continue;
    FillImage(img, resp->add_images());
  }
  return grpc::Status::OK;
}

grpc::Status ImageService::ImageStatus(Ctx*, const runtime::v1::ImageStatusRequest* req,
                                       runtime::v1::ImageStatusResponse* resp) {
  if (req->image().image().empty()) return Required("image.image");
  auto img = images_->Find(req->image().image());
  if (!img.ok()) {
    // CRI: an image that is not here is an empty answer, not an error.
    if (absl::IsNotFound(img.status())) return grpc::Status::OK;
    return ToGrpc(img.status());
  }
  FillImage(*img, resp->mutable_image());
  if (req->verbose()) {
    nlohmann::json info = {{"id", img->id},
                           {"manifestDigest", img->manifest_digest},
                           {"chainIDs", img->chain_ids},
                           {"imageSpec", *img->config}};
    (*resp->mutable_info())["info"] = info.dump();
  }
  return grpc::Status::OK;
}

grpc::Status ImageService::PullImage(Ctx* ctx, const runtime::v1::PullImageRequest* req,
                                     runtime::v1::PullImageResponse* resp) {
  if (req->image().image().empty()) return Required("image.image");
  RegistryAuth auth;
  const RegistryAuth* auth_ptr = nullptr;
  if (req->has_auth()) {
    const auto& a = req->auth();
    auth.username = a.username();
    auth.password = a.password();
    auth.auth = a.auth();
    auth.identity_token = a.identity_token();
    auth.registry_token = a.registry_token();
    auth.server_address = a.server_address();
    auth_ptr = &auth;
  }
  // The client's deadline bounds the pull; without one, an hour.
  absl::Time deadline = absl::Now() + absl::Hours(1);
  if (ctx != nullptr && ctx->deadline() != std::chrono::system_clock::time_point::max()) {
    deadline = std::min(deadline, absl::FromChrono(ctx->deadline()));
  }
  spdlog::info("PullImage {}", req->image().image());
  auto id = images_->Pull(req->image().image(), auth_ptr, deadline);
  ReleaseFreeHeap();  // the layer workers' buffers, freed but still resident
  if (!id.ok()) {
    spdlog::warn("PullImage {}: {}", req->image().image(), id.status().message());
    return ToGrpc(id.status());
  }
  resp->set_image_ref(*id);
  RefreshFsUsage();
  return grpc::Status::OK;
}

grpc::Status ImageService::RemoveImage(Ctx*, const runtime::v1::RemoveImageRequest* req,
                                       runtime::v1::RemoveImageResponse*) {
  if (req->image().image().empty()) return Required("image.image");
  auto st = images_->Remove(req->image().image());
  RefreshFsUsage();
  return ToGrpc(st);
}

}  // namespace tether
