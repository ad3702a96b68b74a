#include "image/snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "image/digest.h"
#include "image/unpacker.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mount.h"

namespace tether {
namespace {

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  closedir(d);
  return out;
}

// Container ids become directory names and overlay options: no separators, no escapes.
bool ValidContainerId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Characters overlay's legacy option parser would take as separators or escapes.
bool SafeForLegacyOptions(const std::string& path) {
  return path.find_first_of(",:\\=") == std::string::npos;
}

// The error messages the kernel left in an fs_context (lines "e overlayfs: ...").
std::string FsContextLog(int fs_fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = read(fs_fd, buf, sizeof buf - 1);
    if (n <= 0) break;
    if (!out.empty()) out += "; ";
    out.append(buf, static_cast<size_t>(n));
    while (!out.empty() && out.back() == '\n') out.pop_back();
  }
  return out;
}

// 1: the kernel takes "lowerdir+"; 0: it does not; -1: not probed yet.
std::atomic<int> g_new_api_supported{-1};

// Mounts with fsopen/fsconfig/fsmount/move_mount. UNIMPLEMENTED when the kernel lacks the API or
// overlay's "lowerdir+" (Linux < 6.8).
absl::Status MountNewApi(const std::vector<std::string>& lowers, const std::string& upper,
                         const std::string& work, const std::string& target) {
  Fd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs.valid()) {
    if (errno == ENOSYS) return absl::UnimplementedError("no fsopen(2)");
    return ErrnoError("fsopen overlay");
  }
  auto set = [&](const char* key, const std::string& value) -> absl::Status {
    if (fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0) {
      int err = errno;
      std::string log = FsContextLog(fs.get());
      if (err == EINVAL && std::string(key) == "lowerdir+" &&
          log.find("nknown parameter") != std::string::npos) {
        return absl::UnimplementedError("overlay without lowerdir+");
      }
      return absl::InternalError(
          absl::StrCat("overlay ", key, "=", value, ": ", strerror(err), " ", log));
    }
    return absl::OkStatus();
  };
  for (const auto& lower : lowers) {
    if (auto st = set("lowerdir+", lower); !st.ok()) return st;
  }
  if (auto st = set("upperdir", upper); !st.ok()) return st;
  if (auto st = set("workdir", work); !st.ok()) return st;
  if (fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    return absl::InternalError(
        absl::StrCat("create overlay: ", strerror(err), " ", FsContextLog(fs.get())));
  }
  Fd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC, 0));
  if (!mnt.valid()) return ErrnoError("fsmount overlay");
  if (move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return ErrnoError(absl::StrCat("move_mount overlay to ", target));
  }
  return absl::OkStatus();
}

// mount(2) from a forked child whose cwd is `cwd`, so that relative lowerdirs resolve there. The
// child only makes system calls (async-signal-safe after fork in a multithreaded process).
absl::Status MountInDir(const std::string& cwd, const std::string& target,
                        const std::string& data) {
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(errno != 0 ? errno : 255);
    if (mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0) {
      _exit(errno != 0 ? errno : 255);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoError("waitpid");
  }
  if (!WIFEXITED(status)) return absl::InternalError("mount helper died");
  if (WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("mount overlay on ", target, " (from ", cwd,
                                            "): ", strerror(WEXITSTATUS(status))));
  }
  return absl::OkStatus();
}

absl::Status UsageAt(int dir_fd, dev_t dev, std::set<std::pair<dev_t, ino_t>>& seen,
                     uint64_t& bytes, uint64_t& inodes) {
  int fd = dup(dir_fd);
  if (fd < 0) return ErrnoError("dup");
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return ErrnoError("fdopendir");
  }
  absl::Status result;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      result = ErrnoError(absl::StrCat("stat ", e->d_name));
      break;
    }
    if (st.st_dev != dev) continue;  // another filesystem mounted inside
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second) {
      continue;
    }
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    inodes += 1;
    if (S_ISDIR(st.st_mode)) {
      Fd child(openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child.valid()) {
        if (errno == ENOENT) continue;
        result = ErrnoError(absl::StrCat("open ", e->d_name));
        break;
      }
      result = UsageAt(child.get(), dev, seen, bytes, inodes);
      if (!result.ok()) break;
    }
  }
  closedir(d);
  return result;
}

}  // namespace

Snapshotter::Snapshotter(std::string root) : root_(std::move(root)) {}

absl::Status Snapshotter::Init() {
  if (auto st = MakeDirs(root_, 0700); !st.ok()) return st;
  for (const auto& dir : {LayersDir(), root_ + "/containers", IngestDir()}) {
    if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
  }
  if (auto st = MakeDirs(EmptyDir(), 0755); !st.ok()) return st;
  if (!ListDir(EmptyDir()).empty()) {
    return absl::FailedPreconditionError(absl::StrCat(EmptyDir(), " is not empty"));
  }
  for (const auto& name : ListDir(IngestDir())) {
    std::string path = absl::StrCat(IngestDir(), "/", name);
    if (auto st = RemoveAll(path); !st.ok()) return st;
    spdlog::info("snapshotter: removed interrupted unpack {}", path);
  }
  return absl::OkStatus();
}

std::string Snapshotter::ChainId(const std::vector<std::string>& diff_ids, size_t upto) {
  if (upto >= diff_ids.size()) return "";
  std::string chain = diff_ids[0];
  for (size_t i = 1; i <= upto; ++i) {
    chain = Sha256Digest(absl::StrCat(chain, " ", diff_ids[i]));
  }
  return chain;
}

std::vector<std::string> Snapshotter::ChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    out.push_back(i == 0 ? diff_ids[0] : Sha256Digest(absl::StrCat(out.back(), " ", diff_ids[i])));
  }
  return out;
}

std::string Snapshotter::DirOf(const std::string& chain_id) const {
  auto d = ParseDigest(chain_id);
  if (!d.ok()) return "";
  return absl::StrCat(LayersDir(), "/", d->hex, "/fs");
}

bool Snapshotter::Has(const std::string& chain_id) const {
  std::string dir = DirOf(chain_id);
  struct stat st;
  return !dir.empty() && lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::Status Snapshotter::Commit(const std::string& chain_id, const std::string& blob_path,
                                 const std::string& expected_diff_id) {
  auto parsed = ParseDigest(chain_id);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad chain id \"", chain_id, "\""));
  }
  const std::string& hex = parsed->hex;
  if (!ValidateDigest(expected_diff_id).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad diff id \"", expected_diff_id, "\""));
  }
  if (Has(chain_id)) return absl::OkStatus();

  std::string tmp = absl::StrCat(IngestDir(), "/", hex, "-", NewId().substr(0, 12));
  if (mkdir(tmp.c_str(), 0700) != 0) return ErrnoError(absl::StrCat("mkdir ", tmp));
  auto discard = [&tmp] {
    if (auto st = RemoveAll(tmp); !st.ok()) {
      spdlog::warn("snapshotter: cannot remove {}: {}", tmp, st.message());
    }
  };
  auto diff_id = UnpackLayer(blob_path, tmp + "/fs");
  if (!diff_id.ok()) {
    discard();
    return diff_id.status();
  }
  if (*diff_id != expected_diff_id) {
    discard();
    return absl::DataLossError(absl::StrCat("layer ", blob_path, " has diff id ", *diff_id,
                                            ", expected ", expected_diff_id));
  }
  if (auto st = WriteFileAtomic(tmp + "/diff_id", *diff_id + "\n", 0644); !st.ok()) {
    discard();
    return st;
  }
  // One syncfs instead of an fsync per file: the layer is on disk before it becomes visible.
  {
    Fd fd(open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid() || syncfs(fd.get()) != 0) {
      auto st = ErrnoError(absl::StrCat("sync ", tmp));
      discard();
      return st;
    }
  }
  std::string final_dir = absl::StrCat(LayersDir(), "/", hex);
  if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    discard();
    if (err == EEXIST || err == ENOTEMPTY) return absl::OkStatus();  // a concurrent commit won
    errno = err;
    return ErrnoError(absl::StrCat("rename ", tmp, " to ", final_dir));
  }
  FsyncDir(LayersDir());
  spdlog::info("snapshotter: committed layer {} (diff id {})", chain_id, *diff_id);
  return absl::OkStatus();
}

absl::Status Snapshotter::Remove(const std::string& chain_id) {
  auto parsed = ParseDigest(chain_id);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad chain id \"", chain_id, "\""));
  }
  const std::string& hex = parsed->hex;
  std::string dir = absl::StrCat(LayersDir(), "/", hex);
  // Move it out of sight first: a half-deleted layer must never look committed.
  std::string doomed = absl::StrCat(IngestDir(), "/rm-", hex, "-", NewId().substr(0, 12));
  if (rename(dir.c_str(), doomed.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(absl::StrCat("rename ", dir));
  }
  FsyncDir(LayersDir());
  return RemoveAll(doomed);
}

std::vector<std::string> Snapshotter::List() const {
  std::vector<std::string> out;
  for (const auto& name : ListDir(LayersDir())) {
    std::string id = absl::StrCat("sha256:", name);
    if (Has(id)) out.push_back(std::move(id));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Snapshotter::UpperDirOf(const std::string& container_id) const {
  return ContainerDir(container_id) + "/upper";
}

absl::Status Snapshotter::MountOverlay(const std::vector<std::string>& lowers,
                                       const std::string& upper, const std::string& work,
                                       const std::string& target) const {
  MountMethod method = mount_method_;
  if (method == MountMethod::kAuto || method == MountMethod::kNewApi) {
    if (method == MountMethod::kNewApi || g_new_api_supported.load() != 0) {
      auto st = MountNewApi(lowers, upper, work, target);
      if (st.ok()) {
        g_new_api_supported.store(1);
        return st;
      }
      if (method == MountMethod::kNewApi || !absl::IsUnimplemented(st)) return st;
      spdlog::info("snapshotter: {}; mounting overlay with mount(2)", st.message());
      g_new_api_supported.store(0);
    }
  }
  // mount(2): options up to a page, including the terminating NUL.
  const size_t limit = static_cast<size_t>(sysconf(_SC_PAGESIZE)) - 1;
  for (const auto* p : {&upper, &work}) {
    if (!SafeForLegacyOptions(*p)) {
      return absl::FailedPreconditionError(absl::StrCat("path ", *p, " has , : \\ or ="));
    }
  }
  if (method != MountMethod::kLegacyRelative) {
    std::string data = absl::StrCat("lowerdir=", absl::StrJoin(lowers, ":"), ",upperdir=", upper,
                                    ",workdir=", work);
    bool safe = std::all_of(lowers.begin(), lowers.end(), SafeForLegacyOptions);
    if (safe && data.size() <= limit) return Mount("overlay", target, "overlay", 0, data);
    if (method == MountMethod::kLegacy) {
      return absl::FailedPreconditionError("overlay options do not fit mount(2)");
    }
  }
  // Relative to the layers directory, from a child process.
  const std::string prefix = LayersDir() + "/";
  std::vector<std::string> rel;
  for (const auto& l : lowers) {
    if (l.compare(0, prefix.size(), prefix) == 0) {
      rel.push_back(l.substr(prefix.size()));
    } else if (l == EmptyDir()) {
      rel.push_back("../empty");
    } else {
      return absl::InternalError(absl::StrCat("lowerdir ", l, " outside ", LayersDir()));
    }
  }
  std::string data =
      absl::StrCat("lowerdir=", absl::StrJoin(rel, ":"), ",upperdir=", upper, ",workdir=", work);
  if (data.size() > limit) {
    return absl::FailedPreconditionError(
        absl::StrCat("image has too many layers (", lowers.size(),
                     ") for overlay's mount(2) option limit on this kernel (Linux 6.8+ has none)"));
  }
  return MountInDir(LayersDir(), target, data);
}

absl::StatusOr<std::string> Snapshotter::PrepareContainer(const std::string& container_id,
                                                          const std::vector<std::string>& chain_ids,
                                                          const std::string& mount_root) {
  if (!ValidContainerId(container_id)) {
    return absl::InvalidArgumentError(absl::StrCat("bad container id \"", container_id, "\""));
  }
  if (mount_root.empty() || mount_root[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("mount root \"", mount_root, "\" not absolute"));
  }
  if (IsMountPoint(mount_root)) return mount_root;  // a retried call
  std::vector<std::string> lowers;                  // top first
  for (auto it = chain_ids.rbegin(); it != chain_ids.rend(); ++it) {
    if (!Has(*it)) return absl::NotFoundError(absl::StrCat("layer ", *it, " is not unpacked"));
    lowers.push_back(DirOf(*it));
  }
  if (lowers.empty()) lowers.push_back(EmptyDir());

  const std::string dir = ContainerDir(container_id);
  const std::string upper = dir + "/upper", work = dir + "/work";
  bool created = !PathExists(dir);
  auto cleanup = [&] {
    if (created) {
      if (auto st = RemoveAll(dir); !st.ok()) {
        spdlog::warn("snapshotter: cannot remove {}: {}", dir, st.message());
      }
    }
  };
  // The upper dir's root becomes the container's "/": 0755, like a normal root directory.
  for (const auto* d : {&upper, &work}) {
    if (auto st = MakeDirs(*d, 0755); !st.ok()) {
      cleanup();
      return st;
    }
  }
  if (auto st = MakeDirs(mount_root, 0755); !st.ok()) {
    cleanup();
    return st;
  }
  if (auto st = MountOverlay(lowers, upper, work, mount_root); !st.ok()) {
    cleanup();
    return st;
  }
  spdlog::info("snapshotter: container {} rootfs mounted at {} ({} layers)", container_id,
               mount_root, chain_ids.size());
  return mount_root;
}

absl::Status Snapshotter::RemoveContainer(const std::string& container_id,
                                          const std::string& mount_root) {
  if (!ValidContainerId(container_id)) {
    return absl::InvalidArgumentError(absl::StrCat("bad container id \"", container_id, "\""));
  }
  if (!mount_root.empty()) {
    if (auto st = Unmount(mount_root); !st.ok()) {
      spdlog::warn("snapshotter: {}; detaching instead", st.message());
      if (auto st2 = Unmount(mount_root, /*lazy=*/true); !st2.ok()) return st2;
    }
    if (IsMountPoint(mount_root)) {
      return absl::FailedPreconditionError(absl::StrCat(mount_root, " is still mounted"));
    }
    if (rmdir(mount_root.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) {
      spdlog::debug("snapshotter: rmdir {}: {}", mount_root, strerror(errno));
    }
  }
  return RemoveAll(ContainerDir(container_id));
}

absl::StatusOr<std::pair<uint64_t, uint64_t>> Snapshotter::Usage(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(dir, " does not exist"));
    return ErrnoError(absl::StrCat("open ", dir));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError(absl::StrCat("stat ", dir));
  uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512, inodes = 1;
  std::set<std::pair<dev_t, ino_t>> seen;
  if (auto s = UsageAt(fd.get(), st.st_dev, seen, bytes, inodes); !s.ok()) return s;
  return std::make_pair(bytes, inodes);
}

}  // namespace tether
