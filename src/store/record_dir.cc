#include "store/record_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/id.h"

namespace tether {

absl::Status RecordDir::Init() const { return MakeDirs(dir_, 0700); }

namespace {

// temp + write + fsync + rename, without the fsync of the directory.
absl::Status ReplaceFile(const std::string& path, const std::string& data) {
  const std::string tmp = absl::StrCat(path, ".tmp-", NewId().substr(0, 12));
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(absl::StrCat("create ", tmp));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = write(fd.get(), data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      auto st = ErrnoError(absl::StrCat("write ", tmp));
      unlink(tmp.c_str());
      return st;
    }
    done += static_cast<size_t>(w);
  }
  if (fsync(fd.get()) != 0) {
    auto st = ErrnoError(absl::StrCat("fsync ", tmp));
    unlink(tmp.c_str());
    return st;
  }
  fd.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    auto st = ErrnoError(absl::StrCat("rename ", tmp));
    unlink(tmp.c_str());
    return st;
  }
  return absl::OkStatus();
}

}  // namespace

// A new record's name must be durable before the side effects it describes (fsync of the
// directory). A record that replaces an existing one skips that fsync: the rename is atomic, so
// after a crash the name holds either the new version or the old one, whose entry was made
// durable when it was first written. Every transition a record takes (CREATING -> READY,
// CREATING -> CREATED -> RUNNING -> EXITED, READY -> NOTREADY) leaves an older version that
// recovery handles; see docs/benchmarks.md ("Where the time goes") for what the older version
// costs after a power loss.
absl::Status RecordDir::Write(const std::string& id, const nlohmann::json& record) const {
  const std::string path = PathOf(id);
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return ReplaceFile(path, record.dump());
  return WriteFileAtomic(path, record.dump(), 0600);
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
