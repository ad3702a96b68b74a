#include "container/mount_targets.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/fd.h"
#include "util/file.h"

namespace tether {
namespace {

// `rel` below the directory `root_fd`, every component resolved inside it.
int OpenInRoot(int root_fd, const std::string& rel) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    int fd = static_cast<int>(
        syscall(SYS_openat2, root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN) return fd;
  }
}

}  // namespace

absl::Status MakeInRoot(const std::string& root, const std::string& path, bool directory) {
  Fd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return ErrnoError(absl::StrCat("open ", root));
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (parts.empty()) return absl::OkStatus();
  std::string rel;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "." || parts[i] == "..") {
      return absl::InvalidArgumentError(absl::StrCat("mount destination ", path, ": not clean"));
    }
    Fd dir(OpenInRoot(root_fd.get(), rel));
    if (!dir.valid()) return ErrnoError(absl::StrCat("open ", root, "/", rel));
    const bool last = i + 1 == parts.size();
    const char* name = parts[i].c_str();
    if (last && !directory) {
      int fd = openat(dir.get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd >= 0) {
        close(fd);
      } else if (errno != EEXIST) {
        return ErrnoError(absl::StrCat("create ", root, "/", path));
      }
    } else if (mkdirat(dir.get(), name, 0755) != 0 && errno != EEXIST) {
      return ErrnoError(absl::StrCat("mkdir ", root, "/", rel, "/", parts[i]));
    }
    absl::StrAppend(&rel, rel.empty() ? "" : "/", parts[i]);
  }
  return absl::OkStatus();
}

absl::Status MakeBindMountTargets(const std::string& root, const nlohmann::json& spec) {
  for (const auto& m : spec.value("mounts", nlohmann::json::array())) {
    if (m.value("type", "") != "bind") continue;
    const std::string dest = m.value("destination", "");
    if (dest.empty() || absl::StartsWith(dest, "/dev/") || absl::StartsWith(dest, "/proc") ||
        absl::StartsWith(dest, "/sys")) {
      continue;
    }
    struct stat st;
    const std::string source = m.value("source", "");
    bool directory = stat(source.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
    if (auto s = MakeInRoot(root, dest, directory); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tether
