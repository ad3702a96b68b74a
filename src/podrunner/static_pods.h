// Static pods: every Pod manifest (*.yaml, *.yml, *.json) in a folder runs as a pod, one PodRunner
// per file, as kubelet's --pod-manifest-path does. One inotify watch on the folder reacts to files
// added (the pod starts), changed (the old pod is shut down, the new one started; a change that
// leaves the manifest's content the same does nothing) and removed (the pod is shut down in its
// order and removed). A file that does not parse is logged with the field-named error and skipped;
// a pod already running from an earlier version of it keeps running.
//
// What a static pod's sandbox carries lets a later manager (tetherd restarted, `tetherctl play
// --watch` run again) find it: labels naming the folder, the file and the manifest's hash, and the
// manifest itself as an annotation. At start, a pod whose file and hash still match is adopted
// (its running containers are kept), one from another version of its file is replaced, and one
// whose file is gone is shut down (in its manifest's order) and removed.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "util/fd.h"

namespace tether::podrunner {

// On a static pod's sandbox (with kPlayLabel and the io.kubernetes.* labels of every play pod):
inline constexpr char kStaticDirLabel[] = "tether.io/static-pods";  // hash of the folder's path
inline constexpr char kStaticFileLabel[] = "tether.io/static-pod-file";       // the file's name
inline constexpr char kStaticHashLabel[] = "tether.io/static-pod-hash";       // ManifestHash, pods
inline constexpr char kStaticPathAnnotation[] = "tether.io/static-pod-path";  // the file's path
// The manifest as read, so that a pod whose file is gone is still shut down in its order.
inline constexpr char kStaticManifestAnnotation[] = "tether.io/static-pod-manifest";
// As kubelet marks static pods.
inline constexpr char kConfigSourceAnnotation[] = "kubernetes.io/config.source";
inline constexpr char kConfigHashAnnotation[] = "kubernetes.io/config.hash";

// A hash of the manifest's content that ignores its form: comments, layout, key order, quoting
// style and JSON-vs-YAML do not change it. 16 hex characters. INVALID_ARGUMENT when the text is
// not YAML. With `pods_only`, ConfigMap documents are left out: what identifies the pod (its
// uid, kStaticHashLabel), a ConfigMap's change being applied to the running pod's volumes.
absl::StatusOr<std::string> ManifestHash(absl::string_view text, bool pods_only = false);

// Whether a file in the folder is a manifest: *.yaml, *.yml, *.json, not hidden ('.'-prefixed,
// as editors' swap files are).
bool IsManifestFileName(absl::string_view name);

struct StaticPodsOptions {
  std::string dir;
  // Each pod's runner options (on_event / on_status are set by the manager; keep_completed is
  // forced: a completed static pod stays until its file changes or goes).
  RunnerOptions runner;
  // A runner that ended with an error (the runtime unreachable) or whose sandbox went away is
  // started again after this.
  absl::Duration retry_delay = absl::Seconds(10);
  // inotify events are gathered until the folder has been quiet this long, then it is rescanned.
  absl::Duration settle = absl::Milliseconds(100);
  // Called from the pods' threads, with the manifest's file name.
  std::function<void(const std::string& file, const PodEvent&)> on_event;
  std::function<void(const std::string& file, const PodStatusRow&)> on_status;
  // A manifest that was refused (once per distinct error) or a pod that failed to run.
  std::function<void(const std::string& file, const absl::Status&)> on_error;
};

class StaticPods {
 public:
  StaticPods(RuntimeClient* client, StaticPodsOptions options);
  ~StaticPods();  // Stop(kDetach)

  // Watches the folder (which must exist), then, on the watcher's thread: shuts down the pods
  // whose file is gone, and starts (or adopts) one pod per manifest.
  absl::Status Start();

  enum class StopMode {
    kDetach,    // pods keep running, for the next manager to adopt (tetherd stopping)
    kStopPods,  // every pod is shut down in its order and removed (Ctrl-C on play --watch)
  };
  void Stop(StopMode mode);

  // Rescans the folder and brings the runners in line with it (the watcher calls it).
  void Sync();

  struct PodInfo {
    std::string file;
    std::string name;
    std::string hash;
    std::string uid;
    std::string sandbox_id;
    std::string error;  // the last refusal of the file, or the runner's last error
    PodStatusRow row;
    bool running = false;  // a runner is supervising it
  };
  std::vector<PodInfo> Pods();

  // Stops and removes every pod labelled as coming from `dir` (play --down --watch DIR); returns
  // how many. Uses no watcher.
  static absl::StatusOr<int> DownAll(RuntimeClient* client, const std::string& dir,
                                     const RunnerOptions& options);

 private:
  struct Wanted {
    std::string hash;  // of the pods (ManifestHash pods_only): a change replaces the pod
    std::string full;  // of the whole file: a change of its ConfigMaps alone updates volumes
    PodManifest pod;
  };
  struct Slot {
    std::string file;
    std::optional<Wanted> wanted;  // nullopt: the file is gone
    uint64_t gen = 0;              // bumped when `wanted` changes
    std::string error;
    PodRunner* runner = nullptr;  // while it runs
    std::string sandbox_id, uid, name, running_hash;
    PodStatusRow row;
    bool done = false;  // the worker has ended
    std::thread thread;
  };

  void Watch();
  void InitialSweep();
  void Work(Slot* slot);
  // Tears down the sandboxes of `file` except one READY at `hash` (returned, to adopt).
  std::string Prepare(const std::string& file, const std::string& hash);
  void TearDown(const runtime::v1::PodSandbox& sandbox);
  void Report(const std::string& file, const absl::Status& st);
  void ReapDone();

  RuntimeClient* client_;
  StaticPodsOptions options_;
  std::string dir_;       // absolute
  std::string dir_hash_;  // kStaticDirLabel
  Fd inotify_;
  Fd wake_;
  std::thread watcher_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool detach_ = false;
  bool stopping_ = false;  // Stop(kStopPods): every pod goes, its file or not
  std::map<std::string, std::unique_ptr<Slot>> slots_;  // by file name
};

}  // namespace tether::podrunner
