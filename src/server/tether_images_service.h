// tether.v1.TetherImages: Tether's own image API next to the CRI on tetherd's socket. Import
// loads an image archive streamed by the client (tetherctl import) without a registry.
#pragma once

#include <cstdint>
#include <memory>

#include "image/image_store.h"
#include "tether/v1/images.grpc.pb.h"

namespace tether {

class TetherImagesService final : public v1::TetherImages::Service {
 public:
  // Archives larger than `max_archive` bytes (config key import_max_bytes) are refused
  // (RESOURCE_EXHAUSTED) while they arrive.
  TetherImagesService(std::shared_ptr<ImageStore> images, int64_t max_archive)
      : images_(std::move(images)), max_archive_(max_archive) {}

  // Spools the chunks to an anonymous file under the image store's import dir (never a path the
  // client names), then ImageStore::Import, which stops with CANCELLED when the client goes
  // away. The spool is gone when the call returns, whatever the outcome.
  grpc::Status Import(grpc::ServerContext* ctx, grpc::ServerReader<v1::ImportChunk>* reader,
                      v1::ImportResponse* response) override;

 private:
  std::shared_ptr<ImageStore> images_;
  int64_t max_archive_;
};

}  // namespace tether
