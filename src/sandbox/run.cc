// RunPodSandbox: every step registers its undo; a failure runs them in reverse.
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "network/netns.h"
#include "oci/exit_watcher.h"
#include "oci/sandbox_spec.h"
#include "oci/spec_common.h"
#include "oci/userns.h"
#include "sandbox/sandbox_files.h"
#include "sandbox/sandbox_manager.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mount.h"
#include "util/proc.h"

namespace tether {
namespace {

std::string HostFile(const char* path, const char* fallback) {
  auto data = ReadFile(path);
  return data.ok() ? *data : fallback;
}

std::string Hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace

absl::StatusOr<std::string> SandboxManager::Run(const runtime::v1::PodSandboxConfig& config,
                                                const std::string& handler) {
  if (auto st = ValidatePodSandboxConfig(config); !st.ok()) return st;
  if (config_.FindRuntime(handler) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("runtime_handler: no runtime \"", handler, "\" is configured"));
  }
  const std::string key = ReservationKey(config.metadata());
  std::shared_ptr<Reservation> mine;
  {
    absl::MutexLock l(&mu_);
    for (;;) {
      auto it = names_.find(key);
      if (it == names_.end()) break;
      auto r = it->second;
      if (!r->in_flight) {
        return absl::AlreadyExistsError(
            absl::StrCat("pod sandbox name \"", key, "\" is already in use by ", r->id));
      }
      // The same pod is being created by an earlier call (kubelet retried after its own
      // timeout): wait for that call and answer with its result.
      spdlog::info("RunPodSandbox {}: waiting for the call already in flight", key);
      mu_.Await(absl::Condition(
          +[](std::shared_ptr<Reservation>* r) { return !(*r)->in_flight; }, &r));
      if (names_.count(key) && names_[key] == r) return r->id;
      // It failed and released the name: try ourselves.
    }
    mine = std::make_shared<Reservation>();
    names_[key] = mine;
  }
  auto id = DoRun(config, handler);
  absl::MutexLock l(&mu_);
  mine->in_flight = false;
  if (id.ok()) {
    mine->id = *id;
  } else {
    names_.erase(key);
  }
  return id;
}

absl::StatusOr<std::string> SandboxManager::DoRun(const runtime::v1::PodSandboxConfig& config,
                                                  const std::string& handler) {
  const RuntimeHandlerConfig* rt_config = config_.FindRuntime(handler);
  SandboxRecord r;
  r.id = NewId();
  r.config = config;
  r.runtime_handler = handler;
  r.runtime_name = rt_config->name;
  r.created_at = absl::ToUnixNanos(absl::Now());
  r.bundle_dir = absl::StrCat(paths_.bundles, "/", r.id);
  if (!r.host_network()) r.netns_path = absl::StrCat(paths_.netns, "/", r.id);
  if (!r.host_ipc()) r.shm_path = r.bundle_dir + "/shm";
  r.cgroup_parent = config.linux().cgroup_parent();
  r.pod_cidr = pod_cidr();
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  const std::string short_id = r.id.substr(0, 13);
  spdlog::info("RunPodSandbox {}/{} attempt {}: id {} runtime {}", config.metadata().namespace_(),
               config.metadata().name(), config.metadata().attempt(), short_id, r.runtime_name);

  // 1. The record comes first: a crash after this line leaves something Recover() can clean.
  if (auto st = PersistRecord(r); !st.ok()) return st;
  bool success = false;
  absl::Cleanup undo = [&] {
    if (success) return;
    Cleanup(r, /*remove_files=*/true);
    (void)records_.Remove(r.id);
  };

  // 2. Namespaces and files.
  if (auto st = MakeDirs(r.bundle_dir, 0711); !st.ok()) return st;
  // A pod in its own user namespace gets its network namespace from the pause (created inside
  // that user namespace, so that the pod may mount its sysfs); it is pinned once the pause exists.
  auto userns = PodUserns(config.linux().security_context().namespace_options(),
                          "config.linux.security_context.namespace_options");
  if (!userns.ok()) return userns.status();
  if (!r.netns_path.empty()) {
    if (auto st = MakeDirs(paths_.netns, 0711); !st.ok()) return st;
    if (!*userns) {
      if (auto st = CreatePinnedNetns(r.netns_path); !st.ok()) return st;
    }
  }
  std::string hostname = r.host_network() ? Hostname() : config.hostname();
  if (hostname.empty()) hostname = config.metadata().name().substr(0, 63);
  if (auto st = WriteFileAtomic(r.bundle_dir + "/hostname", hostname + "\n"); !st.ok()) return st;
  if (auto st = WriteFileAtomic(r.bundle_dir + "/resolv.conf",
                                ResolvConf(config.dns_config(), HostFile("/etc/resolv.conf", "")));
      !st.ok()) {
    return st;
  }
  if (auto st = WriteFileAtomic(
          r.bundle_dir + "/hosts",
          HostsFile(r.host_network(), hostname, HostFile("/etc/hosts", "127.0.0.1\tlocalhost\n")));
      !st.ok()) {
    return st;
  }
  if (!r.shm_path.empty()) {
    if (auto st = MakeDirs(r.shm_path, 01777); !st.ok()) return st;
    if (auto st = Mount("shm", r.shm_path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        absl::StrCat("mode=1777,size=", config_.default_shm_size));
        !st.ok()) {
      return st;
    }
  }

  // 3. Network (for a user-namespaced pod: once the pause has created its namespace).
  auto attach_network = [&]() -> absl::Status {
    auto result = network_->Add(AttachmentOf(r));
    if (!result.ok()) {
      spdlog::error("sandbox {}: CNI ADD failed: {}", short_id, result.status().message());
      return absl::Status(result.status().code(), absl::StrCat("failed to set up the pod network: ",
                                                               result.status().message()));
    }
    r.network_attached = true;
    r.ips = result->ips;
    r.cni_result = MakeSharedJson(result->raw);
    // No record here: the record still says CREATING, and recovery undoes a CREATING sandbox
    // with a CNI DEL whether or not it names the attachment (the plugins' cache, not the record,
    // carries the result DEL needs). The READY record below carries the IPs.
    spdlog::info("sandbox {}: network {} ready, ip {}", short_id, network_->NetworkName(),
                 r.ips.empty() ? "none" : r.ips.front());
    return absl::OkStatus();
  };
  if (!r.host_network() && !*userns) {
    if (auto st = attach_network(); !st.ok()) return st;
  }

  // 4. The pause.
  SandboxSpecInput in;
  in.id = r.id;
  in.hostname = hostname;
  in.rootfs = paths_.pause_rootfs;
  if (!config_.sandbox_image.empty() && prepare_image_rootfs_) {
    auto image_root = prepare_image_rootfs_(r.id, r.bundle_dir + "/rootfs");
    if (!image_root.ok()) {
      return absl::Status(image_root.status().code(),
                          absl::StrCat("sandbox image ", config_.sandbox_image, ": ",
                                       image_root.status().message()));
    }
    r.image_id = image_root->image_id;
    r.chain_ids = image_root->chain_ids;
    in.rootfs = image_root->rootfs;
    if (!image_root->args.empty()) in.args = image_root->args;
    if (!image_root->env.empty()) in.env = image_root->env;
    if (auto st = PersistRecord(r); !st.ok()) return st;
  }
  in.netns_path = r.netns_path;
  in.userns = *userns;
  // The pause's default user (65535) must exist in a shorter mapping.
  if (in.userns && in.uid >= in.userns->uids.length) in.uid = 0;
  if (in.userns && in.gid >= in.userns->gids.length) in.gid = 0;
  in.host_ipc = r.host_ipc();
  in.host_pid = r.host_pid();
  in.host_uts = r.host_network();
  in.shm_path = r.shm_path;
  for (const auto& [k, v] : config.linux().sysctls()) in.sysctls[k] = v;
  in.cgroups_path = CgroupsPathFor(config_.cgroup_driver, r.cgroup_parent, r.id);
  in.oom_score_adj = std::max(-998, OwnOomScoreAdj());
  const auto& sc = config.linux().security_context();
  if (sc.has_run_as_user()) in.uid = sc.run_as_user().value();
  if (sc.has_run_as_group()) in.gid = sc.run_as_group().value();
  for (auto g : sc.supplemental_groups()) in.additional_gids.push_back(g);
  in.privileged = sc.privileged();
  if (in.privileged) in.privileged_capabilities = CurrentBoundingCapabilities();
  in.annotations = {{"io.kubernetes.cri.container-type", "sandbox"},
                    {"io.kubernetes.cri.sandbox-id", r.id},
                    {"io.kubernetes.cri.sandbox-name", config.metadata().name()},
                    {"io.kubernetes.cri.sandbox-namespace", config.metadata().namespace_()},
                    {"io.kubernetes.cri.sandbox-uid", config.metadata().uid()},
                    {"io.kubernetes.cri.sandbox-log-directory", config.log_directory()}};
  if (auto st = ValidateSandboxSpecInput(in); !st.ok()) return st;
  r.runtime_spec = MakeSharedJson(BuildSandboxSpec(in));
  if (auto st = WriteFileAtomic(r.bundle_dir + "/config.json", r.runtime_spec->dump()); !st.ok()) {
    return st;
  }
  MonitorSpec ms;
  ms.id = r.id;
  ms.name = absl::StrCat("k8s_POD_", config.metadata().name(), "_", config.metadata().namespace_());
  ms.bundle_dir = r.bundle_dir;
  ms.log_path = r.bundle_dir + "/pause.log";
  ms.exit_dir = paths_.exits;
  ms.persist_dir = r.bundle_dir + "/persist";
  ms.socket_dir = paths_.sockets;
  ms.runtime_path = runtime->path();
  ms.runtime_root = runtime->root();
  auto started = monitor_->Create(ms);
  if (!started.ok()) {
    spdlog::error("sandbox {}: creating the pause failed: {}", short_id,
                  started.status().message());
    return absl::Status(
        started.status().code(),
        absl::StrCat("failed to create the pause container: ", started.status().message()));
  }
  r.pid = started->container_pid;
  r.monitor_pid = started->monitor_pid;
  r.pid_start_time = ProcessStartTime(r.pid);
  if (*userns && !r.netns_path.empty()) {
    if (auto st = PinNetnsOf(r.pid, r.netns_path); !st.ok()) return st;
    if (auto st = attach_network(); !st.ok()) return st;
  }
  if (auto st = runtime->Start(r.id); !st.ok()) {
    spdlog::error("sandbox {}: starting the pause failed: {}", short_id, st.message());
    return absl::Status(st.code(), absl::StrCat("failed to start the pause: ", st.message()));
  }

  // 5. Ready: record, then publish.
  r.state = SandboxState::kReady;
  if (auto st = PersistRecord(r); !st.ok()) return st;
  success = true;
  {
    absl::MutexLock l(&mu_);
    sandboxes_[r.id] = std::make_shared<Sandbox>(r);
  }
  spdlog::info("sandbox {}: ready, pause pid {}", short_id, r.pid);
  // An exit between Start and publishing would have found no sandbox to mark: look once more.
  if (auto code = ExitWatcher::ReadExitCode(paths_.exits, r.id); code.ok()) OnExit(r.id, *code);
  return r.id;
}

}  // namespace tether
