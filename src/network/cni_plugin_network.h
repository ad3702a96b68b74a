// CniPluginNetwork: the CniNetwork that runs CNI plugin binaries, as libcni does (CNI spec 1.0,
// with 0.3.x / 0.4.0 configurations accepted).
//
// Configuration: the lexically first valid `*.conflist`, `*.conf` or `*.json` in `conf_dir` (a
// single-plugin configuration is wrapped as a list of one), kept in memory by a CniConfCache
// (cni_conf.h) that watches `conf_dir` and `bin_dirs` with inotify, so operators can install,
// replace or remove a network configuration or a plugin while tetherd runs, and Ready() and
// NetworkName() (the CRI Status RPC) never touch the disk.
//
// Loopback: before the chain, Add runs the `loopback` plugin with CNI_IFNAME=lo (its own network
// "cni-loopback", cniVersion 0.3.1), as containerd and CRI-O do with their separate loopback
// network, so a conflist does not need to (and should not) list `loopback`. When no `loopback`
// binary exists in `bin_dirs` the step is skipped with a warning and `lo` stays down.
//
// Results: after a successful ADD the final result, the configuration list that produced it, the
// CNI_ARGS and the capability arguments are written atomically to
// `<cache_dir>/<container_id>-<ifname>.json`. DEL and CHECK use that cached list (not whatever
// is in `conf_dir` now) and pass the cached result as `prevResult` (cniVersion >= 0.4.0), so a
// network configuration change never strands an attachment. A successful DEL removes the cache
// file; a failed one keeps it for the retry.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "network/cni.h"
#include "network/cni_conf.h"
#include "nlohmann/json.hpp"

namespace tether {

// Pod addresses from a CNI result of any version (0.1/0.2 `ip4`/`ip6`, 0.3+ `ips`), without prefix
// length, IPv4 first. When the result names interfaces, only addresses on the sandbox interface
// `ifname` are taken (falling back to all of them if none match).
std::vector<std::string> CniResultIps(const nlohmann::json& result, const std::string& ifname);

class CniPluginNetwork : public CniNetwork {
 public:
  explicit CniPluginNetwork(CniConfigOptions options);

  absl::Status Ready() override;
  absl::StatusOr<CniResult> Add(const CniAttachment& a) override;
  absl::Status Del(const CniAttachment& a) override;
  absl::Status Check(const CniAttachment& a) override;
  std::string NetworkName() override;

  // Time allowed for one plugin execution (default 60 s); the plugin is killed after it.
  void set_plugin_timeout(std::chrono::milliseconds t) { plugin_timeout_ = t; }
  // Where Add caches its result for `a` (exposed for tests and diagnostics).
  std::string CachePath(const CniAttachment& a) const;
  // The watched configuration (tests wait on it for a change on disk to be seen).
  CniConfCache& conf() { return conf_; }

 private:
  struct Cached {
    CniNetworkList list;
    nlohmann::json result;
    nlohmann::json capability_args;
    std::vector<std::pair<std::string, std::string>> args;
  };
  enum class Command { kAdd, kDel, kCheck };

  // The current configuration, from memory.
  absl::StatusOr<std::shared_ptr<const CniNetworkList>> Load();
  // Absolute path of the plugin binary, or FAILED_PRECONDITION.
  absl::StatusOr<std::string> FindPlugin(const std::string& type) const;
  absl::StatusOr<nlohmann::json> Invoke(
      Command cmd, const CniNetworkList& list, const nlohmann::json& plugin,
      const nlohmann::json& prev, const nlohmann::json& capability_args,
      const std::string& container_id, const std::string& netns, const std::string& ifname,
      const std::vector<std::pair<std::string, std::string>>& args) const;
  // DEL over plugins[0..last] in reverse. Returns the first real failure; keeps going after it.
  absl::Status DelChain(const CniNetworkList& list, size_t count, const nlohmann::json& prev,
                        const nlohmann::json& capability_args, const std::string& container_id,
                        const std::string& netns, const std::string& ifname,
                        const std::vector<std::pair<std::string, std::string>>& args) const;
  absl::StatusOr<std::optional<Cached>> ReadCache(const CniAttachment& a) const;

  const CniConfigOptions options_;
  std::chrono::milliseconds plugin_timeout_{60000};
  CniConfCache conf_;
};

}  // namespace tether
