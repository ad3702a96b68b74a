// CNI configuration: parsing a network configuration list, finding plugin binaries, and
// CniConfCache, the in-memory answer to "is a network configuration loaded and are its plugins
// installed?" that the CRI Status RPC reads.
//
// CniConfCache scans once when it is made, then keeps itself current from inotify events on the
// configuration directory and on every plugin directory (a watcher thread rescans after each
// batch of relevant events), so that reading it never touches the disk. A directory that does not
// exist yet is watched through its nearest existing ancestor, so creating it later (a CNI
// DaemonSet installing /etc/cni/net.d or /opt/cni/bin) is noticed too. This is what containerd
// does with its fsnotify watch on the conf dir; it also watches the plugin dirs because
// NetworkReady here also says whether the plugins exist.
//
// Symbolic links are followed and watched too: a conf dir (or plugin dir) that is a link, or has
// one on its path, is watched where it leads and each link's directory is watched for that link
// being re-pointed; a configuration file that is a link (a ConfigMap's `..data/10-x.conflist`),
// and a plugin the loaded configuration names that is a link, have the file they lead to watched
// in its directory, and every link on the way. Every relevant event re-arms the watches and
// rescans, so a re-pointed link is followed from then on. When inotify cannot be used at all (no
// instances left), Get() rescans on every call, as before, and says so once in the log.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "nlohmann/json.hpp"

namespace tether {

// A parsed network configuration list.
struct CniNetworkList {
  std::string name;
  std::string cni_version;
  bool disable_check = false;
  std::vector<nlohmann::json> plugins;  // each an object with a string "type"
  std::string file;                     // where it was loaded from ("" when from the cache)
  nlohmann::json ToJson() const;        // {"cniVersion","name","disableCheck","plugins"}
};

// Parses a configuration document: a list (has "plugins") or a single plugin configuration
// (has "type"), which becomes a list of one. Errors are INVALID_ARGUMENT.
absl::StatusOr<CniNetworkList> ParseCniNetworkList(const std::string& text);

// The plugin binary `type` in the first of `bin_dirs` that has it as an executable regular file,
// or FAILED_PRECONDITION naming the directories.
absl::StatusOr<std::string> FindCniPlugin(const std::vector<std::string>& bin_dirs,
                                          const std::string& type);

class CniConfCache {
 public:
  struct View {
    // The configuration in use: the lexically first valid `*.conflist`, `*.conf` or `*.json` in
    // the conf dir; null when there is none.
    std::shared_ptr<const CniNetworkList> list;
    absl::Status load_error;  // why `list` is null (FAILED_PRECONDITION); OK when it is set
    absl::Status ready;       // OK when `list` is set and every plugin it names is installed
    uint64_t scans = 0;       // how many scans have completed
  };

  // Scans once (so the first Get() already knows), then starts watching.
  explicit CniConfCache(CniConfigOptions options);
  ~CniConfCache();  // stops and joins the watcher
  CniConfCache(const CniConfCache&) = delete;
  CniConfCache& operator=(const CniConfCache&) = delete;

  // The current view. Memory only while watching; otherwise it rescans first.
  View Get();
  // False when inotify could not be set up (Get() then rescans on every call).
  bool watching() const { return inotify_fd_ >= 0; }
  // Waits until more than `scans` scans have completed or `timeout` passes; returns the view.
  // For tests and diagnostics: a change on disk is seen after the next scan.
  View AwaitScan(uint64_t scans, absl::Duration timeout) const;

 private:
  struct Watch {
    bool all = false;                // a watched directory itself: every event counts
    std::set<std::string> children;  // otherwise: only events about these names count
  };
  void Scan() ABSL_LOCKS_EXCLUDED(scan_mu_, mu_);
  void Refresh();  // Arm then Scan (again when the scan found other plugins to watch)
  void Arm();      // (re)places the inotify watches; watcher thread (or constructor) only
  bool ArmOnce();  // false when a directory appeared or went while arming: arm again
  // The watches wanted now, by real directory: mask and what counts.
  std::map<std::string, std::pair<uint32_t, Watch>> Wanted(
      const std::set<std::string>& plugin_types) const;
  void Run();  // the watcher thread
  // Reads every queued event; true when one of them may change the view.
  bool DrainEvents();

  const CniConfigOptions options_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;              // an eventfd the destructor writes to wake the watcher
  std::map<int, Watch> watches_;  // by watch descriptor; watcher thread (or constructor) only
  std::set<std::string> armed_plugin_types_;  // whose links the watches follow; ditto
  std::thread thread_;

  absl::Mutex scan_mu_;  // one scan at a time
  std::string fingerprint_ ABSL_GUARDED_BY(scan_mu_);
  bool scanned_ ABSL_GUARDED_BY(scan_mu_) = false;
  std::shared_ptr<const CniNetworkList> scanned_list_ ABSL_GUARDED_BY(scan_mu_);
  absl::Status scanned_error_ ABSL_GUARDED_BY(scan_mu_);
  std::set<std::string> plugin_types_ ABSL_GUARDED_BY(scan_mu_);  // the loaded list's plugins

  mutable absl::Mutex mu_;
  View view_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether
