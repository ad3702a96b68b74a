#include "config/config.h"

#include <limits>

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

// A Go-style duration ("4h", "1m30s", "500ms"), as containerd's stream_idle_timeout.
absl::Status GetDuration(const json& j, const std::string& key, const std::string& name,
                         absl::Duration* out) {
  if (!j.contains(key)) return absl::OkStatus();
  absl::Duration d;
  if (!j[key].is_string() || !absl::ParseDuration(j[key].get<std::string>(), &d) ||
      d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return TypeError(name, "a duration such as \"30s\", \"1m\" or \"4h\"");
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ParseStream(const json& s, StreamConfig* c) {
  if (!s.is_object()) return TypeError("stream", "an object");
  static const char* kStreamKeys[] = {
      "address",         "port",         "token_ttl",     "idle_timeout", "creation_timeout",
      "session_timeout", "max_sessions", "tls_cert_file", "tls_key_file"};
  for (auto& [key, value] : s.items()) {
    bool known = false;
    for (const char* k : kStreamKeys) known = known || key == k;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("config: unknown key \"stream.", key, "\""));
    }
  }
  if (auto st = GetString(s, "address", &c->address); !st.ok()) return st;
  if (s.contains("port")) {
    if (!s["port"].is_number_integer() || s["port"].get<int64_t>() < 0 ||
        s["port"].get<int64_t>() > 65535) {
      return TypeError("stream.port", "a port number (0: a free port)");
    }
    c->port = s["port"].get<int>();
  }
  for (auto [key, field] : std::initializer_list<std::pair<const char*, absl::Duration*>>{
           {"token_ttl", &c->token_ttl},
           {"idle_timeout", &c->idle_timeout},
           {"creation_timeout", &c->creation_timeout},
           {"session_timeout", &c->session_timeout}}) {
    if (auto st = GetDuration(s, key, absl::StrCat("stream.", key), field); !st.ok()) return st;
  }
  for (auto [key, value] : std::initializer_list<std::pair<const char*, absl::Duration>>{
           {"token_ttl", c->token_ttl},
           {"idle_timeout", c->idle_timeout},
           {"creation_timeout", c->creation_timeout}}) {
    if (value <= absl::ZeroDuration()) {
      return TypeError(absl::StrCat("stream.", key), "a positive duration");
    }
  }
  if (s.contains("max_sessions")) {
    if (!s["max_sessions"].is_number_integer() || s["max_sessions"].get<int64_t>() < 1 ||
        s["max_sessions"].get<int64_t>() > 1000000) {
      return TypeError("stream.max_sessions", "a number from 1 to 1000000");
    }
    c->max_sessions = s["max_sessions"].get<int>();
  }
  if (auto st = GetString(s, "tls_cert_file", &c->tls_cert_file); !st.ok()) return st;
  if (auto st = GetString(s, "tls_key_file", &c->tls_key_file); !st.ok()) return st;
  if (c->tls_cert_file.empty() != c->tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "config: \"stream.tls_cert_file\" and \"stream.tls_key_file\" go together");
  }
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
          {"import_max_bytes", import_max_bytes},
          {"cni",
           {{"conf_dir", cni.conf_dir}, {"bin_dirs", cni.bin_dirs}, {"cache_dir", cni.cache_dir}}},
          {"stream",
           {{"address", stream.address},
            {"port", stream.port},
            {"token_ttl", absl::FormatDuration(stream.token_ttl)},
            {"idle_timeout", absl::FormatDuration(stream.idle_timeout)},
            {"creation_timeout", absl::FormatDuration(stream.creation_timeout)},
            {"session_timeout", absl::FormatDuration(stream.session_timeout)},
            {"max_sessions", stream.max_sessions},
            {"tls_cert_file", stream.tls_cert_file},
            {"tls_key_file", stream.tls_key_file}}},
          {"registries", registries}};
}

absl::StatusOr<Config> ParseConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false, /*ignore_comments=*/true);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config: not a JSON object");
  }
  static const char* kKeys[] = {"root",
                                "state",
                                "socket",
                                "log_level",
                                "cgroup_driver",
                                "default_runtime",
                                "runtimes",
                                "conmon",
                                "pause_binary",
                                "sandbox_image",
                                "default_shm_size",
                                "cni",
                                "stream",
                                "registries",
                                "seccomp_profile",
                                "static_pods_dir",
                                "static_pods_log_root",
                                "import_max_bytes"};
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
  if (j.contains("import_max_bytes")) {
    const json& v = j["import_max_bytes"];
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 ||
        v.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
      return TypeError("import_max_bytes", "a positive number of bytes");
    }
    c.import_max_bytes = v.get<uint64_t>();
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
    if (auto st = ParseStream(j["stream"], &c.stream); !st.ok()) return st;
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
