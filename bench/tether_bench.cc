// tether_bench: latency and memory of a real tetherd beside the same work done by hand on the same
// machine (bare runc, the CNI plugin binaries, skopeo + tar). Run it through bench/run.sh, which
// starts a registry with the images; see docs/benchmarks.md.
//
// Every section alternates one tetherd sample with one bare sample, so that load from elsewhere on
// the machine falls on both alike. Everything the run starts it stops; it leaves nothing behind.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.grpc.pb.h"
#include "util/file.h"
#include "util/id.h"
#include "util/mount.h"
#include "util/process.h"

namespace tether::bench {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace cri = runtime::v1;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

struct Options {
  std::string tetherd = TETHERD_PATH;
  std::string pause = TETHER_PAUSE_PATH;
  std::string registry;  // 127.0.0.1:PORT holding tether-test/busybox:1 and bench/big:1
  std::string busybox = "tether-test/busybox:1";
  std::string big_image = "bench/big:1";
  std::string bridge = "tetherbench0";
  std::string subnet = "10.99.0.0/16";
  std::string log_level = "info";
  std::string runc = "/usr/bin/runc";
  std::string cni_bin = "/usr/lib/cni";
  int containers = 50;
  int pods = 20;
  int execs = 50;
  int pulls = 3;
  int rss_pods = 10;
  std::set<std::string> sections = {"rss", "pods", "containers", "exec", "pull"};
  bool keep = false;      // keep the work dir (debugging)
  bool tmpfs_run = true;  // state dirs on a tmpfs, as /run on a node
};

// ---- small helpers ---------------------------------------------------------------------------

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <typename F>
double TimeMs(F&& f) {
  auto t0 = Clock::now();
  f();
  return Ms(Clock::now() - t0);
}

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "tether_bench: " << what << "\n";
  throw std::runtime_error(what);
}

void Check(const absl::Status& st, const std::string& what) {
  if (!st.ok()) Die(absl::StrCat(what, ": ", st.ToString()));
}

void Check(const grpc::Status& st, const std::string& what) {
  if (!st.ok()) Die(absl::StrCat(what, ": ", st.error_message()));
}

std::string Sh(std::vector<std::string> argv, std::vector<std::string> env = {},
               std::string stdin_data = "") {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = std::move(env);
  o.stdin_data = std::move(stdin_data);
  o.timeout = std::chrono::minutes(10);
  auto r = RunProcess(o);
  if (!r.ok()) Die(absl::StrCat(o.argv[0], ": ", r.status().ToString()));
  if (!r->ok()) {
    Die(absl::StrCat(absl::StrJoin(o.argv, " "), ": ", r->Describe(), "\n", r->out, r->err));
  }
  return r->out;
}

// For programs that leave a process behind holding their stdio (runc run -d, runc create).
void RunDetached(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.timeout = std::chrono::minutes(1);
  o.discard_output = true;
  auto r = RunProcess(o);
  if (!r.ok()) Die(absl::StrCat(o.argv[0], ": ", r.status().ToString()));
  if (!r->ok()) Die(absl::StrCat(absl::StrJoin(o.argv, " "), ": ", r->Describe()));
}

bool TryRun(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.timeout = std::chrono::minutes(1);
  auto r = RunProcess(o);
  return r.ok() && r->ok();
}

json ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  Check(text.status(), "reading " + path);
  return json::parse(*text);
}

// ---- statistics and the report ---------------------------------------------------------------

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];  // nearest rank
}

struct Row {
  std::string what;
  std::vector<double> tether, bare;
  std::string target;  // "≤ 1.25×" or ""
};

std::vector<Row> g_rows;
std::vector<std::string> g_notes;

void PrintRows(std::ostream& out) {
  out << "| operation | n | tetherd p50 | tetherd p95 | bare p50 | bare p95 | ratio p50 | ratio "
         "p95 | target |\n";
  out << "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : g_rows) {
    double t50 = Percentile(r.tether, 50), t95 = Percentile(r.tether, 95);
    double b50 = Percentile(r.bare, 50), b95 = Percentile(r.bare, 95);
    out << absl::StrFormat(
        "| %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2f× | %.2f× | %s |\n", r.what,
        static_cast<int>(r.tether.size()), t50, t95, b50, b95, b50 > 0 ? t50 / b50 : 0,
        b95 > 0 ? t95 / b95 : 0, r.target);
  }
}

// ---- memory of a process ----------------------------------------------------------------------

struct Mem {
  long rss_kb = 0, hwm_kb = 0, pss_kb = 0, anon_kb = 0, threads = 0;
};

long FieldKb(const std::string& text, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, key)) continue;
    line.remove_prefix(key.size());
    line = absl::StripAsciiWhitespace(line);
    line = absl::StripSuffix(line, "kB");
    long v = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &v)) return v;
  }
  return -1;
}

Mem MemOf(pid_t pid) {
  Mem m;
  auto status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (status.ok()) {
    m.rss_kb = FieldKb(*status, "VmRSS:");
    m.hwm_kb = FieldKb(*status, "VmHWM:");
    m.anon_kb = FieldKb(*status, "RssAnon:");
    m.threads = FieldKb(*status, "Threads:");
  }
  auto rollup = ReadFile(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  if (rollup.ok()) m.pss_kb = FieldKb(*rollup, "Pss:");
  return m;
}

std::vector<std::pair<std::string, Mem>> g_mem;

// ---- the daemon --------------------------------------------------------------------------------

class Daemon {
 public:
  Daemon(const Options& o, std::string base) : o_(o), base_(std::move(base)) {}
  ~Daemon() { Stop(); }

  std::string root() const { return base_ + "/root"; }
  // tetherd's state dir is on a tmpfs, as /run is on a node (see Bench::Run).
  std::string state() const { return base_ + "/run/state"; }
  std::string cni_dir() const { return base_ + "/cni"; }
  std::string runc_root() const { return state() + "/runtime/runc"; }
  std::string log_path() const { return base_ + "/tetherd.log"; }
  pid_t pid() const { return pid_; }
  cri::RuntimeService::Stub& rt() { return *runtime_; }
  cri::ImageService::Stub& img() { return *images_; }

  void Start() {
    for (const auto& d : {root(), state(), cni_dir()}) Check(MakeDirs(d), "mkdir " + d);
    json conflist = {{"cniVersion", "1.0.0"},
                     {"name", "tether-bench"},
                     {"plugins",
                      {{{"type", "bridge"},
                        {"bridge", o_.bridge},
                        {"isGateway", true},
                        {"ipMasq", false},
                        {"hairpinMode", true},
                        {"ipam",
                         {{"type", "host-local"},
                          {"ranges", {{{{"subnet", o_.subnet}}}}},
                          {"routes", {{{"dst", "0.0.0.0/0"}}}},
                          {"dataDir", base_ + "/ipam"}}}},
                       {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}}}}};
    Check(WriteFileAtomic(cni_dir() + "/10-bench.conflist", conflist.dump(2)), "conflist");
    json config = {{"root", root()},
                   {"state", state()},
                   {"socket", state() + "/tether.sock"},
                   {"log_level", o_.log_level},
                   {"pause_binary", o_.pause},
                   {"cni", {{"conf_dir", cni_dir()}, {"bin_dirs", {o_.cni_bin}}}}};
    Check(WriteFileAtomic(base_ + "/tetherd.json", config.dump(2)), "tetherd.json");
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);  // a ^C reaches the bench, which then stops tetherd in order
      int fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(o_.tetherd.c_str(), o_.tetherd.c_str(), "--config", (base_ + "/tetherd.json").c_str(),
            nullptr);
      _exit(127);
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel("unix://" + state() + "/tether.sock",
                                         grpc::InsecureChannelCredentials(), args);
    runtime_ = cri::RuntimeService::NewStub(channel_);
    images_ = cri::ImageService::NewStub(channel_);
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        Die("tetherd exited at start; see " + log_path());
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      cri::VersionResponse v;
      if (PathExists(state() + "/tether.sock") && runtime_->Version(&ctx, {}, &v).ok()) return;
      if (Clock::now() > deadline) Die("tetherd did not answer within 30s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Removes every pod (and so every container) and every image, then SIGTERM.
  void Stop() {
    if (pid_ <= 0) return;
    cri::ListPodSandboxResponse list;
    grpc::ClientContext ctx;
    if (runtime_->ListPodSandbox(&ctx, {}, &list).ok()) {
      for (const auto& item : list.items()) {
        grpc::ClientContext c2;
        cri::RemovePodSandboxRequest req;
        req.set_pod_sandbox_id(item.id());
        cri::RemovePodSandboxResponse resp;
        (void)runtime_->RemovePodSandbox(&c2, req, &resp);
      }
    }
    cri::ListImagesResponse images;
    grpc::ClientContext c3;
    if (images_->ListImages(&c3, {}, &images).ok()) {
      for (const auto& im : images.images()) {
        grpc::ClientContext c4;
        cri::RemoveImageRequest req;
        req.mutable_image()->set_image(im.id());
        cri::RemoveImageResponse resp;
        (void)images_->RemoveImage(&c4, req, &resp);
      }
    }
    kill(pid_, SIGTERM);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  const Options& o_;
  std::string base_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<cri::RuntimeService::Stub> runtime_;
  std::unique_ptr<cri::ImageService::Stub> images_;
};

// ---- CRI calls
// -----------------------------------------------------------------------------------

cri::PodSandboxConfig PodConfig(const std::string& name, const std::string& log_root) {
  cri::PodSandboxConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_metadata()->set_namespace_("bench");
  c.mutable_metadata()->set_uid("uid-" + name);
  c.set_hostname(name);
  c.set_log_directory(log_root + "/" + name);
  (*c.mutable_labels())["app"] = "bench";
  return c;
}

std::string RunPod(Daemon& d, const cri::PodSandboxConfig& config) {
  cri::RunPodSandboxRequest req;
  *req.mutable_config() = config;
  cri::RunPodSandboxResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().RunPodSandbox(&ctx, req, &resp), "RunPodSandbox");
  return resp.pod_sandbox_id();
}

void StopRemovePod(Daemon& d, const std::string& id) {
  {
    cri::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    cri::StopPodSandboxResponse resp;
    grpc::ClientContext ctx;
    Check(d.rt().StopPodSandbox(&ctx, req, &resp), "StopPodSandbox");
  }
  cri::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(id);
  cri::RemovePodSandboxResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().RemovePodSandbox(&ctx, req, &resp), "RemovePodSandbox");
}

std::string Pull(Daemon& d, const std::string& image) {
  cri::PullImageRequest req;
  req.mutable_image()->set_image(image);
  cri::PullImageResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  Check(d.img().PullImage(&ctx, req, &resp), "PullImage " + image);
  return resp.image_ref();
}

void RemoveImage(Daemon& d, const std::string& image) {
  cri::RemoveImageRequest req;
  req.mutable_image()->set_image(image);
  cri::RemoveImageResponse resp;
  grpc::ClientContext ctx;
  Check(d.img().RemoveImage(&ctx, req, &resp), "RemoveImage " + image);
}

std::string CreateContainer(Daemon& d, const std::string& pod, const cri::PodSandboxConfig& pc,
                            const std::string& name, const std::string& image) {
  cri::CreateContainerRequest req;
  req.set_pod_sandbox_id(pod);
  auto* c = req.mutable_config();
  c->mutable_metadata()->set_name(name);
  c->mutable_image()->set_image(image);
  c->add_command("sleep");
  c->add_command("3600");
  c->set_log_path(name + ".log");
  *req.mutable_sandbox_config() = pc;
  cri::CreateContainerResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().CreateContainer(&ctx, req, &resp), "CreateContainer");
  return resp.container_id();
}

void StartContainer(Daemon& d, const std::string& id) {
  cri::StartContainerRequest req;
  req.set_container_id(id);
  cri::StartContainerResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().StartContainer(&ctx, req, &resp), "StartContainer");
}

void StopRemoveContainer(Daemon& d, const std::string& id) {
  {
    cri::StopContainerRequest req;
    req.set_container_id(id);
    req.set_timeout(0);
    cri::StopContainerResponse resp;
    grpc::ClientContext ctx;
    Check(d.rt().StopContainer(&ctx, req, &resp), "StopContainer");
  }
  cri::RemoveContainerRequest req;
  req.set_container_id(id);
  cri::RemoveContainerResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().RemoveContainer(&ctx, req, &resp), "RemoveContainer");
}

void ExecTrue(Daemon& d, const std::string& id) {
  cri::ExecSyncRequest req;
  req.set_container_id(id);
  req.add_cmd("/bin/true");
  req.set_timeout(30);
  cri::ExecSyncResponse resp;
  grpc::ClientContext ctx;
  Check(d.rt().ExecSync(&ctx, req, &resp), "ExecSync");
  if (resp.exit_code() != 0) Die("ExecSync /bin/true exited " + std::to_string(resp.exit_code()));
}

// ---- the same work by hand ----------------------------------------------------------------------

// What the bare side made, undone at the end even when a section fails half way.
struct BareLedger {
  std::string runc_root;
  std::set<std::string> runc_ids;
  std::vector<std::string> mounts;                   // unmounted in reverse
  std::set<std::string> netns;                       // names under /var/run/netns
  std::map<std::string, std::function<void()>> cni;  // id -> CNI DEL
} g_bare;

void RuncDelete(const std::string& id) {
  (void)TryRun({"/usr/bin/runc", "--root", g_bare.runc_root, "delete", "--force", id});
  g_bare.runc_ids.erase(id);
}

void CleanupBare() {
  for (auto ids = g_bare.runc_ids; const auto& id : ids) RuncDelete(id);
  for (auto& [id, del] : g_bare.cni) {
    try {
      del();
    } catch (const std::exception&) {
      // reported by Run already; go on with the rest
    }
  }
  g_bare.cni.clear();
  for (const auto& n : g_bare.netns) (void)TryRun({"ip", "netns", "del", n});
  g_bare.netns.clear();
  for (auto it = g_bare.mounts.rbegin(); it != g_bare.mounts.rend(); ++it) {
    (void)Unmount(*it, /*lazy=*/true);
  }
  g_bare.mounts.clear();
}

// Calls the plugins of a conflist the way libcni does (loopback on lo first, as tetherd does).
class HandCni {
 public:
  HandCni(std::string bin, json conflist) : bin_(std::move(bin)), list_(std::move(conflist)) {}

  json Invoke(const std::string& cmd, const json& plugin, const json& prev, const std::string& id,
              const std::string& netns, const std::string& ifname, const std::string& net_name,
              const std::string& version) const {
    json conf = plugin;
    conf["name"] = net_name;
    conf["cniVersion"] = version;
    if (!prev.is_null()) conf["prevResult"] = prev;
    if (plugin.contains("capabilities") && plugin["capabilities"].contains("portMappings")) {
      conf["runtimeConfig"] = {{"portMappings", json::array()}};
    }
    std::string out = Sh({bin_ + "/" + plugin["type"].get<std::string>()},
                         {"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + netns,
                          "CNI_IFNAME=" + ifname,
                          "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=" + id +
                              ";K8S_POD_INFRA_CONTAINER_ID=" + id + ";K8S_POD_UID=uid-" + id,
                          "CNI_PATH=" + bin_},
                         conf.dump());
    if (cmd != "ADD") return json();
    return json::parse(out);
  }

  json Add(const std::string& id, const std::string& netns) const {
    Invoke("ADD", {{"type", "loopback"}}, json(), id, netns, "lo", "cni-loopback", "0.3.1");
    json prev;
    for (const auto& p : list_["plugins"]) {
      prev = Invoke("ADD", p, prev, id, netns, "eth0", list_["name"], list_["cniVersion"]);
    }
    return prev;
  }

  void Del(const std::string& id, const std::string& netns, const json& result) const {
    const auto& plugins = list_["plugins"];
    for (size_t i = plugins.size(); i-- > 0;) {
      Invoke("DEL", plugins[i], result, id, netns, "eth0", list_["name"], list_["cniVersion"]);
    }
    Invoke("DEL", {{"type", "loopback"}}, json(), id, netns, "lo", "cni-loopback", "0.3.1");
  }

 private:
  std::string bin_;
  json list_;
};

// The lower layers (top first, ':'-joined) of the overlay mounted at `path`, from
// /proc/self/mountinfo: "lowerdir=a:b" (mount(2)) or "lowerdir+=a,lowerdir+=b" (fsconfig).
std::string OverlayLowerdir(const std::string& path, std::string* options_seen) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 10 || f[4] != path) continue;
    auto dash = std::find(f.begin(), f.end(), "-");
    if (dash == f.end() || dash + 3 >= f.end()) continue;
    *options_seen = *(dash + 3);
    std::vector<std::string> lowers;
    for (absl::string_view opt : absl::StrSplit(*(dash + 3), ',')) {
      if (absl::ConsumePrefix(&opt, "lowerdir=") || absl::ConsumePrefix(&opt, "lowerdir+=")) {
        lowers.emplace_back(opt);
      }
    }
    return absl::StrJoin(lowers, ":");
  }
  return "";
}

// A spec tetherd generated, rewritten for a bare container `id`: its cgroup named after `id`, and
// every path under `old_dir` moved under `new_dir`.
json Rebase(json spec, const std::string& old_id, const std::string& id, const std::string& old_dir,
            const std::string& new_dir) {
  std::string cg = spec["linux"].value("cgroupsPath", "");
  spec["linux"]["cgroupsPath"] = absl::StrReplaceAll(cg, {{old_id, id}});
  for (auto& m : spec["mounts"]) {
    std::string src = m.value("source", "");
    if (absl::StartsWith(src, old_dir)) m["source"] = new_dir + src.substr(old_dir.size());
  }
  return spec;
}

// ---- sections
// -------------------------------------------------------------------------------------

class Bench {
 public:
  Bench(const Options& o, std::string base) : o_(o), base_(std::move(base)), d_(o, base_) {
    g_bare.runc_root = base_ + "/run/bare-runc";
  }

  void Run() {
    // On a node /run is a tmpfs: tetherd's state and runc's root live there, the images and
    // records on disk. The same here, whatever this machine's /run is.
    Check(MakeDirs(base_ + "/run", 0711), "run dir");
    if (o_.tmpfs_run) {
      Check(Mount("tmpfs", base_ + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=2g"),
            "tmpfs for the state dirs");
      run_mounted_ = true;
    }
    Check(MakeDirs(g_bare.runc_root, 0700), "bare runc root");
    d_.Start();
    std::cerr << "tetherd pid " << d_.pid() << " up; log " << d_.log_path() << "\n";
    std::this_thread::sleep_for(std::chrono::seconds(1));
    g_mem.push_back({"idle, after start", MemOf(d_.pid())});
    if (On("pods")) Pods();
    if (On("rss")) PodsRss();
    if (On("containers") || On("exec")) Containers();
    if (On("pull")) PullBench();
    g_mem.push_back({"at the end (after all sections)", MemOf(d_.pid())});
  }

  void Finish() {
    CleanupBare();
    d_.Stop();
    (void)TryRun({"ip", "link", "del", o_.bridge});
    if (run_mounted_) (void)Unmount(base_ + "/run", /*lazy=*/true);
  }

  std::string log_path() const { return d_.log_path(); }

 private:
  bool On(const std::string& s) const { return o_.sections.count(s) > 0; }
  std::string LogRoot() const { return base_ + "/pod-logs"; }
  std::string Image(const std::string& name) const { return o_.registry + "/" + name; }
  void Progress(const std::string& what, int i, int n) const {
    std::cerr << "\r" << what << " " << i + 1 << "/" << n << std::flush;
    if (i + 1 == n) std::cerr << "\n";
    if (g_stop) Die("interrupted");
  }

  // 3. RunPodSandbox + Stop/RemovePodSandbox beside ip netns add + CNI ADD + runc run -d.
  void Pods() {
    // One pod first, to take its pause spec and CNI config.
    auto warm_cfg = PodConfig("warm", LogRoot());
    std::string warm = RunPod(d_, warm_cfg);
    const std::string sb_dir = d_.state() + "/sandboxes/" + warm;
    json pause_spec = ReadJson(sb_dir + "/config.json");
    StopRemovePod(d_, warm);
    cni_ = std::make_unique<HandCni>(o_.cni_bin, ReadJson(d_.cni_dir() + "/10-bench.conflist"));
    const HandCni& cni = *cni_;

    Row run{"RunPodSandbox vs netns + CNI ADD + runc run -d", {}, {}, "≤ 1.25×"};
    Row down{"Stop+RemovePodSandbox vs runc kill+delete + CNI DEL + netns del", {}, {}, ""};
    for (int i = 0; i < o_.pods; ++i) {
      Progress("pods", i, o_.pods);
      auto cfg = PodConfig(absl::StrCat("pod-", i), LogRoot());
      std::string id;
      run.tether.push_back(TimeMs([&] { id = RunPod(d_, cfg); }));
      down.tether.push_back(TimeMs([&] { StopRemovePod(d_, id); }));

      // By hand: the same steps with the same conflist and the same pause spec.
      std::string bid = "bp" + NewId().substr(0, 16);
      std::string bundle = base_ + "/run/bare-pods/" + bid;
      std::string netns = "/var/run/netns/" + bid;
      json spec = Rebase(pause_spec, warm, bid, sb_dir, bundle);
      for (auto& ns : spec["linux"]["namespaces"]) {
        if (ns["type"] == "network") ns["path"] = netns;
      }
      // tetherd mounts a tmpfs at <bundle>/shm and binds it; by hand runc mounts the tmpfs.
      for (auto& m : spec["mounts"]) {
        if (m.value("destination", "") == "/dev/shm") {
          m = {{"destination", "/dev/shm"},
               {"type", "tmpfs"},
               {"source", "shm"},
               {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=67108864"}}};
        }
      }
      json result;
      run.bare.push_back(TimeMs([&] {
        Sh({"ip", "netns", "add", bid});
        g_bare.netns.insert(bid);
        result = cni.Add(bid, netns);
        g_bare.cni[bid] = [&cni, bid, netns, result] { cni.Del(bid, netns, result); };
        Check(MakeDirs(bundle, 0711), "bundle");
        Check(WriteFileAtomic(bundle + "/hostname", cfg.hostname() + "\n"), "hostname");
        Check(WriteFileAtomic(bundle + "/hosts", "127.0.0.1\tlocalhost\n"), "hosts");
        Check(WriteFileAtomic(bundle + "/resolv.conf", ReadFile("/etc/resolv.conf").value_or("")),
              "resolv.conf");
        Check(WriteFileAtomic(bundle + "/config.json", spec.dump()), "config.json");
        g_bare.runc_ids.insert(bid);
        RunDetached({o_.runc, "--root", g_bare.runc_root, "run", "--detach", "--pid-file",
                     bundle + "/pidfile", "--bundle", bundle, bid});
      }));
      down.bare.push_back(TimeMs([&] {
        Sh({o_.runc, "--root", g_bare.runc_root, "kill", bid, "KILL"});
        Sh({o_.runc, "--root", g_bare.runc_root, "delete", "--force", bid});
        g_bare.runc_ids.erase(bid);
        cni.Del(bid, netns, result);
        g_bare.cni.erase(bid);
        Sh({"ip", "netns", "del", bid});
        g_bare.netns.erase(bid);
        Check(RemoveAll(bundle), "rm bundle");
      }));
    }
    g_rows.push_back(run);
    g_rows.push_back(down);
  }

  // 5. RSS with N pods running.
  void PodsRss() {
    std::vector<std::string> ids;
    for (int i = 0; i < o_.rss_pods; ++i) {
      Progress("rss pods", i, o_.rss_pods);
      ids.push_back(RunPod(d_, PodConfig(absl::StrCat("rss-", i), LogRoot())));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    g_mem.push_back({absl::StrCat(o_.rss_pods, " pods running"), MemOf(d_.pid())});
    for (const auto& id : ids) StopRemovePod(d_, id);
  }

  // 1 and 2. Container create+start and stop+remove beside bare runc; ExecSync beside runc exec.
  void Containers() {
    const std::string image = Image(o_.busybox);
    Pull(d_, image);
    auto pc = PodConfig("ctr-pod", LogRoot());
    std::string pod = RunPod(d_, pc);
    // A first container: its spec and rootfs layers are the bare side's bundle.
    std::string first = CreateContainer(d_, pod, pc, "first", image);
    StartContainer(d_, first);
    const std::string cdir = d_.state() + "/containers/" + first;
    json cspec = ReadJson(cdir + "/config.json");
    std::string seen;
    std::string lowerdir = OverlayLowerdir(cspec["root"]["path"].get<std::string>(), &seen);
    if (lowerdir.empty()) {
      Die(absl::StrCat("no overlay lowerdir at ", cspec["root"]["path"].get<std::string>(), " (",
                       seen, ")"));
    }

    if (On("exec")) {
      Row ex{"ExecSync /bin/true vs runc exec", {}, {}, ""};
      for (int i = 0; i < o_.execs; ++i) {
        Progress("exec", i, o_.execs);
        ex.tether.push_back(TimeMs([&] { ExecTrue(d_, first); }));
        ex.bare.push_back(TimeMs([&] {
          Sh({o_.runc, "--root", d_.runc_root(), "exec", first, "/bin/true"});
        }));
      }
      g_rows.push_back(ex);
    }
    if (!On("containers")) return;

    Row create{"CreateContainer+StartContainer vs runc create+start", {}, {}, "≤ 1.25×"};
    Row c_only{"  of which CreateContainer vs runc create", {}, {}, ""};
    Row stop{"StopContainer+RemoveContainer vs runc kill+delete", {}, {}, ""};
    Row mount{"(bare side, untimed above) overlay mount of the rootfs", {}, {}, ""};
    Row umount{"(bare side, untimed above) overlay unmount", {}, {}, ""};
    std::vector<std::string> tether_ids, bare_ids, bare_bundles;
    for (int i = 0; i < o_.containers; ++i) {
      Progress("containers create", i, o_.containers);
      std::string id;
      double tc = 0;
      create.tether.push_back(TimeMs([&] {
        tc = TimeMs([&] { id = CreateContainer(d_, pod, pc, absl::StrCat("c", i), image); });
        StartContainer(d_, id);
      }));
      c_only.tether.push_back(tc);
      tether_ids.push_back(id);

      std::string bid = "bc" + NewId().substr(0, 16);
      std::string bundle = base_ + "/bare-ctrs/" + bid;
      json spec = Rebase(cspec, first, bid, cdir, bundle);
      spec["root"]["path"] = bundle + "/rootfs";
      for (const char* d : {"/rootfs", "/upper", "/work"}) {
        Check(MakeDirs(bundle + d, 0755), "bare bundle");
      }
      Check(WriteFileAtomic(bundle + "/config.json", spec.dump()), "config.json");
      double bm = TimeMs([&] {
        Check(Mount("overlay", bundle + "/rootfs", "overlay", 0,
                    absl::StrCat("lowerdir=", lowerdir, ",upperdir=", bundle,
                                 "/upper,workdir=", bundle, "/work")),
              "overlay");
      });
      g_bare.mounts.push_back(bundle + "/rootfs");
      mount.bare.push_back(bm);
      double bc = 0;
      g_bare.runc_ids.insert(bid);
      create.bare.push_back(TimeMs([&] {
        bc = TimeMs([&] {
          RunDetached({o_.runc, "--root", g_bare.runc_root, "create", "--pid-file",
                       bundle + "/pidfile", "--bundle", bundle, bid});
        });
        Sh({o_.runc, "--root", g_bare.runc_root, "start", bid});
      }));
      c_only.bare.push_back(bc);
      bare_ids.push_back(bid);
      bare_bundles.push_back(bundle);
    }
    for (int i = 0; i < o_.containers; ++i) {
      Progress("containers stop", i, o_.containers);
      stop.tether.push_back(TimeMs([&] { StopRemoveContainer(d_, tether_ids[i]); }));
      stop.bare.push_back(TimeMs([&] {
        Sh({o_.runc, "--root", g_bare.runc_root, "kill", bare_ids[i], "KILL"});
        Sh({o_.runc, "--root", g_bare.runc_root, "delete", "--force", bare_ids[i]});
      }));
      g_bare.runc_ids.erase(bare_ids[i]);
      umount.bare.push_back(
          TimeMs([&] { Check(Unmount(bare_bundles[i] + "/rootfs"), "unmount bare rootfs"); }));
      Check(RemoveAll(bare_bundles[i]), "rm bare bundle");
    }
    g_bare.mounts.clear();
    mount.tether = mount.bare;  // not a comparison: printed for scale
    g_rows.push_back(create);
    g_rows.push_back(c_only);
    g_rows.push_back(stop);
    g_notes.push_back(absl::StrFormat(
        "bare overlay mount of the container rootfs (outside the bare timings): p50 %.2f ms, p95 "
        "%.2f ms; its unmount after runc delete: p50 %.2f ms, p95 %.2f ms",
        Percentile(mount.bare, 50), Percentile(mount.bare, 95), Percentile(umount.bare, 50),
        Percentile(umount.bare, 95)));
    g_mem.push_back(
        {absl::StrCat("after ", o_.containers, " containers came and went"), MemOf(d_.pid())});
    StopRemovePod(d_, pod);
    RemoveImage(d_, image);
  }

  // 4. PullImage of a 200 MiB, 10-layer image beside skopeo copy + tar -x of its layers.
  void PullBench() {
    const std::string image = Image(o_.big_image);
    Row pull{"PullImage (200 MiB, 10 layers) vs skopeo copy + tar -x", {}, {}, "≤ 1.0×"};
    for (int i = 0; i < o_.pulls; ++i) {
      Progress("pull", i, o_.pulls);
      pull.tether.push_back(TimeMs([&] { Pull(d_, image); }));
      if (i == 0) g_mem.push_back({"right after a 200 MiB pull", MemOf(d_.pid())});
      RemoveImage(d_, image);
      if (i == 0) {
        // The next pull must start cold: the store keeps nothing of a removed image.
        g_notes.push_back(
            "tetherd's root after RemoveImage of the big image: " +
            std::string(absl::StripAsciiWhitespace(Sh({"du", "-sh", d_.root()}).substr(0, 40))));
      }
      std::string dir = base_ + "/bare-pull";
      Check(MakeDirs(dir), "bare pull dir");
      pull.bare.push_back(TimeMs([&] {
        Sh({"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + image,
            "oci:" + dir + "/layout:1"});
        json index = ReadJson(dir + "/layout/index.json");
        std::string mdigest = index["manifests"][0]["digest"];
        json manifest = ReadJson(dir + "/layout/blobs/sha256/" + mdigest.substr(7));
        int n = 0;
        for (const auto& l : manifest["layers"]) {
          std::string digest = l["digest"];
          std::string out = absl::StrCat(dir, "/rootfs/", n++);
          Check(MakeDirs(out), "mkdir");
          Sh({"tar", "-xzf", dir + "/layout/blobs/sha256/" + digest.substr(7), "-C", out});
        }
      }));
      Check(RemoveAll(dir), "rm bare pull");
      // Page cache: both sides write ~400 MiB; let writeback settle before the next sample.
      sync();
    }
    g_rows.push_back(pull);
  }

  const Options& o_;
  std::string base_;
  Daemon d_;
  std::unique_ptr<HandCni> cni_;
  bool run_mounted_ = false;
};

std::string MachineLine() {
  std::string cpu = "?";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      cpu = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  std::string kernel = Sh({"uname", "-r"});
  std::string runc = Sh({"/usr/bin/runc", "--version"});
  return absl::StrCat(cpu, ", ", std::thread::hardware_concurrency(), " CPUs, kernel ",
                      absl::StripAsciiWhitespace(kernel), ", ",
                      absl::StripAsciiWhitespace(runc.substr(0, runc.find('\n'))));
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> std::string {
      std::string p = std::string("--") + name + "=";
      return absl::StartsWith(a, p) ? a.substr(p.size()) : std::string("\x01");
    };
    auto num = [&](const std::string& v) {
      int n = 0;
      if (!absl::SimpleAtoi(v, &n) || n < 1) Die("bad number in " + a);
      return n;
    };
    std::string v;
    if ((v = val("registry")) != "\x01") {
      o.registry = v;
    } else if ((v = val("tetherd")) != "\x01") {
      o.tetherd = v;
    } else if ((v = val("log-level")) != "\x01") {
      o.log_level = v;
    } else if ((v = val("containers")) != "\x01") {
      o.containers = num(v);
    } else if ((v = val("pods")) != "\x01") {
      o.pods = num(v);
    } else if ((v = val("execs")) != "\x01") {
      o.execs = num(v);
    } else if ((v = val("pulls")) != "\x01") {
      o.pulls = num(v);
    } else if ((v = val("only")) != "\x01") {
      o.sections.clear();
      for (auto s : absl::StrSplit(v, ',')) o.sections.insert(std::string(s));
    } else if (a == "--state-on-disk") {
      o.tmpfs_run = false;
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      std::cerr << "usage: tether_bench --registry=127.0.0.1:PORT [--containers=50] [--pods=20]\n"
                   "  [--execs=50] [--pulls=3] [--only=rss,pods,containers,exec,pull]\n"
                   "  [--log-level=info] [--tetherd=PATH] [--state-on-disk] [--keep]\n"
                   "Run it through bench/run.sh, which starts the registry with the images.\n";
      return 2;
    }
  }
  if (geteuid() != 0) Die("needs root (runc, netns, CNI)");
  if (o.registry.empty() &&
      (o.sections.count("containers") || o.sections.count("exec") || o.sections.count("pull"))) {
    Die("--registry is required for the containers, exec and pull sections");
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  std::string base = "/tmp/tether-bench-" + NewId().substr(0, 10);
  Check(MakeDirs(base, 0711), "work dir");
  Bench b(o, base);
  int rc = 0;
  try {
    b.Run();
  } catch (const std::exception& e) {
    std::cerr << "tether_bench: failed: " << e.what() << "\n";
    rc = 1;
  }
  b.Finish();
  std::string log = b.log_path();
  if (rc != 0) {
    auto text = ReadFile(log);
    if (text.ok())
      std::cerr << "--- tetherd log (tail) ---\n"
                << text->substr(text->size() > 4000 ? text->size() - 4000 : 0);
  }
  // Left behind by anything? Lazy-unmount what is still mounted under the work dir.
  {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> left;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() > 4 && absl::StartsWith(f[4], base)) left.push_back(f[4]);
    }
    for (auto it = left.rbegin(); it != left.rend(); ++it) {
      std::cerr << "tether_bench: unmounting leftover " << *it << "\n";
      (void)Unmount(*it, true);
    }
  }
  if (!o.keep) (void)RemoveAll(base);

  std::cout << "\n## tether_bench results\n\n";
  std::cout << "Machine: " << MachineLine() << "\n\n";
  PrintRows(std::cout);
  std::cout << "\n| tetherd memory | VmRSS | of which RssAnon | Pss | VmHWM | threads |\n"
               "|---|---:|---:|---:|---:|---:|\n";
  for (const auto& [what, m] : g_mem) {
    std::cout << absl::StrFormat("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %d |\n", what,
                                 m.rss_kb / 1024.0, m.anon_kb / 1024.0, m.pss_kb / 1024.0,
                                 m.hwm_kb / 1024.0, m.threads);
  }
  std::cout << "\nTarget: tetherd RSS under 15 MB.\n";
  for (const auto& n : g_notes) std::cout << "\n" << n << "\n";
  return rc;
}

}  // namespace
}  // namespace tether::bench

int main(int argc, char** argv) { return tether::bench::Main(argc, argv); }
