// tetherctl import ARCHIVE: loads an OCI image layout (a directory, or a tar of one) or a
// `docker save` tarball into tetherd without a registry, through Tether's own API
// (tether.v1.TetherImages/Import). The archive's bytes are streamed to the daemon, which never
// opens a path the client names; a directory is packed into a tar on the fly.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tetherctl/commands.h"
#include "tetherctl/output.h"
#include "util/fd.h"

namespace tether::ctl {
namespace {

constexpr size_t kChunk = 1 << 20;

// Buffers the archive's bytes into chunks of the Import stream; the first carries the tags.
class ChunkSender {
 public:
  ChunkSender(grpc::ClientWriterInterface<v1::ImportChunk>* writer, std::vector<std::string> tags)
      : writer_(writer), tags_(std::move(tags)) {}

  // False once the stream is broken (the daemon answered early, with an error).
  bool Add(const char* data, size_t n) {
    while (n > 0) {
      size_t take = std::min(n, kChunk - buffer_.size());
      buffer_.append(data, take);
      data += take;
      n -= take;
      if (buffer_.size() == kChunk && !Send(false)) return false;
    }
    return true;
  }
  bool Finish() { return Send(true) && writer_->WritesDone(); }
  int64_t sent() const { return sent_; }

 private:
  bool Send(bool eof) {
    v1::ImportChunk chunk;
    if (first_) {
      for (const auto& t : tags_) chunk.add_tags(t);
      first_ = false;
    }
    chunk.set_data(std::move(buffer_));
    buffer_.clear();
    chunk.set_eof(eof);
    sent_ += static_cast<int64_t>(chunk.data().size());
    return writer_->Write(chunk);
  }

  grpc::ClientWriterInterface<v1::ImportChunk>* writer_;
  std::vector<std::string> tags_;
  std::string buffer_;
  bool first_ = true;
  int64_t sent_ = 0;
};

// Streams a file (or stdin for "-") as it is.
absl::Status SendFile(int fd, const std::string& path, ChunkSender& sender, bool* broken) {
  std::vector<char> buf(kChunk);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("read ", path, ": ", strerror(errno)));
    if (n == 0) return absl::OkStatus();
    if (!sender.Add(buf.data(), static_cast<size_t>(n))) {
      *broken = true;
      return absl::OkStatus();
    }
  }
}

struct WriteArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

struct TarSink {
  ChunkSender* sender;
  bool broken = false;
};

la_ssize_t TarWrite(archive*, void* user, const void* data, size_t n) {
  auto* sink = static_cast<TarSink*>(user);
  if (!sink->sender->Add(static_cast<const char*>(data), n)) {
    sink->broken = true;
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

// Packs the directory (an OCI image layout) into a tar on the fly: directories, regular files
// and symlinks, names relative to the directory.
absl::Status SendDirectory(const std::string& dir, ChunkSender& sender, bool* broken) {
  namespace fs = std::filesystem;
  std::unique_ptr<archive, WriteArchiveFree> a(archive_write_new());
  if (!a) return absl::ResourceExhaustedError("archive_write_new failed");
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 64 << 10);
  TarSink sink{&sender};
  if (archive_write_open2(a.get(), &sink, nullptr, TarWrite, nullptr, nullptr) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("tar: ", archive_error_string(a.get())));
  }
  auto fail = [&](const std::string& what) -> absl::Status {
    if (sink.broken) {
      *broken = true;
      return absl::OkStatus();
    }
    return absl::InternalError(absl::StrCat(what, ": ", archive_error_string(a.get())));
  };
  std::error_code ec;
  std::vector<char> buf(kChunk);
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    // Lexically: fs::relative would resolve a symlink to its target's name.
    std::string rel = p.lexically_relative(dir).generic_string();
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) {
      return absl::InternalError(absl::StrCat("stat ", p.string(), ": ", strerror(errno)));
    }
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_copy_stat(e.get(), &st);
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    Fd fd;
    if (S_ISLNK(st.st_mode)) {
      auto target = fs::read_symlink(p, ec);
      if (ec) break;
      archive_entry_set_size(e.get(), 0);  // a symlink has no data in a tar
      archive_entry_set_symlink(e.get(), target.c_str());
    } else if (S_ISREG(st.st_mode)) {
      fd.reset(open(p.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        return absl::InternalError(absl::StrCat("open ", p.string(), ": ", strerror(errno)));
      }
    } else if (!S_ISDIR(st.st_mode)) {
      continue;  // sockets, devices: not part of an image layout
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return fail("tar " + rel);
    if (!fd.valid()) continue;
    for (;;) {
      ssize_t n = read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::InternalError(absl::StrCat("read ", p.string(), ": ", strerror(errno)));
      }
      if (n == 0) break;
      if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) < 0) {
        return fail("tar " + rel);
      }
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("walk ", dir, ": ", ec.message()));
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail("tar");
  return absl::OkStatus();
}

struct ImportOptions {
  std::string archive;
  std::vector<std::string> tags;
  bool quiet = false;
};

absl::Status Import(CommandEnv& env, const ImportOptions& options) {
  if (options.archive.empty()) return absl::InvalidArgumentError("ARCHIVE is required");
  Fd file;
  bool is_dir = false;
  if (options.archive == "-") {
    file.reset(dup(STDIN_FILENO));
  } else {
    struct stat st;
    if (stat(options.archive.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(options.archive, ": ", strerror(errno)));
    }
    is_dir = S_ISDIR(st.st_mode);
    if (!is_dir) file.reset(open(options.archive.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (!is_dir && !file.valid()) {
    return absl::InternalError(absl::StrCat("open ", options.archive, ": ", strerror(errno)));
  }
  auto client = env.client();
  if (!client.ok()) return client.status();
  auto stub = (*client)->TetherImages();
  if (!stub.ok()) return stub.status();

  // An import may rightly take long (a large archive): no call deadline, as for pull.
  auto context = (*client)->NewCallContext(kNoDeadline);
  v1::ImportResponse response;
  auto writer = (*stub)->Import(context.get(), &response);
  ChunkSender sender(writer.get(), options.tags);
  bool broken = false;
  absl::Status sent = is_dir ? SendDirectory(options.archive, sender, &broken)
                             : SendFile(file.get(), options.archive, sender, &broken);
  if (!sent.ok()) {
    context->TryCancel();  // the daemon drops what it received
    (void)writer->Finish();
    return sent;
  }
  if (!broken) broken = !sender.Finish();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return RpcError("importing image", status);
  if (broken) return absl::UnavailableError("importing image: the stream broke");
  env.Debug(v1::ImportResponse::descriptor()->name(), response);
  for (const auto& image : response.images()) {
    if (options.quiet) {
      env.out() << image.id() << "\n";
    } else if (image.repo_tags().empty()) {
      env.out() << "Imported image " << image.id() << " (untagged)\n";
    } else {
      env.out() << "Imported image " << image.id() << ": " << absl::StrJoin(image.repo_tags(), ", ")
                << "\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterImportCommand(CLI::App& app, CommandEnv& env) {
  auto options = std::make_shared<ImportOptions>();
  CLI::App* import = app.add_subcommand(
      "import",
      "Import images from an OCI image layout (a directory or a tar of one) or a docker save "
      "tarball, without a registry");
  import
      ->add_option("ARCHIVE", options->archive,
                   "The layout directory or the archive (- reads stdin)")
      ->required();
  import
      ->add_option("--tag", options->tags,
                   "Also tag the image NAME:TAG (repeatable; the archive must hold one image)")
      ->allow_extra_args(false);
  import->add_flag("-q,--quiet", options->quiet, "Only print the ids of the imported images");
  import->callback([&env, options] { env.Run([&] { return Import(env, *options);
});
}  // namespace tether::ctl
);
}

}  // namespace tether::ctl
