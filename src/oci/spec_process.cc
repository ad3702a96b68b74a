// The container's process: args from the request and the image, env, working directory, and the
// parts of the image config that shape them.
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "oci/container_spec_parts.h"

namespace tether {
namespace spec_internal {

using nlohmann::json;
namespace v1 = runtime::v1;

namespace {

constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

absl::StatusOr<std::vector<std::string>> StringList(const json& j, const char* what) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(what, " must be a list"));
  for (const auto& e : j) {
    if (!e.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " must be a list of strings"));
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

// Kubernetes' command/args rules, as containerd's WithProcessArgs.
absl::StatusOr<std::vector<std::string>> ProcessArgs(const v1::ContainerConfig& c,
                                                     const ImageConfigInfo& image) {
  std::vector<std::string> command(c.command().begin(), c.command().end());
  std::vector<std::string> args(c.args().begin(), c.args().end());
  if (command.empty()) {
    if (args.empty()) args = image.cmd;
    // An entrypoint of [""] is how an image says "no entrypoint".
    if (!(image.entrypoint.size() == 1 && image.entrypoint[0].empty())) {
      command = image.entrypoint;
    }
  }
  if (command.empty() && args.empty()) {
    return absl::InvalidArgumentError(
        "no command specified: the request has no command or args and the image no entrypoint "
        "or cmd");
  }
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

// containerd's replaceOrAppendEnvValues: a later value of a key replaces the earlier one in
// place; an entry without "=" unsets the key.
std::vector<std::string> MergeEnv(std::vector<std::string> defaults,
                                  const std::vector<std::string>& overrides) {
  std::map<std::string, size_t> index;
  std::vector<std::optional<std::string>> out;
  for (auto& e : defaults) {
    index[e.substr(0, e.find('='))] = out.size();
    out.emplace_back(std::move(e));
  }
  for (const auto& e : overrides) {
    auto eq = e.find('=');
    std::string key = e.substr(0, eq);
    auto it = index.find(key);
    if (eq == std::string::npos) {
      if (it != index.end()) out[it->second].reset();
      continue;
    }
    if (it != index.end()) {
      out[it->second] = e;
    } else {
      index[key] = out.size();
      out.emplace_back(e);
    }
  }
  std::vector<std::string> result;
  for (auto& e : out) {
    if (e) result.push_back(std::move(*e));
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> ProcessEnv(const ContainerSpecInput& in) {
  const v1::ContainerConfig& c = *in.config;
  std::vector<std::string> defaults = {kDefaultPath};
  if (c.tty()) defaults.push_back("TERM=xterm");
  std::string hostname =
      !in.sandbox_config->hostname().empty() ? in.sandbox_config->hostname() : in.sandbox.hostname;
  if (hostname.empty()) hostname = in.node_hostname;
  if (!hostname.empty()) {
    defaults = MergeEnv(std::move(defaults), {absl::StrCat("HOSTNAME=", hostname)});
  }
  std::vector<std::string> env = in.image.env;
  for (int i = 0; i < c.envs_size(); ++i) {
    if (c.envs(i).key().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("envs[", i, "]: empty key"));
    }
    env.push_back(absl::StrCat(c.envs(i).key(), "=", c.envs(i).value()));
  }
  return MergeEnv(std::move(defaults), env);
}

absl::StatusOr<std::string> WorkingDir(const ContainerSpecInput& in) {
  const v1::ContainerConfig& c = *in.config;
  std::string cwd = "/";
  if (!c.working_dir().empty()) {
    if (!IsAbs(c.working_dir())) {
      return absl::InvalidArgumentError(
          absl::StrCat("working_dir must be an absolute path, got \"", c.working_dir(), "\""));
    }
    cwd = c.working_dir();
  } else if (!in.image.working_dir.empty()) {
    cwd = IsAbs(in.image.working_dir) ? in.image.working_dir : "/" + in.image.working_dir;
  }
  return cwd;
}

}  // namespace spec_internal

using nlohmann::json;
using spec_internal::StringList;

// ---- ImageConfigInfo ----------------------------------------------------------------------------

absl::StatusOr<ImageConfigInfo> ImageConfigInfo::FromOciImageConfig(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("image config: not a JSON object");
  const json* c = &j;
  if (j.contains("config")) {
    c = &j["config"];
    if (c->is_null()) return ImageConfigInfo{};
    if (!c->is_object())
      return absl::InvalidArgumentError("image config: \"config\" not an object");
  }
  ImageConfigInfo out;
  auto list = [&](const char* key, std::vector<std::string>* dst) -> absl::Status {
    if (!c->contains(key)) return absl::OkStatus();
    auto l = StringList((*c)[key], key);
    if (!l.ok())
      return absl::InvalidArgumentError(absl::StrCat("image config: ", l.status().message()));
    *dst = std::move(*l);
    return absl::OkStatus();
  };
  auto str = [&](const char* key, std::string* dst) -> absl::Status {
    if (!c->contains(key) || (*c)[key].is_null()) return absl::OkStatus();
    if (!(*c)[key].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("image config: ", key, " must be a string"));
    }
    *dst = (*c)[key].get<std::string>();
    return absl::OkStatus();
  };
  for (auto st : {list("Entrypoint", &out.entrypoint), list("Cmd", &out.cmd), list("Env", &out.env),
                  str("WorkingDir", &out.working_dir), str("User", &out.user),
                  str("StopSignal", &out.stop_signal)}) {
    if (!st.ok()) return st;
  }
  if (c->contains("Labels") && (*c)["Labels"].is_object()) {
    for (const auto& [k, v] : (*c)["Labels"].items()) {
      if (v.is_string()) out.labels[k] = v.get<std::string>();
    }
  }
  return out;
}

}  // namespace tether
