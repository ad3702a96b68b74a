#include "util/proc.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/file.h"

namespace tether {

uint64_t ProcessStartTime(int pid) {
  if (pid <= 0) return 0;
  auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return 0;
  // The command name (field 2) may hold spaces and parens: split after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat->substr(close + 2), ' ');
  // After ')' come fields 3.. ; starttime is field 22 → index 19.
  uint64_t t = 0;
  if (fields.size() > 19 && absl::SimpleAtoi(fields[19], &t)) return t;
  return 0;
}

bool ProcessAlive(int pid, uint64_t start_time) {
  uint64_t now = ProcessStartTime(pid);
  if (now == 0) return false;
  if (start_time != 0 && now != start_time) return false;
  // A zombie is not alive for our purposes.
  auto stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.ok()) {
    auto close = stat->rfind(')');
    if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z') {
      return false;
    }
  }
  return true;
}

bool SignalProcess(int pid, uint64_t start_time, int sig) {
  if (pid <= 0 || start_time == 0) return false;
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return false;
  // The pidfd pins the process: checking after opening it rules out a pid reused in between.
  bool ok =
      ProcessAlive(pid, start_time) && syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
  close(fd);
  return ok;
}

int OwnOomScoreAdj() {
  auto v = ReadFile("/proc/self/oom_score_adj");
  int adj = 0;
  if (v.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*v), &adj)) return adj;
  return 0;
}

}  // namespace tether
