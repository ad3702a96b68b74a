#include "util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "util/fd.h"
#include "util/id.h"

namespace tether {
namespace {

absl::Status ErrnoError(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = absl::StrCat(path, ".tmp-", NewId().substr(0, 12));
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoError("create", tmp);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = write(fd.get(), data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      auto st = ErrnoError("write", tmp);
      unlink(tmp.c_str());
      return st;
    }
    done += static_cast<size_t>(w);
  }
  if (fchmod(fd.get(), mode) != 0 || fsync(fd.get()) != 0) {
    auto st = ErrnoError("fsync", tmp);
    unlink(tmp.c_str());
    return st;
  }
  fd.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = ErrnoError("rename", tmp);
    unlink(tmp.c_str());
    return st;
  }
  FsyncDir(DirOf(path));
  return absl::OkStatus();
}

void FsyncDir(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) fsync(fd.get());
}

absl::Status ErrnoError(const std::string& what) {
  int err = errno;
  std::string msg = absl::StrCat(what, ": ", strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return ErrnoError("open", path);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t r = read(fd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError("read", path);
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", path, ": ", ec.message()));
  chmod(path.c_str(), mode);
  return absl::OkStatus();
}

namespace {

absl::Status RemoveTree(const std::string& path, dev_t root_dev) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != root_dev) {
      return absl::FailedPreconditionError(
          absl::StrCat("refusing to remove ", path, ": it is a mount point"));
    }
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(path, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      auto st2 = RemoveTree(it->path().string(), root_dev);
      if (!st2.ok()) return st2;
    }
    if (ec) return absl::InternalError(absl::StrCat("list ", path, ": ", ec.message()));
    if (rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("rmdir", path);
    return absl::OkStatus();
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    if (errno == EBUSY) {
      return absl::FailedPreconditionError(absl::StrCat("refusing to remove ", path, ": busy"));
    }
    return ErrnoError("unlink", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveAll(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("stat", path);
  }
  return RemoveTree(path, st.st_dev);
}

absl::Status RemoveFile(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink", path);
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace tether
