// `tetherctl play POD.yaml`: runs a Kubernetes Pod manifest (or a workload's pod template) through
// tetherd in kubelet's order, with a `kubectl get pod -w`-like status and, with --events,
// kubelet-style events; Ctrl-C (or `play --down POD.yaml` from elsewhere) shuts it down.
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "podrunner/cri_client.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "podrunner/static_pods.h"
#include "tetherctl/commands.h"
#include "util/file.h"
#include "util/log.h"

namespace tether::ctl {
namespace {

namespace pr = ::tether::podrunner;

struct PlayOptions {
  std::string manifest;
  std::string watch;  // a static-pod folder
  bool leave_running = false;
  bool down = false;
  bool events = false;
  bool keep = false;
  bool no_remove = false;
  std::string backoff_base = "10s";
  std::string poll = "250ms";
  std::string volume_root = "/var/lib/tether-play";
  std::string log_root = "/var/log/pods";
  std::string run_dir = "/run/tether/play";
};

std::atomic<pr::PodRunner*> g_runner{nullptr};

void OnSignal(int) {
  pr::PodRunner* runner = g_runner.load();
  if (runner != nullptr) runner->Stop();
}

std::string Age(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 600) return absl::StrCat(s / 60, "m", s % 60, "s");
  if (s < 3 * 3600) return absl::StrCat(s / 60, "m");
  return absl::StrCat(s / 3600, "h", (s % 3600) / 60, "m");
}

std::string PidFile(const PlayOptions& o, const pr::PodManifest& pod) {
  return absl::StrCat(o.run_dir, "/", pod.namespace_, "_", pod.name, ".pid");
}

absl::Status Down(CommandEnv& env, pr::RuntimeClient& client, const PlayOptions& o,
                  const pr::PodManifest& pod, const pr::RunnerOptions& runner_options) {
  // A running `play` of this pod shuts it down itself (so that it does not restart what we stop).
  auto pid_text = ReadFile(PidFile(o, pod));
  int pid = 0;
  bool signalled = false;
  if (pid_text.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid) && pid > 1) {
    // A stale file may name a pid reused by something else: only a tetherctl is signalled.
    auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmdline.ok() && absl::StrContains(*cmdline, "tetherctl") && kill(pid, SIGTERM) == 0) {
      signalled = true;
      absl::Time deadline =
          absl::Now() + absl::Seconds(pod.termination_grace_period_seconds) + absl::Seconds(30);
      while (kill(pid, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
    }
  }
  auto n = pr::DownPod(&client, pod, runner_options);
  if (!n.ok()) return n.status();
  if (*n == 0 && !signalled) {
    return absl::NotFoundError(absl::StrCat("pod \"", pod.name, "\" in namespace \"",
                                            pod.namespace_, "\" is not running"));
  }
  env.out() << "pod \"" << pod.name << "\" deleted\n";
  return absl::OkStatus();
}

std::string WatchPidFile(const PlayOptions& o) {
  // One per folder (by its path's hash, as the pods' tether.io/static-pods label).
  std::error_code ec;
  auto path = std::filesystem::weakly_canonical(std::filesystem::absolute(o.watch, ec), ec);
  auto hash = pr::ManifestHash(ec ? o.watch : path.string());
  return absl::StrCat(o.run_dir, "/watch-", hash.ok() ? *hash : "x", ".pid");
}

// Asks the process at the pid in `pid_file` (a tetherctl) to shut its pods down and waits for it
// to exit; whether there was one.
bool SignalPlay(const std::string& pid_file, absl::Duration wait) {
  auto pid_text = ReadFile(pid_file);
  int pid = 0;
  if (!pid_text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid) ||
      pid <= 1) {
    return false;
  }
  // A stale file may name a pid reused by something else: only a tetherctl is signalled.
  auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  if (!cmdline.ok() || !absl::StrContains(*cmdline, "tetherctl") || kill(pid, SIGTERM) != 0) {
    return false;
  }
  absl::Time deadline = absl::Now() + wait;
  while (kill(pid, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  return true;
}

// play --watch DIR: the folder's manifests as static pods until SIGINT/SIGTERM, which stops and
// removes them (or, with --leave-running, leaves them for the next --watch or tetherd
// --static-pods of the same folder to adopt).
absl::Status Watch(CommandEnv& env, pr::RuntimeClient& client, const PlayOptions& o,
                   pr::RunnerOptions runner_options) {
  if (o.down) {
    bool signalled = SignalPlay(WatchPidFile(o), absl::Minutes(2));
    auto n = pr::StaticPods::DownAll(&client, o.watch, runner_options);
    if (!n.ok()) return n.status();
    if (*n == 0 && !signalled) {
      return absl::NotFoundError(absl::StrCat("no pods are running from ", o.watch));
    }
    env.out() << "static pods of " << o.watch << " deleted\n";
    return absl::OkStatus();
  }
  std::mutex out_mu;
  std::ostream& out = env.out();
  bool header = false;
  pr::StaticPodsOptions options;
  options.dir = o.watch;
  options.runner = std::move(runner_options);
  options.runner.on_status = nullptr;
  options.runner.on_event = nullptr;
  options.on_status = [&](const std::string&, const pr::PodStatusRow& row) {
    std::lock_guard<std::mutex> l(out_mu);
    if (!header) {
      out << absl::StrFormat("%-24s %-7s %-22s %-9s %s\n", "NAME", "READY", "STATUS", "RESTARTS",
                             "AGE");
      header = true;
    }
    out << absl::StrFormat("%-24s %-7s %-22s %-9d %s\n", row.name,
                           absl::StrCat(row.ready, "/", row.total), row.status, row.restarts,
                           Age(env.Now() - row.started));
    out.flush();
  };
  if (o.events) {
    options.on_event = [&](const std::string&, const pr::PodEvent& e) {
      std::lock_guard<std::mutex> l(out_mu);
      out << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone()) << "  "
          << absl::StrFormat("%-7s %-14s %-28s ", e.type, e.reason, e.object) << e.message << "\n";
      out.flush();
    };
  }
  options.on_error = [&](const std::string& file, const absl::Status& st) {
    std::lock_guard<std::mutex> l(out_mu);
    env.err() << "tetherctl: " << o.watch << "/" << file << ": " << st.message() << "\n";
    env.err().flush();
  };

  // SIGINT/SIGTERM are taken by sigwait below: blocked before the manager's threads exist.
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  const std::string pid_file = WatchPidFile(o);
  if (MakeDirs(o.run_dir, 0755).ok()) {
    WriteFileAtomic(pid_file, absl::StrCat(getpid(), "\n")).IgnoreError();
  }
  pr::StaticPods pods(&client, options);
  absl::Status st = pods.Start();
  if (st.ok()) {
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    pods.Stop(o.leave_running ? pr::StaticPods::StopMode::kDetach
                              : pr::StaticPods::StopMode::kStopPods);
  }
  RemoveFile(pid_file).IgnoreError();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return st;
}

absl::Status Play(CommandEnv& env, const PlayOptions& o) {
  if (o.watch.empty() == o.manifest.empty()) {
    return absl::InvalidArgumentError("play: give either a manifest or --watch DIR");
  }
  // The manifest first: a malformed one never reaches the runtime.
  absl::StatusOr<pr::PodManifest> pod;
  if (o.watch.empty()) {
    pod = pr::LoadManifest(o.manifest);
    if (!pod.ok()) return pod.status();
    for (const std::string& w : pod->warnings) env.err() << "Warning: " << w << "\n";
  }

  pr::RunnerOptions options;
  auto base = ParseTimeout(o.backoff_base);
  if (!base.ok()) return base.status();
  options.backoff_base = *base;
  auto poll = ParseTimeout(o.poll);
  if (!poll.ok()) return poll.status();
  options.poll_interval = *poll;
  options.volume_root = o.volume_root;
  options.log_root = o.log_root;
  options.remove = !o.no_remove;
  options.keep_completed = o.keep;

  auto cri = env.client();
  if (!cri.ok()) return cri.status();
  auto runtime = (*cri)->Runtime();
  if (!runtime.ok()) return runtime.status();
  auto images = (*cri)->Image();
  if (!images.ok()) return images.status();
  auto timeout = CallTimeout(env);
  if (!timeout.ok()) return timeout.status();
  pr::GrpcRuntimeClient client(*runtime, *images, *timeout);

  if (!o.watch.empty()) return Watch(env, client, o, options);
  if (o.down) return Down(env, client, o, *pod, options);

  std::ostream& out = env.out();
  bool header = false;
  options.on_status = [&](const pr::PodStatusRow& row) {
    if (!header) {
      out << absl::StrFormat("%-24s %-7s %-22s %-9s %s\n", "NAME", "READY", "STATUS", "RESTARTS",
                             "AGE");
      header = true;
    }
    out << absl::StrFormat("%-24s %-7s %-22s %-9d %s\n", row.name,
                           absl::StrCat(row.ready, "/", row.total), row.status, row.restarts,
                           Age(env.Now() - row.started));
    out.flush();
  };
  if (o.events) {
    options.on_event = [&](const pr::PodEvent& e) {
      out << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone()) << "  "
          << absl::StrFormat("%-7s %-14s %-28s ", e.type, e.reason, e.object) << e.message << "\n";
      out.flush();
    };
  }

  // Lets `play --down` ask this process to shut the pod down.
  const std::string pid_file = PidFile(o, *pod);
  if (MakeDirs(o.run_dir, 0755).ok()) {
    WriteFileAtomic(pid_file, absl::StrCat(getpid(), "\n")).IgnoreError();
  }
  pr::PodRunner runner(&client, *std::move(pod), options);
  g_runner.store(&runner);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int = {}, old_term = {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  auto phase = runner.Run();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_runner.store(nullptr);
  RemoveFile(pid_file).IgnoreError();
  if (!phase.ok()) return phase.status();
  if (*phase == pr::PodPhase::kFailed) env.SetExitCode(1);
  return absl::OkStatus();
}

}  // namespace

void RegisterPlayCommands(CLI::App& app, CommandEnv& env) {
  auto o = std::make_shared<PlayOptions>();
  CLI::App* play = app.add_subcommand(
      "play", "Run a Kubernetes Pod manifest (or a Deployment's pod template) in kubelet's order");
  play->add_option("manifest", o->manifest, "The Pod (or Deployment, Job, ...) manifest")
      ->type_name("POD.yaml");
  play->add_option("--watch", o->watch,
                   "Run every manifest (*.yaml, *.yml, *.json) in DIR as a static pod, following "
                   "files added, changed and removed, until interrupted")
      ->type_name("DIR");
  play->add_flag("--leave-running", o->leave_running,
                 "With --watch: on exit leave the pods running (the next --watch or tetherd "
                 "--static-pods of the folder adopts them)");
  play->add_flag("--down", o->down,
                 "Stop and remove the pod of this manifest, or with --watch every pod of the "
                 "folder (asking a running play to do it)");
  play->add_flag("--events", o->events, "Print kubelet-style events as they happen");
  play->add_flag("--keep", o->keep,
                 "Leave a completed pod (restartPolicy Never/OnFailure) in place; --down "
                 "removes it");
  play->add_flag("--no-remove", o->no_remove,
                 "Stop containers and sandbox on shutdown but do not remove them");
  play->add_option("--backoff-base", o->backoff_base,
                   "First restart back-off; doubled per restart, at most 5m")
      ->capture_default_str();
  play->add_option("--poll", o->poll, "How often container states are relisted")
      ->capture_default_str();
  play->add_option("--volume-root", o->volume_root, "Where emptyDir volumes are made")
      ->capture_default_str();
  play->add_option("--log-root", o->log_root, "Root of the pods' log directories")
      ->capture_default_str();
  play->callback([&env, o] { env.Run([&] { return Play(env, *o); }); });
}

}  // namespace tether::ctl
