// Kubernetes quantities: CPU in millicores, memory in bytes.
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "podrunner/manifest.h"

namespace tether::podrunner {

absl::StatusOr<int64_t> ParseCpuMillis(absl::string_view quantity) {
  std::string q(absl::StripAsciiWhitespace(quantity));
  double value = 0;
  if (absl::EndsWith(q, "m")) {
    int64_t millis = 0;
    if (!absl::SimpleAtoi(q.substr(0, q.size() - 1), &millis) || millis < 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a CPU quantity"));
    }
    return millis;
  }
  if (!absl::SimpleAtod(q, &value) || value < 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a CPU quantity"));
  }
  return static_cast<int64_t>(std::ceil(value * 1000));
}

absl::StatusOr<int64_t> ParseMemoryBytes(absl::string_view quantity) {
  std::string q(absl::StripAsciiWhitespace(quantity));
  static const std::pair<const char*, double> kSuffixes[] = {{"Ki", 1024.0},
                                                             {"Mi", 1024.0 * 1024},
                                                             {"Gi", 1024.0 * 1024 * 1024},
                                                             {"Ti", 1099511627776.0},
                                                             {"Pi", 1125899906842624.0},
                                                             {"Ei", 1152921504606846976.0},
                                                             {"k", 1e3},
                                                             {"M", 1e6},
                                                             {"G", 1e9},
                                                             {"T", 1e12},
                                                             {"P", 1e15},
                                                             {"E", 1e18},
                                                             {"m", 1e-3}};
  double multiplier = 1;
  std::string number = q;
  for (const auto& [suffix, mult] : kSuffixes) {
    if (absl::EndsWith(q, suffix)) {
      number = q.substr(0, q.size() - std::string(suffix).size());
      multiplier = mult;
      break;
    }
  }
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value) || value < 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a memory quantity"));
  }
  return static_cast<int64_t>(std::ceil(value * multiplier));
}

}  // namespace tether::podrunner
