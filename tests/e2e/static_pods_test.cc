// Static pods (tetherd --static-pods, tetherctl play --watch) and tetherctl debug, end to end: a
// real tetherd with runc, conmon and CNI; the pods' state is read back over the CRI.
#include "podrunner/static_pods.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "podrunner/pod_runner.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/pty_process.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/process.h"

namespace tether::e2e {
namespace {

namespace pr = ::tether::podrunner;

constexpr char kPod[] = R"(apiVersion: v1
kind: Pod
metadata: {name: static-web, namespace: static}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - {name: proxy, image: IMAGE, command: [sleep, "1001"], restartPolicy: Always}
  containers:
  - {name: app, image: IMAGE, command: [sleep, "1002"]}
)";

// The harness runs tetherd --static-pods on this folder when it exists at Start().
std::string StaticDir(Daemon& d) { return d.base() + "/static-pods"; }

bool WaitUntil(const std::function<bool()>& pred, int seconds = 60) {
  absl::Time deadline = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < deadline) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return pred();
}

std::vector<runtime::v1::PodSandbox> Sandboxes(Daemon& d,
                                               const std::map<std::string, std::string>& labels) {
  runtime::v1::ListPodSandboxRequest req;
  for (const auto& [k, v] : labels) (*req.mutable_filter()->mutable_label_selector())[k] = v;
  runtime::v1::ListPodSandboxResponse resp;
  grpc::ClientContext ctx;
  auto st = d.runtime().ListPodSandbox(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return {resp.items().begin(), resp.items().end()};
}

std::vector<runtime::v1::Container> Containers(Daemon& d, const std::string& pod_id = "") {
  runtime::v1::ListContainersRequest req;
  if (!pod_id.empty()) req.mutable_filter()->set_pod_sandbox_id(pod_id);
  runtime::v1::ListContainersResponse resp;
  grpc::ClientContext ctx;
  auto st = d.runtime().ListContainers(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return {resp.containers().begin(), resp.containers().end()};
}

// The READY static pod of `file` with both its containers running: its sandbox id, else "".
std::string RunningStaticPod(Daemon& d, const std::string& file) {
  std::string id;
  for (const auto& sb : Sandboxes(d, {{pr::kStaticFileLabel, file}})) {
    if (sb.state() == runtime::v1::SANDBOX_READY) id = sb.id();
  }
  if (id.empty()) return "";
  int running = 0;
  for (const auto& c : Containers(d, id)) {
    running += c.state() == runtime::v1::CONTAINER_RUNNING;
  }
  return running == 2 ? id : "";
}

void WriteManifest(const std::string& dir, const std::string& name, const std::string& text) {
  std::string tmp = dir + "/." + name + ".tmp";
  std::ofstream(tmp) << absl::StrReplaceAll(text, {{"IMAGE", TestImage("busybox")}});
  std::filesystem::rename(tmp, dir + "/" + name);
}

class StaticPodsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_E2E();
    REQUIRE_REGISTRY();
  }
};

TEST_F(StaticPodsE2E, TetherdRunsAddedFilesAndRemovesThePodOfARemovedFile) {
  Daemon d;
  std::filesystem::create_directories(StaticDir(d));
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  // A bad file is skipped, with its field named in the log; the good one runs.
  WriteManifest(StaticDir(d), "bad.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n"
                "  - {name: a}\n");
  WriteManifest(StaticDir(d), "web.yaml", kPod);
  std::string id;
  ASSERT_TRUE(WaitUntil([&] { return !(id = RunningStaticPod(d, "web.yaml")).empty(); }))
      << d.Log();
  EXPECT_TRUE(absl::StrContains(d.Log(), "bad.yaml: spec.containers[0].image: is required"));
  auto all = Sandboxes(d, {});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].metadata().name(), "static-web");
  EXPECT_EQ(all[0].labels().at(pr::kPlayLabel), "true");
  EXPECT_EQ(all[0].annotations().at(pr::kConfigSourceAnnotation), "file");

  std::filesystem::remove(StaticDir(d) + "/web.yaml");
  ASSERT_TRUE(WaitUntil([&] { return Sandboxes(d, {}).empty(); })) << d.Log();
  EXPECT_TRUE(Containers(d).empty());
  std::filesystem::remove(StaticDir(d) + "/bad.yaml");
}

TEST_F(StaticPodsE2E, RestartedTetherdAdoptsTheRunningPodWithoutADuplicate) {
  Daemon d;
  std::filesystem::create_directories(StaticDir(d));
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  WriteManifest(StaticDir(d), "web.yaml", kPod);
  std::string id;
  ASSERT_TRUE(WaitUntil([&] { return !(id = RunningStaticPod(d, "web.yaml")).empty(); }))
      << d.Log();
  std::vector<std::string> before;
  for (const auto& c : Containers(d)) before.push_back(c.id());
  ASSERT_EQ(before.size(), 2u);

  d.Kill9();
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(d.Log(), "adopting pod static-web"); }))
      << d.Log();
  // The adopting runner has read the containers' states and published the pod's row.
  ASSERT_TRUE(WaitUntil([&] {
    auto log = d.Log();
    auto at = log.rfind("adopting pod static-web");
    return log.find("static-web 2/2 Running", at) != std::string::npos;
  })) << d.Log();
  auto all = Sandboxes(d, {});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id(), id);
  EXPECT_EQ(all[0].state(), runtime::v1::SANDBOX_READY);
  std::vector<std::string> after;
  for (const auto& c : Containers(d)) {
    after.push_back(c.id());
    EXPECT_EQ(c.state(), runtime::v1::CONTAINER_RUNNING) << c.metadata().name();
  }
  EXPECT_EQ(after, before);

  std::filesystem::remove(StaticDir(d) + "/web.yaml");
  ASSERT_TRUE(WaitUntil([&] { return Sandboxes(d, {}).empty(); })) << d.Log();
  EXPECT_TRUE(Containers(d).empty());
}

// tetherd killed between `runc start` and the RUNNING record (done here by hand: the container is
// made through the CRI, tetherd killed, then runc starts it): the restarted tetherd reports it
// RUNNING, so that an adopting runner takes it rather than failing to start it again.
TEST_F(StaticPodsE2E, AContainerStartedAsTetherdDiedIsRecoveredRunning) {
  Daemon d;
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  runtime::v1::PodSandboxConfig pod_config = PodConfig("inflight");
  auto pod = d.RunPod("inflight", &pod_config);
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_TRUE(d.Pull(TestImage("busybox")).ok());
  auto id = d.CreateContainer(*pod, ContainerConfig("app", TestImage("busybox"), {"sleep", "4321"}),
                              pod_config);
  ASSERT_TRUE(id.ok()) << id.status();
  d.Kill9();
  auto start =
      RunProcess({.argv = {"/usr/bin/runc", "--root", d.state() + "/runtime/runc", "start", *id},
                  .timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(start.ok()) << start.status();
  ASSERT_EQ(start->exit_code, 0) << start->err;
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  auto status = d.ContainerStatus(*id, /*verbose=*/false);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status().state(), runtime::v1::CONTAINER_RUNNING) << d.Log();
  EXPECT_GT(status->status().started_at(), 0);
  ASSERT_TRUE(d.StopContainer(*id, 0).ok());
  auto exited = d.WaitExited(*id);
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->exit_code(), 137);
  ASSERT_TRUE(d.RemoveContainer(*id).ok());
}

// A static pod's ConfigMap changed in its file: the running container reads the new content
// through its volume (the ..data symlink swapped under the read-only mount), not restarted.
TEST_F(StaticPodsE2E, AConfigMapChangeReachesTheRunningContainer) {
  Daemon d;
  std::filesystem::create_directories(StaticDir(d));
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  const std::string manifest = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: static}
data: {greeting: GREETING}
---
apiVersion: v1
kind: Pod
metadata: {name: static-cfg, namespace: static}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: IMAGE
    command: [sleep, "1003"]
    volumeMounts: [{name: settings, mountPath: /etc/app}]
  volumes:
  - {name: settings, configMap: {name: settings}}
)";
  WriteManifest(StaticDir(d), "cfg.yaml", absl::StrReplaceAll(manifest, {{"GREETING", "hello-1"}}));
  std::string app;
  ASSERT_TRUE(WaitUntil([&] {
    for (const auto& c : Containers(d)) {
      if (c.state() == runtime::v1::CONTAINER_RUNNING) app = c.id();
    }
    return !app.empty();
  })) << d.Log();
  auto cat = [&] {
    auto r = d.Exec(app, {"cat", "/etc/app/greeting"});
    return r.ok() ? r->stdout() : std::string();
  };
  EXPECT_EQ(cat(), "hello-1");
  WriteManifest(StaticDir(d), "cfg.yaml", absl::StrReplaceAll(manifest, {{"GREETING", "hello-2"}}));
  ASSERT_TRUE(WaitUntil([&] { return cat() == "hello-2"; })) << cat() << d.Log();
  auto all = Containers(d);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id(), app);
  EXPECT_EQ(all[0].metadata().attempt(), 0u);
  EXPECT_EQ(all[0].state(), runtime::v1::CONTAINER_RUNNING);
  // The path the container sees is a symlink through ..data, as kubelet lays it out.
  auto ls = d.Exec(app, {"readlink", "/etc/app/greeting"});
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->stdout(), "..data/greeting\n");
  std::filesystem::remove(StaticDir(d) + "/cfg.yaml");
  ASSERT_TRUE(WaitUntil([&] { return Sandboxes(d, {}).empty(); })) << d.Log();
}

TEST_F(StaticPodsE2E, TetherctlPlayWatch) {
  Daemon d;
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  const std::string dir = d.base() + "/watched";
  std::filesystem::create_directories(dir);
  WriteManifest(dir, "web.yaml", kPod);
  const std::string out_path = d.base() + "/play.out";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    const std::string volumes = d.base() + "/play-volumes";
    const std::string logs = E2ELogRoot() + "/play";
    execl(TETHERCTL_PATH, TETHERCTL_PATH, "-r", d.socket().c_str(), "play", "--watch", dir.c_str(),
          "--volume-root", volumes.c_str(), "--log-root", logs.c_str(), nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  auto output = [&] {
    auto text = ReadFile(out_path);
    return text.ok() ? *text : std::string();
  };
  std::string id;
  bool up = WaitUntil([&] { return !(id = RunningStaticPod(d, "web.yaml")).empty(); });
  EXPECT_TRUE(up) << output() << d.Log();
  if (up) {
    std::filesystem::remove(dir + "/web.yaml");
    EXPECT_TRUE(WaitUntil([&] { return Sandboxes(d, {}).empty(); })) << output();
    WriteManifest(dir, "web.yaml", kPod);
    EXPECT_TRUE(WaitUntil([&] { return !RunningStaticPod(d, "web.yaml").empty(); })) << output();
  }
  // SIGTERM: the watcher shuts its pods down and exits 0.
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << output();
  EXPECT_TRUE(Sandboxes(d, {}).empty()) << output();
  EXPECT_TRUE(Containers(d).empty());
  EXPECT_TRUE(absl::StrContains(output(), "Running")) << output();
}

// A pod "debugme" whose container "app" runs `sleep 1234` in a PID namespace of its own (not the
// pod's), so that only a debug container with TARGET reaches it.
struct DebugTarget {
  std::string pod, app;
};
absl::StatusOr<DebugTarget> StartDebugTarget(Daemon& d) {
  runtime::v1::PodSandboxConfig pod_config = PodConfig("debugme");
  auto pod = d.RunPod("debugme", &pod_config);
  if (!pod.ok()) return pod.status();
  if (auto image = d.Pull(TestImage("busybox")); !image.ok()) return image.status();
  runtime::v1::ContainerConfig app_config =
      ContainerConfig("app", TestImage("busybox"), {"sleep", "1234"});
  app_config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(
      runtime::v1::CONTAINER);
  auto app = d.CreateContainer(*pod, app_config, pod_config);
  if (!app.ok()) return app.status();
  if (auto st = d.StartContainer(*app); !st.ok()) return st;
  return DebugTarget{*pod, *app};
}

TEST_F(StaticPodsE2E, DebugContainerSeesTheTargetsProcesses) {
  Daemon d;
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  auto started = StartDebugTarget(d);
  ASSERT_TRUE(started.ok()) << started.status() << d.Log();
  const std::string& pod = started->pod;
  const std::string& app = started->app;

  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {TETHERCTL_PATH, "-r",      d.socket(),           "debug",
                                     "debugme",      "--image", TestImage("busybox"), "--target",
                                     "app"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess({.argv = argv, .timeout = std::chrono::seconds(60)});
  };
  auto ps = run({"--", "ps", "-o", "pid,args"});
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_EQ(ps->exit_code, 0) << ps->out << ps->err;
  // The target's process is PID 1 of the namespace the debug container joined.
  EXPECT_TRUE(absl::StrContains(ps->out, "1 sleep 1234")) << ps->out << ps->err;
  EXPECT_TRUE(absl::StrContains(ps->err, "debugger-")) << ps->err;
  // Removed afterwards: only the app is left.
  auto left = Containers(d, pod);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id(), app);

  // The debug command's exit code is tetherctl's; --keep leaves the container.
  auto code = run({"--keep", "--", "sh", "-c", "echo bye; exit 3"});
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(code->exit_code, 3) << code->out << code->err;
  EXPECT_TRUE(absl::StrContains(code->out, "bye")) << code->out;
  auto kept = Containers(d, pod);
  ASSERT_EQ(kept.size(), 2u);
  for (const auto& c : kept) {
    if (c.id() == app) continue;
    EXPECT_TRUE(absl::StartsWith(c.metadata().name(), "debugger-")) << c.metadata().name();
    EXPECT_EQ(c.state(), runtime::v1::CONTAINER_EXITED);
    EXPECT_TRUE(d.RemoveContainer(c.id()).ok());
  }

  // A target that does not run is refused naming the flag.
  auto bad = RunProcess({.argv = {TETHERCTL_PATH, "-r", d.socket(), "debug", "debugme", "--image",
                                  TestImage("busybox"), "--target", "nope", "--", "true"},
                         .timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad->err, "--target: no running container \"nope\"")) << bad->err;
  ASSERT_TRUE(d.StopContainer(app, 0).ok());
  ASSERT_TRUE(d.RemoveContainer(app).ok());
}

// kubectl debug -it: tetherctl attaches our terminal (a real pty here) to the debug container,
// which has a tty of the pty's size; its exit code is tetherctl's and it is removed afterwards.
// With -i alone a pipe is its stdin, and the pipe's end ends it.
TEST_F(StaticPodsE2E, DebugInteractiveWithATerminal) {
  Daemon d;
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  auto started = StartDebugTarget(d);
  ASSERT_TRUE(started.ok()) << started.status() << d.Log();
  auto tty = PtyProcess::Start({TETHERCTL_PATH, "-r", d.socket(), "debug", "debugme", "--image",
                                TestImage("busybox"), "--target", "app", "-it", "--", "sh"},
                               27, 93);
  ASSERT_TRUE(tty.ok()) << tty.status();
  ASSERT_TRUE(tty->ReadUntil("try pressing enter", absl::Seconds(60))) << tty->seen();
  // Typed before or after the attach is made, it reaches the remote shell.
  ASSERT_TRUE(tty->Type("stty size; ps -o pid,args; echo mark-$((40+2))\r"));
  ASSERT_TRUE(tty->ReadUntil("mark-42", absl::Seconds(60))) << tty->seen();
  EXPECT_TRUE(absl::StrContains(tty->seen(), "27 93")) << tty->seen();
  EXPECT_TRUE(absl::StrContains(tty->seen(), "1 sleep 1234")) << tty->seen();  // the target's
  ASSERT_TRUE(tty->Type("exit 5\r"));
  tty->ReadToEnd(absl::Seconds(60));
  auto code = tty->Wait();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 5) << tty->seen();
  auto left = Containers(d, started->pod);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id(), started->app);

  // -i without -t: stdin from a pipe, stdout and stderr apart.
  auto piped = RunProcess(
      {.argv = {TETHERCTL_PATH, "-r", d.socket(), "debug", "debugme", "--image",
                TestImage("busybox"), "--target", "app", "-i", "--", "sh"},
       .stdin_data = "echo piped-$((1+1)); echo oops >&2; ps -o args | grep -c 'sleep 1234'\n",
       .timeout = std::chrono::seconds(60)});
  ASSERT_TRUE(piped.ok()) << piped.status();
  EXPECT_EQ(piped->exit_code, 0) << piped->out << piped->err;
  EXPECT_TRUE(absl::StrContains(piped->out, "piped-2\n")) << piped->out;
  EXPECT_TRUE(absl::StrContains(piped->err, "oops")) << piped->err;
  EXPECT_FALSE(absl::StrContains(piped->out, "oops")) << piped->out;
  EXPECT_EQ(Containers(d, started->pod).size(), 1u);
  ASSERT_TRUE(d.StopContainer(started->app, 0).ok());
  ASSERT_TRUE(d.RemoveContainer(started->app).ok());
}

// Every examples/play-*.yaml plays with the busybox the demo has (the test image is the same
// Debian busybox-static): all four as static pods of one tetherd, their containers running and
// not crash-looping. Host ports and the host path are moved out of the way of other runs.
TEST_F(StaticPodsE2E, ExamplesPlayWithTheDemosBusybox) {
  Daemon d;
  std::filesystem::create_directories(StaticDir(d));
  ASSERT_TRUE(d.Start().ok()) << d.Log();
  const std::string ready_dir = d.base() + "/ready";
  const int port = 28000 + 10 * E2ENet();
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TETHER_SOURCE_DIR) + "/examples")) {
    std::string name = entry.path().filename().string();
    // The probes example has e2e tests of its own (podrunner_probe_test.cc).
    if (!absl::StartsWith(name, "play-") || name == "play-probes-configmap.yaml") continue;
    auto text = ReadFile(entry.path().string());
    ASSERT_TRUE(text.ok());
    std::string yaml =
        absl::StrReplaceAll(*text, {{"image: busybox", "image: IMAGE"},
                                    {"hostPort: 8080", absl::StrCat("hostPort: ", port)},
                                    {"hostPort: 8081", absl::StrCat("hostPort: ", port + 1)},
                                    {"/var/lib/tether-play/ready", ready_dir}});
    WriteManifest(StaticDir(d), name, yaml);
    ++files;
  }
  ASSERT_EQ(files, 4);
  // web 2, proxied 2, shared-pid 2, wait-for-file 1 (its init container waits for the file).
  auto running = [&] {
    int n = 0;
    for (const auto& c : Containers(d)) n += c.state() == runtime::v1::CONTAINER_RUNNING;
    return n;
  };
  ASSERT_TRUE(WaitUntil([&] { return running() == 7; }, 120)) << d.Log();
  EXPECT_EQ(Sandboxes(d, {}).size(), 4u);
  std::ofstream(ready_dir + "/go") << "";
  ASSERT_TRUE(WaitUntil([&] {
    for (const auto& c : Containers(d)) {
      if (c.metadata().name() == "app" && c.labels().at(pr::kPodNameLabel) == "wait-for-file" &&
          c.state() == runtime::v1::CONTAINER_RUNNING) {
        return true;
      }
    }
    return false;
  })) << d.Log();
  // A while later nothing has been restarted (a bad command line would crash-loop).
  absl::SleepFor(absl::Seconds(3));
  for (const auto& c : Containers(d)) {
    EXPECT_EQ(c.metadata().attempt(), 0u) << c.metadata().name();
    if (c.metadata().name() != "wait" && c.metadata().name() != "content") {
      EXPECT_EQ(c.state(), runtime::v1::CONTAINER_RUNNING) << c.metadata().name();
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(StaticDir(d))) {
    std::filesystem::remove(entry.path());
  }
  ASSERT_TRUE(WaitUntil([&] { return Sandboxes(d, {}).empty(); })) << d.Log();
  EXPECT_TRUE(Containers(d).empty());
}

}  // namespace
}  // namespace tether::e2e
