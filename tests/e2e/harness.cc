#include "tests/e2e/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

namespace tether::e2e {

bool CanRunE2E(std::string* why) {
  if (geteuid() != 0) {
    *why = "end-to-end tests need root";
    return false;
  }
  for (const char* p : {"/usr/bin/runc", "/usr/bin/conmon", "/usr/lib/cni/bridge",
                        "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"}) {
    if (!PathExists(p)) {
      *why = absl::StrCat(p, " is missing (run deploy/install-deps.sh)");
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> Sh(const std::vector<std::string>& argv) {
  return RunChecked({.argv = argv, .timeout = std::chrono::seconds(30)});
}

bool Eventually(const std::function<bool()>& pred, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

std::vector<std::string> MountsMentioning(const std::string& needle) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

std::string TestRegistry() {
  auto addr = ReadFile(std::string(TETHER_TEST_REGISTRY_DIR) + "/registry.addr");
  if (!addr.ok()) return "";
  std::string a = *addr;
  while (!a.empty() && (a.back() == '\n' || a.back() == ' ')) a.pop_back();
  return a;
}

std::string TestImage(const std::string& name) {
  return absl::StrCat(kMirroredHost, "/tether-test/", name, ":1");
}

runtime::v1::ContainerConfig ContainerConfig(const std::string& name, const std::string& image,
                                             std::vector<std::string> command) {
  runtime::v1::ContainerConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_image()->set_image(image);
  for (auto& a : command) c.add_command(a);
  c.set_log_path(name + ".log");
  (*c.mutable_labels())["container"] = name;
  return c;
}

absl::Status FromGrpc(const grpc::Status& st) {
  if (st.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

int E2ENet() {
  // 0-99: subnet 10.89.0.0/16 to 10.188.0.0/16. Anything else (a typo, a three-digit number)
  // falls back to 0 rather than to a subnet outside the range.
  const char* n = getenv("TETHER_E2E_NET");
  int net = 0;
  if (n == nullptr || !absl::SimpleAtoi(n, &net) || net < 0 || net > 99) return 0;
  return net;
}

std::string E2ESubnetPrefix() { return absl::StrCat("10.", 89 + E2ENet(), "."); }

std::string E2ELogRoot() {
  return E2ENet() == 0 ? "/tmp/tether-e2e-logs" : absl::StrCat("/tmp/tether-e2e-logs-", E2ENet());
}

runtime::v1::PodSandboxConfig PodConfig(const std::string& name) {
  runtime::v1::PodSandboxConfig c;
  c.mutable_metadata()->set_name(name);
  c.mutable_metadata()->set_namespace_("e2e");
  c.mutable_metadata()->set_uid(absl::StrCat("uid-", name));
  c.set_hostname(name);
  c.set_log_directory(absl::StrCat(E2ELogRoot(), "/", name, "-", NewId().substr(0, 8)));
  (*c.mutable_labels())["app"] = name;
  (*c.mutable_labels())["suite"] = "e2e";
  return c;
}

runtime::v1::PodSandboxConfig SharedPidPodConfig(const std::string& name) {
  runtime::v1::PodSandboxConfig c = PodConfig(name);
  c.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
      runtime::v1::POD);
  return c;
}

std::string StartedPod(Daemon& d, runtime::v1::PodSandboxConfig* config) {
  auto id = d.RunPod(config->metadata().name(), config);
  EXPECT_TRUE(id.ok()) << id.status() << d.Log();
  return id.ok() ? *id : "";
}

std::string StartedContainer(Daemon& d, const std::string& pod,
                             const runtime::v1::PodSandboxConfig& pod_config,
                             const runtime::v1::ContainerConfig& config) {
  auto id = d.CreateContainer(pod, config, pod_config);
  EXPECT_TRUE(id.ok()) << id.status() << d.Log();
  if (!id.ok()) return "";
  auto st = d.StartContainer(*id);
  EXPECT_TRUE(st.ok()) << st;
  return *id;
}

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {
  base_ = absl::StrCat("/tmp/tether-e2e-", NewId().substr(0, 10));
  root_ = base_ + "/root";
  state_ = base_ + "/state";
  socket_ = state_ + "/tether.sock";
  log_path_ = base_ + "/tetherd.log";
  cni_dir_ = base_ + "/cni";
  bin_dir_ = base_ + "/bin";
}

Daemon::~Daemon() {
  if (pid_ <= 0 && PathExists(root_ + "/sandboxes")) (void)Start();
  if (pid_ > 0) {
    // Remove whatever pods the test left, so nothing outlives it.
    runtime::v1::ListPodSandboxResponse list;
    grpc::ClientContext ctx;
    if (runtime_->ListPodSandbox(&ctx, {}, &list).ok()) {
      for (const auto& item : list.items()) {
        grpc::ClientContext c2;
        runtime::v1::RemovePodSandboxRequest req;
        req.set_pod_sandbox_id(item.id());
        runtime::v1::RemovePodSandboxResponse resp;
        (void)runtime_->RemovePodSandbox(&c2, req, &resp);
      }
    }
    Terminate();
  }
  (void)Sh({"ip", "link", "del", options_.bridge});
  if (!::testing::Test::HasFailure() && !getenv("TETHER_E2E_KEEP")) {
    (void)RemoveAll(base_);
    (void)RemoveAll(E2ELogRoot());
  }
}

std::string Daemon::Log() const {
  auto l = ReadFile(log_path_);
  return l.ok() ? *l : "";
}

absl::Status Daemon::Start() {
  for (const auto& d : {root_, state_, cni_dir_, bin_dir_}) {
    if (auto st = MakeDirs(d); !st.ok()) return st;
  }
  if (options_.with_network) {
    std::string conflist = absl::StrCat(R"({
  "cniVersion": "1.0.0",
  "name": "tether-e2e",
  "plugins": [
    {"type": "bridge", "bridge": ")",
                                        options_.bridge, R"(", "isGateway": true, "ipMasq": false,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": ")",
                                        options_.subnet, R"("}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ")",
                                        base_, R"(/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}})",
                                        options_.extra_plugin_json.empty() ? "" : ",\n    ",
                                        options_.extra_plugin_json, R"(
  ]
})");
    if (auto st = WriteFileAtomic(cni_dir_ + "/10-e2e.conflist", conflist); !st.ok()) return st;
  }
  nlohmann::json config = {
      {"root", root_},
      {"state", state_},
      {"socket", socket_},
      {"log_level", "debug"},
      {"pause_binary", TETHER_PAUSE_PATH},
      {"cni", {{"conf_dir", cni_dir_}, {"bin_dirs", {"/usr/lib/cni", bin_dir_}}}}};
  if (!options_.sandbox_image.empty()) config["sandbox_image"] = options_.sandbox_image;
  if (options_.import_max_bytes != 0) config["import_max_bytes"] = options_.import_max_bytes;
  // A daemon whose base has a static-pods folder (made by the test before Start) runs it.
  if (PathExists(base_ + "/static-pods")) {
    config["static_pods_dir"] = base_ + "/static-pods";
    config["static_pods_log_root"] = E2ELogRoot() + "/static-pods";
  }
  if (std::string reg = TestRegistry(); !reg.empty()) {
    config["registries"] = {{kMirroredHost, {{"mirrors", {"http://" + reg}}}}};
  }
  if (auto st = WriteFileAtomic(base_ + "/tetherd.json", config.dump(2)); !st.ok()) return st;

  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(TETHERD_PATH, TETHERD_PATH, "--config", (base_ + "/tetherd.json").c_str(), nullptr);
    _exit(127);
  }
  // Reconnect quickly: the socket may be a dead daemon's until the new one replaces it.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  channel_ =
      grpc::CreateCustomChannel("unix://" + socket_, grpc::InsecureChannelCredentials(), args);
  runtime_ = runtime::v1::RuntimeService::NewStub(channel_);
  images_ = runtime::v1::ImageService::NewStub(channel_);
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(20);
  for (;;) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("tetherd exited at start:\n", Log()));
    }
    if (PathExists(socket_)) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      runtime::v1::VersionResponse v;
      if (runtime_->Version(&ctx, {}, &v).ok()) return absl::OkStatus();
    }
    if (std::chrono::system_clock::now() > deadline) {
      return absl::DeadlineExceededError("tetherd did not answer within 20s:\n" + Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Daemon::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

void Daemon::Terminate() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int st;
  waitpid(pid_, &st, 0);
  pid_ = -1;
}

absl::StatusOr<std::string> Daemon::RunPod(const std::string& name,
                                           runtime::v1::PodSandboxConfig* config_out) {
  runtime::v1::RunPodSandboxRequest req;
  *req.mutable_config() = config_out && config_out->has_metadata() ? *config_out : PodConfig(name);
  if (config_out) *config_out = req.config();
  runtime::v1::RunPodSandboxResponse resp;
  grpc::ClientContext ctx;
  auto st = runtime_->RunPodSandbox(&ctx, req, &resp);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return resp.pod_sandbox_id();
}

absl::StatusOr<runtime::v1::PodSandboxStatusResponse> Daemon::PodStatus(const std::string& id,
                                                                        bool verbose) {
  runtime::v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(id);
  req.set_verbose(verbose);
  runtime::v1::PodSandboxStatusResponse resp;
  grpc::ClientContext ctx;
  auto st = runtime_->PodSandboxStatus(&ctx, req, &resp);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return resp;
}

absl::StatusOr<std::string> Daemon::Pull(const std::string& image) {
  runtime::v1::PullImageRequest req;
  req.mutable_image()->set_image(image);
  runtime::v1::PullImageResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (auto st = FromGrpc(images_->PullImage(&ctx, req, &resp)); !st.ok()) return st;
  return resp.image_ref();
}

absl::StatusOr<std::string> Daemon::CreateContainer(
    const std::string& pod_id, const runtime::v1::ContainerConfig& config,
    const runtime::v1::PodSandboxConfig& pod_config) {
  runtime::v1::CreateContainerRequest req;
  req.set_pod_sandbox_id(pod_id);
  *req.mutable_config() = config;
  *req.mutable_sandbox_config() = pod_config;
  runtime::v1::CreateContainerResponse resp;
  grpc::ClientContext ctx;
  if (auto st = FromGrpc(runtime_->CreateContainer(&ctx, req, &resp)); !st.ok()) return st;
  return resp.container_id();
}

absl::Status Daemon::StartContainer(const std::string& id) {
  runtime::v1::StartContainerRequest req;
  req.set_container_id(id);
  runtime::v1::StartContainerResponse resp;
  grpc::ClientContext ctx;
  return FromGrpc(runtime_->StartContainer(&ctx, req, &resp));
}

absl::Status Daemon::StopContainer(const std::string& id, int64_t timeout) {
  runtime::v1::StopContainerRequest req;
  req.set_container_id(id);
  req.set_timeout(timeout);
  runtime::v1::StopContainerResponse resp;
  grpc::ClientContext ctx;
  return FromGrpc(runtime_->StopContainer(&ctx, req, &resp));
}

absl::Status Daemon::RemoveContainer(const std::string& id) {
  runtime::v1::RemoveContainerRequest req;
  req.set_container_id(id);
  runtime::v1::RemoveContainerResponse resp;
  grpc::ClientContext ctx;
  return FromGrpc(runtime_->RemoveContainer(&ctx, req, &resp));
}

absl::StatusOr<runtime::v1::ContainerStatusResponse> Daemon::ContainerStatus(const std::string& id,
                                                                             bool verbose) {
  runtime::v1::ContainerStatusRequest req;
  req.set_container_id(id);
  req.set_verbose(verbose);
  runtime::v1::ContainerStatusResponse resp;
  grpc::ClientContext ctx;
  if (auto st = FromGrpc(runtime_->ContainerStatus(&ctx, req, &resp)); !st.ok()) return st;
  return resp;
}

absl::StatusOr<runtime::v1::ContainerStatus> Daemon::WaitExited(const std::string& id,
                                                                int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto s = ContainerStatus(id, false);
    if (!s.ok()) return s.status();
    if (s->status().state() == runtime::v1::CONTAINER_EXITED) return s->status();
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("container " + id + " did not exit");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

absl::StatusOr<runtime::v1::ExecSyncResponse> Daemon::Exec(const std::string& id,
                                                           std::vector<std::string> cmd,
                                                           int64_t timeout) {
  runtime::v1::ExecSyncRequest req;
  req.set_container_id(id);
  for (auto& a : cmd) req.add_cmd(a);
  req.set_timeout(timeout);
  runtime::v1::ExecSyncResponse resp;
  grpc::ClientContext ctx;
  if (auto st = FromGrpc(runtime_->ExecSync(&ctx, req, &resp)); !st.ok()) return st;
  return resp;
}

}  // namespace tether::e2e
