#include "image/unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "image/digest.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {
namespace {

constexpr size_t kReadBlock = 1 << 20;
constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kWhiteoutMetaPrefix[] = ".wh..wh.";
constexpr char kOpaqueMarker[] = ".wh..wh..opq";
constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string ArchiveError(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

// --- The decompressed stream ------------------------------------------------------------------

// A blob decompressed by libarchive ("raw" format), hashed as it is read.
class DecompressedStream {
 public:
  absl::Status Open(const std::string& path) {
    path_ = path;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT)
        return absl::NotFoundError(absl::StrCat("layer ", path, " does not exist"));
      return ErrnoError(absl::StrCat("stat ", path));
    }
    if (st.st_size == 0) {  // libarchive does not open empty input; it is an empty tar stream
      eof_ = true;
      return absl::OkStatus();
    }
    a_.reset(archive_read_new());
    if (!a_) return absl::ResourceExhaustedError("archive_read_new");
    // The compressions layers use (OCI: gzip, zstd; Docker also accepted bzip2 and xz), all
    // in-library. Not filter_all: some filters run external programs (lzop, lz4, ...).
    archive_read_support_filter_gzip(a_.get());
    archive_read_support_filter_zstd(a_.get());
    archive_read_support_filter_bzip2(a_.get());
    archive_read_support_filter_xz(a_.get());
    archive_read_support_format_raw(a_.get());
    if (archive_read_open_filename(a_.get(), path.c_str(), kReadBlock) != ARCHIVE_OK) {
      return absl::DataLossError(absl::StrCat("layer ", path, ": ", ArchiveError(a_.get())));
    }
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a_.get(), &entry);
    if (r == ARCHIVE_EOF) {
      eof_ = true;  // an empty file
    } else if (r < ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat("layer ", path, ": ", ArchiveError(a_.get())));
    }
    return absl::OkStatus();
  }

  // Points `*data` at the next decompressed bytes (valid until the next call); 0 at the end.
  absl::StatusOr<size_t> Next(const void** data) {
    while (!eof_) {
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(a_.get(), data, &size, &offset);
      if (r == ARCHIVE_EOF) {
        eof_ = true;
        break;
      }
      if (r < ARCHIVE_WARN) {
        return absl::DataLossError(
            absl::StrCat("layer ", path_, " is corrupt: ", ArchiveError(a_.get())));
      }
      if (offset != static_cast<la_int64_t>(total_)) {
        return absl::DataLossError(absl::StrCat("layer ", path_, ": unexpected gap in the stream"));
      }
      if (size == 0) continue;
      hash_.Update(*data, size);
      total_ += size;
      return size;
    }
    return 0;
  }

  // Reads (and hashes) whatever is left.
  absl::Status Drain() {
    const void* data;
    for (;;) {
      auto n = Next(&data);
      if (!n.ok()) return n.status();
      if (*n == 0) return absl::OkStatus();
    }
  }

  std::string Digest() { return hash_.Digest(); }
  uint64_t total() const { return total_; }
  bool empty() const { return eof_ && total_ == 0; }

 private:
  std::string path_;
  ArchivePtr a_;
  Sha256 hash_;
  uint64_t total_ = 0;
  bool eof_ = false;
};

// libarchive read callback for the tar reader: pulls from the decompressed stream.
struct TarSource {
  DecompressedStream* stream;
  absl::Status error;
};

la_ssize_t TarRead(archive* a, void* client, const void** buffer) {
  auto* src = static_cast<TarSource*>(client);
  auto n = src->stream->Next(buffer);
  if (!n.ok()) {
    src->error = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(*n);
}

// --- Paths ------------------------------------------------------------------------------------

// Splits an entry name into clean components: a leading "/" and "." components are dropped, ".."
// is refused. Empty result = the layer root.
absl::StatusOr<std::vector<std::string>> CleanPath(const std::string& name) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry \"", name, "\" has a \"..\" component"));
    }
    out.emplace_back(part);
  }
  return out;
}

std::string JoinPrefix(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out.push_back('/');
    out += comps[i];
  }
  return out.empty() ? "." : out;
}

int OpenInRoot(int root_fd, const std::string& rel, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  for (;;) {
    long fd = syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
    // EAGAIN: a concurrent rename raced with RESOLVE_IN_ROOT's checks; retry.
    if (fd < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    return static_cast<int>(fd);
  }
}

// Removes `name` in `dir_fd` and, when it is a directory, everything below it (never following
// symlinks, never leaving the directory).
absl::Status RemoveAt(int dir_fd, const std::string& name) {
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("stat ", name));
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoError(absl::StrCat("open ", name));
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      close(fd);
      return ErrnoError(absl::StrCat("open ", name));
    }
    std::vector<std::string> children;
    while (struct dirent* e = readdir(d)) {
      std::string child = e->d_name;
      if (child != "." && child != "..") children.push_back(std::move(child));
    }
    absl::Status st2;
    for (const auto& child : children) {
      st2 = RemoveAt(dirfd(d), child);
      if (!st2.ok()) break;
    }
    closedir(d);
    if (!st2.ok()) return st2;
    if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return ErrnoError(absl::StrCat("rmdir ", name));
    }
    return absl::OkStatus();
  }
  if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError(absl::StrCat("unlink ", name));
  }
  return absl::OkStatus();
}

// --- Extraction -------------------------------------------------------------------------------

class Extractor {
 public:
  explicit Extractor(int root_fd) : root_fd_(root_fd) {}

  absl::Status Apply(archive* a, archive_entry* e);
  // Directory mtimes, deferred because creating children changes them.
  absl::Status Finish();

 private:
  struct DirTimes {
    std::string rel;
    struct timespec times[2];
  };

  // Opens the directory made of the first `n` components, inside the root. With `create`,
  // missing directories are made (0755, root-owned), as tar does for entries whose parents were
  // not listed. O_PATH unless `readable`.
  absl::StatusOr<Fd> OpenDir(const std::vector<std::string>& comps, size_t n, bool create,
                             bool readable, const std::string& entry);
  absl::Status ApplyMetadata(archive_entry* e, int parent_fd, const std::string& base, int fd,
                             const std::string& entry);
  absl::Status ApplyXattrs(archive_entry* e, int parent_fd, const std::string& base, int fd,
                           const std::string& entry);
  absl::Status WriteData(archive* a, archive_entry* e, int fd, const std::string& entry);
  absl::Status Whiteout(const std::vector<std::string>& comps, archive_entry* e,
                        const std::string& entry);

  int root_fd_;
  std::vector<DirTimes> dir_times_;
};

absl::Status Invalid(const std::string& entry, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("layer entry \"", entry, "\": ", why));
}

// A failed system call on an entry. Out of space or memory is RESOURCE_EXHAUSTED and I/O errors
// INTERNAL; the rest comes from what the layer asked for (ENOTDIR, ELOOP, EXDEV, a missing
// hardlink target...), so INVALID_ARGUMENT. `what` ends with ": ".
absl::Status EntryError(const std::string& entry, const std::string& what) {
  int err = errno;
  std::string msg = absl::StrCat("layer entry \"", entry, "\": ", what, strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(msg);
    case EIO:
    case EROFS:
      return absl::InternalError(msg);
    default:
      return absl::InvalidArgumentError(msg);
  }
}

void EntryTimes(archive_entry* e, struct timespec times[2]) {
  times[1].tv_sec = archive_entry_mtime(e);
  times[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e)) {
    times[0].tv_sec = archive_entry_atime(e);
    times[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    times[0] = times[1];
  }
}

absl::StatusOr<Fd> Extractor::OpenDir(const std::vector<std::string>& comps, size_t n, bool create,
                                      bool readable, const std::string& entry) {
  const int flags = O_DIRECTORY | (readable ? O_RDONLY : O_PATH);
  std::string rel = JoinPrefix(comps, n);
  Fd fd(OpenInRoot(root_fd_, rel, flags));
  if (fd.valid()) return fd;
  if (errno == ENOSYS) {
    return absl::FailedPreconditionError("the kernel lacks openat2(2) (Linux 5.6 or later needed)");
  }
  if (errno == ENOTDIR) return Invalid(entry, absl::StrCat("\"", rel, "\" is not a directory"));
  if (errno != ENOENT || !create) {
    return EntryError(entry, absl::StrCat("cannot open directory \"", rel, "\": "));
  }
  // Walk down, making what is missing.
  Fd parent(OpenInRoot(root_fd_, ".", O_DIRECTORY | O_PATH));
  if (!parent.valid()) return ErrnoError("open layer root");
  for (size_t i = 1; i <= n; ++i) {
    std::string prefix = JoinPrefix(comps, i);
    Fd next(OpenInRoot(root_fd_, prefix, i == n ? flags : (O_DIRECTORY | O_PATH)));
    if (!next.valid() && errno == ENOENT) {
      if (mkdirat(parent.get(), comps[i - 1].c_str(), 0755) != 0) {
        if (errno == EEXIST) {
          // The name exists but does not resolve: a symlink to something missing. Making its
          // target would mean following it; refuse instead.
          return Invalid(entry, absl::StrCat("parent \"", prefix, "\" is a dangling symlink"));
        }
        return EntryError(entry, absl::StrCat("mkdir \"", prefix, "\": "));
      }
      next.reset(OpenInRoot(root_fd_, prefix, i == n ? flags : (O_DIRECTORY | O_PATH)));
    }
    if (!next.valid()) {
      return EntryError(entry, absl::StrCat("cannot open directory \"", prefix, "\": "));
    }
    parent = std::move(next);
  }
  return parent;
}

absl::Status Extractor::ApplyXattrs(archive_entry* e, int parent_fd, const std::string& base,
                                    int fd, const std::string& entry) {
  if (archive_entry_xattr_reset(e) == 0) return absl::OkStatus();
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (name == nullptr) continue;
    // Overlayfs' own attributes (redirect, metacopy, origin, opaque...) would let a layer steer
    // the overlay; only the unpacker's whiteout handling sets them.
    if (absl::StartsWith(name, "trusted.overlay.") || absl::StartsWith(name, "user.overlay.")) {
      spdlog::debug("unpack: {}: dropping xattr {}", entry, name);
      continue;
    }
    int r;
    if (fd >= 0) {
      r = fsetxattr(fd, name, value, size, 0);
    } else {
      // No fd for symlinks and device nodes: name the entry through the parent's fd. The parent
      // is inside the root and the final component is not followed (lsetxattr).
      std::string path = absl::StrCat("/proc/self/fd/", parent_fd, "/", base);
      r = lsetxattr(path.c_str(), name, value, size, 0);
    }
    if (r != 0) {
      if (errno == ENOTSUP || (errno == EPERM && fd < 0 && absl::StartsWith(name, "user."))) {
        // Unsupported by the filesystem, or user.* on a symlink or device (not allowed).
        spdlog::debug("unpack: {}: xattr {} not supported here", entry, name);
        continue;
      }
      return EntryError(entry, absl::StrCat("set xattr ", name, ": "));
    }
  }
  return absl::OkStatus();
}

absl::Status Extractor::ApplyMetadata(archive_entry* e, int parent_fd, const std::string& base,
                                      int fd, const std::string& entry) {
  uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
  gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
  mode_t perm = archive_entry_perm(e) & 07777;
  bool is_link = archive_entry_filetype(e) == AE_IFLNK;
  // Owner first: chown clears setuid/setgid, chmod then restores them.
  int r = fd >= 0 ? fchown(fd, uid, gid)
                  : fchownat(parent_fd, base.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return EntryError(entry, "chown: ");
  if (!is_link) {
    r = fd >= 0 ? fchmod(fd, perm) : fchmodat(parent_fd, base.c_str(), perm, 0);
    if (r != 0) return EntryError(entry, "chmod: ");
  }
  if (auto st = ApplyXattrs(e, parent_fd, base, fd, entry); !st.ok()) return st;
  if (archive_entry_filetype(e) == AE_IFDIR) return absl::OkStatus();  // times: Finish()
  struct timespec times[2];
  EntryTimes(e, times);
  r = fd >= 0 ? futimens(fd, times)
              : utimensat(parent_fd, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return EntryError(entry, "set times: ");
  return absl::OkStatus();
}

absl::Status Extractor::WriteData(archive* a, archive_entry* e, int fd, const std::string& entry) {
  int64_t end = 0;
  bool sparse = false;
  for (;;) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(a, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat("layer entry \"", entry, "\": ", ArchiveError(a)));
    }
    if (offset != end) sparse = true;
    const char* p = static_cast<const char*>(buf);
    size_t done = 0;
    while (done < size) {
      ssize_t w = pwrite(fd, p + done, size - done, offset + static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoError(absl::StrCat("write ", entry));
      done += static_cast<size_t>(w);
    }
    end = offset + static_cast<int64_t>(size);
  }
  int64_t want = archive_entry_size_is_set(e) ? archive_entry_size(e) : end;
  if (sparse || end < want) {
    if (ftruncate(fd, want > end ? want : end) != 0) {
      return ErrnoError(absl::StrCat("truncate ", entry));
    }
  }
  return absl::OkStatus();
}

absl::Status Extractor::Whiteout(const std::vector<std::string>& comps, archive_entry* e,
                                 const std::string& entry) {
  const std::string& base = comps.back();
  if (base == kOpaqueMarker) {
    auto dir = OpenDir(comps, comps.size() - 1, /*create=*/true, /*readable=*/true, entry);
    if (!dir.ok()) return dir.status();
    if (fsetxattr(dir->get(), kOpaqueXattr, "y", 1, 0) != 0) {
      return EntryError(entry, absl::StrCat("set ", kOpaqueXattr, ": "));
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(base, kWhiteoutMetaPrefix)) {
    spdlog::debug("unpack: skipping aufs metadata {}", entry);
    return absl::OkStatus();
  }
  std::string hidden = base.substr(sizeof(kWhiteoutPrefix) - 1);
  if (hidden.empty() || hidden == "." || hidden == "..") return Invalid(entry, "bad whiteout");
  auto parent = OpenDir(comps, comps.size() - 1, /*create=*/true, /*readable=*/false, entry);
  if (!parent.ok()) return parent.status();
  if (auto st = RemoveAt(parent->get(), hidden); !st.ok()) return st;
  if (mknodat(parent->get(), hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    return EntryError(entry, "mknod whiteout: ");
  }
  if (fchownat(parent->get(), hidden.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
               static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
    return EntryError(entry, "chown whiteout: ");
  }
  return absl::OkStatus();
}

absl::Status Extractor::Apply(archive* a, archive_entry* e) {
  const char* raw_name = archive_entry_pathname(e);
  if (raw_name == nullptr) return absl::DataLossError("layer entry without a name");
  const std::string entry = raw_name;
  auto comps_or = CleanPath(entry);
  if (!comps_or.ok()) return comps_or.status();
  const std::vector<std::string>& comps = *comps_or;
  const char* hardlink = archive_entry_hardlink(e);
  const mode_t type = archive_entry_filetype(e);

  if (comps.empty()) {  // the layer root ("./")
    if (hardlink != nullptr || type != AE_IFDIR) return Invalid(entry, "the root is not a dir");
    Fd root(OpenInRoot(root_fd_, ".", O_RDONLY | O_DIRECTORY));
    if (!root.valid()) return ErrnoError("open layer root");
    if (auto st = ApplyMetadata(e, -1, "", root.get(), entry); !st.ok()) return st;
    DirTimes t{"."};
    EntryTimes(e, t.times);
    dir_times_.push_back(t);
    return absl::OkStatus();
  }
  if (absl::StartsWith(comps.front(), kWhiteoutMetaPrefix) && comps.front() != kOpaqueMarker) {
    spdlog::debug("unpack: skipping aufs metadata {}", entry);  // .wh..wh.plnk/, .wh..wh.aufs
    return absl::OkStatus();
  }
  const std::string& base = comps.back();
  if (absl::StartsWith(base, kWhiteoutPrefix)) return Whiteout(comps, e, entry);

  auto parent_or = OpenDir(comps, comps.size() - 1, /*create=*/true, /*readable=*/false, entry);
  if (!parent_or.ok()) return parent_or.status();
  const int parent = parent_or->get();

  // A later entry replaces an earlier one of the same name, except that a directory over a
  // directory only updates its metadata.
  struct stat existing;
  bool exists = fstatat(parent, base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && !(S_ISDIR(existing.st_mode) && type == AE_IFDIR && hardlink == nullptr)) {
    if (auto st = RemoveAt(parent, base); !st.ok()) return st;
    exists = false;
  }

  if (hardlink != nullptr) {
    auto target_or = CleanPath(hardlink);
    if (!target_or.ok()) {
      return Invalid(entry, absl::StrCat("hardlink target \"", hardlink, "\" has a \"..\""));
    }
    const auto& target = *target_or;
    if (target.empty()) return Invalid(entry, "hardlink to the layer root");
    auto tparent = OpenDir(target, target.size() - 1, /*create=*/false, /*readable=*/false, entry);
    if (!tparent.ok()) return tparent.status();
    // flags 0: a symlink target is linked itself, never followed.
    if (linkat(tparent->get(), target.back().c_str(), parent, base.c_str(), 0) != 0) {
      return EntryError(entry, absl::StrCat("hardlink to \"", hardlink, "\": "));
    }
    return absl::OkStatus();
  }

  switch (type) {
    case AE_IFREG: {
      Fd fd(
          openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd.valid()) return EntryError(entry, "create: ");
      if (auto st = WriteData(a, e, fd.get(), entry); !st.ok()) return st;
      return ApplyMetadata(e, parent, base, fd.get(), entry);
    }
    case AE_IFDIR: {
      if (!exists && mkdirat(parent, base.c_str(), 0700) != 0) {
        return EntryError(entry, "mkdir: ");
      }
      Fd fd(openat(parent, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) return EntryError(entry, "open dir: ");
      if (auto st = ApplyMetadata(e, parent, base, fd.get(), entry); !st.ok()) return st;
      DirTimes t{JoinPrefix(comps, comps.size())};
      EntryTimes(e, t.times);
      dir_times_.push_back(std::move(t));
      return absl::OkStatus();
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr) return Invalid(entry, "symlink without a target");
      if (symlinkat(target, parent, base.c_str()) != 0) {
        return EntryError(entry, "symlink: ");
      }
      return ApplyMetadata(e, parent, base, -1, entry);
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      dev_t dev =
          type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
      if (mknodat(parent, base.c_str(), type | (archive_entry_perm(e) & 07777), dev) != 0) {
        return EntryError(entry, "mknod: ");
      }
      return ApplyMetadata(e, parent, base, -1, entry);
    }
    case AE_IFSOCK:
      spdlog::debug("unpack: skipping socket {}", entry);
      return absl::OkStatus();
    default:
      return Invalid(entry, absl::StrCat("unsupported entry type ", type));
  }
}

absl::Status Extractor::Finish() {
  for (const auto& d : dir_times_) {
    Fd fd(OpenInRoot(root_fd_, d.rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (!fd.valid()) continue;  // replaced by a later entry
    if (futimens(fd.get(), d.times) != 0) return ErrnoError(absl::StrCat("set times ", d.rel));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Unpack(const std::string& blob_path, const std::string& target_dir) {
  DecompressedStream stream;
  if (auto st = stream.Open(blob_path); !st.ok()) return st;

  if (stream.empty()) return stream.Digest();  // a zero-byte blob: nothing to extract
  Fd root(open(target_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return ErrnoError(absl::StrCat("open ", target_dir));

  ArchivePtr tar(archive_read_new());
  if (!tar) return absl::ResourceExhaustedError("archive_read_new");
  archive_read_support_format_tar(tar.get());  // ustar, pax, gnutar
  TarSource source{&stream, absl::OkStatus()};
  if (archive_read_open(tar.get(), &source, nullptr, TarRead, nullptr) != ARCHIVE_OK) {
    if (!source.error.ok()) return source.error;
    return absl::DataLossError(
        absl::StrCat("layer ", blob_path, " is not a tar: ", ArchiveError(tar.get())));
  }
  Extractor extractor(root.get());
  uint64_t entries = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (!source.error.ok()) return source.error;
      // An empty stream is an empty layer; anything else that is not a tar is corrupt.
      if (entries == 0 && stream.total() == 0) break;
      return absl::DataLossError(
          absl::StrCat("layer ", blob_path, " is corrupt: ", ArchiveError(tar.get())));
    }
    if (r == ARCHIVE_WARN) {
      spdlog::debug("unpack {}: {}", blob_path, ArchiveError(tar.get()));
    }
    ++entries;
    if (auto st = extractor.Apply(tar.get(), e); !st.ok()) {
      if (!source.error.ok()) return source.error;
      return st;
    }
  }
  if (auto st = extractor.Finish(); !st.ok()) return st;
  tar.reset();
  // Whatever the tar reader did not consume (end-of-archive padding) is part of the diff id.
  if (auto st = stream.Drain(); !st.ok()) return st;
  return stream.Digest();
}

}  // namespace

absl::StatusOr<std::string> UnpackLayer(const std::string& blob_path,
                                        const std::string& target_dir) {
  if (mkdir(target_dir.c_str(), 0755) != 0) {
    if (errno != EEXIST) return ErrnoError(absl::StrCat("mkdir ", target_dir));
    DIR* d = opendir(target_dir.c_str());
    if (d == nullptr) return ErrnoError(absl::StrCat("open ", target_dir));
    bool empty = true;
    while (struct dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
    }
    closedir(d);
    if (!empty) {
      return absl::FailedPreconditionError(
          absl::StrCat("unpack target ", target_dir, " is not empty"));
    }
  }
  auto result = Unpack(blob_path, target_dir);
  if (!result.ok()) {
    if (auto st = RemoveAll(target_dir); !st.ok()) {
      spdlog::warn("unpack: cannot remove {} after a failure: {}", target_dir, st.message());
    }
  }
  return result;
}

absl::StatusOr<std::string> DiffIdOf(const std::string& blob_path) {
  DecompressedStream stream;
  if (auto st = stream.Open(blob_path); !st.ok()) return st;
  if (auto st = stream.Drain(); !st.ok()) return st;
  return stream.Digest();
}

}  // namespace tether
