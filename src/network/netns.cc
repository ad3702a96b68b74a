// Pinned network namespaces.
//
// A namespace is created by a short-lived thread that unshares its own network namespace and
// bind-mounts /proc/self/task/<tid>/ns/net onto the pin file; the thread then exits, leaving the
// bind mount as the only reference. Doing it in a dedicated thread keeps every other thread of
// tetherd (and the thread that called us) in the host network namespace.
//
// Mount propagation: the pin directory (e.g. /run/tether/netns) is left as it is. iproute2 and
// containerd make their netns directory a shared bind mount of itself so that pins created in one
// mount namespace show up in others; tetherd, runc and the CNI plugins all run in the host mount
// namespace and find the pin by path, so no propagation is needed. A container that bind-mounts
// the pin directory (hostPath) gets its own copy of the mount; unmounting here does not detach
// that copy, the namespace then lives until that container is gone, which is harmless.
#include "network/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "util/file.h"
#include "util/log.h"
#include "util/mount.h"

namespace tether {

absl::Status CreatePinnedNetns(const std::string& pin_path) {
  int fd = open(pin_path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    int e = errno;
    std::string msg = absl::StrCat("create netns pin ", pin_path, ": ", strerror(e));
    if (e == EEXIST) return absl::AlreadyExistsError(msg);
    return absl::InternalError(msg);
  }
  close(fd);

  absl::Status status;
  auto work = [&status, &pin_path] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = absl::InternalError(absl::StrCat("unshare(CLONE_NEWNET): ", strerror(errno)));
      return;
    }
    const long tid = syscall(SYS_gettid);
    std::string self = absl::StrCat("/proc/self/task/", tid, "/ns/net");
    if (mount(self.c_str(), pin_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      status = absl::InternalError(
          absl::StrCat("bind-mount ", self, " on ", pin_path, ": ", strerror(errno)));
    }
    // The thread exits here; with it goes its only reference to the namespace besides the pin.
  };
  try {
    std::thread(work).join();
  } catch (const std::system_error& e) {
    status = absl::ResourceExhaustedError(absl::StrCat("netns thread: ", e.what()));
  }
  if (!status.ok()) {
    unlink(pin_path.c_str());
    return status;
  }
  spdlog::debug("netns pinned at {}", pin_path);
  return absl::OkStatus();
}

absl::Status PinNetnsOf(int pid, const std::string& pin_path) {
  int fd = open(pin_path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    int e = errno;
    std::string msg = absl::StrCat("create netns pin ", pin_path, ": ", strerror(e));
    return e == EEXIST ? absl::AlreadyExistsError(msg) : absl::InternalError(msg);
  }
  close(fd);
  std::string ns = absl::StrCat("/proc/", pid, "/ns/net");
  if (mount(ns.c_str(), pin_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int e = errno;
    unlink(pin_path.c_str());
    return absl::InternalError(
        absl::StrCat("bind-mount ", ns, " on ", pin_path, ": ", strerror(e)));
  }
  spdlog::debug("netns of pid {} pinned at {}", pid, pin_path);
  return absl::OkStatus();
}

absl::Status RemovePinnedNetns(const std::string& pin_path) {
  if (!PathExists(pin_path)) return absl::OkStatus();
  absl::Status st = IsMountPoint(pin_path) ? Unmount(pin_path) : absl::OkStatus();
  if (!st.ok()) {
    // Typically EBUSY: something still has the mount open. Detach it so the pin can go; the
    // namespace itself lives on until its last user is gone.
    spdlog::warn("netns {}: {}; detaching lazily", pin_path, st.message());
    st = Unmount(pin_path, /*lazy=*/true);
    if (!st.ok()) return st;
  }
  return RemoveFile(pin_path);
}

}  // namespace tether
