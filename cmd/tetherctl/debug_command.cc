// `tetherctl debug POD --image IMAGE --target CONTAINER [-it] [--keep] [-- CMD...]`: kubectl
// debug's ephemeral container, over the CRI: a container named debugger-xxxxx is created in the
// running pod, in the target container's PID namespace (NamespaceMode TARGET), so that `ps` in
// it shows the target's processes and /proc/<pid>/root reaches the target's files.
//
// With -i the container gets a stdin (closed when ours ends: stdin_once) and tetherctl attaches
// to it once it runs, as `kubectl debug -it` does: with -t on a terminal of its own, ours raw
// meanwhile (^C goes to the debug container; SIGTERM and SIGHUP end the session). Without -i its
// output is followed from its log. Either way tetherctl exits with the debug container's exit code
// and removes it afterwards unless --keep. As with kubectl, what the container prints before the
// attach is made is not shown ("If you don't see a command prompt, try pressing enter.").
#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"
#include "tetherctl/log_reader.h"
#include "tetherctl/stream_session.h"
#include "util/id.h"

namespace tether::ctl {
namespace {

using Stub = runtime::v1::RuntimeService::StubInterface;

constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";
constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
constexpr char kDebugLabel[] = "tether.io/debug-target";

struct DebugOptions {
  std::string pod;
  std::string image;
  std::string target;
  std::string name;
  StreamFlags stream;  // -i/--stdin, -t/--tty, --transport, --stream-ca
  bool keep = false;
  std::vector<std::string> command;
};

std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted.store(true); }

// SIGINT and SIGTERM set g_interrupted (the old handlers land in `old_*` when given).
void CatchInterrupts(struct sigaction* old_int = nullptr, struct sigaction* old_term = nullptr) {
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, old_int);
  sigaction(SIGTERM, &sa, old_term);
}

// kubectl's debugger-xxxxx: five characters of k8s.io/apimachinery's rand alphabet (no vowels,
// no look-alikes).
std::string DebuggerName() {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string hex = NewId();
  std::string out = "debugger-";
  for (int i = 0; i < 5; ++i) {
    int v = std::stoi(hex.substr(i * 2, 2), nullptr, 16);
    out += kAlphabet[v % (sizeof kAlphabet - 1)];
  }
  return out;
}

// POD is a sandbox id (or unique prefix) or a pod name (a READY pod of that name).
absl::StatusOr<runtime::v1::PodSandboxStatus> ResolvePod(CommandEnv& env, const std::string& pod) {
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(pod);
  auto by_id = CallRuntime(env, &Stub::PodSandboxStatus, request, "getting the pod status");
  std::string id;
  if (by_id.ok()) {
    id = by_id->status().id();
  } else {
    if (by_id.status().code() != absl::StatusCode::kNotFound &&
        by_id.status().code() != absl::StatusCode::kInvalidArgument) {
      return by_id.status();
    }
    runtime::v1::ListPodSandboxRequest list;
    list.mutable_filter()->mutable_state()->set_state(runtime::v1::SANDBOX_READY);
    auto pods = CallRuntime(env, &Stub::ListPodSandbox, list, "listing pods");
    if (!pods.ok()) return pods.status();
    std::vector<std::string> ids;
    for (const auto& p : pods->items()) {
      if (p.metadata().name() == pod) ids.push_back(p.id());
    }
    if (ids.empty()) return absl::NotFoundError(absl::StrCat("pod \"", pod, "\" not found"));
    if (ids.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(ids.size(), " running pods are named \"", pod, "\": give its id"));
    }
    request.set_pod_sandbox_id(ids[0]);
    by_id = CallRuntime(env, &Stub::PodSandboxStatus, request, "getting the pod status");
    if (!by_id.ok()) return by_id.status();
  }
  if (by_id->status().state() != runtime::v1::SANDBOX_READY) {
    return absl::FailedPreconditionError(absl::StrCat("pod \"", pod, "\" is not running"));
  }
  return by_id->status();
}

// CONTAINER is a container name in the pod (as kubectl's --target) or an id (prefix); it must run.
absl::StatusOr<runtime::v1::Container> ResolveTarget(CommandEnv& env, const std::string& pod_id,
                                                     const std::string& target) {
  runtime::v1::ListContainersRequest request;
  request.mutable_filter()->set_pod_sandbox_id(pod_id);
  request.mutable_filter()->mutable_state()->set_state(runtime::v1::CONTAINER_RUNNING);
  auto list = CallRuntime(env, &Stub::ListContainers, request, "listing containers");
  if (!list.ok()) return list.status();
  std::vector<runtime::v1::Container> found;
  for (const auto& c : list->containers()) {
    if (c.metadata().name() == target) found.push_back(c);
  }
  if (found.empty()) {
    for (const auto& c : list->containers()) {
      if (absl::StartsWith(c.id(), target)) found.push_back(c);
    }
  }
  if (found.empty()) {
    return absl::NotFoundError(
        absl::StrCat("--target: no running container \"", target, "\" in pod ", pod_id));
  }
  if (found.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target: \"", target, "\" names ", found.size(), " containers"));
  }
  return found[0];
}

absl::Status EnsureImage(CommandEnv& env, const std::string& image,
                         const runtime::v1::PodSandboxConfig& sandbox) {
  auto status = GetImageStatus(env, image, false);
  if (!status.ok()) return status.status();
  if (status->has_image()) return absl::OkStatus();
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  *request.mutable_sandbox_config() = sandbox;
  auto ref = PullImage(env, request, kNoDeadline);
  return ref.status();
}

absl::StatusOr<runtime::v1::ContainerStatus> Status(CommandEnv& env, const std::string& id) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(id);
  auto response = CallRuntime(env, &Stub::ContainerStatus, request, "getting container status");
  if (!response.ok()) return response.status();
  return response->status();
}

// Follows the debug container's log until it exits (or Ctrl-C).
absl::Status FollowLogs(CommandEnv& env, const std::string& id) {
  auto status = Status(env, id);
  if (!status.ok()) return status.status();
  if (status->log_path().empty()) return absl::OkStatus();
  LogOptions log_options;
  log_options.follow = true;
  auto sink = [&env](LogStream stream, absl::string_view text) {
    std::ostream& out = stream == LogStream::kStdout ? env.out() : env.err();
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
  };
  auto is_running = [&]() -> absl::StatusOr<bool> {
    if (g_interrupted.load()) return false;
    auto s = Status(env, id);
    if (!s.ok()) return s.status();
    return s->state() == runtime::v1::CONTAINER_RUNNING ||
           s->state() == runtime::v1::CONTAINER_CREATED;
  };
  return ReadCriLogFile(status->log_path(), log_options, sink, is_running, absl::Milliseconds(200));
}

// Attaches our stdio to the running debug container (kubectl debug -i[t]); returns once the
// session ends and the container has exited (its stdin closed with ours), or after a while
// when it keeps running (the session was broken or stopped: the caller stops it).
absl::Status AttachSession(CommandEnv& env, const DebugOptions& o, const std::string& id) {
  runtime::v1::AttachRequest request;
  request.set_container_id(id);
  request.set_stdin(true);
  request.set_tty(o.stream.tty);
  request.set_stdout(true);
  request.set_stderr(!o.stream.tty);
  auto response = CallRuntime(env, &Stub::Attach, request, "attaching to the debug container");
  if (!response.ok()) return response.status();
  if (o.stream.tty) env.err() << "If you don't see a command prompt, try pressing enter.\n";
  env.out().flush();
  env.err().flush();
  // With a raw terminal ^C is the container's; otherwise it ends the session here.
  auto session = RunStdioSession(response->url(), o.stream, {SIGINT, SIGTERM});
  CatchInterrupts();  // the session's signal handling leaves them at their defaults
  if (!session.ok() && !g_interrupted.load()) {
    if (session.status().message() == "interrupted") {
      g_interrupted.store(true);
    } else {
      return session.status();
    }
  }
  if (g_interrupted.load()) return absl::OkStatus();
  // The output ended with the process; its exit is recorded a moment later.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = Status(env, id);
    if (!s.ok()) return s.status();
    if (s->state() == runtime::v1::CONTAINER_EXITED) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

absl::Status Debug(CommandEnv& env, const DebugOptions& o) {
  if (o.image.empty()) return absl::InvalidArgumentError("--image is required");
  if (o.target.empty()) return absl::InvalidArgumentError("--target is required");
  auto pod = ResolvePod(env, o.pod);
  if (!pod.ok()) return pod.status();
  auto target = ResolveTarget(env, pod->id(), o.target);
  if (!target.ok()) return target.status();

  runtime::v1::PodSandboxConfig sandbox;
  *sandbox.mutable_metadata() = pod->metadata();
  *sandbox.mutable_labels() = pod->labels();
  *sandbox.mutable_annotations() = pod->annotations();
  if (auto st = EnsureImage(env, o.image, sandbox); !st.ok()) return st;

  const std::string name = o.name.empty() ? DebuggerName() : o.name;
  runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_image()->set_image(o.image);
  config.mutable_image()->set_user_specified_image(o.image);
  for (const auto& arg : o.command) config.add_command(arg);
  config.set_log_path(absl::StrCat(name, "/0.log"));
  auto& labels = *config.mutable_labels();
  labels[kContainerNameLabel] = name;
  labels[kPodNameLabel] = pod->metadata().name();
  labels[kPodNamespaceLabel] = pod->metadata().namespace_();
  labels[kPodUidLabel] = pod->metadata().uid();
  labels[kDebugLabel] = target->metadata().name();
  auto* ns = config.mutable_linux()->mutable_security_context()->mutable_namespace_options();
  const auto& pod_ns = pod->linux().namespaces().options();
  ns->set_network(pod_ns.network() == runtime::v1::NODE ? runtime::v1::NODE : runtime::v1::POD);
  ns->set_ipc(pod_ns.ipc() == runtime::v1::NODE ? runtime::v1::NODE : runtime::v1::POD);
  ns->set_pid(runtime::v1::TARGET);
  ns->set_target_id(target->id());

  // As kubelet maps an ephemeral container's stdin and tty; stdin_once so that the end of our
  // stdin (a pipe's EOF) ends the container's too.
  config.set_stdin(o.stream.interactive);
  config.set_stdin_once(o.stream.interactive);
  config.set_tty(o.stream.tty);
  runtime::v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(pod->id());
  *create.mutable_config() = config;
  *create.mutable_sandbox_config() = sandbox;
  auto created = CallRuntime(env, &Stub::CreateContainer, create, "creating the debug container");
  if (!created.ok()) return created.status();
  const std::string id = created->container_id();
  env.err() << "Debug container " << name << " (" << id.substr(0, 13) << ") targets container \""
            << target->metadata().name() << "\" of pod \"" << pod->metadata().name() << "\"\n";
  env.err().flush();

  auto remove = [&]() {
    if (o.keep) return;
    runtime::v1::RemoveContainerRequest rm;
    rm.set_container_id(id);
    auto st = CallRuntime(env, &Stub::RemoveContainer, rm, "removing the debug container");
    if (!st.ok()) env.ReportError(st.status());
  };
  runtime::v1::StartContainerRequest start;
  start.set_container_id(id);
  if (auto st = CallRuntime(env, &Stub::StartContainer, start, "starting the debug container");
      !st.ok()) {
    remove();
    return st.status();
  }

  // Ctrl-C stops the debug container (and so ends the command) instead of leaving it behind.
  g_interrupted.store(false);
  struct sigaction old_int = {}, old_term = {};
  CatchInterrupts(&old_int, &old_term);
  absl::Status read = o.stream.interactive ? AttachSession(env, o, id) : FollowLogs(env, id);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  auto status = Status(env, id);
  if (g_interrupted.load() || (status.ok() && status->state() != runtime::v1::CONTAINER_EXITED)) {
    runtime::v1::StopContainerRequest stop;
    stop.set_container_id(id);
    stop.set_timeout(0);
    (void)CallRuntime(env, &Stub::StopContainer, stop, "stopping the debug container");
  }
  status = Status(env, id);
  remove();
  if (!read.ok()) return read;
  if (!status.ok()) return status.status();
  if (status->state() == runtime::v1::CONTAINER_EXITED) env.SetExitCode(status->exit_code());
  return absl::OkStatus();
}

}  // namespace

void RegisterDebugCommands(CLI::App& app, CommandEnv& env) {
  auto o = std::make_shared<DebugOptions>();
  CLI::App* debug = app.add_subcommand(
      "debug",
      "Run a debug container in a running pod, in the PID namespace of one of its containers");
  debug->footer(
      "Example: tetherctl debug web --image busybox --target nginx -- ps\n"
      "POD is a pod id (prefix) or name; CONTAINER a container name in it (or an id).");
  debug->add_option("pod", o->pod, "The pod (id, id prefix or name)")->required()->type_name("POD");
  debug->add_option("--image", o->image, "The debug container's image")->required();
  debug
      ->add_option("--target", o->target,
                   "The container whose PID namespace the debug container joins")
      ->required()
      ->type_name("CONTAINER");
  debug->add_option("--name", o->name, "The debug container's name (default debugger-xxxxx)");
  debug->add_flag("-i,--stdin", o->stream.interactive,
                  "Give the debug container a stdin and attach to it (ours until it ends)");
  debug->add_flag("-t,--tty", o->stream.tty, "Give the debug container a terminal");
  AddTransportFlags(debug, o->stream);
  debug->add_flag("--keep", o->keep, "Leave the debug container after it exits");
  debug->add_option("command", o->command, "The command to run (after --)")->type_name("CMD");
  debug->callback([&env, o] { env.Run([&] { return Debug(env, *o); }); });
}

}  // namespace tether::ctl
