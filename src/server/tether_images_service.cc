#include "server/tether_images_service.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "image/image_archive.h"
#include "server/status.h"
#include "util/log.h"
#include "util/memory.h"

namespace tether {

grpc::Status TetherImagesService::Import(grpc::ServerContext* ctx,
                                         grpc::ServerReader<v1::ImportChunk>* reader,
                                         v1::ImportResponse* response) {
  auto spool = ArchiveSpool::Create(images_->ImportDir(), max_archive_);
  if (!spool.ok()) return ToGrpc(spool.status());
  std::vector<std::string> tags;
  v1::ImportChunk chunk;
  bool first = true;
  bool eof = false;
  while (!eof && reader->Read(&chunk)) {
    if (first) {
      tags.assign(chunk.tags().begin(), chunk.tags().end());
      first = false;
    } else if (chunk.tags_size() > 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "tags: only the first chunk may carry tags");
    }
    if (auto st = (*spool)->Write(chunk.data().data(), chunk.data().size()); !st.ok()) {
      spdlog::warn("Import: {}", st.message());
      return ToGrpc(st);
    }
    eof = chunk.eof();
  }
  if (!eof) {
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "import cancelled");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("eof: the stream ended after ", (*spool)->size(),
                                     " bytes without its last chunk; nothing was imported"));
  }
  spdlog::info("Import: {} bytes received", (*spool)->size());
  auto records =
      images_->Import((*spool)->fd(), tags, [ctx] { return ctx != nullptr && ctx->IsCancelled(); });
  ReleaseFreeHeap();  // the unpacking's buffers, freed but still resident
  if (!records.ok()) return ToGrpc(records.status());
  for (const auto& r : *records) {
    auto* out = response->add_images();
    out->set_id(r.id);
    for (const auto& t : r.repo_tags) out->add_repo_tags(t);
    for (const auto& d : r.repo_digests) out->add_repo_digests(d);
  }
  return grpc::Status::OK;
}

}  // namespace tether
