#include "util/mount.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tether {

absl::Status Mount(const std::string& source, const std::string& target, const std::string& fstype,
                   unsigned long flags, const std::string& data) {
  if (mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
            data.empty() ? nullptr : data.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("mount ", source, " on ", target, " (", fstype, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Unmount(const std::string& target, bool lazy) {
  for (int i = 0; i < 16; ++i) {
    if (umount2(target.c_str(), lazy ? MNT_DETACH : 0) != 0) {
      if (errno == EINVAL || errno == ENOENT) return absl::OkStatus();  // not mounted / gone
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("umount ", target, ": ", strerror(errno)));
    }
    if (!IsMountPoint(target)) return absl::OkStatus();  // stacked mounts: keep going
  }
  return absl::OkStatus();
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    // mountinfo escapes spaces and a few other characters as octal.
    std::string decoded;
    for (size_t i = 0; i < mount_point.size(); ++i) {
      if (mount_point[i] == '\\' && i + 3 < mount_point.size()) {
        decoded.push_back(static_cast<char>(std::stoi(mount_point.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        decoded.push_back(mount_point[i]);
      }
    }
    if (decoded == path) return true;
  }
  return false;
}

}  // namespace tether
