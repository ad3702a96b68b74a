// `tetherctl play POD.yaml`: runs a Kubernetes Pod manifest (or a workload's pod template) through
// tetherd in kubelet's order, with a `kubectl get pod -w`-like status and, with --events,
// kubelet-style events; Ctrl-C (or `play --down POD.yaml` from elsewhere) shuts it down. A file
// of several documents plays every pod in it (each on a runner of its own), with the ConfigMaps
// it holds.
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Set by SIGINT/SIGTERM; the main thread stops the runners when it sees it.
std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

std::string Age(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 600) return absl::StrCat(s / 60, "m", s % 60, "s");
  if (s < 3 * 3600) return absl::StrCat(s / 60, "m");
  return absl::StrCat(s / 3600, "h", (s % 3600) / 60, "m");
}

// Prints `kubectl get pod -w` rows (a header before the first) and kubelet-style event lines;
// the pods' runners call it from their own threads.
class PodPrinter {
 public:
  explicit PodPrinter(CommandEnv& env) : env_(env) {}

  void Row(const pr::PodStatusRow& row) {
    std::lock_guard<std::mutex> l(mu_);
    std::ostream& out = env_.out();
    if (!header_) {
      out << absl::StrFormat("%-24s %-7s %-22s %-9s %s\n", "NAME", "READY", "STATUS", "RESTARTS",
                             "AGE");
      header_ = true;
    }
    out << absl::StrFormat("%-24s %-7s %-22s %-9d %s\n", row.name,
                           absl::StrCat(row.ready, "/", row.total), row.status, row.restarts,
                           Age(env_.Now() - row.started));
    out.flush();
  }
  void Event(const pr::PodEvent& e) {
    std::lock_guard<std::mutex> l(mu_);
    env_.out() << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone()) << "  "
               << absl::StrFormat("%-7s %-14s %-28s ", e.type, e.reason, e.object) << e.message
               << "\n";
    env_.out().flush();
  }
  // An error line on stderr, not interleaved with the rows.
  void Error(const std::string& line) {
    std::lock_guard<std::mutex> l(mu_);
    env_.err() << line << "\n";
    env_.err().flush();
  }

 private:
  CommandEnv& env_;
  std::mutex mu_;
  bool header_ = false;
};

std::string PidFile(const PlayOptions& o, const pr::PodManifest& pod) {
  return absl::StrCat(o.run_dir, "/", pod.namespace_, "_", pod.name, ".pid");
}

// A running `play` of these pods shuts them down itself (so that it does not restart what we stop):
// each pod's pid file names the play process; each process is signalled once and waited for.
std::set<std::string> SignalPlays(const PlayOptions& o, const std::vector<pr::PodManifest>& pods) {
  std::set<std::string> signalled;  // pod names
  std::set<int> pids;
  for (const pr::PodManifest& pod : pods) {
    auto pid_text = ReadFile(PidFile(o, pod));
    int pid = 0;
    if (!pid_text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid) ||
        pid <= 1) {
      continue;
    }
    if (pids.contains(pid)) {
      signalled.insert(pod.name);
      continue;
    }
    // A stale file may name a pid reused by something else: only a tetherctl is signalled.
    auto cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (!cmdline.ok() || !absl::StrContains(*cmdline, "tetherctl") || kill(pid, SIGTERM) != 0) {
      continue;
    }
    pids.insert(pid);
    signalled.insert(pod.name);
    int64_t grace = 0;
    for (const pr::PodManifest& p : pods)
      grace = std::max(grace, p.termination_grace_period_seconds);
    absl::Time deadline = absl::Now() + absl::Seconds(grace) + absl::Seconds(30);
    while (kill(pid, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  }
  return signalled;
}

absl::Status Down(CommandEnv& env, pr::RuntimeClient& client, const PlayOptions& o,
                  const std::vector<pr::PodManifest>& pods,
                  const pr::RunnerOptions& runner_options) {
  std::set<std::string> signalled = SignalPlays(o, pods);
  std::vector<std::string> missing;
  for (const pr::PodManifest& pod : pods) {
    auto n = pr::DownPod(&client, pod, runner_options);
    if (!n.ok()) return n.status();
    if (*n == 0 && !signalled.contains(pod.name)) {
      missing.push_back(absl::StrCat("pod \"", pod.name, "\" in namespace \"", pod.namespace_,
                                     "\" is not running"));
      continue;
    }
    env.out() << "pod \"" << pod.name << "\" deleted\n";
  }
  if (missing.size() == pods.size()) return absl::NotFoundError(missing.front());
  for (const std::string& m : missing) env.err() << "Warning: " << m << "\n";
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
  PodPrinter printer(env);
  pr::StaticPodsOptions options;
  options.dir = o.watch;
  options.runner = std::move(runner_options);
  options.runner.on_status = nullptr;
  options.runner.on_event = nullptr;
  options.on_status = [&](const std::string&, const pr::PodStatusRow& row) { printer.Row(row); };
  if (o.events) {
    options.on_event = [&](const std::string&, const pr::PodEvent& e) { printer.Event(e); };
  }
  options.on_error = [&](const std::string& file, const absl::Status& st) {
    printer.Error(absl::StrCat("tetherctl: ", o.watch, "/", file, ": ", st.message()));
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
  absl::StatusOr<std::vector<pr::PodManifest>> pods = std::vector<pr::PodManifest>{};
  if (o.watch.empty()) {
    pods = pr::LoadManifests(o.manifest);
    if (!pods.ok()) return pods.status();
    for (const pr::PodManifest& pod : *pods) {
      for (const std::string& w : pod.warnings) env.err() << "Warning: " << w << "\n";
    }
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
  if (o.down) return Down(env, client, o, *pods, options);

  PodPrinter printer(env);  // the pods' runners print from their own threads
  options.on_status = [&](const pr::PodStatusRow& row) { printer.Row(row); };
  if (o.events) options.on_event = [&](const pr::PodEvent& e) { printer.Event(e); };

  // Lets `play --down` ask this process to shut the pods down.
  std::vector<std::string> pid_files;
  if (MakeDirs(o.run_dir, 0755).ok()) {
    for (const pr::PodManifest& pod : *pods) {
      pid_files.push_back(PidFile(o, pod));
      WriteFileAtomic(pid_files.back(), absl::StrCat(getpid(), "\n")).IgnoreError();
    }
  }
  std::vector<std::unique_ptr<pr::PodRunner>> runners;
  for (pr::PodManifest& pod : *pods) {
    runners.push_back(std::make_unique<pr::PodRunner>(&client, std::move(pod), options));
  }
  g_stop.store(false);
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int = {}, old_term = {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  std::vector<absl::StatusOr<pr::PodPhase>> phases(runners.size(), pr::PodPhase::kPending);
  std::atomic<size_t> running{runners.size()};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < runners.size(); ++i) {
    threads.emplace_back([&, i] {
      phases[i] = runners[i]->Run();
      running.fetch_sub(1);
    });
  }
  bool stopped = false;
  while (running.load() > 0) {
    if (g_stop.load() && !stopped) {
      for (auto& r : runners) r->Stop();
      stopped = true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  for (auto& t : threads) t.join();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  for (const std::string& f : pid_files) RemoveFile(f).IgnoreError();
  absl::Status first_error;
  bool failed = false;
  for (size_t i = 0; i < runners.size(); ++i) {
    if (!phases[i].ok()) {
      if (runners.size() > 1) {
        env.err() << "pod " << runners[i]->Status().name << ": " << phases[i].status().message()
                  << "\n";
      }
      if (first_error.ok()) first_error = phases[i].status();
    } else if (*phases[i] == pr::PodPhase::kFailed) {
      failed = true;
    }
  }
  if (!first_error.ok()) return first_error;
  if (failed) env.SetExitCode(1);
  return absl::OkStatus();
}

}  // namespace

void RegisterPlayCommands(CLI::App& app, CommandEnv& env) {
  auto o = std::make_shared<PlayOptions>();
  CLI::App* play = app.add_subcommand(
      "play", "Run a Kubernetes Pod manifest (or a Deployment's pod template) in kubelet's order");
  play->add_option("manifest", o->manifest,
                   "The Pod (or Deployment, Job, ...) manifest; several documents (---) play "
                   "every pod, with the ConfigMaps they use")
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
