// The static-pod manager (tetherd --static-pods, tetherctl play --watch): a real folder watched
// with inotify, the pods run over a fake CRI runtime that keeps sandboxes, containers, their labels
// and every call.
#include "podrunner/static_pods.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "tetherctl/cli.h"
#include "util/file.h"

namespace tether::podrunner {
namespace {

using ::testing::HasSubstr;

class FakeCri : public RuntimeClient {
 public:
  struct Sandbox {
    runtime::v1::PodSandboxConfig config;
    bool ready = true;
  };
  struct Container {
    std::string pod;
    runtime::v1::ContainerConfig config;
    runtime::v1::ContainerState state = runtime::v1::CONTAINER_CREATED;
    int code = 0;
    int64_t created = 0;
  };

  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  int Count(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(std::count(calls_.begin(), calls_.end(), call));
  }
  int IndexOf(const std::string& call) {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < calls_.size(); ++i) {
      if (calls_[i] == call) return static_cast<int>(i);
    }
    return -1;
  }
  // Sandbox ids, READY ones only unless `all`.
  std::vector<std::string> SandboxIds(bool all = false) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [id, s] : sandboxes_) {
      if (all || s.ready) out.push_back(id);
    }
    return out;
  }
  std::map<std::string, std::string> Labels(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return {};
    return {it->second.config.labels().begin(), it->second.config.labels().end()};
  }
  std::string Uid(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sandboxes_.find(id);
    return it == sandboxes_.end() ? "" : it->second.config.metadata().uid();
  }
  // "pod/container" of the running containers.
  std::vector<std::string> Running() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [id, c] : containers_) {
      if (c.state == runtime::v1::CONTAINER_RUNNING) out.push_back(Name(c));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The running container "pod/container" exits with `code`, as if its process ended.
  void Exit(const std::string& name, int code) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, c] : containers_) {
      if (Name(c) == name && c.state == runtime::v1::CONTAINER_RUNNING) {
        c.state = runtime::v1::CONTAINER_EXITED;
        c.code = code;
      }
    }
  }
  size_t ContainerCount() {
    std::lock_guard<std::mutex> l(mu_);
    return containers_.size();
  }
  // StartContainer of "pod/container" fails as if the runtime died while it was in flight: with
  // the container left CREATED, or (`started`) after it started; every call then fails
  // (UNAVAILABLE) until Revive().
  void DieOnStart(const std::string& name, bool started) {
    std::lock_guard<std::mutex> l(mu_);
    die_on_start_ = name;
    die_started_ = started;
  }
  bool down() {
    std::lock_guard<std::mutex> l(mu_);
    return down_;
  }
  void Revive() {
    std::lock_guard<std::mutex> l(mu_);
    down_ = false;
  }
  // Container ids of "pod/container", every state.
  std::vector<std::string> Ids(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [id, c] : containers_) {
      if (Name(c) == name) out.push_back(id);
    }
    return out;
  }

  absl::StatusOr<std::string> RunPodSandbox(const runtime::v1::PodSandboxConfig& c) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    for (const auto& [id, s] : sandboxes_) {
      const auto& m = s.config.metadata();
      if (m.name() == c.metadata().name() && m.namespace_() == c.metadata().namespace_() &&
          m.uid() == c.metadata().uid() && m.attempt() == c.metadata().attempt()) {
        return absl::AlreadyExistsError("pod name reserved");
      }
    }
    std::string id = absl::StrCat("sb", ++next_);
    sandboxes_[id] = Sandbox{c};
    calls_.push_back("RunPodSandbox " + c.metadata().name());
    return id;
  }
  absl::Status StopPodSandbox(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return absl::NotFoundError(id);
    it->second.ready = false;
    for (auto& [cid, c] : containers_) {
      if (c.pod == id && c.state == runtime::v1::CONTAINER_RUNNING) {
        c.state = runtime::v1::CONTAINER_EXITED;
        c.code = 137;
      }
    }
    calls_.push_back("StopPodSandbox " + it->second.config.metadata().name());
    return absl::OkStatus();
  }
  absl::Status RemovePodSandbox(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return absl::OkStatus();
    calls_.push_back("RemovePodSandbox " + it->second.config.metadata().name());
    for (auto c = containers_.begin(); c != containers_.end();) {
      c = c->second.pod == id ? containers_.erase(c) : std::next(c);
    }
    sandboxes_.erase(it);
    return absl::OkStatus();
  }
  absl::StatusOr<runtime::v1::PodSandboxStatus> PodSandboxStatus(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = sandboxes_.find(id);
    if (it == sandboxes_.end()) return absl::NotFoundError(id);
    runtime::v1::PodSandboxStatus s;
    s.set_id(id);
    *s.mutable_metadata() = it->second.config.metadata();
    *s.mutable_labels() = it->second.config.labels();
    s.set_state(it->second.ready ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY);
    return s;
  }
  absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPodSandbox(
      const std::map<std::string, std::string>& labels) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    std::vector<runtime::v1::PodSandbox> out;
    for (const auto& [id, s] : sandboxes_) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.config.labels().find(k);
        match = match && it != s.config.labels().end() && it->second == v;
      }
      if (!match) continue;
      runtime::v1::PodSandbox p;
      p.set_id(id);
      *p.mutable_metadata() = s.config.metadata();
      *p.mutable_labels() = s.config.labels();
      *p.mutable_annotations() = s.config.annotations();
      p.set_state(s.ready ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY);
      out.push_back(p);
    }
    return out;
  }
  absl::StatusOr<bool> ImagePresent(const std::string&) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    return true;
  }
  absl::StatusOr<std::string> PullImage(const std::string& image,
                                        const runtime::v1::PodSandboxConfig&) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    return image;
  }
  absl::StatusOr<std::string> CreateContainer(const std::string& pod_id,
                                              const runtime::v1::ContainerConfig& config,
                                              const runtime::v1::PodSandboxConfig&) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    if (!sandboxes_.contains(pod_id)) return absl::NotFoundError(pod_id);
    std::string id = absl::StrCat("ct", ++next_);
    containers_[id] = Container{.pod = pod_id, .config = config, .created = next_};
    calls_.push_back("Create " + Name(containers_[id]));
    return id;
  }
  absl::Status StartContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::NotFoundError(id);
    calls_.push_back("Start " + Name(it->second));
    if (Name(it->second) == die_on_start_) {
      // The runtime goes away while this StartContainer is in flight, before or after the
      // container started.
      if (die_started_) it->second.state = runtime::v1::CONTAINER_RUNNING;
      die_on_start_.clear();
      down_ = true;
      return Down();
    }
    it->second.state = runtime::v1::CONTAINER_RUNNING;
    return absl::OkStatus();
  }
  absl::Status StopContainer(const std::string& id, int64_t) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::NotFoundError(id);
    if (it->second.state == runtime::v1::CONTAINER_RUNNING) {
      it->second.state = runtime::v1::CONTAINER_EXITED;
      it->second.code = 137;
    }
    calls_.push_back("Stop " + Name(it->second));
    return absl::OkStatus();
  }
  absl::Status RemoveContainer(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::OkStatus();
    calls_.push_back("Remove " + Name(it->second));
    containers_.erase(it);
    return absl::OkStatus();
  }
  absl::StatusOr<runtime::v1::ContainerStatus> ContainerStatus(const std::string& id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    auto it = containers_.find(id);
    if (it == containers_.end()) return absl::NotFoundError(id);
    runtime::v1::ContainerStatus s;
    s.set_id(id);
    *s.mutable_metadata() = it->second.config.metadata();
    s.set_state(it->second.state);
    s.set_exit_code(it->second.code);
    return s;
  }
  absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(
      const std::string& pod_id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (down_) return Down();
    std::vector<runtime::v1::Container> out;
    for (const auto& [id, c] : containers_) {
      if (c.pod != pod_id) continue;
      runtime::v1::Container k;
      k.set_id(id);
      k.set_pod_sandbox_id(c.pod);
      *k.mutable_metadata() = c.config.metadata();
      *k.mutable_labels() = c.config.labels();
      k.set_state(c.state);
      k.set_created_at(c.created);
      out.push_back(k);
    }
    return out;
  }

 private:
  static absl::Status Down() { return absl::UnavailableError("connection refused"); }
  std::string Name(const Container& c) {
    auto it = sandboxes_.find(c.pod);
    return absl::StrCat(it == sandboxes_.end() ? "?" : it->second.config.metadata().name(), "/",
                        c.config.metadata().name());
  }

  std::mutex mu_;
  int next_ = 0;
  std::map<std::string, Sandbox> sandboxes_;
  std::map<std::string, Container> containers_;
  std::vector<std::string> calls_;
  std::string die_on_start_;
  bool die_started_ = false;
  bool down_ = false;
};

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return pred();
}

constexpr char kWeb[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - {name: proxy, image: busybox:1, restartPolicy: Always}
  containers:
  - {name: app, image: busybox:1, command: [sleep, "1000"]}
  - {name: logger, image: busybox:1}
)";

class StaticPodsTest : public ::testing::Test {
 protected:
  StaticPodsTest() {
    base_ = absl::StrCat(::testing::TempDir(), "/static-pods-", getpid(), "-", ++counter_);
    dir_ = base_ + "/manifests";
    std::filesystem::create_directories(dir_);
  }
  ~StaticPodsTest() override { std::filesystem::remove_all(base_); }

  StaticPodsOptions Options() {
    StaticPodsOptions o;
    o.dir = dir_;
    o.runner.poll_interval = absl::Milliseconds(10);
    o.runner.backoff_base = absl::Milliseconds(10);
    o.runner.volume_root = base_ + "/volumes";
    o.runner.log_root = "/logs";
    o.retry_delay = absl::Milliseconds(100);
    o.settle = absl::Milliseconds(20);
    o.on_error = [this](const std::string& file, const absl::Status& st) {
      std::lock_guard<std::mutex> l(mu_);
      errors_.push_back(absl::StrCat(file, ": ", st.message()));
    };
    return o;
  }

  // Written as editors and `cp` do: into a temporary name, then renamed over.
  void Write(const std::string& name, const std::string& text) {
    std::string tmp = dir_ + "/." + name + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, dir_ + "/" + name);
  }
  void Remove(const std::string& name) { std::filesystem::remove(dir_ + "/" + name); }

  std::vector<std::string> Errors() {
    std::lock_guard<std::mutex> l(mu_);
    return errors_;
  }

  bool WebRunning() {
    auto r = cri_.Running();
    return std::count(r.begin(), r.end(), "web/app") == 1 &&
           std::count(r.begin(), r.end(), "web/logger") == 1 &&
           std::count(r.begin(), r.end(), "web/proxy") == 1;
  }

  static inline int counter_ = 0;
  std::string base_, dir_;
  FakeCri cri_;
  std::mutex mu_;
  std::vector<std::string> errors_;
};

TEST(ManifestHashTest, IgnoresFormButNotContent) {
  auto a = ManifestHash("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n");
  auto b = ManifestHash(
      "# a comment\nspec:\n  containers:\n  - name: c\nmetadata:\n  name: 'a'\nkind: Pod\n");
  auto json = ManifestHash(R"({"metadata": {"name": "a"}, "kind": "Pod",
                               "spec": {"containers": [{"name": "c"}]}})");
  auto other = ManifestHash("kind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c}]}\n");
  ASSERT_TRUE(a.ok() && b.ok() && json.ok() && other.ok());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *json);
  EXPECT_NE(*a, *other);
  EXPECT_FALSE(ManifestHash("a: [b").ok());
}

TEST(ManifestHashTest, PodsOnlyLeavesTheConfigMapsOut) {
  const std::string pod = "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n";
  const std::string cm1 = "kind: ConfigMap\nmetadata: {name: m}\ndata: {k: one}\n";
  const std::string cm2 = "kind: ConfigMap\nmetadata: {name: m}\ndata: {k: two}\n";
  auto a = ManifestHash(cm1 + "---\n" + pod, true);
  auto b = ManifestHash(cm2 + "---\n" + pod, true);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, *ManifestHash(pod, true));
  EXPECT_NE(*ManifestHash(cm1 + "---\n" + pod), *ManifestHash(cm2 + "---\n" + pod));
}

TEST(ManifestHashTest, FileNames) {
  EXPECT_TRUE(IsManifestFileName("web.yaml"));
  EXPECT_TRUE(IsManifestFileName("web.yml"));
  EXPECT_TRUE(IsManifestFileName("web.json"));
  EXPECT_FALSE(IsManifestFileName(".web.yaml.swp"));
  EXPECT_FALSE(IsManifestFileName(".web.yaml"));
  EXPECT_FALSE(IsManifestFileName("web.yaml~"));
  EXPECT_FALSE(IsManifestFileName("README.md"));
}

TEST_F(StaticPodsTest, FileAddedStartsItsPodWithStaticLabels) {
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  Write("web.yaml", kWeb);
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); })) << ::testing::PrintToString(cri_.Calls());
  auto ids = cri_.SandboxIds();
  ASSERT_EQ(ids.size(), 1u);
  auto labels = cri_.Labels(ids[0]);
  EXPECT_EQ(labels[kStaticFileLabel], "web.yaml");
  EXPECT_EQ(labels[kStaticDirLabel].size(), 16u);
  EXPECT_EQ(labels[kStaticHashLabel], *ManifestHash(kWeb));
  EXPECT_EQ(labels[kPlayLabel], "true");
  EXPECT_EQ(labels[kPodNameLabel], "web");
  // The uid comes from the folder, file and content: the same file again is the same pod.
  std::string uid = cri_.Uid(ids[0]);
  EXPECT_EQ(uid.size(), 36u);
  EXPECT_EQ(uid[14], '5');
  ASSERT_TRUE(WaitFor([&] {
    auto p = pods.Pods();
    return p.size() == 1 && p[0].sandbox_id == ids[0] && p[0].row.status == "Running";
  }));
  // Sidecar before the regular containers, as in kubelet's order.
  EXPECT_LT(cri_.IndexOf("Start web/proxy"), cri_.IndexOf("Start web/app"));
  pods.Stop(StaticPods::StopMode::kStopPods);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
  EXPECT_EQ(cri_.ContainerCount(), 0u);
}

TEST_F(StaticPodsTest, FileChangedReplacesThePodAndAFormOnlyChangeDoesNothing) {
  Write("web.yaml", kWeb);
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
  auto first = cri_.SandboxIds();
  ASSERT_EQ(first.size(), 1u);

  // Comments, layout and key order changed, content not: nothing happens.
  Write("web.yaml", absl::StrCat("# the same pod\n", kWeb, "\n\n"));
  absl::SleepFor(absl::Milliseconds(300));  // the watcher reacts within ~settle; give it time
  EXPECT_EQ(cri_.Count("RunPodSandbox web"), 1);
  EXPECT_EQ(cri_.Count("Stop web/app"), 0);
  EXPECT_EQ(cri_.SandboxIds(), first);

  // A real change: the old pod is shut down and removed, then the new one runs.
  std::string changed = kWeb;
  changed.replace(changed.find("\"1000\""), 6, "\"2000\"");
  Write("web.yaml", changed);
  ASSERT_TRUE(WaitFor([&] {
    auto ids = cri_.SandboxIds(true);
    return cri_.Count("RunPodSandbox web") == 2 && ids.size() == 1 && ids != first && WebRunning();
  })) << ::testing::PrintToString(cri_.Calls());
  auto calls = cri_.Calls();
  int removed = cri_.IndexOf("RemovePodSandbox web");
  int second_run = -1;
  for (size_t i = 0, n = 0; i < calls.size(); ++i) {
    if (calls[i] == "RunPodSandbox web" && ++n == 2) second_run = static_cast<int>(i);
  }
  EXPECT_GE(removed, 0);
  EXPECT_LT(removed, second_run);
  EXPECT_EQ(cri_.Labels(cri_.SandboxIds()[0])[kStaticHashLabel], *ManifestHash(changed));
  pods.Stop(StaticPods::StopMode::kStopPods);
}

TEST_F(StaticPodsTest, FileRemovedStopsThePodInItsShutdownOrder) {
  Write("web.yaml", kWeb);
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
  Remove("web.yaml");
  ASSERT_TRUE(WaitFor([&] { return cri_.SandboxIds(true).empty(); }))
      << ::testing::PrintToString(cri_.Calls());
  EXPECT_EQ(cri_.ContainerCount(), 0u);
  // Regular containers, then the sidecar, then the sandbox.
  int app = cri_.IndexOf("Stop web/app"), logger = cri_.IndexOf("Stop web/logger");
  int proxy = cri_.IndexOf("Stop web/proxy"), sandbox = cri_.IndexOf("StopPodSandbox web");
  ASSERT_GE(app, 0);
  ASSERT_GE(logger, 0);
  EXPECT_LT(app, proxy);
  EXPECT_LT(logger, proxy);
  EXPECT_LT(proxy, sandbox);
  EXPECT_LT(sandbox, cri_.IndexOf("RemovePodSandbox web"));
  EXPECT_TRUE(WaitFor([&] { return pods.Pods().empty(); }));
}

TEST_F(StaticPodsTest, BadManifestIsReportedWithItsFieldAndSkipped) {
  Write("bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n"
        "  - {name: a}\n");
  Write("web.yaml", kWeb);
  std::ofstream(dir_ + "/notes.txt") << "not a manifest";
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
  ASSERT_TRUE(WaitFor([&] { return !Errors().empty(); }));
  EXPECT_THAT(Errors()[0], HasSubstr("bad.yaml: spec.containers[0].image: is required"));
  EXPECT_EQ(cri_.Count("RunPodSandbox bad"), 0);
  EXPECT_EQ(cri_.SandboxIds().size(), 1u);

  // The running pod's file turning bad leaves the pod as it is (and says so).
  auto before = cri_.SandboxIds();
  Write("web.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n"
        "  restartPolicy: Sometimes\n  containers: [{name: a, image: x}]\n");
  ASSERT_TRUE(WaitFor([&] { return Errors().size() >= 2; }));
  EXPECT_THAT(Errors()[1], HasSubstr("web.yaml: spec.restartPolicy: must be"));
  EXPECT_THAT(Errors()[1], HasSubstr("left as it is"));
  EXPECT_EQ(cri_.SandboxIds(), before);
  EXPECT_TRUE(WebRunning());

  // Fixed: the bad file's pod starts.
  Write("bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n"
        "  - {name: a, image: busybox:1}\n");
  ASSERT_TRUE(WaitFor([&] {
    auto r = cri_.Running();
    return std::count(r.begin(), r.end(), "bad/a") == 1;
  }));
  pods.Stop(StaticPods::StopMode::kStopPods);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
}

TEST_F(StaticPodsTest, RestartAdoptsRunningPodsAndStopsThoseWhoseFileIsGone) {
  Write("web.yaml", kWeb);
  Write("gone.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: gone}\nspec:\n  containers:\n"
        "  - {name: a, image: busybox:1}\n");
  {
    StaticPods pods(&cri_, Options());
    ASSERT_TRUE(pods.Start().ok());
    ASSERT_TRUE(WaitFor([&] { return WebRunning() && cri_.Running().size() == 4; }));
    pods.Stop(StaticPods::StopMode::kDetach);  // tetherd stopping: the pods keep running
  }
  EXPECT_EQ(cri_.Running().size(), 4u);
  auto web_before = cri_.Running();
  auto sandboxes_before = cri_.SandboxIds();
  ASSERT_EQ(sandboxes_before.size(), 2u);
  const int creates_before = cri_.Count("Create web/app");

  Remove("gone.yaml");  // while "the daemon" is down
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return cri_.SandboxIds(true).size() == 1; }))
      << ::testing::PrintToString(cri_.Calls());
  ASSERT_TRUE(WaitFor([&] {
    auto p = pods.Pods();
    return p.size() == 1 && p[0].running && p[0].row.status == "Running";
  }));
  // web was adopted: same sandbox, same containers, nothing made again.
  EXPECT_EQ(cri_.Count("RunPodSandbox web"), 1);
  EXPECT_EQ(cri_.Count("Create web/app"), creates_before);
  EXPECT_EQ(cri_.Count("Stop web/app"), 0);
  EXPECT_TRUE(WebRunning());
  EXPECT_EQ(pods.Pods()[0].sandbox_id, cri_.SandboxIds()[0]);
  // gone was stopped and removed.
  EXPECT_EQ(cri_.Count("StopPodSandbox gone"), 1);
  EXPECT_EQ(cri_.Count("RemovePodSandbox gone"), 1);

  // The adopted pod is supervised: a container that dies is restarted (attempt 1).
  cri_.Exit("web/app", 1);
  ASSERT_TRUE(WaitFor([&] { return cri_.Count("Create web/app") == creates_before + 1; }));
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
  pods.Stop(StaticPods::StopMode::kStopPods);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
}

// tetherd (and the runner in it) dies while StartContainer of web/app is in flight; the runner
// of the restarted daemon adopts the container that exists: it starts the CREATED one, or takes
// the one that started, instead of making a replacement.
TEST_F(StaticPodsTest, RestartAdoptsAContainerWhoseStartWasInFlight) {
  for (bool started : {false, true}) {
    SCOPED_TRACE(started ? "started before the death" : "left CREATED");
    FakeCri cri;
    Write("web.yaml", kWeb);
    cri.DieOnStart("web/app", started);
    {
      StaticPods pods(&cri, Options());
      ASSERT_TRUE(pods.Start().ok());
      ASSERT_TRUE(WaitFor([&] { return cri.down(); }));
      pods.Stop(StaticPods::StopMode::kDetach);
    }
    cri.Revive();
    const auto app = cri.Ids("web/app");
    ASSERT_EQ(app.size(), 1u);
    ASSERT_EQ(cri.Count("Start web/app"), 1);
    EXPECT_EQ(cri.Count("Stop web/proxy"), 0);  // the dying runner left the pod as it was

    StaticPods pods(&cri, Options());
    ASSERT_TRUE(pods.Start().ok());
    auto all_running = [&] {
      auto r = cri.Running();
      return std::count(r.begin(), r.end(), "web/app") == 1 &&
             std::count(r.begin(), r.end(), "web/logger") == 1 &&
             std::count(r.begin(), r.end(), "web/proxy") == 1;
    };
    ASSERT_TRUE(WaitFor([&] {
      auto p = pods.Pods();
      return all_running() && p.size() == 1 && p[0].row.status == "Running";
    })) << ::testing::PrintToString(cri.Calls());
    EXPECT_EQ(cri.Ids("web/app"), app);
    EXPECT_EQ(cri.Count("Create web/app"), 1);
    EXPECT_EQ(cri.Count("Start web/app"), started ? 1 : 2);
    EXPECT_EQ(cri.Count("Create web/proxy"), 1);
    EXPECT_EQ(cri.Count("RunPodSandbox web"), 1);
    EXPECT_EQ(cri.Count("Remove web/app"), 0);
    pods.Stop(StaticPods::StopMode::kStopPods);
    EXPECT_TRUE(cri.SandboxIds(true).empty());
    Remove("web.yaml");
  }
}

constexpr char kWithConfigMap[] = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {app.conf: "port=80", extra.conf: "x=1"}
---
apiVersion: v1
kind: Pod
metadata: {name: cfg}
spec:
  containers:
  - name: app
    image: busybox:1
    volumeMounts: [{name: settings, mountPath: /etc/app}]
  volumes:
  - {name: settings, configMap: {name: settings}}
)";

// A change of the file's ConfigMap alone updates the running pod's volume (kubelet's ..data swap)
// and restarts nothing; a change of the pod replaces it.
TEST_F(StaticPodsTest, AConfigMapChangeUpdatesTheVolumeWithoutARestart) {
  Write("cfg.yaml", kWithConfigMap);
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  auto running = [&] {
    auto r = cri_.Running();
    return std::count(r.begin(), r.end(), "cfg/app") == 1;
  };
  ASSERT_TRUE(WaitFor(running));
  ASSERT_EQ(pods.Pods().size(), 1u);
  const std::string uid = pods.Pods()[0].uid;
  const std::string dir = EmptyDirPath(base_ + "/volumes", uid, "settings");
  auto read = [&](const std::string& name) {
    auto s = ReadFile(dir + "/" + name);
    return s.ok() ? *s : "";
  };
  EXPECT_EQ(read("app.conf"), "port=80");
  const auto first = std::filesystem::read_symlink(dir + "/..data");

  std::string changed = kWithConfigMap;
  changed.replace(changed.find("port=80"), 7, "port=8080");
  const std::string extra = ", extra.conf: \"x=1\"";
  changed.replace(changed.find(extra), extra.size(), "");
  Write("cfg.yaml", changed);
  ASSERT_TRUE(WaitFor([&] { return read("app.conf") == "port=8080"; }));
  EXPECT_NE(std::filesystem::read_symlink(dir + "/..data"), first);
  EXPECT_FALSE(std::filesystem::exists(dir + "/extra.conf"));
  EXPECT_EQ(cri_.Count("RunPodSandbox cfg"), 1);
  EXPECT_EQ(cri_.Count("Create cfg/app"), 1);
  EXPECT_EQ(cri_.Count("Stop cfg/app"), 0);
  EXPECT_EQ(pods.Pods()[0].uid, uid);
  EXPECT_TRUE(running());

  // The pod itself changed: it is replaced.
  std::string other = changed;
  other.replace(other.find("image: busybox:1"), 16, "image: busybox:2");
  Write("cfg.yaml", other);
  ASSERT_TRUE(WaitFor([&] { return cri_.Count("RunPodSandbox cfg") == 2 && running(); }));
  pods.Stop(StaticPods::StopMode::kStopPods);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
}

TEST_F(StaticPodsTest, RestartReplacesAPodOfAnEarlierVersionOfItsFile) {
  Write("web.yaml", kWeb);
  {
    StaticPods pods(&cri_, Options());
    ASSERT_TRUE(pods.Start().ok());
    ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
    pods.Stop(StaticPods::StopMode::kDetach);
  }
  auto old = cri_.SandboxIds();
  std::string changed = kWeb;
  changed.replace(changed.find("\"1000\""), 6, "\"3000\"");
  Write("web.yaml", changed);
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] {
    auto ids = cri_.SandboxIds(true);
    return ids.size() == 1 && ids != old && WebRunning();
  })) << ::testing::PrintToString(cri_.Calls());
  EXPECT_EQ(cri_.Count("RemovePodSandbox web"), 1);
  pods.Stop(StaticPods::StopMode::kStopPods);
}

TEST_F(StaticPodsTest, ASandboxRemovedOutsideIsMadeAgain) {
  Write("web.yaml", kWeb);
  StaticPods pods(&cri_, Options());
  ASSERT_TRUE(pods.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
  auto first = cri_.SandboxIds();
  ASSERT_TRUE(cri_.StopPodSandbox(first[0]).ok());
  ASSERT_TRUE(WaitFor([&] {
    auto ids = cri_.SandboxIds();
    return ids.size() == 1 && ids != first && WebRunning();
  })) << ::testing::PrintToString(cri_.Calls());
  ASSERT_TRUE(WaitFor([&] { return !Errors().empty(); }));
  EXPECT_THAT(Errors()[0], HasSubstr("stopped or removed outside"));
  pods.Stop(StaticPods::StopMode::kStopPods);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
}

TEST_F(StaticPodsTest, DownAllRemovesEveryPodOfTheFolder) {
  Write("web.yaml", kWeb);
  {
    StaticPods pods(&cri_, Options());
    ASSERT_TRUE(pods.Start().ok());
    ASSERT_TRUE(WaitFor([&] { return WebRunning(); }));
    pods.Stop(StaticPods::StopMode::kDetach);
  }
  RunnerOptions o;
  o.volume_root = base_ + "/volumes";
  auto n = StaticPods::DownAll(&cri_, dir_, o);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  EXPECT_TRUE(cri_.SandboxIds(true).empty());
  EXPECT_LT(cri_.IndexOf("Stop web/app"), cri_.IndexOf("Stop web/proxy"));
}

TEST(PlayWatchCliTest, NeedsAManifestOrAFolderButNotBoth) {
  for (std::vector<const char*> argv :
       {std::vector<const char*>{"tetherctl", "-r", "unix:///nonexistent/t.sock", "play"},
        std::vector<const char*>{"tetherctl", "-r", "unix:///nonexistent/t.sock", "play", "p.yaml",
                                 "--watch", "/tmp"}}) {
    std::ostringstream out, err;
    int code = ctl::RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
    EXPECT_EQ(code, 1);
    EXPECT_THAT(err.str(), HasSubstr("give either a manifest or --watch DIR"));
  }
}

}  // namespace
}  // namespace tether::podrunner
