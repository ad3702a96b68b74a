#include "store/record_dir.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/file.h"

namespace tether {

absl::Status RecordDir::Init() const { return MakeDirs(dir_, 0700); }

absl::Status RecordDir::Write(const std::string& id, const nlohmann::json& record) const {
  return WriteFileAtomic(PathOf(id), record.dump(), 0600);
}

absl::StatusOr<nlohmann::json> RecordDir::Read(const std::string& id) const {
  auto data = ReadFile(PathOf(id));
  if (!data.ok()) return data.status();
  auto j = nlohmann::json::parse(*data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat("corrupt record ", PathOf(id)));
  return j;
}

absl::Status RecordDir::Remove(const std::string& id) const { return RemoveFile(PathOf(id)); }

std::vector<std::pair<std::string, nlohmann::json>> RecordDir::LoadAll(
    std::vector<std::string>* errors) const {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir_, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (absl::StrContains(name, ".tmp-")) {
      (void)RemoveFile(it->path().string());
      continue;
    }
    if (!absl::EndsWith(name, ".json")) continue;
    std::string id = name.substr(0, name.size() - 5);
    auto rec = Read(id);
    if (!rec.ok()) {
      if (errors) errors->push_back(std::string(rec.status().message()));
      continue;
    }
    out.emplace_back(id, std::move(*rec));
  }
  return out;
}

}  // namespace tether
