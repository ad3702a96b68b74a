// Facts about processes from /proc.
#pragma once

#include <cstdint>
#include <string>

namespace tether {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 when the pid is gone.
uint64_t ProcessStartTime(int pid);
// True when `pid` exists and, if `start_time` is non-zero, is still the same process.
bool ProcessAlive(int pid, uint64_t start_time);
// Sends `sig` to `pid` through a pidfd, only if it is still the process that started at
// `start_time` (non-zero): no exec of the OCI runtime, and no risk of signalling a reused pid.
// False when the process is gone, was replaced, or cannot be signalled.
bool SignalProcess(int pid, uint64_t start_time, int sig);
// This process's /proc/self/oom_score_adj.
int OwnOomScoreAdj();

}  // namespace tether
