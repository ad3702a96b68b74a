// A process on a pseudo-terminal of its own, for tests of interactive commands (tetherctl
// exec -it, debug -it): what it writes is collected, keys are typed, the window is resized.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "util/fd.h"

namespace tether::e2e {

class PtyProcess {
 public:
  // Starts `argv` (argv[0] a path) with a terminal of `rows` x `cols` as its controlling one.
  static absl::StatusOr<PtyProcess> Start(const std::vector<std::string>& argv, unsigned short rows,
                                          unsigned short cols);
  PtyProcess(PtyProcess&& other) noexcept;
  PtyProcess& operator=(PtyProcess&&) = delete;
  ~PtyProcess();  // kills (SIGKILL) and reaps a process not waited for

  // Reads what the process writes until `needle` has been seen (in all it wrote since the
  // start), it closed the terminal or `timeout` passed; true when `needle` was seen.
  bool ReadUntil(absl::string_view needle, absl::Duration timeout);
  // Reads to the end (the process closed its terminal) or `timeout`.
  void ReadToEnd(absl::Duration timeout);
  // Types `keys` (a terminal sends "\r" for Enter).
  bool Type(absl::string_view keys);
  // Sets the window size; the process gets SIGWINCH.
  bool Resize(unsigned short rows, unsigned short cols);
  // Waits for the process to end; its exit code, or an error if a signal ended it.
  absl::StatusOr<int> Wait();

  // All the process wrote so far.
  const std::string& seen() const { return seen_; }

 private:
  PtyProcess(pid_t pid, Fd master) : pid_(pid), master_(std::move(master)) {}
  // Reads once (up to 200 ms); false at EOF or an error (EIO once the process is gone).
  bool ReadSome();

  pid_t pid_ = -1;
  Fd master_;
  std::string seen_;
};

}  // namespace tether::e2e
