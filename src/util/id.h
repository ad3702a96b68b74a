// Identifiers and names.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tether {

// 64 lowercase hex characters from the kernel's random source.
std::string NewId();

// True for strings of 1..64 lowercase hex characters (a full id or a prefix of one).
bool LooksLikeIdPrefix(const std::string& s);

// The value of `by_id` (a std::map keyed by id) whose key is `id` or the one key starting with it,
// as crictl users type short ids. NOT_FOUND "<kind> "<id>" not found", or INVALID_ARGUMENT
// "<kind> id prefix "<id>" is ambiguous".
template <class Map>
absl::StatusOr<typename Map::mapped_type> FindByIdPrefix(const Map& by_id, const std::string& id,
                                                         const std::string& kind) {
  if (auto it = by_id.find(id); it != by_id.end()) return it->second;
  const typename Map::mapped_type* found = nullptr;
  for (auto p = by_id.lower_bound(id); p != by_id.end(); ++p) {
    if (!absl::StartsWith(p->first, id)) break;
    if (found) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " id prefix \"", id, "\" is ambiguous"));
    }
    found = &p->second;
  }
  if (!found) return absl::NotFoundError(absl::StrCat(kind, " \"", id, "\" not found"));
  return *found;
}

// Every value of `by_id`, in key order (the stores' List()).
template <class Map>
std::vector<typename Map::mapped_type> ValuesOf(const Map& by_id) {
  std::vector<typename Map::mapped_type> out;
  out.reserve(by_id.size());
  for (const auto& [id, value] : by_id) out.push_back(value);
  return out;
}

}  // namespace tether
