// What the tetherctl unit tests share: a fixed clock and the result of one RunCli.
#pragma once

#include <cstdint>
#include <string>

namespace tether::ctl {

// 2023-11-14T22:13:20Z
inline constexpr int64_t kBaseSeconds = 1700000000;
inline constexpr int64_t kBaseNs = kBaseSeconds * 1000000000LL;

// RunCli's exit code and what it wrote.
struct CliResult {
  int code;
  std::string out;
  std::string err;
};

}  // namespace tether::ctl
