// CreateContainer and StartContainer.
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "container/container_manager.h"
#include "container/mount_targets.h"
#include "oci/container_spec.h"
#include "oci/exit_watcher.h"
#include "oci/spec_common.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/proc.h"

namespace tether {
namespace {

std::string NameKey(const std::string& sandbox_id, const runtime::v1::ContainerMetadata& m) {
  return absl::StrCat(sandbox_id, "/", m.name(), "/", m.attempt());
}

// The features of this host, probed once.
const HostFeatures& Features() {
  static const HostFeatures f = ProbeHostFeatures();
  return f;
}

std::string NodeHostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

absl::StatusOr<std::string> ContainerManager::Create(
    const std::string& sandbox_id, const runtime::v1::ContainerConfig& config,
    const runtime::v1::PodSandboxConfig& sandbox_config) {
  if (!config.has_metadata() || config.metadata().name().empty()) {
    return absl::InvalidArgumentError("config.metadata.name: is required");
  }
  if (config.image().image().empty()) {
    return absl::InvalidArgumentError("config.image.image: is required");
  }
  auto sb = sandboxes_->Get(sandbox_id);
  if (!sb.ok()) return sb.status();
  // Shared with other creates in the pod; StopPodSandbox and RemovePodSandbox hold it exclusively:
  // they wait for the creates in flight (and then stop or remove what they made), and a create
  // after them finds the pod not ready.
  absl::ReaderMutexLock pod_op(&(*sb)->op_mutex());
  const std::string full_sandbox_id = (*sb)->id();
  const std::string key = NameKey(full_sandbox_id, config.metadata());
  {
    absl::MutexLock l(&mu_);
    if (auto it = names_.find(key); it != names_.end()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "container name \"", config.metadata().name(), "\" attempt ", config.metadata().attempt(),
          " is already in use by ", it->second, " in pod sandbox ", full_sandbox_id));
    }
    names_[key] = "";  // reserved while we create
  }
  auto id = DoCreate(full_sandbox_id, config, sandbox_config);
  absl::MutexLock l(&mu_);
  if (id.ok() && containers_.count(*id)) {  // not removed since
    names_[key] = *id;
  } else {
    names_.erase(key);
  }
  return id;
}

absl::StatusOr<std::string> ContainerManager::DoCreate(
    const std::string& sandbox_id, const runtime::v1::ContainerConfig& config,
    const runtime::v1::PodSandboxConfig& request_sandbox_config) {
  auto sb = sandboxes_->Get(sandbox_id);
  if (!sb.ok()) return sb.status();
  SandboxRecord s = (*sb)->Snapshot();
  if (s.state != SandboxState::kReady) {
    return absl::FailedPreconditionError(absl::StrCat("pod sandbox ", sandbox_id, " is not ready"));
  }
  // The sandbox config tetherd recorded is the truth; the request's copy only fills gaps.
  const runtime::v1::PodSandboxConfig& sandbox_config =
      s.config.has_metadata() ? s.config : request_sandbox_config;
  auto image = images_->ResolveForContainer(config.image().image());
  if (!image.ok()) {
    if (absl::IsNotFound(image.status())) {
      return absl::NotFoundError(
          absl::StrCat("config.image.image: image \"", config.image().image(), "\" not found"));
    }
    return image.status();
  }
  auto image_config = ImageConfigInfo::FromOciImageConfig(image->config);
  if (!image_config.ok()) return image_config.status();

  ContainerRecord r;
  r.id = NewId();
  r.sandbox_id = sandbox_id;
  r.config = config;
  r.image_id = image->id;
  r.image_ref = image->name;
  r.image_repo_digest = image->repo_digest;
  r.chain_ids = image->chain_ids;
  r.runtime_name = s.runtime_name;
  r.created_at = absl::ToUnixNanos(absl::Now());
  r.bundle_dir = absl::StrCat(bundles_, "/", r.id);
  r.rootfs = r.bundle_dir + "/rootfs";
  r.stop_signal = image_config->stop_signal;
  if (!sandbox_config.log_directory().empty() && !config.log_path().empty()) {
    r.log_path = absl::StrCat(sandbox_config.log_directory(), "/", config.log_path());
  }
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  const std::string short_id = r.id.substr(0, 13);
  spdlog::info("CreateContainer {} in sandbox {}: id {} image {}", config.metadata().name(),
               sandbox_id.substr(0, 13), short_id, image->name);

  // The record first, so that a crash leaves something Recover() can clean.
  if (auto st = Persist(r); !st.ok()) return st;
  auto c = std::make_shared<Container>(r);
  absl::MutexLock op(&c->op_mutex());  // until CREATED or undone (see Container::op_mu_)
  {
    absl::MutexLock l(&mu_);
    containers_[r.id] = c;  // in CREATING state: hidden from List and Status
  }
  bool success = false;
  absl::Cleanup undo = [&] {
    if (success) return;
    Cleanup(r);
    (void)records_.Remove(r.id);
    absl::MutexLock l(&mu_);
    containers_.erase(r.id);
  };

  if (auto st = MakeDirs(r.bundle_dir, 0711); !st.ok()) return st;
  auto rootfs = snapshots_->PrepareContainer(r.id, r.chain_ids, r.rootfs);
  if (!rootfs.ok()) return rootfs.status();
  r.rootfs = *rootfs;

  ContainerSpecInput in;
  in.id = r.id;
  in.config = &config;
  in.sandbox_config = &sandbox_config;
  in.sandbox.id = s.id;
  in.sandbox.netns_path = s.netns_path;
  in.sandbox.pause_pid = s.pid;
  in.sandbox.host_network = s.host_network();
  in.sandbox.host_ipc = s.host_ipc();
  in.sandbox.host_pid = s.host_pid();
  in.sandbox.hostname_path = s.bundle_dir + "/hostname";
  in.sandbox.resolv_conf_path = s.bundle_dir + "/resolv.conf";
  in.sandbox.hosts_path = s.bundle_dir + "/hosts";
  in.sandbox.shm_path = s.shm_path;
  in.sandbox.cgroup_parent = s.cgroup_parent;
  in.sandbox.cgroup_driver = config_.cgroup_driver;
  in.image = *image_config;
  in.image_name = image->name;
  in.rootfs = r.rootfs;
  in.image_rootfs_for_users = r.rootfs;
  in.own_oom_score_adj = OwnOomScoreAdj();
  in.bounding_caps = CurrentBoundingCapabilities();
  in.default_seccomp_profile_path = config_.seccomp_profile;
  in.features = Features();
  in.features.rro_mounts = SupportsRro(r.runtime_name);
  in.node_hostname = NodeHostname();
  if (config.linux().security_context().namespace_options().pid() == runtime::v1::TARGET) {
    auto target = Get(config.linux().security_context().namespace_options().target_id());
    if (!target.ok()) {
      return absl::NotFoundError(
          absl::StrCat("config.linux.security_context.namespace_options.target_id: ",
                       target.status().message()));
    }
    auto t = (*target)->Snapshot();
    if (t.state != ContainerState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrCat("target container ", t.id, " is not running"));
    }
    in.target_pid = t.pid;
  }
  auto spec = BuildContainerSpec(in);
  if (!spec.ok()) return spec.status();
  if (spec->at("linux").contains("uidMappings")) {
    if (auto st = MakeBindMountTargets(r.rootfs, *spec); !st.ok()) return st;
  }
  r.runtime_spec = MakeSharedJson(*spec);
  if (auto st = WriteFileAtomic(r.bundle_dir + "/config.json", spec->dump()); !st.ok()) return st;
  const auto& user = (*spec)["process"]["user"];
  r.uid = user.value("uid", int64_t{0});
  if (config.linux().security_context().has_run_as_user()) {
    r.uid = config.linux().security_context().run_as_user().value();
  }
  r.username = config.linux().security_context().run_as_username();
  if (!r.log_path.empty()) {
    auto dir = r.log_path.substr(0, r.log_path.rfind('/'));
    if (auto st = MakeDirs(dir, 0755); !st.ok()) return st;
  }

  MonitorSpec ms;
  ms.id = r.id;
  ms.name = absl::StrCat("k8s_", config.metadata().name(), "_", sandbox_config.metadata().name(),
                         "_", sandbox_config.metadata().namespace_());
  ms.bundle_dir = r.bundle_dir;
  ms.log_path = r.log_path;
  ms.exit_dir = sandboxes_->paths().exits;
  ms.persist_dir = r.bundle_dir + "/persist";
  ms.socket_dir = sandboxes_->paths().sockets;
  ms.runtime_path = runtime->path();
  ms.runtime_root = runtime->root();
  ms.terminal = config.tty();
  ms.stdin_open = config.stdin();
  ms.stdin_once = config.stdin_once();
  auto started = monitor_->Create(ms);
  if (!started.ok()) {
    spdlog::error("container {}: create failed: {}", short_id, started.status().message());
    return absl::Status(started.status().code(),
                        absl::StrCat("failed to create container: ", started.status().message()));
  }
  r.pid = started->container_pid;
  r.monitor_pid = started->monitor_pid;
  r.pid_start_time = ProcessStartTime(r.pid);
  r.state = ContainerState::kCreated;
  if (auto st = Persist(r); !st.ok()) return st;
  std::optional<int> exited;  // while CREATING (see OnExit)
  {
    absl::MutexLock l(&c->mu_);
    c->record_ = r;
    exited = std::exchange(c->pending_exit_, std::nullopt);
  }
  success = true;
  spdlog::info("container {}: created, pid {}", short_id, r.pid);
  Publish(r, runtime::v1::CONTAINER_CREATED_EVENT);
  if (exited) MarkExited(*c, *exited);
  return r.id;
}

absl::Status ContainerManager::Start(const std::string& id) {
  auto found = Get(id);
  if (!found.ok()) return found.status();
  auto c = *found;
  absl::MutexLock op(&c->op_mutex());
  ContainerRecord r = c->Snapshot();
  if (r.state != ContainerState::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", r.id, " is ", ContainerStateName(r.state), ", not CREATED"));
  }
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  auto st = runtime->Start(r.id);
  if (!st.ok()) {
    spdlog::error("container {}: start failed: {}", r.id.substr(0, 13), st.message());
    // A failed start leaves an exited container with the reason, as containerd does.
    {
      absl::MutexLock l(&c->mu_);
      c->record_.state = ContainerState::kExited;
      c->record_.exit_code = 128;
      c->record_.reason = "StartError";
      c->record_.message = std::string(st.message());
      c->record_.finished_at = absl::ToUnixNanos(absl::Now());
      r = c->record_;
    }
    (void)PersistCurrent(*c);
    return absl::Status(st.code(), absl::StrCat("failed to start container: ", st.message()));
  }
  {
    absl::MutexLock l(&c->mu_);
    if (c->record_.state == ContainerState::kCreated) {
      c->record_.state = ContainerState::kRunning;
      c->record_.started_at = absl::ToUnixNanos(absl::Now());
    }
    r = c->record_;
  }
  if (auto pst = PersistCurrent(*c); !pst.ok()) return pst;
  spdlog::info("container {}: started", r.id.substr(0, 13));
  Publish(r, runtime::v1::CONTAINER_STARTED_EVENT);
  // An exit that arrived between runc start and the RUNNING record is picked up here.
  if (auto code = ExitWatcher::ReadExitCode(sandboxes_->paths().exits, r.id); code.ok()) {
    MarkExited(*c, *code);
  }
  return absl::OkStatus();
}

}  // namespace tether
