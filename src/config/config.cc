#include "config/config.h"

#include "absl/strings/str_cat.h"
#include "util/file.h"

namespace tether {
namespace {

using nlohmann::json;

absl::Status TypeError(const std::string& key, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat("config: \"", key, "\" must be ", want));
}

absl::Status GetString(const json& j, const std::string& key, std::string* out) {
  if (!j.contains(key)) return absl::OkStatus();
  if (!j[key].is_string()) return TypeError(key, "a string");
  *out = j[key].get<std::string>();
  return absl::OkStatus();
}

}  // namespace

void Config::Finish() {
  if (socket.empty()) socket = state + "/tether.sock";
  if (cni.cache_dir.empty()) cni.cache_dir = state + "/cni-cache";
  if (runtimes.empty()) {
    runtimes["runc"] = {"runc", "/usr/bin/runc", ""};
    runtimes["crun"] = {"crun", "/usr/bin/crun", ""};
  }
  for (auto& [name, rt] : runtimes) {
    rt.name = name;
    if (rt.root.empty()) rt.root = state + "/runtime/" + name;
  }
}

const RuntimeHandlerConfig* Config::FindRuntime(const std::string& handler) const {
  auto it = runtimes.find(handler.empty() ? default_runtime : handler);
  return it == runtimes.end() ? nullptr : &it->second;
}

nlohmann::json Config::ToJson() const {
  json rts = json::object();
  for (const auto& [name, rt] : runtimes) rts[name] = {{"path", rt.path}, {"root", rt.root}};
  return {{"root", root},
          {"state", state},
          {"socket", socket},
          {"log_level", log_level},
          {"cgroup_driver", cgroup_driver},
          {"default_runtime", default_runtime},
          {"runtimes", rts},
          {"conmon", conmon},
          {"pause_binary", pause_binary},
          {"sandbox_image", sandbox_image},
          {"seccomp_profile", seccomp_profile},
          {"static_pods_dir", static_pods_dir},
          {"static_pods_log_root", static_pods_log_root},
          {"default_shm_size", default_shm_size},
          {"cni",
           {{"conf_dir", cni.conf_dir}, {"bin_dirs", cni.bin_dirs}, {"cache_dir", cni.cache_dir}}},
          {"stream", {{"address", stream_address}, {"port", stream_port}}},
          {"registries", registries}};
}

absl::StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false, /*ignore_comments=*/true);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config: not a JSON object");
  }
  static const char* kKeys[] = {"root",          "state",           "socket",           "log_level",
                                "cgroup_driver", "default_runtime", "runtimes",         "conmon",
                                "pause_binary",  "sandbox_image",   "default_shm_size", "cni",
                                "stream",        "registries",      "seccomp_profile",
                                "static_pods_dir", "static_pods_log_root"};
  for (auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || key == k;
    if (!known)
      return absl::InvalidArgumentError(absl::StrCat("config: unknown key \"", key, "\""));
  }
  Config c;
  for (auto [key, field] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"root", &c.root},
           {"state", &c.state},
           {"socket", &c.socket},
           {"log_level", &c.log_level},
           {"cgroup_driver", &c.cgroup_driver},
           {"default_runtime", &c.default_runtime},
           {"conmon", &c.conmon},
           {"pause_binary", &c.pause_binary},
           {"sandbox_image", &c.sandbox_image},
           {"seccomp_profile", &c.seccomp_profile},
           {"static_pods_dir", &c.static_pods_dir},
           {"static_pods_log_root", &c.static_pods_log_root}}) {
    if (auto st = GetString(j, key, field); !st.ok()) return st;
  }
  if (c.cgroup_driver != "cgroupfs" && c.cgroup_driver != "systemd") {
    return absl::InvalidArgumentError("config: \"cgroup_driver\" must be cgroupfs or systemd");
  }
  if (j.contains("default_shm_size")) {
    if (!j["default_shm_size"].is_number_unsigned()) {
      return TypeError("default_shm_size", "a positive number of bytes");
    }
    c.default_shm_size = j["default_shm_size"].get<uint64_t>();
  }
  if (j.contains("runtimes")) {
    if (!j["runtimes"].is_object()) return TypeError("runtimes", "an object");
    for (auto& [name, rt] : j["runtimes"].items()) {
      RuntimeHandlerConfig h{name, "", ""};
      if (!rt.is_object()) return TypeError("runtimes." + name, "an object");
      if (auto st = GetString(rt, "path", &h.path); !st.ok()) return st;
      if (auto st = GetString(rt, "root", &h.root); !st.ok()) return st;
      if (h.path.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("config: runtimes.", name, ".path is required"));
      }
      c.runtimes[name] = h;
    }
  }
  if (j.contains("cni")) {
    const json& n = j["cni"];
    if (!n.is_object()) return TypeError("cni", "an object");
    if (auto st = GetString(n, "conf_dir", &c.cni.conf_dir); !st.ok()) return st;
    if (auto st = GetString(n, "cache_dir", &c.cni.cache_dir); !st.ok()) return st;
    if (n.contains("bin_dirs")) {
      if (!n["bin_dirs"].is_array()) return TypeError("cni.bin_dirs", "an array of paths");
      c.cni.bin_dirs.clear();
      for (const auto& d : n["bin_dirs"]) {
        if (!d.is_string()) return TypeError("cni.bin_dirs", "an array of paths");
        c.cni.bin_dirs.push_back(d.get<std::string>());
      }
    }
  }
  if (j.contains("stream")) {
    const json& s = j["stream"];
    if (!s.is_object()) return TypeError("stream", "an object");
    if (auto st = GetString(s, "address", &c.stream_address); !st.ok()) return st;
    if (s.contains("port")) {
      if (!s["port"].is_number_integer()) return TypeError("stream.port", "a number");
      c.stream_port = s["port"].get<int>();
    }
  }
  if (j.contains("registries")) {
    if (!j["registries"].is_object()) return TypeError("registries", "an object");
    c.registries = j["registries"];
  }
  return c;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto c = ParseConfig(*text);
  if (!c.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", c.status().message()));
  }
  return c;
}

}  // namespace tether
