// Durable state: one JSON record per object in a directory, each written atomically.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "util/log.h"

namespace tether {

class RecordDir {
 public:
  explicit RecordDir(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Init() const;  // creates the directory
  // Writes the record for `id` atomically (temp + fsync + rename + fsync dir).
  absl::Status Write(const std::string& id, const nlohmann::json& record) const;
  absl::StatusOr<nlohmann::json> Read(const std::string& id) const;
  absl::Status Remove(const std::string& id) const;  // missing is fine
  // Every readable record, in no particular order. Leftover temp files from a crash are deleted;
  // unparsable records are reported in `errors` and skipped.
  std::vector<std::pair<std::string, nlohmann::json>> LoadAll(
      std::vector<std::string>* errors = nullptr) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string PathOf(const std::string& id) const { return dir_ + "/" + id + ".json"; }
  std::string dir_;
};

// Every record in `dir` parsed with T::FromJson (recovery at start-up). Unreadable and unparsable
// records are logged as "skipping ... <kind> record" and left out.
template <class T>
std::vector<T> LoadRecords(const RecordDir& dir, const char* kind) {
  std::vector<std::string> errors;
  auto records = dir.LoadAll(&errors);
  for (const auto& e : errors) spdlog::error("skipping unreadable {} record: {}", kind, e);
  std::vector<T> out;
  for (auto& [id, j] : records) {
    auto parsed = T::FromJson(j);
    if (!parsed.ok()) {
      spdlog::error("skipping {} record {}: {}", kind, id, parsed.status().message());
      continue;
    }
    out.push_back(*std::move(parsed));
  }
  return out;
}

}  // namespace tether
