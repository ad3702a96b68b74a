#include "network/cni_conf.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {
namespace {

using json = nlohmann::json;

// A watched directory: entries created, removed, renamed, rewritten or re-permissioned (a plugin
// made executable), and the directory itself going away.
constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// A directory holding a symbolic link on the way to a watched path, or the nearest existing
// ancestor of a missing one: the named entry appearing, going or being replaced.
constexpr uint32_t kLinkMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                               IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// The directory of a file a symbolic link leads to: the file itself changing too.
constexpr uint32_t kFileMask = kLinkMask | IN_CLOSE_WRITE | IN_ATTRIB;

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Follows `path` a component at a time, as realpath(3) does, and calls `met(dir, name)` for every
// symbolic link on the way (the real directory that holds it, and its name) and for the first
// component that is missing or not a directory. Returns the real path, or "" when it does not
// resolve.
std::string ResolveNoting(const std::string& path,
                          const std::function<void(const std::string&, const std::string&)>& met) {
  std::deque<std::string> todo;
  auto push_front = [&todo](const std::string& p) {
    std::vector<std::string> parts = absl::StrSplit(p, '/', absl::SkipEmpty());
    todo.insert(todo.begin(), parts.begin(), parts.end());
  };
  push_front(path);
  std::string real;  // "" is the root
  if (path.empty() || path[0] != '/') {
    std::error_code ec;
    real = std::filesystem::current_path(ec).string();
    if (ec || real == "/") real.clear();
  }
  auto here = [&real] { return real.empty() ? std::string("/") : real; };
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      real.resize(real.empty() ? 0 : real.rfind('/'));
      continue;
    }
    std::string next = absl::StrCat(real, "/", c);
    struct stat st;
    if (lstat(next.c_str(), &st) != 0) {
      met(here(), c);
      return "";
    }
    if (S_ISLNK(st.st_mode)) {
      met(here(), c);
      char target[PATH_MAX];
      ssize_t n = readlink(next.c_str(), target, sizeof target);
      if (n <= 0 || n == static_cast<ssize_t>(sizeof target) || ++links > 40) return "";
      std::string t(target, n);
      if (t[0] == '/') real.clear();
      push_front(t);
      continue;
    }
    if (!todo.empty() && !S_ISDIR(st.st_mode)) {
      met(here(), c);
      return "";
    }
    real = std::move(next);
  }
  return here();
}

// The names in the conf dir that may be configurations, in order.
std::vector<std::string> ConfCandidates(const std::string& conf_dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(conf_dir.c_str())) {
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
  return names;
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
  }
  if (watching()) {
    Refresh();
    thread_ = std::thread([this] { Run(); });
  } else {
    Scan();
  }
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

void CniConfCache::Refresh() {
  // Armed before the scan, so that nothing changes unseen in between. A scan that loads a
  // configuration naming other plugins than the watches were armed for arms (and scans) again.
  for (int round = 0; round < 4; ++round) {
    Arm();
    Scan();
    absl::MutexLock l(&scan_mu_);
    if (plugin_types_ == armed_plugin_types_) return;
  }
}

void CniConfCache::Arm() {
  // A directory can appear or go between looking at it and watching it; then look again.
  for (int round = 0; round < 16; ++round) {
    if (ArmOnce()) return;
  }
  spdlog::warn("CNI: the watched directories keep changing; watching what is there now");
}

std::map<std::string, std::pair<uint32_t, CniConfCache::Watch>> CniConfCache::Wanted(
    const std::set<std::string>& plugin_types) const {
  std::map<std::string, std::pair<uint32_t, Watch>> want;  // by real directory
  auto met = [&want](uint32_t mask) {
    return [&want, mask](const std::string& dir, const std::string& name) {
      auto& w = want[dir];
      w.first |= mask;
      w.second.children.insert(name);
    };
  };
  // The conf dir and every plugin dir: the real directory, each symbolic link that leads to it
  // (re-pointing one changes the directory), or the nearest existing ancestor of a missing one.
  std::vector<std::string> dirs = {options_.conf_dir};
  dirs.insert(dirs.end(), options_.bin_dirs.begin(), options_.bin_dirs.end());
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    std::string real = ResolveNoting(d, met(kLinkMask));
    if (!real.empty() && IsDir(real)) {
      auto& w = want[real];
      w.first |= kDirMask;
      w.second.all = true;
    }
  }
  // A configuration file or a plugin that is a symbolic link: the file it leads to (written,
  // replaced, removed, re-permissioned) and each link on the way. Only the plugins the current
  // configuration names: a plugin dir may hold many.
  std::vector<std::string> links;
  for (const auto& n : ConfCandidates(options_.conf_dir)) {
    links.push_back(absl::StrCat(options_.conf_dir, "/", n));
  }
  for (const auto& type : plugin_types) {
    for (const auto& dir : options_.bin_dirs) links.push_back(absl::StrCat(dir, "/", type));
  }
  for (const auto& path : links) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
    std::string real = ResolveNoting(path, met(kLinkMask));
    if (real.empty() || real == "/") continue;
    const size_t slash = real.rfind('/');
    met(kFileMask)(slash == 0 ? "/" : real.substr(0, slash), real.substr(slash + 1));
  }
  return want;
}

bool CniConfCache::ArmOnce() {
  {
    absl::MutexLock l(&scan_mu_);
    armed_plugin_types_ = plugin_types_;
  }
  auto want = Wanted(armed_plugin_types_);
  bool settled = true;
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
  // What changed between looking and watching (a directory created, a link re-pointed) sent its
  // event to nobody: look again, and arm again if it is not what was armed.
  auto again = Wanted(armed_plugin_types_);
  if (again.size() != want.size()) return false;
  for (auto a = again.begin(), w = want.begin(); a != again.end(); ++a, ++w) {
    if (a->first != w->first || a->second.first != w->second.first ||
        a->second.second.all != w->second.second.all ||
        a->second.second.children != w->second.second.children) {
      return false;
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
    if (DrainEvents()) Refresh();
  }
}

void CniConfCache::Scan() {
  absl::MutexLock scan_lock(&scan_mu_);
  // List the candidates and fingerprint them: name, inode, size, mtime and ctime of each. The
  // configuration is only parsed again when that changed.
  // Through symbolic links: the file a link leads to is what is read.
  const bool dir_exists = IsDir(options_.conf_dir);
  std::vector<std::string> names = ConfCandidates(options_.conf_dir);
  std::string fingerprint;
  std::vector<std::string> files;
  for (const auto& n : names) {
    std::string path = absl::StrCat(options_.conf_dir, "/", n);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.push_back(path);
    absl::StrAppend(&fingerprint, n, ":", st.st_dev, ":", st.st_ino, ":", st.st_size, ":",
                    st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_ctim.tv_sec, ".",
                    st.st_ctim.tv_nsec, "\n");
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
  plugin_types_.clear();
  if (scanned_list_) {
    for (const json& plugin : scanned_list_->plugins) {
      plugin_types_.insert(plugin["type"].get<std::string>());
    }
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
