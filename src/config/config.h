// tetherd's configuration: a JSON file where every key is optional, then flags on top.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tether {

struct RuntimeHandlerConfig {
  std::string name;  // the CRI runtime_handler that selects it ("" and "runc" by default)
  std::string path;  // OCI runtime binary
  std::string root;  // the runtime's --root (state dir); default <state>/runtime/<name>
};

struct CniConfigOptions {
  std::string conf_dir = "/etc/cni/net.d";
  std::vector<std::string> bin_dirs = {"/usr/lib/cni", "/opt/cni/bin"};
  std::string cache_dir;  // default <state>/cni-cache
};

// The streaming server (Exec/Attach/PortForward URLs). Defaults as kubelet's streaming server
// and containerd's CRI plugin have them.
struct StreamConfig {
  std::string address = "127.0.0.1";
  int port = 0;                                           // 0: a free port
  absl::Duration token_ttl = absl::Minutes(1);            // a URL's lifetime until used
  absl::Duration idle_timeout = absl::Hours(4);           // containerd's stream_idle_timeout
  absl::Duration creation_timeout = absl::Seconds(30);    // SPDY streams after the upgrade
  absl::Duration session_timeout = absl::ZeroDuration();  // a session's whole life; 0: none
  int max_sessions = 1024;                                // connections at once
  std::string tls_cert_file;                              // both set: https
  std::string tls_key_file;
};

struct Config {
  std::string root = "/var/lib/tether";  // persistent state
  std::string state = "/run/tether";     // runtime state (tmpfs)
  std::string socket;                    // default <state>/tether.sock
  std::string log_level = "info";
  std::string cgroup_driver = "cgroupfs";  // or "systemd"
  std::string default_runtime = "runc";
  std::map<std::string, RuntimeHandlerConfig> runtimes;
  std::string conmon = "/usr/bin/conmon";
  std::string pause_binary;   // default: tether-pause next to tetherd, else in libexec paths
  std::string sandbox_image;  // empty: the built-in pause rootfs, no pull
  uint64_t default_shm_size = 64ull << 20;
  uint64_t import_max_bytes = 64ull << 30;  // tetherctl import: the largest archive accepted
  std::string seccomp_profile;              // RuntimeDefault profile; empty: the built-in one
  std::string static_pods_dir;              // empty: no static pods (see docs/config.md)
  std::string static_pods_log_root = "/var/log/pods";
  CniConfigOptions cni;
  StreamConfig stream;
  nlohmann::json registries = nlohmann::json::object();  // image service (see docs)

  // Fills defaults that depend on other keys (socket, runtime roots, cache dir).
  void Finish();
  nlohmann::json ToJson() const;
  const RuntimeHandlerConfig* FindRuntime(const std::string& handler) const;
};

// Parses a config document; unknown keys are an error naming the key, so typos do not pass
// silently.
absl::StatusOr<Config> ParseConfig(const std::string& json_text);
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

}  // namespace tether
