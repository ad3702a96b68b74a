// Facts about processes from /proc.
#pragma once

#include <cstdint>
#include <string>

namespace tether {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 when the pid is gone.
uint64_t ProcessStartTime(int pid);
// True when `pid` exists and, if `start_time` is non-zero, is still the same process.
bool ProcessAlive(int pid, uint64_t start_time);
// This process's /proc/self/oom_score_adj.
int OwnOomScoreAdj();

}  // namespace tether
