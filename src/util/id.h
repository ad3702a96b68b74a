// Identifiers and names.
#pragma once

#include <string>

namespace tether {

// 64 lowercase hex characters from the kernel's random source.
std::string NewId();

// True for strings of 1..64 lowercase hex characters (a full id or a prefix of one).
bool LooksLikeIdPrefix(const std::string& s);

}  // namespace tether
