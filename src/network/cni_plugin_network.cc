#include "network/cni_plugin_network.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/file.h"
#include "util/log.h"
#include "util/process.h"

namespace tether {
namespace {

using json = nlohmann::json;
using Args = std::vector<std::pair<std::string, std::string>>;

constexpr char kLoopbackType[] = "loopback";

// "" counts as 0.1.0, as the plugins' skel does.
std::tuple<int, int, int> ParseVersion(const std::string& v) {
  int a = 0, b = 1, c = 0;
  if (!v.empty() && std::sscanf(v.c_str(), "%d.%d.%d", &a, &b, &c) < 2) return {0, 1, 0};
  return {a, b, c};
}

bool VersionAtLeast(const std::string& v, const std::string& min) {
  return ParseVersion(v) >= ParseVersion(min);
}

const char* CommandName(int cmd) {
  switch (cmd) {
    case 0:
      return "ADD";
    case 1:
      return "DEL";
    default:
      return "CHECK";
  }
}

absl::Status ValidateAttachment(const CniAttachment& a) {
  if (a.container_id.empty() || absl::StrContains(a.container_id, '/') || a.container_id == "." ||
      a.container_id == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI: invalid container id \"", a.container_id, "\""));
  }
  if (a.ifname.empty() || absl::StrContains(a.ifname, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("CNI: invalid interface name \"", a.ifname, "\""));
  }
  return absl::OkStatus();
}

// The runtime-provided capability arguments, keyed by capability name. A plugin receives in its
// `runtimeConfig` only those it declares in its `capabilities` (see Invoke).
json CapabilityArgs(const CniAttachment& a) {
  json caps = json::object();
  json pm = json::array();
  for (const auto& p : a.port_mappings) {
    json e = {{"hostPort", p.host_port},
              {"containerPort", p.container_port},
              {"protocol", absl::AsciiStrToLower(p.protocol.empty() ? "tcp" : p.protocol)}};
    if (!p.host_ip.empty()) e["hostIP"] = p.host_ip;
    pm.push_back(std::move(e));
  }
  caps["portMappings"] = std::move(pm);
  const CniBandwidth& bw = a.bandwidth;
  if (bw.ingress_rate || bw.ingress_burst || bw.egress_rate || bw.egress_burst) {
    // The bandwidth plugin only shapes a direction when both its rate and burst are set; like
    // containerd, a rate without a burst gets an effectively unlimited burst.
    constexpr uint64_t kUnlimitedBurst = std::numeric_limits<uint32_t>::max();
    caps["bandwidth"] = {
        {"ingressRate", bw.ingress_rate},
        {"ingressBurst", bw.ingress_rate && !bw.ingress_burst ? kUnlimitedBurst : bw.ingress_burst},
        {"egressRate", bw.egress_rate},
        {"egressBurst", bw.egress_rate && !bw.egress_burst ? kUnlimitedBurst : bw.egress_burst}};
  }
  if (!a.pod_cidr.empty()) {
    // host-local's ipRanges: a list of range sets; one set per CIDR ("v4,v6" for dual stack).
    json ranges = json::array();
    for (absl::string_view cidr : absl::StrSplit(a.pod_cidr, ',', absl::SkipWhitespace())) {
      cidr = absl::StripAsciiWhitespace(cidr);
      ranges.push_back(json::array({{{"subnet", std::string(cidr)}}}));
    }
    if (!ranges.empty()) caps["ipRanges"] = std::move(ranges);
  }
  return caps;
}

std::string CniArgsEnv(const Args& args) {
  std::vector<std::string> parts;
  bool has_ignore = false;
  for (const auto& [k, v] : args) has_ignore |= (k == "IgnoreUnknown");
  if (!has_ignore) parts.push_back("IgnoreUnknown=1");
  for (const auto& [k, v] : args) parts.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(parts, ";");
}

// A DEL failure that only says the thing to delete is already gone.
bool IsGoneError(const absl::Status& st) {
  if (st.code() == absl::StatusCode::kNotFound) return true;
  std::string m = absl::AsciiStrToLower(st.message());
  return absl::StrContains(m, "not found") || absl::StrContains(m, "no such file") ||
         absl::StrContains(m, "does not exist") || absl::StrContains(m, "no such device");
}

// A plugin that exits without reading all of its stdin makes our write to the pipe raise SIGPIPE,
// which would kill tetherd unless the process ignores it. SIGPIPE from write(2) is sent to the
// writing thread, so blocking it in this thread for the duration of the call (and discarding one
// that became pending) keeps a misbehaving plugin from taking the daemon down. RunProcess clears
// the signal mask in the child, so plugins see default signal handling.
class ScopedBlockSigpipe {
 public:
  ScopedBlockSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedBlockSigpipe() {
    if (!was_pending_) {
      const timespec zero = {0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedBlockSigpipe(const ScopedBlockSigpipe&) = delete;
  ScopedBlockSigpipe& operator=(const ScopedBlockSigpipe&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

bool IsIPv6(const std::string& ip) { return ip.find(':') != std::string::npos; }

const CniNetworkList& LoopbackList() {
  static const CniNetworkList* list = [] {
    auto* l = new CniNetworkList;
    l->name = "cni-loopback";
    l->cni_version = "0.3.1";  // the oldest version every loopback plugin still speaks
    l->plugins.push_back(json{{"type", kLoopbackType}});
    return l;
  }();
  return *list;
}

}  // namespace

std::vector<std::string> CniResultIps(const json& result, const std::string& ifname) {
  std::vector<std::string> ips;
  if (!result.is_object()) return ips;
  auto strip = [](const std::string& cidr) { return cidr.substr(0, cidr.find('/')); };
  if (result.contains("ips") && result["ips"].is_array()) {
    // 0.3.0 and later: ips[].address, with ips[].interface an index into interfaces[].
    std::vector<std::string> all, on_sandbox_if;
    const json* ifaces = result.contains("interfaces") && result["interfaces"].is_array()
                             ? &result["interfaces"]
                             : nullptr;
    for (const json& ip : result["ips"]) {
      if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) continue;
      std::string addr = strip(ip["address"].get<std::string>());
      all.push_back(addr);
      if (ifaces && ip.contains("interface") && ip["interface"].is_number_integer()) {
        int idx = ip["interface"].get<int>();
        if (idx >= 0 && static_cast<size_t>(idx) < ifaces->size()) {
          const json& iface = (*ifaces)[idx];
          auto str = [&iface](const char* key) {
            return iface.is_object() && iface.contains(key) && iface[key].is_string()
                       ? iface[key].get<std::string>()
                       : std::string();
          };
          if (str("name") == ifname && !str("sandbox").empty()) {
            on_sandbox_if.push_back(addr);
          }
        }
      }
    }
    ips = on_sandbox_if.empty() ? all : on_sandbox_if;
  } else {
    // 0.1.0 / 0.2.0: ip4.ip and ip6.ip.
    for (const char* key : {"ip4", "ip6"}) {
      if (result.contains(key) && result[key].is_object() && result[key].contains("ip") &&
          result[key]["ip"].is_string()) {
        ips.push_back(strip(result[key]["ip"].get<std::string>()));
      }
    }
  }
  std::stable_partition(ips.begin(), ips.end(), [](const std::string& ip) { return !IsIPv6(ip); });
  return ips;
}

CniPluginNetwork::CniPluginNetwork(CniConfigOptions options)
    : options_(std::move(options)), conf_(options_) {}

std::string CniPluginNetwork::CachePath(const CniAttachment& a) const {
  return absl::StrCat(options_.cache_dir, "/", a.container_id, "-", a.ifname, ".json");
}

absl::StatusOr<std::shared_ptr<const CniNetworkList>> CniPluginNetwork::Load() {
  CniConfCache::View view = conf_.Get();
  if (view.list) return view.list;
  return view.load_error;
}

absl::StatusOr<std::string> CniPluginNetwork::FindPlugin(const std::string& type) const {
  return FindCniPlugin(options_.bin_dirs, type);
}

absl::StatusOr<json> CniPluginNetwork::Invoke(Command cmd, const CniNetworkList& list,
                                              const json& plugin, const json& prev,
                                              const json& capability_args,
                                              const std::string& container_id,
                                              const std::string& netns, const std::string& ifname,
                                              const Args& args) const {
  const std::string type = plugin["type"].get<std::string>();
  const char* verb = CommandName(static_cast<int>(cmd));
  auto path = FindPlugin(type);
  if (!path.ok()) return path.status();

  // Like libcni's buildOneConfig: the list's name and version, the previous result, and the
  // capability arguments this plugin asked for.
  json conf = plugin;
  conf["name"] = list.name;
  conf["cniVersion"] = list.cni_version;
  if (!prev.is_null()) conf["prevResult"] = prev;
  json rc = json::object();
  if (plugin.contains("capabilities") && plugin["capabilities"].is_object()) {
    for (const auto& [cap, enabled] : plugin["capabilities"].items()) {
      if (enabled.is_boolean() && enabled.get<bool>() && capability_args.contains(cap)) {
        rc[cap] = capability_args[cap];
      }
    }
  }
  if (!rc.empty()) conf["runtimeConfig"] = std::move(rc);

  ProcessOptions po;
  po.argv = {*path};
  po.env = {absl::StrCat("CNI_COMMAND=", verb),
            absl::StrCat("CNI_CONTAINERID=", container_id),
            absl::StrCat("CNI_NETNS=", netns),
            absl::StrCat("CNI_IFNAME=", ifname),
            absl::StrCat("CNI_ARGS=", CniArgsEnv(args)),
            absl::StrCat("CNI_PATH=", absl::StrJoin(options_.bin_dirs, ":"))};
  po.stdin_data = conf.dump();
  po.timeout = plugin_timeout_;
  po.output_cap = 1 << 20;
  spdlog::debug("CNI {} {} network {} plugin {} ifname {}", verb, container_id, list.name, type,
                ifname);
  absl::StatusOr<ProcessResult> r;
  {
    ScopedBlockSigpipe no_sigpipe;
    r = RunProcess(po);
  }
  const std::string what =
      absl::StrFormat("CNI plugin \"%s\" %s (network \"%s\")", type, verb, list.name);
  if (!r.ok()) return absl::UnavailableError(absl::StrCat(what, ": ", r.status().message()));
  if (r->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        what, ": timed out after ",
        std::chrono::duration_cast<std::chrono::seconds>(plugin_timeout_).count(), "s"));
  }
  if (!r->ok()) {
    // Plugins report errors as {"code": N, "msg": "...", "details": "..."} on stdout.
    std::string msg;
    int code = 0;
    try {
      json e = json::parse(r->out);
      if (e.is_object() && e.contains("msg") && e["msg"].is_string()) {
        msg = e["msg"].get<std::string>();
        if (e.contains("details") && e["details"].is_string() &&
            !e["details"].get<std::string>().empty()) {
          absl::StrAppend(&msg, ": ", e["details"].get<std::string>());
        }
        if (e.contains("code") && e["code"].is_number_integer()) code = e["code"].get<int>();
      }
    } catch (const json::exception&) {
    }
    if (msg.empty()) msg = r->Describe();
    std::string text = absl::StrCat(what, " failed: ", msg);
    if (code == 11) return absl::UnavailableError(text);                      // "try again later"
    if (code == 3 && cmd == Command::kDel) return absl::NotFoundError(text);  // unknown container
    return absl::UnknownError(text);
  }
  if (cmd != Command::kAdd) return json();
  json result = json::parse(r->out, nullptr, /*allow_exceptions=*/false);
  if (!result.is_object()) {
    return absl::UnknownError(
        absl::StrCat(what, " returned an invalid result: \"", r->out.substr(0, 200), "\""));
  }
  return result;
}

absl::Status CniPluginNetwork::DelChain(const CniNetworkList& list, size_t count, const json& prev,
                                        const json& capability_args,
                                        const std::string& container_id, const std::string& netns,
                                        const std::string& ifname, const Args& args) const {
  absl::Status first;
  for (size_t i = count; i-- > 0;) {
    auto r = Invoke(Command::kDel, list, list.plugins[i], prev, capability_args, container_id,
                    netns, ifname, args);
    if (r.ok()) continue;
    if (IsGoneError(r.status())) {
      spdlog::debug("CNI DEL {}: ignoring: {}", container_id, r.status().message());
      continue;
    }
    spdlog::warn("CNI DEL {}: {}", container_id, r.status().message());
    if (first.ok()) first = r.status();
  }
  return first;
}

absl::StatusOr<std::optional<CniPluginNetwork::Cached>> CniPluginNetwork::ReadCache(
    const CniAttachment& a) const {
  const std::string path = CachePath(a);
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
    return text.status();
  }
  auto bad = [&path](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("CNI cache ", path, ": ", why));
  };
  try {
    json j = json::parse(*text);
    if (!j.is_object() || !j.contains("config")) return bad("no config");
    auto list = ParseCniNetworkList(j["config"].dump());
    if (!list.ok()) return bad(list.status().message());
    Cached c;
    c.list = *std::move(list);
    c.result = j.value("result", json());
    c.capability_args = j.value("capabilityArgs", json::object());
    if (j.contains("cniArgs")) {
      for (const json& kv : j["cniArgs"]) {
        c.args.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
      }
    }
    return c;
  } catch (const json::exception& e) {
    return bad(e.what());
  }
}

absl::Status CniPluginNetwork::Ready() { return conf_.Get().ready; }

std::string CniPluginNetwork::NetworkName() {
  auto list = Load();
  return list.ok() ? (*list)->name : "";
}

absl::StatusOr<CniResult> CniPluginNetwork::Add(const CniAttachment& a) {
  if (auto st = ValidateAttachment(a); !st.ok()) return st;
  if (a.netns_path.empty() || !PathExists(a.netns_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("CNI ADD: network namespace \"", a.netns_path, "\" does not exist"));
  }
  auto loaded = Load();
  if (!loaded.ok()) return loaded.status();
  const CniNetworkList& list = **loaded;
  const json caps = CapabilityArgs(a);

  // `lo` first, through the loopback plugin, outside the configured chain (see the header).
  if (FindPlugin(kLoopbackType).ok()) {
    const CniNetworkList& lo = LoopbackList();
    auto r = Invoke(Command::kAdd, lo, lo.plugins[0], json(), json::object(), a.container_id,
                    a.netns_path, "lo", a.args);
    if (!r.ok()) return r.status();
  } else {
    spdlog::warn("CNI ADD {}: no loopback plugin in {}; lo stays down", a.container_id,
                 absl::StrJoin(options_.bin_dirs, ":"));
  }

  json prev;
  for (size_t i = 0; i < list.plugins.size(); ++i) {
    auto r = Invoke(Command::kAdd, list, list.plugins[i], prev, caps, a.container_id, a.netns_path,
                    a.ifname, a.args);
    if (!r.ok()) {
      spdlog::warn("CNI ADD {}: {}; undoing the chain", a.container_id, r.status().message());
      const json del_prev = VersionAtLeast(list.cni_version, "0.4.0") ? prev : json();
      (void)DelChain(list, i + 1, del_prev, caps, a.container_id, a.netns_path, a.ifname, a.args);
      return r.status();
    }
    prev = *std::move(r);
  }

  json cache = {{"kind", "tetherCniCacheV1"}, {"containerId", a.container_id},
                {"ifName", a.ifname},         {"networkName", list.name},
                {"config", list.ToJson()},    {"cniArgs", a.args},
                {"capabilityArgs", caps},     {"result", prev}};
  absl::Status st = MakeDirs(options_.cache_dir, 0700);
  if (st.ok()) st = WriteFileAtomic(CachePath(a), cache.dump(), 0600);
  if (!st.ok()) {
    spdlog::warn("CNI ADD {}: cannot cache the result: {}; undoing", a.container_id, st.message());
    const json del_prev = VersionAtLeast(list.cni_version, "0.4.0") ? prev : json();
    (void)DelChain(list, list.plugins.size(), del_prev, caps, a.container_id, a.netns_path,
                   a.ifname, a.args);
    return absl::InternalError(absl::StrCat("CNI ADD: caching the result: ", st.message()));
  }

  CniResult result;
  result.ips = CniResultIps(prev, a.ifname);
  result.raw = std::move(prev);
  spdlog::info("CNI ADD {} network {} ifname {}: ips [{}]", a.container_id, list.name, a.ifname,
               absl::StrJoin(result.ips, ", "));
  return result;
}

absl::Status CniPluginNetwork::Del(const CniAttachment& a) {
  if (auto st = ValidateAttachment(a); !st.ok()) return st;
  auto cached = ReadCache(a);
  if (!cached.ok()) {
    spdlog::warn("CNI DEL {}: {}; using the current configuration", a.container_id,
                 cached.status().message());
    cached = std::optional<Cached>();
  }
  std::shared_ptr<const CniNetworkList> current;
  const CniNetworkList* list = nullptr;
  if (cached->has_value()) {
    list = &(*cached)->list;
  } else {
    auto loaded = Load();
    if (!loaded.ok()) {
      // Nothing records what was set up, and nothing says how to tear it down.
      spdlog::warn("CNI DEL {}: no cached result and {}; nothing to tear down", a.container_id,
                   loaded.status().message());
      return absl::OkStatus();
    }
    current = *loaded;
    list = current.get();
  }
  // Plugins must tolerate a namespace that is gone; they are told so by an empty CNI_NETNS.
  const std::string netns = !a.netns_path.empty() && PathExists(a.netns_path) ? a.netns_path : "";
  const json caps = cached->has_value() ? (*cached)->capability_args : CapabilityArgs(a);
  const Args& args = !a.args.empty() || !cached->has_value() ? a.args : (*cached)->args;
  const json prev = cached->has_value() && VersionAtLeast(list->cni_version, "0.4.0")
                        ? (*cached)->result
                        : json();

  absl::Status st =
      DelChain(*list, list->plugins.size(), prev, caps, a.container_id, netns, a.ifname, args);
  if (!netns.empty() && FindPlugin(kLoopbackType).ok()) {
    const CniNetworkList& lo = LoopbackList();
    auto r = Invoke(Command::kDel, lo, lo.plugins[0], json(), json::object(), a.container_id, netns,
                    "lo", args);
    if (!r.ok()) spdlog::debug("CNI DEL {}: loopback: {}", a.container_id, r.status().message());
  }
  if (!st.ok()) return st;  // keep the cache: the retry tears down the same thing
  if (auto rm = RemoveFile(CachePath(a)); !rm.ok()) return rm;
  spdlog::info("CNI DEL {} network {} ifname {}", a.container_id, list->name, a.ifname);
  return absl::OkStatus();
}

absl::Status CniPluginNetwork::Check(const CniAttachment& a) {
  if (auto st = ValidateAttachment(a); !st.ok()) return st;
  auto cached = ReadCache(a);
  if (!cached.ok()) return cached.status();
  if (!cached->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("CNI CHECK: no cached result for ", a.container_id, " interface ", a.ifname));
  }
  const Cached& c = **cached;
  // CHECK exists from 0.4.0 on; a list may also opt out.
  if (c.list.disable_check || !VersionAtLeast(c.list.cni_version, "0.4.0")) {
    return absl::OkStatus();
  }
  if (a.netns_path.empty() || !PathExists(a.netns_path)) {
    return absl::FailedPreconditionError(
        absl::StrCat("CNI CHECK: network namespace \"", a.netns_path, "\" does not exist"));
  }
  const Args& args = a.args.empty() ? c.args : a.args;
  for (const json& plugin : c.list.plugins) {
    auto r = Invoke(Command::kCheck, c.list, plugin, c.result, c.capability_args, a.container_id,
                    a.netns_path, a.ifname, args);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

}  // namespace tether
