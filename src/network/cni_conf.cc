#include "network/cni_conf.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {
namespace {

using json = nlohmann::json;

// A watched directory: entries created, removed, renamed, rewritten or re-permissioned (a plugin
// made executable), and the directory itself going away.
constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// An ancestor of a directory that does not exist yet: only its creation (or arrival) matters.
constexpr uint32_t kAncestorMask =
    IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

json CniNetworkList::ToJson() const {
  json j = {{"cniVersion", cni_version}, {"name", name}, {"plugins", plugins}};
  if (disable_check) j["disableCheck"] = true;
  return j;
}

absl::StatusOr<CniNetworkList> ParseCniNetworkList(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  auto get_string = [&j](const char* key, std::string* out) -> absl::Status {
    if (!j.contains(key)) return absl::OkStatus();
    if (!j[key].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be a string"));
    }
    *out = j[key].get<std::string>();
    return absl::OkStatus();
  };
  CniNetworkList list;
  if (auto st = get_string("name", &list.name); !st.ok()) return st;
  if (auto st = get_string("cniVersion", &list.cni_version); !st.ok()) return st;
  if (list.name.empty()) return absl::InvalidArgumentError("missing network \"name\"");
  if (j.contains("plugins")) {
    const json& p = j["plugins"];
    if (!p.is_array() || p.empty()) {
      return absl::InvalidArgumentError("\"plugins\" must be a non-empty array");
    }
    for (const json& plugin : p) list.plugins.push_back(plugin);
    if (j.contains("disableCheck")) {
      const json& d = j["disableCheck"];
      if (d.is_boolean()) {
        list.disable_check = d.get<bool>();
      } else if (d.is_string()) {
        list.disable_check = absl::AsciiStrToLower(d.get<std::string>()) == "true";
      } else {
        return absl::InvalidArgumentError("\"disableCheck\" must be a boolean");
      }
    }
  } else if (j.contains("type")) {
    list.plugins.push_back(j);  // a single plugin configuration
  } else {
    return absl::InvalidArgumentError("neither \"plugins\" (a list) nor \"type\" (a plugin)");
  }
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    const json& plugin = list.plugins[i];
    if (!plugin.is_object() || !plugin.contains("type") || !plugin["type"].is_string() ||
        plugin["type"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("plugin ", i, " has no \"type\""));
    }
    const std::string type = plugin["type"].get<std::string>();
    if (absl::StrContains(type, '/') || type == "." || type == "..") {
      return absl::InvalidArgumentError(absl::StrCat("plugin type \"", type, "\" is not a name"));
    }
  }
  return list;
}

absl::StatusOr<std::string> FindCniPlugin(const std::vector<std::string>& bin_dirs,
                                          const std::string& type) {
  for (const auto& dir : bin_dirs) {
    std::string path = absl::StrCat(dir, "/", type);
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("CNI plugin \"", type, "\" not found in ", absl::StrJoin(bin_dirs, ":")));
}

CniConfCache::CniConfCache(CniConfigOptions options) : options_(std::move(options)) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ >= 0) stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || stop_fd_ < 0) {
    spdlog::warn("CNI: cannot watch {} for changes ({}); rescanning on every status call",
                 options_.conf_dir, strerror(errno));
    if (inotify_fd_ >= 0) close(inotify_fd_);
    inotify_fd_ = -1;
  } else {
    Arm();  // before the first scan, so that nothing changes unseen in between
  }
  Scan();
  if (watching()) thread_ = std::thread([this] { Run(); });
}

CniConfCache::~CniConfCache() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t n = write(stop_fd_, &one, sizeof one);
    (void)n;
    thread_.join();
  }
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

CniConfCache::View CniConfCache::Get() {
  if (!watching()) Scan();
  absl::MutexLock l(&mu_);
  return view_;
}

CniConfCache::View CniConfCache::AwaitScan(uint64_t scans, absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  auto newer = [this, scans]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return view_.scans > scans; };
  mu_.AwaitWithTimeout(absl::Condition(&newer), timeout);
  return view_;
}

void CniConfCache::Arm() {
  // A directory can appear or go between looking at it and watching it; then look again.
  for (int round = 0; round < 16; ++round) {
    if (ArmOnce()) return;
  }
  spdlog::warn("CNI: the watched directories keep changing; watching what is there now");
}

bool CniConfCache::ArmOnce() {
  bool settled = true;
  std::map<std::string, std::pair<uint32_t, Watch>> want;  // by directory
  std::vector<std::string> dirs = {options_.conf_dir};
  dirs.insert(dirs.end(), options_.bin_dirs.begin(), options_.bin_dirs.end());
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    std::filesystem::path p = std::filesystem::path(d).lexically_normal();
    if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
    if (IsDir(p.string())) {
      auto& w = want[p.string()];
      w.first |= kDirMask;
      w.second.all = true;
      continue;
    }
    // The nearest existing ancestor, told to report the next path component's arrival.
    std::string child;
    while (true) {
      child = p.filename().string();
      std::filesystem::path parent = p.parent_path();
      if (parent.empty()) parent = ".";
      if (parent == p) break;  // the root itself is missing: nothing to watch
      p = parent;
      if (IsDir(p.string())) {
        auto& w = want[p.string()];
        w.first |= kAncestorMask;
        w.second.children.insert(child);
        break;
      }
    }
  }
  std::map<int, Watch> armed;
  for (const auto& [dir, w] : want) {
    // IN_MASK_ADD: two names for one directory (a symbolic link) share a watch descriptor.
    int wd = inotify_add_watch(inotify_fd_, dir.c_str(), w.first | IN_MASK_ADD);
    if (wd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        settled = false;  // gone since we looked
      } else {
        spdlog::warn("CNI: cannot watch {}: {}", dir, strerror(errno));
      }
      continue;
    }
    Watch& a = armed[wd];
    a.all |= w.second.all;
    a.children.insert(w.second.children.begin(), w.second.children.end());
  }
  for (const auto& [wd, w] : watches_) {
    if (!armed.count(wd)) inotify_rm_watch(inotify_fd_, wd);
  }
  watches_ = std::move(armed);
  // A directory created after we found it missing but before its parent was watched sent its
  // event to nobody.
  for (const auto& [dir, w] : want) {
    for (const auto& child : w.second.children) {
      if (IsDir(absl::StrCat(dir, "/", child))) settled = false;
    }
  }
  return settled;
}

bool CniConfCache::DrainEvents() {
  bool relevant = false;
  alignas(inotify_event) char buf[16384];
  while (true) {
    ssize_t n = read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN: nothing more queued
    }
    for (char* p = buf; p < buf + n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        relevant = true;  // events were lost, or a watched directory went away
        continue;
      }
      auto it = watches_.find(e->wd);
      if (it == watches_.end()) continue;  // a watch being removed
      if (it->second.all || (e->len > 0 && it->second.children.count(e->name))) relevant = true;
    }
  }
  return relevant;
}

void CniConfCache::Run() {
  while (true) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("CNI: watching {} stopped: {}", options_.conf_dir, strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (DrainEvents()) {
      Arm();  // a directory may have appeared or gone
      Scan();
    }
  }
}

void CniConfCache::Scan() {
  absl::MutexLock scan_lock(&scan_mu_);
  // List the candidates and fingerprint them: name, inode, size, mtime and ctime of each. The
  // configuration is only parsed again when that changed.
  std::vector<std::string> names;
  std::string fingerprint;
  bool dir_exists = false;
  if (DIR* d = opendir(options_.conf_dir.c_str())) {
    dir_exists = true;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (absl::EndsWith(n, ".conflist") || absl::EndsWith(n, ".conf") ||
          absl::EndsWith(n, ".json")) {
        names.push_back(n);
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  for (const auto& n : names) {
    std::string path = absl::StrCat(options_.conf_dir, "/", n);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.push_back(path);
    absl::StrAppend(&fingerprint, n, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ":", st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec, "\n");
  }
  if (!dir_exists) fingerprint = "\x01missing";

  if (!scanned_ || fingerprint != fingerprint_) {
    scanned_ = true;
    fingerprint_ = fingerprint;
    scanned_list_ = nullptr;
    std::vector<std::string> problems;
    for (const auto& path : files) {
      auto text = ReadFile(path);
      absl::StatusOr<CniNetworkList> parsed =
          text.ok() ? ParseCniNetworkList(*text) : absl::StatusOr<CniNetworkList>(text.status());
      if (!parsed.ok()) {
        spdlog::warn("CNI: skipping {}: {}", path, parsed.status().message());
        problems.push_back(absl::StrCat(path, ": ", parsed.status().message()));
        continue;
      }
      parsed->file = path;
      scanned_list_ = std::make_shared<const CniNetworkList>(*std::move(parsed));
      scanned_error_ = absl::OkStatus();
      spdlog::info("CNI: network \"{}\" (cniVersion {}, {} plugins) loaded from {}",
                   scanned_list_->name, scanned_list_->cni_version, scanned_list_->plugins.size(),
                   path);
      break;
    }
    if (!scanned_list_) {
      if (problems.empty()) {
        scanned_error_ = absl::FailedPreconditionError(
            absl::StrCat("no network config found in ", options_.conf_dir));
      } else {
        scanned_error_ = absl::FailedPreconditionError(
            absl::StrCat("no valid network config found in ", options_.conf_dir, ": ",
                         absl::StrJoin(problems, "; ")));
      }
      spdlog::warn("CNI: {}", scanned_error_.message());
    }
  }

  // The plugins are looked up on every scan: a plugin directory event rescans with the same
  // configuration.
  absl::Status ready = scanned_error_;
  if (scanned_list_) {
    for (const json& plugin : scanned_list_->plugins) {
      auto path = FindCniPlugin(options_.bin_dirs, plugin["type"].get<std::string>());
      if (!path.ok()) {
        ready = absl::FailedPreconditionError(absl::StrCat("network \"", scanned_list_->name,
                                                           "\" (", scanned_list_->file,
                                                           "): ", path.status().message()));
        break;
      }
    }
  }

  absl::MutexLock l(&mu_);
  if (view_.scans > 0 && ready != view_.ready) {
    if (ready.ok()) {
      spdlog::info("CNI: network ready");
    } else {
      spdlog::warn("CNI: network not ready: {}", ready.message());
    }
  }
  view_.list = scanned_list_;
  view_.load_error = scanned_error_;
  view_.ready = std::move(ready);
  ++view_.scans;
}

}  // namespace tether
