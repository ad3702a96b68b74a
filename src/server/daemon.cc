#include "server/daemon.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "container/container_manager.h"
#include "image/content_store.h"
#include "image/image_store.h"
#include "image/registry_client.h"
#include "image/snapshotter.h"
#include "network/cni_plugin_network.h"
#include "oci/conmon.h"
#include "oci/exit_watcher.h"
#include "oci/runc_cli.h"
#include "oci/seccomp_default.h"
#include "podrunner/cri_client.h"
#include "podrunner/static_pods.h"
#include "sandbox/sandbox_manager.h"
#include "server/runtime_service.h"
#include "server/tether_images_service.h"
#include "stats/stats_cache.h"
#include "stream/streaming_server.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/log.h"

namespace tether {
namespace {

// A socket file that nobody answers on is stale and may go; one that answers belongs to a live
// tetherd, and we must not steal it.
absl::Status ClaimSocketPath(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a socket"));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("another daemon is listening on ", path));
  }
  spdlog::info("removing stale socket {}", path);
  return RemoveFile(path);
}

std::string DirOf(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : p.substr(0, slash);
}

}  // namespace

absl::Status RunDaemon(const Config& given, const std::string& pause_binary) {
  Config config = given;
  // Signals are handled by one thread with sigwait; block them everywhere else.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  for (const auto& dir : {config.root, config.state, DirOf(config.socket)}) {
    if (auto st = MakeDirs(dir, 0711); !st.ok()) return st;
  }
  SandboxManager::Runtimes runtimes;
  for (const auto& [name, rt] : config.runtimes) {
    if (auto st = MakeDirs(rt.root, 0700); !st.ok()) return st;
    runtimes[name] = std::make_shared<RuncCli>(rt.path, rt.root);
  }
  auto network = std::make_shared<CniPluginNetwork>(config.cni);
  auto monitor = std::make_shared<Conmon>(
      config.conmon, config.log_level == "debug" || config.log_level == "trace" ? "debug" : "info");
  if (config.seccomp_profile.empty()) {
    // The built-in RuntimeDefault profile, written where the spec builder reads it.
    config.seccomp_profile = config.state + "/seccomp-default.json";
    if (auto st = WriteFileAtomic(config.seccomp_profile, kDefaultSeccompProfile, 0644); !st.ok()) {
      return st;
    }
  }
  auto sandboxes = std::make_shared<SandboxManager>(config, network, monitor, runtimes);
  if (auto st = sandboxes->Init(pause_binary); !st.ok()) return st;

  auto registry_config = ParseRegistryConfig(config.registries);
  if (!registry_config.ok()) return registry_config.status();
  RegistryClientOptions registry_options;
  registry_options.config = *registry_config;
  auto registry = std::make_shared<RegistryClient>(registry_options);
  auto content = std::make_shared<ContentStore>(config.root);
  if (auto st = content->Init(); !st.ok()) return st;
  auto snapshots = std::make_shared<Snapshotter>(config.root + "/snapshots");
  if (auto st = snapshots->Init(); !st.ok()) return st;
  auto images = std::make_shared<ImageStore>(config, content, snapshots, registry);
  if (auto st = images->Init(); !st.ok()) return st;
  auto containers =
      std::make_shared<ContainerManager>(config, sandboxes, images, snapshots, monitor, runtimes);
  if (auto st = containers->Init(); !st.ok()) return st;
  images->SetInUse([containers, sandboxes] {
    auto ids = containers->ChainIdsInUse();
    auto more = sandboxes->ChainIdsInUse();
    ids.insert(ids.end(), more.begin(), more.end());
    return ids;
  });
  if (!config.sandbox_image.empty()) {
    sandboxes->SetSandboxImageHooks(
        [&config, images, snapshots](const std::string& id,
                                     const std::string& at) -> absl::StatusOr<SandboxRootfs> {
          auto image = images->ResolveForContainer(config.sandbox_image);
          if (absl::IsNotFound(image.status())) {
            auto pulled =
                images->Pull(config.sandbox_image, nullptr, absl::Now() + absl::Minutes(5));
            if (!pulled.ok()) return pulled.status();
            image = images->ResolveForContainer(config.sandbox_image);
          }
          if (!image.ok()) return image.status();
          auto rootfs = snapshots->PrepareContainer(id, image->chain_ids, at);
          if (!rootfs.ok()) return rootfs.status();
          SandboxRootfs out{*rootfs, {}, {}, image->id, image->chain_ids};
          const auto& c = image->config.value("config", nlohmann::json::object());
          for (const auto& a : c.value("Entrypoint", nlohmann::json::array()))
            out.args.push_back(a);
          for (const auto& a : c.value("Cmd", nlohmann::json::array())) out.args.push_back(a);
          for (const auto& e : c.value("Env", nlohmann::json::array())) out.env.push_back(e);
          return out;
        },
        [snapshots](const std::string& id, const std::string& at) {
          (void)snapshots->RemoveContainer(id, at);
        });
  }
  images->CollectGarbage();
  if (auto st = network->Ready(); !st.ok()) {
    spdlog::warn("network not ready: {}", st.message());
  }

  ExitWatcher exits(sandboxes->paths().exits);
  if (auto st = exits.Start([&](const std::string& id, int code) {
        if (sandboxes->OnExit(id, code)) return;
        if (containers->OnExit(id, code)) return;
        spdlog::debug("exit of unknown container {} ({})", id, code);
      });
      !st.ok()) {
    return st;
  }
  // Exits written between recovery and the watch raised no event: read them once now.
  for (const auto& sb : sandboxes->List()) {
    if (auto code = ExitWatcher::ReadExitCode(exits.dir(), sb->id()); code.ok()) {
      sandboxes->OnExit(sb->id(), *code);
    }
  }
  for (const auto& c : containers->List()) {
    if (auto code = ExitWatcher::ReadExitCode(exits.dir(), c->id()); code.ok()) {
      containers->OnExit(c->id(), *code);
    }
  }

  // *Stats: writable layers walked by one low-priority thread, never on a request path; the image
  // filesystem's directories too, for ImageFsInfo.
  auto stats = std::make_shared<StatsCache>(
      [layers = ContainerLayers(containers, snapshots), image_fs = ImageFsLayers(config)] {
        std::vector<StatsCache::Layer> out = layers();
        out.insert(out.end(), image_fs.begin(), image_fs.end());
        return out;
      });
  stats->Start();
  RuntimeService runtime_service(config, sandboxes, containers, stats);
  ImageService image_service(config, images, stats);
  TetherImagesService tether_images(
      images, static_cast<int64_t>(config.import_max_bytes));  // tether.v1: image import
  // Exec, Attach and PortForward: the streaming server (src/stream/).
  stream::StreamingOptions stream_options;
  stream_options.address = config.stream.address;
  stream_options.port = config.stream.port;
  stream_options.token_ttl = config.stream.token_ttl;
  stream_options.idle_timeout = absl::ToChronoMilliseconds(config.stream.idle_timeout);
  stream_options.stream_creation_timeout =
      absl::ToChronoMilliseconds(config.stream.creation_timeout);
  stream_options.max_duration = absl::ToChronoMilliseconds(config.stream.session_timeout);
  stream_options.max_connections = static_cast<size_t>(config.stream.max_sessions);
  stream_options.tls_cert_file = config.stream.tls_cert_file;
  stream_options.tls_key_file = config.stream.tls_key_file;
  auto streaming = std::make_shared<stream::StreamingServer>(stream_options);
  if (auto st = streaming->Start(); !st.ok()) return st;
  runtime_service.SetStreamingServer(streaming);
  if (auto st = ClaimSocketPath(config.socket); !st.ok()) return st;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + config.socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&runtime_service);
  builder.RegisterService(&image_service);
  builder.RegisterService(&tether_images);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(32 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return absl::UnavailableError(absl::StrCat("cannot listen on ", config.socket));
  chmod(config.socket.c_str(), 0660);
  spdlog::info("tetherd {} serving CRI on unix://{}", TETHER_VERSION, config.socket);

  // Static pods: the pod runner drives this daemon through an in-process channel of its own
  // server (the same services, validation and locking as any client; see docs/config.md).
  std::unique_ptr<runtime::v1::RuntimeService::Stub> self_runtime;
  std::unique_ptr<runtime::v1::ImageService::Stub> self_images;
  std::unique_ptr<podrunner::GrpcRuntimeClient> self_client;
  std::unique_ptr<podrunner::StaticPods> static_pods;
  if (!config.static_pods_dir.empty()) {
    if (auto st = MakeDirs(config.static_pods_dir, 0755); !st.ok()) return st;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(32 << 20);
    auto channel = server->InProcessChannel(args);
    self_runtime = runtime::v1::RuntimeService::NewStub(channel);
    self_images = runtime::v1::ImageService::NewStub(channel);
    self_client =
        std::make_unique<podrunner::GrpcRuntimeClient>(self_runtime.get(), self_images.get());
    podrunner::StaticPodsOptions o;
    o.dir = config.static_pods_dir;
    o.runner.volume_root = config.root + "/static-pods";
    o.runner.log_root = config.static_pods_log_root;
    o.on_event = [](const std::string& file, const podrunner::PodEvent& e) {
      spdlog::info("static pod {}: {} {} {}: {}", file, e.type, e.reason, e.object, e.message);
    };
    o.on_status = [](const std::string& file, const podrunner::PodStatusRow& row) {
      spdlog::info("static pod {}: {} {}/{} {} restarts {}", file, row.name, row.ready, row.total,
                   row.status, row.restarts);
    };
    static_pods = std::make_unique<podrunner::StaticPods>(self_client.get(), o);
    if (auto st = static_pods->Start(); !st.ok()) return st;
  }

  int sig = 0;
  sigset_t wait_for;
  sigemptyset(&wait_for);
  sigaddset(&wait_for, SIGTERM);
  sigaddset(&wait_for, SIGINT);
  while (sigwait(&wait_for, &sig) != 0) {
  }
  spdlog::info("received {}; shutting down (pods keep running)", strsignal(sig));
  // Static pods keep running too; the next start adopts them. Their runners are detached while
  // the server shuts down, which cancels a call one of them may be waiting on (a long pull).
  std::thread detach_static_pods([&static_pods] {
    if (static_pods) static_pods->Stop(podrunner::StaticPods::StopMode::kDetach);
  });
  // Calls still running after a second are cancelled; a half-done one is cleaned at the next start.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  detach_static_pods.join();
  streaming->Stop();  // closes every session; exec'd processes are killed
  exits.Stop();
  (void)RemoveFile(config.socket);
  spdlog::info("tetherd stopped");
  return absl::OkStatus();
}

}  // namespace tether
