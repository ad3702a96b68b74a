// Logging: spdlog, plus formatting for absl::string_view (Debian's Abseil has its own string_view
// type, so absl::Status::message() needs this to be logged).
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
