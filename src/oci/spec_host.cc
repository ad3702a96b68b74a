// SpecHost's reads of the host and the image root, and the probe of the host's features.
#include "oci/spec_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/fd.h"
#include "util/file.h"

namespace tether {
namespace {

using nlohmann::json;

constexpr size_t kMaxUserFileBytes = 10 << 20;

absl::Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

std::string Unescape(absl::string_view s) {  // mountinfo escapes space, tab, newline, backslash
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char ch = s[i + k];
        if (ch < '0' || ch > '7') ok = false;
        v = v * 8 + (ch - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool PathUnder(const std::string& path, const std::string& mountpoint) {
  if (mountpoint == "/") return true;
  return path == mountpoint || (absl::StartsWith(path, mountpoint) &&
                                path.size() > mountpoint.size() && path[mountpoint.size()] == '/');
}

absl::StatusOr<HostDevice> DeviceAt(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoStatus("lstat", path, errno);
  HostDevice d;
  d.path = path;
  if (S_ISCHR(st.st_mode)) {
    d.type = 'c';
  } else if (S_ISBLK(st.st_mode)) {
    d.type = 'b';
  } else if (S_ISFIFO(st.st_mode)) {
    d.type = 'p';
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a device node"));
  }
  d.major = major(st.st_rdev);
  d.minor = minor(st.st_rdev);
  d.file_mode = st.st_mode & 07777;
  d.uid = st.st_uid;
  d.gid = st.st_gid;
  return d;
}

void WalkDevices(const std::string& dir, const std::string& container_dir,
                 std::vector<HostDevice>* out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    entries.emplace_back(name, e->d_type);
  }
  closedir(d);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, type] : entries) {
    std::string path = absl::StrCat(dir == "/" ? "" : dir, "/", name);
    std::string cpath = absl::StrCat(container_dir == "/" ? "" : container_dir, "/", name);
    unsigned char t = type;
    if (t == DT_UNKNOWN) {
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) continue;
      t = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
    }
    if (t == DT_DIR) {
      static const std::set<std::string> skip = {"pts",  "shm",         "fd",   "mqueue",
                                                 ".lxc", ".lxd-mounts", ".udev"};
      if (!skip.count(name)) WalkDevices(path, cpath, out);
      continue;
    }
    if (name == "console") continue;
    auto dev = DeviceAt(path);
    if (!dev.ok()) continue;  // not a device, or gone
    dev->container_path = cpath;
    out->push_back(*dev);
  }
}

}  // namespace

// ---- SpecHost -----------------------------------------------------------------------------------

absl::StatusOr<std::string> SpecHost::ReadRootFile(const std::string& root,
                                                   const std::string& path) {
  Fd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus("open", root, errno);
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd = static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how));
  if (fd < 0 && errno == EXDEV) {
    // The image root may hold mounts of its own (not ours); allow crossing them.
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    fd = static_cast<int>(syscall(SYS_openat2, dir.get(), rel.c_str(), &how, sizeof how));
  }
  if (fd < 0) {
    if (errno == ENOSYS) {
      return absl::FailedPreconditionError("openat2(2) is not available (Linux 5.6 or later)");
    }
    return ErrnoStatus("open", absl::StrCat(root, "/", rel), errno);
  }
  Fd file(fd);
  struct stat st;
  if (fstat(file.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " in the image is not a regular file"));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t r = read(file.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus("read", path, errno);
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
    if (out.size() > kMaxUserFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, " in the image is larger than 10 MiB"));
    }
  }
  return out;
}

absl::StatusOr<std::string> SpecHost::ReadHostFile(const std::string& path) {
  return ReadFile(path);
}

absl::StatusOr<std::string> SpecHost::ResolvePath(const std::string& path) {
  char* r = realpath(path.c_str(), nullptr);
  if (!r) return ErrnoStatus("resolve", path, errno);
  std::string out = r;
  free(r);
  return out;
}

absl::Status SpecHost::MakeDirs(const std::string& path) { return tether::MakeDirs(path); }

absl::StatusOr<std::vector<HostDevice>> SpecHost::Devices(const std::string& host_path,
                                                          const std::string& container_path) {
  struct stat st;
  if (lstat(host_path.c_str(), &st) != 0) return ErrnoStatus("lstat", host_path, errno);
  std::vector<HostDevice> out;
  if (S_ISDIR(st.st_mode)) {
    WalkDevices(host_path, container_path, &out);
    return out;
  }
  auto d = DeviceAt(host_path);
  if (!d.ok()) return d.status();
  d->container_path = container_path;
  out.push_back(*d);
  return out;
}

absl::StatusOr<std::string> SpecHost::MountPropagation(const std::string& path) {
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info.ok()) return info.status();
  std::string best_point;
  std::string best_fields;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 7) continue;
    std::string point = Unescape(f[4]);
    if (!PathUnder(path, point)) continue;
    // Later lines win at equal length: they are mounted on top.
    if (found && point.size() < best_point.size()) continue;
    std::vector<std::string> optional;
    for (size_t i = 6; i < f.size() && f[i] != "-"; ++i) optional.emplace_back(f[i]);
    best_point = point;
    best_fields = absl::StrJoin(optional, " ");
    found = true;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no mount holds ", path));
  return best_fields;
}

// ---- Host features ------------------------------------------------------------------------------

HostFeatures ProbeHostFeatures() {
  HostFeatures f;
  struct statfs sfs;
  f.cgroup2_unified = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
  if (f.cgroup2_unified) {
    auto controllers = ReadFile("/sys/fs/cgroup/cgroup.controllers");
    f.hugetlb_controller = controllers.ok() && absl::StrContains(*controllers, "hugetlb");
    // The swap file exists in every non-root cgroup when the controller is on; check ours.
    auto self = ReadFile("/proc/self/cgroup");
    std::string rel = "/";
    if (self.ok()) {
      for (absl::string_view line : absl::StrSplit(*self, '\n')) {
        if (absl::ConsumePrefix(&line, "0::")) rel = std::string(line);
      }
    }
    f.swap_controller = PathExists(absl::StrCat("/sys/fs/cgroup", rel, "/memory.swap.max"));
  } else {
    f.hugetlb_controller = PathExists("/sys/fs/cgroup/hugetlb");
    f.swap_controller = PathExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  }
  auto aa = ReadFile("/sys/module/apparmor/parameters/enabled");
  f.apparmor = aa.ok() && absl::StartsWith(*aa, "Y") && PathExists("/sys/kernel/security/apparmor");
  f.selinux = PathExists("/sys/fs/selinux/enforce");
  auto status = ReadFile("/proc/self/status");
  f.seccomp = status.ok() && absl::StrContains(*status, "\nSeccomp:");
  struct utsname u;
  if (uname(&u) == 0) {
    std::vector<std::string> parts = absl::StrSplit(u.release, absl::ByAnyChar(".-"));
    if (parts.size() >= 2) {
      (void)absl::SimpleAtoi(parts[0], &f.kernel_major);
      (void)absl::SimpleAtoi(parts[1], &f.kernel_minor);
    }
  }
  return f;
}

bool RuntimeSupportsRro(const json& runtime_features, const HostFeatures& host) {
  if (!runtime_features.is_object() || !runtime_features.contains("mountOptions")) return false;
  const auto& opts = runtime_features["mountOptions"];
  if (!opts.is_array()) return false;
  bool listed = std::find(opts.begin(), opts.end(), json("rro")) != opts.end();
  bool kernel = host.kernel_major > 5 || (host.kernel_major == 5 && host.kernel_minor >= 12);
  return listed && kernel;
}

}  // namespace tether
