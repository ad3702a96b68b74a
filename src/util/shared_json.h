// An immutable JSON document shared between copies of a record (an OCI spec, a CNI result), so
// that copying a record — as every List* and *Status call does — copies a pointer, not the tree.
// To change one, build a new document and swap the pointer (copy on write).
#pragma once

#include <memory>
#include <utility>

#include "nlohmann/json.hpp"

namespace tether {

using SharedJson = std::shared_ptr<const nlohmann::json>;

// A shared null document: the value of a record field nothing was set to. Never null itself.
inline const SharedJson& NullJson() {
  static const SharedJson* null_json = new SharedJson(std::make_shared<const nlohmann::json>());
  return *null_json;
}

inline SharedJson MakeSharedJson(nlohmann::json j) {
  return std::make_shared<const nlohmann::json>(std::move(j));
}

}  // namespace tether
