// Pod sandboxes: RunPodSandbox turns a config into a pause-held set of namespaces wired by CNI;
// Stop and Remove undo it; Recover re-adopts what a previous tetherd left.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "config/config.h"
#include "network/cni.h"
#include "oci/monitor.h"
#include "oci/runtime.h"
#include "runtime/v1/api.pb.h"
#include "sandbox/sandbox.h"
#include "store/record_dir.h"

namespace tether {

// Where a tetherd keeps things, derived from the config.
struct SandboxPaths {
  std::string records;         // <root>/sandboxes
  std::string pause_rootfs;    // <root>/pause-rootfs
  std::string bundles;         // <state>/sandboxes
  std::string netns;           // <state>/netns
  std::string exits;           // <state>/exits (conmon exit files, shared with containers)
  std::string sockets;         // <state>/sockets (conmon attach sockets)
  std::string runtime_config;  // <root>/runtime-config.json (pod CIDR)
  static SandboxPaths From(const Config& c);
};

// A root filesystem for the pause made from the configured sandbox image.
struct SandboxRootfs {
  std::string rootfs;  // mounted
  std::vector<std::string> args;  // the image's entrypoint + cmd
  std::vector<std::string> env;
  std::string image_id;
  std::vector<std::string> chain_ids;
};

class SandboxManager {
 public:
  // Prepares (pulling when needed) and releases a sandbox image rootfs at a mount point.
  using ImageRootfsPrepare =
      std::function<absl::StatusOr<SandboxRootfs>(const std::string& id, const std::string& at)>;
  using ImageRootfsRelease = std::function<void(const std::string& id, const std::string& at)>;
  using Runtimes = std::map<std::string, std::shared_ptr<OciRuntime>>;  // by runtime name
  // Hooks into the container layer: stop (and remove) every container of a sandbox.
  using ContainerHook = std::function<absl::Status(const std::string& sandbox_id)>;

  SandboxManager(const Config& config, std::shared_ptr<CniNetwork> network,
                 std::shared_ptr<Monitor> monitor, Runtimes runtimes);

  // Creates directories, prepares the pause rootfs and re-adopts recorded sandboxes.
  absl::Status Init(const std::string& pause_binary);

  absl::StatusOr<std::string> Run(const runtime::v1::PodSandboxConfig& config,
                                  const std::string& runtime_handler);
  absl::Status Stop(const std::string& id_or_prefix);    // NOT_FOUND is fine
  absl::Status Remove(const std::string& id_or_prefix);  // NOT_FOUND is fine
  // By full id or unique prefix: NOT_FOUND, or INVALID_ARGUMENT when ambiguous.
  absl::StatusOr<std::shared_ptr<Sandbox>> Get(const std::string& id_or_prefix) const;
  std::vector<std::shared_ptr<Sandbox>> List() const;
  // From the exit watcher: returns true when `id` was a sandbox's pause.
  bool OnExit(const std::string& id, int exit_code);

  absl::Status SetPodCidr(const std::string& cidr);
  std::string pod_cidr() const;
  void SetContainerHooks(ContainerHook stop_all, ContainerHook remove_all);
  // With a configured sandbox_image, the pause runs from that image instead of the built-in root.
  void SetSandboxImageHooks(ImageRootfsPrepare prepare, ImageRootfsRelease release);
  // Chain ids that sandboxes' image rootfs use.
  std::vector<std::string> ChainIdsInUse() const;
  std::shared_ptr<CniNetwork> network() const { return network_; }
  const SandboxPaths& paths() const { return paths_; }
  std::shared_ptr<OciRuntime> RuntimeOf(const SandboxRecord& r) const;

 private:
  struct Reservation {
    bool in_flight = true;
    std::string id;
  };
  absl::StatusOr<std::string> DoRun(const runtime::v1::PodSandboxConfig& config,
                                    const std::string& handler);
  absl::Status StopLocked(Sandbox& sb);
  absl::Status PersistRecord(const SandboxRecord& r) const {
    return records_.Write(r.id, r.ToJson());
  }
  // Undo every side effect a record may describe; each step is idempotent.
  void Cleanup(const SandboxRecord& r, bool remove_files);
  CniAttachment AttachmentOf(const SandboxRecord& r) const;
  absl::Status PreparePauseRootfs(const std::string& pause_binary);
  void Recover();

  const Config& config_;
  SandboxPaths paths_;
  std::shared_ptr<CniNetwork> network_;
  std::shared_ptr<Monitor> monitor_;
  Runtimes runtimes_;
  RecordDir records_;
  ContainerHook stop_containers_, remove_containers_;
  ImageRootfsPrepare prepare_image_rootfs_;
  ImageRootfsRelease release_image_rootfs_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Sandbox>> sandboxes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Reservation>> names_ ABSL_GUARDED_BY(mu_);
  std::string pod_cidr_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether
