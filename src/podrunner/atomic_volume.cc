#include "podrunner/atomic_volume.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "util/file.h"

namespace tether::podrunner {
namespace {

constexpr char kData[] = "..data";
constexpr char kDataTmp[] = "..data_tmp";

// The version `..data` points at ("" when there is none).
std::string CurrentVersion(const std::string& dir) {
  char buf[PATH_MAX];
  ssize_t n = readlink(absl::StrCat(dir, "/", kData).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// Whether `version` holds exactly `files` (content and mode) and nothing else.
bool SameFiles(const std::string& version, const std::vector<VolumeFile>& files) {
  size_t regular = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(version, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    regular += it->is_regular_file(ec);
  }
  if (ec || regular != files.size()) return false;
  for (const VolumeFile& f : files) {
    const std::string path = absl::StrCat(version, "/", f.path);
    struct stat st = {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != f.mode) {
      return false;
    }
    auto content = ReadFile(path);
    if (!content.ok() || *content != f.content) return false;
  }
  return true;
}

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

}  // namespace

absl::StatusOr<bool> WriteAtomicVolume(const std::string& dir,
                                       const std::vector<VolumeFile>& files) {
  // One writer at a time (a starting runner and a static pod's refresh may meet): a writer's
  // clean-up would remove the version another has just made.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (auto st = MakeDirs(dir, 0755); !st.ok()) return st;
  const std::string old = CurrentVersion(dir);
  if (!old.empty() && SameFiles(absl::StrCat(dir, "/", old), files)) return false;

  // The new version, in a directory named after the time (UTC), as kubelet names them.
  std::string path = absl::StrCat(
      dir, "/", absl::FormatTime("..%Y_%m_%d_%H_%M_%S.", absl::Now(), absl::UTCTimeZone()),
      "XXXXXX");
  if (mkdtemp(path.data()) == nullptr) return Errno(absl::StrCat("mkdtemp in ", dir));
  const std::string version = path.substr(dir.size() + 1);
  if (chmod(path.c_str(), 0755) != 0) return Errno(absl::StrCat("chmod ", path));
  std::set<std::string> visible;  // the first component of every path
  for (const VolumeFile& f : files) {
    const std::string file = absl::StrCat(path, "/", f.path);
    if (auto slash = file.rfind('/'); slash > path.size()) {
      if (auto st = MakeDirs(file.substr(0, slash), 0755); !st.ok()) return st;
    }
    if (auto st = WriteFileAtomic(file, f.content, f.mode); !st.ok()) return st;
    visible.insert(f.path.substr(0, f.path.find('/')));
  }
  FsyncDir(path);

  // The one atomic step: ..data now names the new version.
  const std::string tmp = absl::StrCat(dir, "/", kDataTmp);
  unlink(tmp.c_str());
  if (symlink(version.c_str(), tmp.c_str()) != 0) return Errno(absl::StrCat("symlink ", tmp));
  if (rename(tmp.c_str(), absl::StrCat(dir, "/", kData).c_str()) != 0) {
    return Errno(absl::StrCat("rename ", tmp));
  }
  FsyncDir(dir);

  // The paths the pod sees, through ..data; a plain file or directory there (written before
  // volumes were versioned) gives way to its symlink.
  for (const std::string& name : visible) {
    const std::string link = absl::StrCat(dir, "/", name);
    struct stat st = {};
    if (lstat(link.c_str(), &st) == 0) {
      if (S_ISLNK(st.st_mode)) continue;
      if (auto rm = RemoveAll(link); !rm.ok()) return rm;
    }
    if (symlink(absl::StrCat(kData, "/", name).c_str(), link.c_str()) != 0) {
      return Errno(absl::StrCat("symlink ", link));
    }
  }
  // What the new version no longer has: the old version (and any left by an update cut short)
  // and the paths that were only in it.
  std::vector<std::string> gone;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kData || name == version) continue;
    if (!absl::StartsWith(name, "..") && visible.contains(name)) continue;
    gone.push_back(entry.path().string());
  }
  for (const std::string& p : gone) RemoveAll(p).IgnoreError();
  return true;
}

}  // namespace tether::podrunner
