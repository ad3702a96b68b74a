// tetherd: the Tether CRI daemon.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "config/config.h"
#include "server/daemon.h"
#include "util/file.h"
#include "util/log.h"
#include "util/memory.h"

namespace {

constexpr int kMallocArenas = 2;

// The pause binary: configured, else next to tetherd (installed or in the build tree), else in
// the libexec folders an install puts it in.
std::string FindPauseBinary(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& candidate : {self / "tether-pause", self / "../tether-pause/tether-pause",
                                self / "../libexec/tether/tether-pause",
                                std::filesystem::path("/usr/local/libexec/tether/tether-pause"),
                                std::filesystem::path("/usr/libexec/tether/tether-pause")}) {
    if (tether::PathExists(candidate.string())) {
      return std::filesystem::weakly_canonical(candidate, ec).string();
    }
  }
  return "/usr/local/libexec/tether/tether-pause";
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread: a few arenas serve tetherd's threads (mostly waiting on I/O) as well as
  // one per thread would, and keep less freed memory resident (docs/benchmarks.md, memory).
  tether::LimitMallocArenas(kMallocArenas);
  CLI::App app{"tetherd: a Kubernetes CRI runtime"};
  std::string config_path, root, state, socket, log_level, static_pods;
  bool version = false;
  app.add_option("--config", config_path, "JSON config file (every key optional)");
  app.add_option("--root", root, "persistent state directory (default /var/lib/tether)");
  app.add_option("--state", state, "runtime state directory (default /run/tether)");
  app.add_option("--socket", socket, "CRI socket path (default <state>/tether.sock)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_option("--static-pods", static_pods,
                 "run every Pod manifest in this folder and follow its changes "
                 "(config key static_pods_dir)");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::cout << "tetherd " << TETHER_VERSION << "\n";
    return 0;
  }

  tether::Config config;
  if (!config_path.empty()) {
    auto loaded = tether::LoadConfigFile(config_path);
    if (!loaded.ok()) {
      std::cerr << "tetherd: " << loaded.status().message() << "\n";
      return 2;
    }
    config = *loaded;
  }
  if (!root.empty()) config.root = root;
  if (!state.empty()) config.state = state;
  if (!socket.empty()) config.socket = socket;
  if (!log_level.empty()) config.log_level = log_level;
  if (!static_pods.empty()) config.static_pods_dir = static_pods;
  config.Finish();

  auto level = spdlog::level::from_str(config.log_level);
  if (level == spdlog::level::off && config.log_level != "off") {
    std::cerr << "tetherd: unknown log level \"" << config.log_level << "\"\n";
    return 2;
  }
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  if (geteuid() != 0) spdlog::warn("tetherd is not running as root; pods will fail to start");

  auto st = tether::RunDaemon(config, FindPauseBinary(config.pause_binary));
  if (!st.ok()) {
    spdlog::critical("{}", st.message());
    return 1;
  }
  return 0;
}
