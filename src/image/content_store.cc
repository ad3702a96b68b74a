#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"

namespace tether {

// --- ContentWriter ----------------------------------------------------------------------------

ContentWriter::ContentWriter(std::string expected_digest, int64_t expected_size,
                             std::string temp_path, std::string final_path, Fd fd)
    : expected_digest_(std::move(expected_digest)),
      expected_size_(expected_size),
      temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      fd_(std::move(fd)) {}

ContentWriter::~ContentWriter() { Abort(); }

void ContentWriter::Abort() {
  if (done_) return;
  done_ = true;
  fd_.reset();
  unlink(temp_path_.c_str());
}

absl::Status ContentWriter::Write(const char* data, size_t n) {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat("writer for ", expected_digest_, " is already finished"));
  }
  if (expected_size_ >= 0 && written_ + static_cast<int64_t>(n) > expected_size_) {
    Abort();
    return absl::DataLossError(absl::StrCat("blob ", expected_digest_, ": more than the expected ",
                                            expected_size_, " bytes"));
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd_.get(), data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      auto st = ErrnoError(absl::StrCat("write ", temp_path_));
      Abort();
      return st;
    }
    done += static_cast<size_t>(w);
  }
  hash_.Update(data, n);
  written_ += static_cast<int64_t>(n);
  return absl::OkStatus();
}

absl::Status ContentWriter::Commit() {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat("writer for ", expected_digest_, " is already finished"));
  }
  if (expected_size_ >= 0 && written_ != expected_size_) {
    Abort();
    return absl::DataLossError(absl::StrCat("blob ", expected_digest_, ": got ", written_,
                                            " bytes, expected ", expected_size_));
  }
  std::string actual = hash_.Digest();
  if (actual != expected_digest_) {
    Abort();
    return absl::DataLossError(
        absl::StrCat("blob ", expected_digest_, ": content has digest ", actual));
  }
  if (fsync(fd_.get()) != 0) {
    auto st = ErrnoError(absl::StrCat("fsync ", temp_path_));
    Abort();
    return st;
  }
  fd_.reset();
  // RENAME_NOREPLACE: a blob that is already there (a concurrent writer won) is left alone; the
  // content is the same by construction.
  if (renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, final_path_.c_str(), RENAME_NOREPLACE) !=
      0) {
    if (errno != EEXIST) {
      auto st = ErrnoError(absl::StrCat("rename ", temp_path_, " to ", final_path_));
      Abort();
      return st;
    }
    unlink(temp_path_.c_str());
  }
  done_ = true;
  FsyncDir(final_path_.substr(0, final_path_.rfind('/')));
  return absl::OkStatus();
}

// --- ContentStore -----------------------------------------------------------------------------

ContentStore::ContentStore(std::string root) : root_(std::move(root)) {}

absl::Status ContentStore::Init() {
  for (const auto& dir : {BlobsDir(), IngestDir()}) {
    if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
  }
  // Leftovers of writers that a crash interrupted.
  DIR* d = opendir(IngestDir().c_str());
  if (d == nullptr) return ErrnoError(absl::StrCat("open ", IngestDir()));
  std::vector<std::string> leftovers;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") leftovers.push_back(name);
  }
  closedir(d);
  for (const auto& name : leftovers) {
    std::string path = absl::StrCat(IngestDir(), "/", name);
    if (auto st = RemoveAll(path); !st.ok()) return st;
    spdlog::info("content store: removed interrupted download {}", path);
  }
  return absl::OkStatus();
}

std::string ContentStore::PathOf(const std::string& digest) const {
  auto d = ParseDigest(digest);
  if (!d.ok()) return "";
  return absl::StrCat(BlobsDir(), "/", d->hex);
}

bool ContentStore::Has(const std::string& digest) const {
  std::string path = PathOf(digest);
  struct stat st;
  return !path.empty() && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ContentStore::ReadBlob(const std::string& digest,
                                                   size_t max_size) const {
  std::string path = PathOf(digest);
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("bad digest \"", digest, "\""));
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("blob ", digest, " not found"));
    return ErrnoError(absl::StrCat("open ", path));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", path));
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    return absl::FailedPreconditionError(absl::StrCat("blob ", digest, " has ", st.st_size,
                                                      " bytes, more than the limit ", max_size));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t r = read(fd.get(), out.data() + done, out.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError(absl::StrCat("read ", path));
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  out.resize(done);
  if (Sha256Digest(out) != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest, " is corrupted on disk (", path, ")"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ContentWriter>> ContentStore::NewWriter(
    const std::string& expected_digest, int64_t expected_size) {
  auto parsed = ParseDigest(expected_digest);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad digest \"", expected_digest, "\": want sha256:<64 hex>"));
  }
  const std::string& hex = parsed->hex;
  std::string temp = absl::StrCat(IngestDir(), "/", hex, "-", NewId().substr(0, 12));
  Fd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(absl::StrCat("create ", temp));
  return std::unique_ptr<ContentWriter>(new ContentWriter(
      expected_digest, expected_size, std::move(temp), PathOf(expected_digest), std::move(fd)));
}

absl::Status ContentStore::Put(const std::string& expected_digest, const std::string& data) {
  auto writer = NewWriter(expected_digest, static_cast<int64_t>(data.size()));
  if (!writer.ok()) return writer.status();
  if (auto st = (*writer)->Write(data.data(), data.size()); !st.ok()) return st;
  return (*writer)->Commit();
}

absl::Status ContentStore::Delete(const std::string& digest) {
  std::string path = PathOf(digest);
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("bad digest \"", digest, "\""));
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return ErrnoError(absl::StrCat("unlink ", path));
  FsyncDir(BlobsDir());
  return absl::OkStatus();
}

std::vector<std::string> ContentStore::List() const {
  std::vector<std::string> out;
  DIR* d = opendir(BlobsDir().c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string digest = absl::StrCat("sha256:", e->d_name);
    if (ValidateDigest(digest).ok()) out.push_back(std::move(digest));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<int64_t> ContentStore::Size(const std::string& digest) const {
  std::string path = PathOf(digest);
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("bad digest \"", digest, "\""));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("blob ", digest, " not found"));
    return ErrnoError(absl::StrCat("stat ", path));
  }
  return static_cast<int64_t>(st.st_size);
}

}  // namespace tether
