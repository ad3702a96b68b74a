#include "podrunner/static_pods.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "image/digest.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/log.h"

namespace tether::podrunner {
namespace {

// Scalars stay strings (80 and "80" differ, which only errs on the side of a restart); maps come
// out with sorted keys, so that neither order nor layout nor comments count.
nlohmann::json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return n.Scalar();
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& item : n) a.push_back(ToJson(item));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) {
        o[kv.first.IsScalar() ? kv.first.Scalar() : ToJson(kv.first).dump()] = ToJson(kv.second);
      }
      return o;
    }
    default:
      return nullptr;
  }
}

// An RFC 4122 name-based (version 5 layout) UUID from a hash, as kubelet derives a static pod's
// uid from its manifest: the same file content in the same place is the same pod.
std::string UuidFromHex(std::string hex) {
  hex[12] = '5';
  hex[16] = "89ab"[(hex[16] >= 'a' ? hex[16] - 'a' + 10 : hex[16] - '0') % 4];
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20, 12));
}

std::string HexOf(const std::string& data) {
  std::string digest = Sha256Digest(data);  // "sha256:<hex>"
  return digest.substr(digest.find(':') + 1);
}

std::string AbsolutePath(const std::string& dir) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(dir, ec), ec);
  std::string out = ec ? dir : canonical.string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string DirHash(const std::string& abs_dir) { return HexOf(abs_dir).substr(0, 16); }

// Stops and removes one static pod from what its sandbox carries: the manifest annotation gives
// the shutdown order (sidecars last, in reverse) and grace period.
absl::Status TearDownSandbox(RuntimeClient* client, const runtime::v1::PodSandbox& sandbox,
                             const RunnerOptions& options) {
  PodManifest pod;
  auto it = sandbox.annotations().find(kStaticManifestAnnotation);
  if (it != sandbox.annotations().end()) {
    auto parsed = ParseManifest(it->second);
    if (parsed.ok()) pod = *std::move(parsed);
  }
  pod.name = sandbox.metadata().name();
  pod.namespace_ = sandbox.metadata().namespace_();
  pod.uid = sandbox.metadata().uid();
  auto n = DownPod(client, pod, options);
  return n.status();
}

// The manifest files in `dir` and their content (a file that vanished while read is left out).
absl::StatusOr<std::map<std::string, std::string>> ReadManifests(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("reading ", dir, ": ", ec.message()));
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (!IsManifestFileName(name)) continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;  // follows symlinks, as kubelet does
    auto text = ReadFile(entry.path().string());
    if (text.ok()) out[name] = *std::move(text);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ManifestHash(absl::string_view text, bool pods_only) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  nlohmann::json all = nlohmann::json::array();
  for (const auto& d : docs) {
    nlohmann::json doc = ToJson(d);
    if (pods_only && doc.is_object() && doc.value("kind", nlohmann::json()) == "ConfigMap") {
      continue;
    }
    all.push_back(std::move(doc));
  }
  return HexOf(all.dump()).substr(0, 16);
}

bool IsManifestFileName(absl::string_view name) {
  if (name.empty() || name[0] == '.') return false;
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml") ||
         absl::EndsWith(name, ".json");
}

StaticPods::StaticPods(RuntimeClient* client, StaticPodsOptions options)
    : client_(client), options_(std::move(options)) {
  dir_ = AbsolutePath(options_.dir);
  dir_hash_ = DirHash(dir_);
}

StaticPods::~StaticPods() { Stop(StopMode::kDetach); }

absl::Status StaticPods::Start() {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    return absl::NotFoundError(absl::StrCat("static pods: ", dir_, " is not a directory"));
  }
  inotify_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_.valid()) return absl::InternalError(absl::StrCat("inotify: ", strerror(errno)));
  // Written (closed after writing), renamed in or out, deleted; the folder itself going away.
  if (inotify_add_watch(inotify_.get(), dir_.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB |
                            IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    return absl::InternalError(absl::StrCat("inotify watch ", dir_, ": ", strerror(errno)));
  }
  wake_.reset(eventfd(0, EFD_CLOEXEC));
  if (!wake_.valid()) return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  spdlog::info("static pods: watching {}", dir_);
  watcher_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void StaticPods::Stop(StopMode mode) {
  if (mode == StopMode::kDetach) {
    // First, so that no runner shuts a pod down while the rest stops.
    std::lock_guard<std::mutex> l(mu_);
    detach_ = true;
    for (auto& [_, s] : slots_) {
      if (s->runner != nullptr) s->runner->Detach();
    }
    cv_.notify_all();
  }
  if (watcher_.joinable()) {
    uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof one);
    watcher_.join();
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (mode == StopMode::kStopPods) {
      stopping_ = true;
      for (auto& [_, s] : slots_) {
        if (s->wanted) {
          s->wanted.reset();
          ++s->gen;
        }
        if (s->runner != nullptr) s->runner->Stop();
      }
    }
    cv_.notify_all();
    for (auto& [_, s] : slots_) {
      if (s->thread.joinable()) threads.push_back(std::move(s->thread));
    }
  }
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> l(mu_);
  slots_.clear();
}

void StaticPods::Report(const std::string& file, const absl::Status& st) {
  spdlog::error("static pod {}/{}: {}", dir_, file, st.message());
  if (options_.on_error) options_.on_error(file, st);
}

void StaticPods::ReapDone() {
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->second->done) {
      it->second->thread.join();  // it has returned (done is its last act)
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
}

void StaticPods::Sync() {
  auto read = ReadManifests(dir_);
  if (!read.ok()) {
    // Nothing is stopped for a folder that cannot be read (it may be being replaced).
    spdlog::error("static pods: {}; the pods are left as they are", read.status().message());
    return;
  }
  const std::map<std::string, std::string>& texts = *read;
  std::vector<std::pair<std::string, absl::Status>> reports;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (detach_) return;
    ReapDone();
    for (const auto& [name, text] : texts) {
      auto& slot = slots_[name];
      if (!slot) {
        slot = std::make_unique<Slot>();
        slot->file = name;
      }
      Slot* s = slot.get();
      auto hash = ManifestHash(text, /*pods_only=*/true);
      auto full = ManifestHash(text);
      if (full.ok() && s->wanted && s->wanted->full == *full) continue;  // same content
      auto pod = ParseManifest(text);
      if (!pod.ok()) {
        std::string message(pod.status().message());
        if (s->error != message) {
          s->error = message;
          reports.emplace_back(name,
                               absl::Status(pod.status().code(),
                                            absl::StrCat(message, s->wanted ? " (the running pod "
                                                                              "is left as it is)"
                                                                            : " (skipped)")));
        }
        continue;
      }
      if (!hash.ok() || !full.ok()) continue;  // cannot happen: it parsed
      if (s->wanted && s->wanted->hash == *hash) {
        // Only its ConfigMaps changed: the running pod keeps running, its configMap volumes are
        // brought up to date (as kubelet's atomic writer does), and env stays as it started.
        // A runner is handed the files (it writes them, or Up() will); one about to start sees
        // the new `full` and starts from the new manifest.
        s->error.clear();
        s->wanted->full = *full;
        s->wanted->pod.volumes = pod->volumes;
        if (s->runner != nullptr) {
          auto updated = s->runner->UpdateConfigMapVolumes(pod->volumes);
          if (!updated.ok()) {
            reports.emplace_back(name, updated.status());
          } else if (*updated > 0) {
            spdlog::info("static pods: {}/{}: {} configMap volume(s) updated", dir_, name,
                         *updated);
          }
        }
        continue;
      }
      pod->labels[kStaticDirLabel] = dir_hash_;
      pod->labels[kStaticFileLabel] = name;
      pod->labels[kStaticHashLabel] = *hash;
      pod->annotations[kStaticPathAnnotation] = absl::StrCat(dir_, "/", name);
      pod->annotations[kStaticManifestAnnotation] = text;
      pod->annotations[kConfigSourceAnnotation] = "file";
      pod->annotations[kConfigHashAnnotation] = *hash;
      if (pod->uid.empty())
        pod->uid = UuidFromHex(HexOf(absl::StrCat(dir_, "/", name, "\n", *hash)));
      s->error.clear();
      s->wanted = Wanted{*hash, *full, *std::move(pod)};
      ++s->gen;
      if (s->runner != nullptr) s->runner->Stop();  // the worker then runs the new version
      if (!s->thread.joinable()) s->thread = std::thread([this, s] { Work(s); });
    }
    for (auto& [name, s] : slots_) {
      if (texts.contains(name) || !s->wanted) continue;
      s->wanted.reset();  // removed: the worker shuts the pod down and ends
      ++s->gen;
      if (s->runner != nullptr) s->runner->Stop();
    }
    // Slots that only held a refused file that is now gone.
    for (auto it = slots_.begin(); it != slots_.end();) {
      bool idle = !it->second->thread.joinable() && !it->second->wanted;
      it = idle && !texts.contains(it->first) ? slots_.erase(it) : std::next(it);
    }
    cv_.notify_all();
  }
  for (const auto& [file, st] : reports) Report(file, st);
}

void StaticPods::InitialSweep() {
  auto read = ReadManifests(dir_);
  if (!read.ok()) {
    spdlog::error("static pods: {}", read.status().message());
    return;
  }
  const std::map<std::string, std::string>& texts = *read;
  auto sandboxes = client_->ListPodSandbox({{kStaticDirLabel, dir_hash_}, {kPlayLabel, "true"}});
  if (!sandboxes.ok()) {
    spdlog::warn("static pods: listing the pods of {}: {}", dir_, sandboxes.status().message());
  } else {
    for (const runtime::v1::PodSandbox& sb : *sandboxes) {
      auto file = sb.labels().find(kStaticFileLabel);
      if (file != sb.labels().end() && texts.contains(file->second)) continue;
      spdlog::info("static pods: {}/{} is gone; stopping pod {} ({})", dir_,
                   file == sb.labels().end() ? "?" : file->second, sb.metadata().name(),
                   sb.id().substr(0, 13));
      if (auto st = TearDownSandbox(client_, sb, options_.runner); !st.ok()) {
        spdlog::warn("static pods: stopping pod {}: {}", sb.id().substr(0, 13), st.message());
      }
    }
  }
  Sync();
}

void StaticPods::Watch() {
  InitialSweep();
  alignas(inotify_event) char buf[8192];
  const int settle_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.settle));
  // Drains the queue; false when the folder itself went away.
  auto drain = [&]() {
    bool dir_alive = true;
    for (;;) {
      ssize_t n = read(inotify_.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) dir_alive = false;
      }
    }
    return dir_alive;
  };
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("static pods: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    bool alive = drain();
    // Gather the rest of a burst (an editor's write + rename, a cp of several files).
    for (;;) {
      pollfd more[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      int r = poll(more, 2, settle_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      if (more[1].revents) return;
      alive = drain() && alive;
    }
    Sync();
    if (!alive) {
      spdlog::error(
          "static pods: {} was removed or moved; it is no longer watched and its pods "
          "are left as they are",
          dir_);
      return;
    }
  }
}

std::string StaticPods::Prepare(const std::string& file, const std::string& hash) {
  auto sandboxes = client_->ListPodSandbox(
      {{kStaticDirLabel, dir_hash_}, {kStaticFileLabel, file}, {kPlayLabel, "true"}});
  if (!sandboxes.ok()) {
    spdlog::warn("static pods: listing the pods of {}: {}", file, sandboxes.status().message());
    return "";
  }
  std::string adopt;
  for (const runtime::v1::PodSandbox& sb : *sandboxes) {
    auto h = sb.labels().find(kStaticHashLabel);
    bool same = h != sb.labels().end() && h->second == hash;
    if (adopt.empty() && same && sb.state() == runtime::v1::SANDBOX_READY) {
      adopt = sb.id();
      continue;
    }
    spdlog::info("static pods: replacing pod {} ({}) of {}/{}", sb.metadata().name(),
                 sb.id().substr(0, 13), dir_, file);
    TearDown(sb);
  }
  return adopt;
}

void StaticPods::TearDown(const runtime::v1::PodSandbox& sandbox) {
  if (auto st = TearDownSandbox(client_, sandbox, options_.runner); !st.ok()) {
    spdlog::warn("static pods: stopping pod {}: {}", sandbox.id().substr(0, 13), st.message());
  }
}

void StaticPods::Work(Slot* s) {
  enum class End { kNone, kSettled, kRetry };
  End end = End::kNone;
  uint64_t last = 0;  // the generation last run
  for (;;) {
    Wanted want;
    {
      std::unique_lock<std::mutex> l(mu_);
      auto changed = [&] { return detach_ || s->gen != last; };
      if (end == End::kSettled) {
        cv_.wait(l, changed);
      } else if (end == End::kRetry) {
        cv_.wait_for(l, absl::ToChronoNanoseconds(options_.retry_delay), changed);
      }
      end = End::kNone;
      if (detach_) break;
      last = s->gen;
      if (!s->wanted) {
        // The file is gone: whatever still runs from it (a completed pod, a leftover) goes.
        l.unlock();
        auto sandboxes = client_->ListPodSandbox(
            {{kStaticDirLabel, dir_hash_}, {kStaticFileLabel, s->file}, {kPlayLabel, "true"}});
        if (sandboxes.ok()) {
          for (const auto& sb : *sandboxes) TearDown(sb);
        }
        l.lock();
        if (s->gen == last || detach_) {
          if (stopping_) {
            spdlog::info("static pods: {}/{}: its pod is stopped (the watcher stops)", dir_,
                         s->file);
          } else {
            spdlog::info("static pods: {}/{} removed; its pod is gone", dir_, s->file);
          }
          s->sandbox_id.clear();
          s->done = true;
          break;
        }
        continue;  // it came back meanwhile
      }
      want = *s->wanted;
    }
    std::string adopt = Prepare(s->file, want.hash);
    RunnerOptions o = options_.runner;
    o.keep_completed = true;
    o.adopt_sandbox_id = adopt;
    PodRunner* self = nullptr;  // callbacks run on this thread, inside Run()
    const std::string file = s->file;
    o.on_event = [this, file](const PodEvent& e) {
      if (options_.on_event) options_.on_event(file, e);
    };
    o.on_status = [this, s, file, &self](const PodStatusRow& row) {
      {
        std::lock_guard<std::mutex> l(mu_);
        s->row = row;
        if (self != nullptr) s->sandbox_id = self->sandbox_id();
      }
      if (options_.on_status) options_.on_status(file, row);
    };
    PodRunner runner(client_, want.pod, o);
    self = &runner;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (detach_ || s->gen != last || !s->wanted || s->wanted->full != want.full) continue;
      s->runner = &runner;
      s->uid = runner.uid();
      s->name = want.pod.name;
      s->running_hash = want.hash;
    }
    if (adopt.empty()) {
      spdlog::info("static pods: starting pod {} from {}/{}", want.pod.name, dir_, file);
    } else {
      spdlog::info("static pods: adopting pod {} ({}) of {}/{}", want.pod.name, adopt.substr(0, 13),
                   dir_, file);
    }
    auto phase = runner.Run();
    absl::Status failure;
    {
      std::lock_guard<std::mutex> l(mu_);
      s->runner = nullptr;
      s->sandbox_id = runner.sandbox_id();
      if (detach_) break;
      if (s->gen != last) {
        s->sandbox_id.clear();  // stopped for a new version (or removal): it shut the pod down
        continue;
      }
      if (!phase.ok()) {
        failure = phase.status();
        end = End::kRetry;
      } else if (*phase == PodPhase::kSucceeded || *phase == PodPhase::kFailed) {
        end = End::kSettled;  // kept as it ended until its file changes
      } else {
        failure = absl::UnavailableError(
            "the pod sandbox was stopped or removed outside the static pod manager");
        end = End::kRetry;
      }
      if (!failure.ok()) s->error = std::string(failure.message());
    }
    if (!failure.ok()) {
      Report(file, absl::Status(failure.code(),
                                absl::StrCat(failure.message(), "; starting it again in ",
                                             absl::FormatDuration(options_.retry_delay))));
    }
  }
}

std::vector<StaticPods::PodInfo> StaticPods::Pods() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<PodInfo> out;
  for (const auto& [name, s] : slots_) {
    if (s->done) continue;
    out.push_back(PodInfo{.file = name,
                          .name = s->wanted ? s->wanted->pod.name : s->name,
                          .hash = s->wanted ? s->wanted->hash : "",
                          .uid = s->uid,
                          .sandbox_id = s->sandbox_id,
                          .error = s->error,
                          .row = s->row,
                          .running = s->runner != nullptr});
  }
  return out;
}

absl::StatusOr<int> StaticPods::DownAll(RuntimeClient* client, const std::string& dir,
                                        const RunnerOptions& options) {
  auto sandboxes =
      client->ListPodSandbox({{kStaticDirLabel, DirHash(AbsolutePath(dir))}, {kPlayLabel, "true"}});
  if (!sandboxes.ok()) return sandboxes.status();
  for (const runtime::v1::PodSandbox& sb : *sandboxes) {
    if (auto st = TearDownSandbox(client, sb, options); !st.ok()) return st;
  }
  return static_cast<int>(sandboxes->size());
}

}  // namespace tether::podrunner
