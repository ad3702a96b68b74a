// Container commands: create, run, start, stop, rm, ps, inspect, logs, update
// (exec and attach: stream_commands.cc; stats and statsp: stats_commands.cc).
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tetherctl/commands.h"
#include "tetherctl/config_file.h"
#include "tetherctl/container_output.h"
#include "tetherctl/image_output.h"
#include "tetherctl/log_reader.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

using Stub = runtime::v1::RuntimeService::StubInterface;

// A Go-style duration flag ("30s", "2m"); empty: zero.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag, absl::string_view text) {
  absl::Duration d = absl::ZeroDuration();
  if (text.empty()) return d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", flag, " \"", text, "\": use a duration such as 30s or 2m"));
  }
  return d;
}

// The global --timeout plus `extra`: calls that wait on the container (stop, exec) get the time
// they are asked to wait on top of the usual deadline, as crictl gives them.
absl::StatusOr<absl::Duration> DeadlinePlus(CommandEnv& env, absl::Duration extra) {
  auto timeout = CallTimeout(env);
  if (!timeout.ok()) return timeout.status();
  return *timeout + extra;
}

absl::StatusOr<runtime::v1::ContainerStatusResponse> GetContainerStatus(CommandEnv& env,
                                                                        const std::string& id,
                                                                        bool verbose,
                                                                        absl::string_view what) {
  runtime::v1::ContainerStatusRequest request;
  request.set_container_id(id);
  request.set_verbose(verbose);
  return CallRuntime(env, &Stub::ContainerStatus, request, what);
}

// --- create, run ----------------------------------------------------------------------------

struct PullFlags {
  bool no_pull = false;
  bool with_pull = false;
  std::string creds;
  std::string auth;
  std::string pull_timeout;
  std::string cancel_timeout;
};

void AddPullFlags(CLI::App* cmd, PullFlags& f) {
  cmd->add_flag("--no-pull", f.no_pull, "Do not pull the image (fail if it is not present)");
  cmd->add_flag("--with-pull", f.with_pull, "Pull the image even when it is present");
  cmd->add_option("--creds", f.creds, "Use USERNAME[:PASSWORD] for accessing the registry");
  cmd->add_option("--auth", f.auth,
                  "Use AUTH_STRING (base64 'USERNAME[:PASSWORD]') for accessing the registry");
  cmd->add_option("--pull-timeout,--pt", f.pull_timeout,
                  "Maximum time to be used for pulling the image, disabled if set to 0s");
  cmd->add_option("-T,--cancel-timeout", f.cancel_timeout,
                  "Deadline of the create request (default: the global --timeout)");
}

absl::StatusOr<runtime::v1::ContainerConfig> LoadContainerConfig(const std::string& path) {
  runtime::v1::ContainerConfig config;
  if (absl::Status s = LoadMessageFile(path, &config); !s.ok()) return s;
  if (!config.has_metadata()) return absl::InvalidArgumentError("metadata is not set");
  if (config.metadata().name().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("name is not in metadata \"", config.metadata().ShortDebugString(), "\""));
  }
  return config;
}

// Makes sure the container's image (and the images of its image volumes) is there: pulled when
// absent, always with --with-pull, never with --no-pull.
absl::Status EnsureImages(CommandEnv& env, const runtime::v1::ContainerConfig& config,
                          const runtime::v1::PodSandboxConfig* pod_config, const PullFlags& flags) {
  if (flags.no_pull) return absl::OkStatus();
  auto auth = ParseAuth(flags.creds, flags.auth);
  if (!auth.ok()) return auth.status();
  auto timeout = ParseDurationFlag("--pull-timeout", flags.pull_timeout);
  if (!timeout.ok()) return timeout.status();
  std::vector<std::string> images = {config.image().image()};
  for (const auto& mount : config.mounts()) {
    if (!mount.image().image().empty()) images.push_back(mount.image().image());
  }
  for (const std::string& image : images) {
    if (!flags.with_pull) {
      auto status = GetImageStatus(env, image, false);
      if (!status.ok()) return status.status();
      if (status->has_image()) continue;
    }
    runtime::v1::PullImageRequest request;
    request.mutable_image()->set_image(image);
    *request.mutable_image()->mutable_annotations() = config.image().annotations();
    if (*auth) *request.mutable_auth() = **auth;
    if (pod_config != nullptr) *request.mutable_sandbox_config() = *pod_config;
    auto ref = PullImage(env, request, *timeout);
    if (!ref.ok()) return ref.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CreateContainer(CommandEnv& env, const std::string& pod_id,
                                            const std::string& config_path,
                                            const std::string& pod_config_path,
                                            const PullFlags& flags) {
  if (flags.no_pull && flags.with_pull) {
    return absl::InvalidArgumentError("conflict: no-pull and with-pull are both set");
  }
  auto config = LoadContainerConfig(config_path);
  if (!config.ok()) return config.status();
  auto pod_config = LoadPodSandboxConfig(pod_config_path);
  if (!pod_config.ok()) return pod_config.status();
  auto timeout = ParseDurationFlag("--cancel-timeout", flags.cancel_timeout);
  if (!timeout.ok()) return timeout.status();

  runtime::v1::ImageSpec* image = config->mutable_image();
  if (image->user_specified_image().empty()) image->set_user_specified_image(image->image());
  if (absl::Status s = EnsureImages(env, *config, &*pod_config, flags); !s.ok()) return s;

  runtime::v1::CreateContainerRequest request;
  request.set_pod_sandbox_id(pod_id);
  *request.mutable_config() = *std::move(config);
  *request.mutable_sandbox_config() = *std::move(pod_config);
  auto response = CallRuntime(env, &Stub::CreateContainer, request, "creating container", *timeout);
  if (!response.ok()) return response.status();
  return response->container_id();
}

struct CreateOptions {
  std::string pod_id;
  std::string config_path;
  std::string pod_config_path;
  PullFlags pull;
};

absl::Status Create(CommandEnv& env, const CreateOptions& options) {
  auto id = CreateContainer(env, options.pod_id, options.config_path, options.pod_config_path,
                            options.pull);
  if (!id.ok()) return id.status();
  env.out() << *id << "\n";
  return absl::OkStatus();
}

absl::Status StartContainer(CommandEnv& env, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  runtime::v1::StartContainerRequest request;
  request.set_container_id(id);
  auto response = CallRuntime(env, &Stub::StartContainer, request,
                              absl::StrCat("starting the container \"", id, "\""));
  if (!response.ok()) return response.status();
  env.out() << id << "\n";
  return absl::OkStatus();
}

struct RunOptions {
  std::string config_path;
  std::string pod_config_path;
  std::string runtime_handler;
  PullFlags pull;
};

// runp + create + start; prints the container id.
absl::Status Run(CommandEnv& env, const RunOptions& options) {
  auto pod_config = LoadPodSandboxConfig(options.pod_config_path);
  if (!pod_config.ok()) return Annotate("load podSandboxConfig", pod_config.status());
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = *std::move(pod_config);
  request.set_runtime_handler(options.runtime_handler);
  auto pod = CallRuntime(env, &Stub::RunPodSandbox, request, "run pod sandbox");
  if (!pod.ok()) return pod.status();
  auto id = CreateContainer(env, pod->pod_sandbox_id(), options.config_path,
                            options.pod_config_path, options.pull);
  if (!id.ok()) return Annotate("creating container failed", id.status());
  return StartContainer(env, *id);
}

// --- start, stop, rm, update ----------------------------------------------------------------

absl::Status Start(CommandEnv& env, const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  for (const std::string& id : ids) {
    if (absl::Status s = StartContainer(env, id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status StopContainer(CommandEnv& env, const std::string& id, int64_t timeout) {
  if (id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  runtime::v1::StopContainerRequest request;
  request.set_container_id(id);
  request.set_timeout(timeout);
  auto deadline = DeadlinePlus(env, absl::Seconds(std::max<int64_t>(timeout, 0)));
  if (!deadline.ok()) return deadline.status();
  auto response = CallRuntime(env, &Stub::StopContainer, request,
                              absl::StrCat("stopping the container \"", id, "\""), *deadline);
  if (!response.ok()) return response.status();
  env.out() << id << "\n";
  return absl::OkStatus();
}

struct StopOptions {
  std::vector<std::string> ids;
  int64_t timeout = 0;
};

absl::Status Stop(CommandEnv& env, const StopOptions& options) {
  if (options.ids.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  for (const std::string& id : options.ids) {
    if (absl::Status s = StopContainer(env, id, options.timeout); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Removes a container's log file and its rotations (<log>.*), as crictl does.
void RemoveLogFiles(CommandEnv& env, const std::string& id, const std::string& log_path) {
  if (log_path.empty()) return;
  const std::filesystem::path log(log_path);
  std::vector<std::filesystem::path> files = {log};
  std::error_code ec;
  const std::string prefix = log.filename().string() + ".";
  for (const auto& entry : std::filesystem::directory_iterator(log.parent_path(), ec)) {
    if (entry.path().filename().string().starts_with(prefix)) files.push_back(entry.path());
  }
  for (const auto& file : files) {
    if (!std::filesystem::remove(file, ec) && ec) {
      env.err() << "tetherctl: removing log file " << file.string() << " for container \"" << id
                << "\" failed: " << ec.message() << "\n";
    }
  }
}

struct RmOptions {
  std::vector<std::string> ids;
  bool force = false;
  bool all = false;
  bool keep_logs = false;
};

absl::Status RemoveContainer(CommandEnv& env, const std::string& id, const RmOptions& options) {
  if (id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  auto status =
      GetContainerStatus(env, id, false, absl::StrCat("getting container status \"", id, "\""));
  if (!status.ok()) return status.status();
  if (status->status().state() == runtime::v1::CONTAINER_RUNNING) {
    if (!options.force) {
      return absl::FailedPreconditionError(
          absl::StrCat("container \"", id, "\" is running, please stop it first"));
    }
    if (absl::Status s = StopContainer(env, id, 0); !s.ok()) return s;
  }
  runtime::v1::RemoveContainerRequest request;
  request.set_container_id(id);
  auto response = CallRuntime(env, &Stub::RemoveContainer, request,
                              absl::StrCat("removing container \"", id, "\""));
  if (!response.ok()) return response.status();
  env.out() << id << "\n";
  if (!options.keep_logs) RemoveLogFiles(env, id, status->status().log_path());
  return absl::OkStatus();
}

absl::Status Rm(CommandEnv& env, const RmOptions& options) {
  std::vector<std::string> ids = options.ids;
  if (options.all) {
    auto response = CallRuntime(env, &Stub::ListContainers, runtime::v1::ListContainersRequest(),
                                "listing containers");
    if (!response.ok()) return response.status();
    ids.clear();
    for (const auto& c : response->containers()) ids.push_back(c.id());
    if (ids.empty()) {
      env.err() << "No containers to remove\n";
      return absl::OkStatus();
    }
  }
  if (ids.empty()) return absl::InvalidArgumentError("rm: give CONTAINER-ID... or --all");
  // Every container is tried; each failure is reported, and any makes the exit code 1.
  for (const std::string& id : ids) {
    if (absl::Status s = RemoveContainer(env, id, options); !s.ok()) env.ReportError(s);
  }
  return absl::OkStatus();
}

struct UpdateOptions {
  std::vector<std::string> ids;
  int64_t cpu_period = 0;
  int64_t cpu_quota = 0;
  int64_t cpu_shares = 0;
  int64_t memory = 0;
  std::string cpuset_cpus;
  std::string cpuset_mems;
};

absl::Status Update(CommandEnv& env, const UpdateOptions& options) {
  if (options.ids.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  for (const std::string& id : options.ids) {
    runtime::v1::UpdateContainerResourcesRequest request;
    request.set_container_id(id);
    runtime::v1::LinuxContainerResources* linux = request.mutable_linux();
    linux->set_cpu_period(options.cpu_period);
    linux->set_cpu_quota(options.cpu_quota);
    linux->set_cpu_shares(options.cpu_shares);
    linux->set_memory_limit_in_bytes(options.memory);
    linux->set_cpuset_cpus(options.cpuset_cpus);
    linux->set_cpuset_mems(options.cpuset_mems);
    auto response = CallRuntime(env, &Stub::UpdateContainerResources, request,
                                absl::StrCat("updating container resources for \"", id, "\""));
    if (!response.ok()) return response.status();
    env.out() << id << "\n";
  }
  return absl::OkStatus();
}

// --- ps, inspect ----------------------------------------------------------------------------

void AddContainerFilterFlags(CLI::App* cmd, ContainerListOptions& f, std::string& image) {
  cmd->add_option("--name", f.name_regex, "Filter by container name regular expression pattern");
  cmd->add_option("--namespace", f.namespace_regex,
                  "Filter by pod namespace regular expression pattern");
  cmd->add_option("-p,--pod", f.pod_id, "Filter by pod id");
  cmd->add_option("--image", image, "Filter by container image");
  cmd->add_option("-s,--state", f.state,
                  "Filter by container state: created|running|exited|unknown");
  cmd->add_option("--label", f.labels, "Filter by key=value label (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("-l,--latest", f.latest,
                "Show the most recently created container (includes all states)");
  cmd->add_option("-n,--last", f.last,
                  "Show last n recently created containers (includes all states). Set 0 for "
                  "unlimited");
}

// The pods of `containers` that lack the kubelet's labels; an error leaves them unknown.
PodRefs LookUpPods(CommandEnv& env, const std::vector<runtime::v1::Container>& containers) {
  PodRefs pods;
  if (!NeedsPodRefs(containers)) return pods;
  auto response = CallRuntime(env, &Stub::ListPodSandbox, runtime::v1::ListPodSandboxRequest(),
                              "listing pod sandboxes");
  if (!response.ok()) return pods;
  for (const auto& pod : response->items()) {
    pods[pod.id()] = {pod.metadata().name(), pod.metadata().namespace_()};
  }
  return pods;
}

// ListContainers with the filter of the flags, narrowed on the client; `pods` receives the pods
// looked up for names and namespaces.
absl::StatusOr<std::vector<runtime::v1::Container>> ListContainers(
    CommandEnv& env, const ContainerListOptions& options, PodRefs* pods) {
  auto filter = BuildContainerFilter(options);
  if (!filter.ok()) return filter.status();
  runtime::v1::ListContainersRequest request;
  *request.mutable_filter() = *std::move(filter);
  auto response = CallRuntime(env, &Stub::ListContainers, request, "listing containers");
  if (!response.ok()) return response.status();
  std::vector<runtime::v1::Container> containers(response->containers().begin(),
                                                 response->containers().end());
  *pods = LookUpPods(env, containers);
  return FilterContainers(std::move(containers), options, *pods);
}

// --image: containers whose image resolves to the same image id as `image`.
absl::StatusOr<std::vector<runtime::v1::Container>> FilterByImage(
    CommandEnv& env, std::vector<runtime::v1::Container> containers, const std::string& image) {
  if (image.empty()) return containers;
  std::map<std::string, std::string> ids;  // image as named -> id ("" when absent)
  auto resolve = [&](const std::string& name) -> absl::StatusOr<std::string> {
    if (auto it = ids.find(name); it != ids.end()) return it->second;
    auto status = GetImageStatus(env, name, false);
    if (!status.ok()) return status.status();
    return ids[name] = status->image().id();
  };
  auto wanted = resolve(image);
  if (!wanted.ok()) return Annotate("check image match", wanted.status());
  std::vector<runtime::v1::Container> out;
  for (auto& c : containers) {
    auto id = resolve(c.image().image());
    if (!id.ok()) return Annotate("check image match", id.status());
    if (!wanted->empty() && *id == *wanted) out.push_back(std::move(c));
  }
  return out;
}

struct PsOptions {
  ContainerListOptions list;
  std::string image;
  std::string output = std::string(kOutputTable);
  PsTableOptions table;
  bool resolve_image_path = false;
};

absl::Status Ps(CommandEnv& env, const PsOptions& options) {
  PodRefs pods;
  auto containers = ListContainers(env, options.list, &pods);
  if (!containers.ok()) return containers.status();
  auto matching = FilterByImage(env, *std::move(containers), options.image);
  if (!matching.ok()) return matching.status();
  if (options.output == kOutputJson || options.output == kOutputYaml) {
    runtime::v1::ListContainersResponse list;
    for (auto& c : *matching) *list.add_containers() = std::move(c);
    return PrintMessage(env, list, options.output);
  }
  std::map<std::string, std::string> images;
  if (options.resolve_image_path && !options.table.quiet) {
    for (const auto& c : *matching) {
      const std::string image = ContainerImageColumn(c.image().image(), options.table.no_trunc);
      auto status = GetImageStatus(env, image, false);
      if (!status.ok()) return Annotate("failed to fetch repo image", status.status());
      const auto& tags = status->image().repo_tags();
      images[c.id()] = tags.empty() ? image : tags[0];
    }
  }
  env.out() << ContainersTable(*matching, options.table, env.Now(), pods, images);
  return absl::OkStatus();
}

struct InspectOptions {
  std::vector<std::string> ids;
  ContainerListOptions list;
  std::string image;
  std::string output = std::string(kOutputJson);
  bool quiet = false;
};

absl::Status Inspect(CommandEnv& env, const InspectOptions& options) {
  std::vector<std::string> ids = options.ids;
  if (ids.empty()) {
    PodRefs pods;
    auto containers = ListContainers(env, options.list, &pods);
    if (!containers.ok()) return containers.status();
    auto matching = FilterByImage(env, *std::move(containers), options.image);
    if (!matching.ok()) return matching.status();
    for (const auto& c : *matching) ids.push_back(c.id());
  }
  if (ids.empty()) return absl::InvalidArgumentError("No IDs provided or nothing found per filter");

  const bool verbose = !options.quiet;
  std::vector<nlohmann::json> entries;
  for (const std::string& id : ids) {
    auto response =
        GetContainerStatus(env, id, verbose, "get the status of containers: get container status");
    if (!response.ok()) return response.status();
    if (options.output == kOutputTable) {
      env.out() << ContainerStatusTable(*response, verbose, env.Now());
      continue;
    }
    auto status = ContainerStatusJson(response->status(), env.TimeZone());
    if (!status.ok()) return status.status();
    auto entry = StatusEntry(
        *status, nullptr,
        std::map<std::string, std::string>(response->info().begin(), response->info().end()));
    if (!entry.ok()) return Annotate("get the status of containers", entry.status());
    entries.push_back(*std::move(entry));
  }
  if (options.output == kOutputTable) return absl::OkStatus();
  return PrintStatusEntries(env, entries, options.output);
}

// --- logs -----------------------------------------------------------------------------------

struct LogsOptions {
  std::string id;
  bool follow = false;
  bool previous = false;
  bool reopen = false;
  int64_t tail = -1;
  int64_t limit_bytes = -1;
  std::string since;
  bool timestamps = false;
};

absl::Status Logs(CommandEnv& env, const LogsOptions& options) {
  if (options.id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  if (options.previous) {
    return absl::UnimplementedError(
        "--previous is not supported yet: tetherctl reads only the current log file");
  }
  if (options.reopen) {
    runtime::v1::ReopenContainerLogRequest request;
    request.set_container_id(options.id);
    auto response = CallRuntime(env, &Stub::ReopenContainerLog, request, "reopen container logs");
    if (!response.ok()) return response.status();
    env.err() << "Container logs reopened\n";
  }
  LogOptions log_options;
  log_options.follow = options.follow;
  log_options.tail = options.tail;
  log_options.limit_bytes = options.limit_bytes;
  log_options.timestamps = options.timestamps;
  if (!options.since.empty()) {
    auto since = ParseSince(options.since, env.Now(), env.TimeZone());
    if (!since.ok()) return since.status();
    log_options.since = *since;
  }
  auto status = GetContainerStatus(env, options.id, false,
                                   absl::StrCat("getting container status \"", options.id, "\""));
  if (!status.ok()) return status.status();
  const std::string& log_path = status->status().log_path();
  if (log_path.empty()) return absl::FailedPreconditionError("the container has not set log path");
  const std::string id = status->status().id().empty() ? options.id : status->status().id();

  auto sink = [&env, follow = options.follow](LogStream stream, absl::string_view text) {
    std::ostream& out = stream == LogStream::kStdout ? env.out() : env.err();
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (follow) out.flush();
  };
  auto is_running = [&env, &id]() -> absl::StatusOr<bool> {
    auto s = GetContainerStatus(env, id, false, "getting container status");
    if (!s.ok()) {
      // The daemon restarting is no reason to stop following, as with the kubelet.
      if (s.status().code() == absl::StatusCode::kUnavailable) return true;
      return s.status();
    }
    return s->status().state() == runtime::v1::CONTAINER_RUNNING;
  };
  absl::Status read = ReadCriLogFile(log_path, log_options, sink, is_running);
  env.out().flush();
  env.err().flush();
  return read;
}

}  // namespace

void RegisterContainerCommands(CLI::App& app, CommandEnv& env) {
  // create
  auto create_options = std::make_shared<CreateOptions>();
  CLI::App* create = app.add_subcommand("create", "Create a new container");
  create->add_option("POD", create_options->pod_id, "Pod sandbox id")->required();
  create
      ->add_option("container-config", create_options->config_path,
                   "Container config file, JSON or YAML")
      ->required();
  create
      ->add_option("pod-config", create_options->pod_config_path,
                   "Pod sandbox config file, JSON or YAML")
      ->required();
  AddPullFlags(create, create_options->pull);
  create->callback(
      [&env, create_options] { env.Run([&] { return Create(env, *create_options); }); });

  // run
  auto run_options = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand("run", "Run a new container inside a new pod sandbox");
  run->add_option("container-config", run_options->config_path,
                  "Container config file, JSON or YAML")
      ->required();
  run->add_option("pod-config", run_options->pod_config_path,
                  "Pod sandbox config file, JSON or YAML")
      ->required();
  run->add_option("-r,--runtime", run_options->runtime_handler,
                  "Runtime handler to use. Available options are defined by the runtime");
  AddPullFlags(run, run_options->pull);
  run->callback([&env, run_options] { env.Run([&] { return Run(env, *run_options); }); });

  // start
  auto start_ids = std::make_shared<std::vector<std::string>>();
  CLI::App* start = app.add_subcommand("start", "Start one or more created containers");
  start->add_option("CONTAINER-ID", *start_ids, "Container ids");
  start->callback([&env, start_ids] { env.Run([&] { return Start(env, *start_ids); }); });

  // stop
  auto stop_options = std::make_shared<StopOptions>();
  CLI::App* stop = app.add_subcommand("stop", "Stop one or more running containers");
  stop->add_option("CONTAINER-ID", stop_options->ids, "Container ids");
  stop->add_option("-t,--timeout", stop_options->timeout,
                   "Seconds to wait to kill the container after a graceful stop is requested")
      ->capture_default_str();
  stop->callback([&env, stop_options] { env.Run([&] { return Stop(env, *stop_options); }); });

  // rm
  auto rm_options = std::make_shared<RmOptions>();
  CLI::App* rm = app.add_subcommand("rm", "Remove one or more containers");
  rm->add_option("CONTAINER-ID", rm_options->ids, "Container ids");
  rm->add_flag("-f,--force", rm_options->force,
               "Force removal of the container, disregarding if running (stops it first)");
  rm->add_flag("-a,--all", rm_options->all, "Remove all containers");
  rm->add_flag("-k,--keep-logs", rm_options->keep_logs,
               "Preserve the container log file and its rotations");
  rm->callback([&env, rm_options] { env.Run([&] { return Rm(env, *rm_options); }); });

  // update
  auto update_options = std::make_shared<UpdateOptions>();
  CLI::App* update = app.add_subcommand("update", "Update one or more running containers");
  update->add_option("CONTAINER-ID", update_options->ids, "Container ids");
  update->add_option("--cpu-period", update_options->cpu_period,
                     "CPU CFS period to be used for hardcapping (in usecs). 0 to use system "
                     "default");
  update->add_option("--cpu-quota", update_options->cpu_quota,
                     "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period");
  update->add_option("--cpu-share", update_options->cpu_shares,
                     "CPU shares (relative weight vs. other containers)");
  update->add_option("--memory", update_options->memory, "Memory limit (in bytes)");
  update->add_option("--cpuset-cpus", update_options->cpuset_cpus, "CPU(s) to use");
  update->add_option("--cpuset-mems", update_options->cpuset_mems, "Memory node(s) to use");
  update->callback(
      [&env, update_options] { env.Run([&] { return Update(env, *update_options); }); });

  // ps
  auto ps_options = std::make_shared<PsOptions>();
  CLI::App* ps = app.add_subcommand("ps", "List containers (running ones unless -a)");
  ps->add_flag("-v,--verbose", ps_options->table.verbose,
               "Show verbose information for containers");
  ps->add_option("--id", ps_options->list.id, "Filter by container id");
  AddContainerFilterFlags(ps, ps_options->list, ps_options->image);
  ps->add_flag("-q,--quiet", ps_options->table.quiet, "Only display container IDs");
  ps->add_option("-o,--output", ps_options->output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()))
      ->capture_default_str();
  ps->add_flag("-a,--all", ps_options->list.all, "Show all containers");
  ps->add_flag("--no-trunc", ps_options->table.no_trunc, "Show output without truncating the ID");
  ps->add_flag("-r,--resolve-image-path", ps_options->resolve_image_path,
               "Show image path instead of image id");
  ps->callback([&env, ps_options] { env.Run([&] { return Ps(env, *ps_options); }); });

  // inspect
  auto inspect_options = std::make_shared<InspectOptions>();
  CLI::App* inspect = app.add_subcommand(
      "inspect",
      "Display the status of one or more containers (all matching the filters if no ID)");
  inspect->add_option("CONTAINER-ID", inspect_options->ids, "Container ids");
  AddContainerFilterFlags(inspect, inspect_options->list, inspect_options->image);
  inspect
      ->add_option("-o,--output", inspect_options->output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()))
      ->capture_default_str();
  inspect->add_flag("-q,--quiet", inspect_options->quiet, "Do not show verbose information");
  inspect->callback(
      [&env, inspect_options] { env.Run([&] { return Inspect(env, *inspect_options); }); });

  // logs
  auto logs_options = std::make_shared<LogsOptions>();
  CLI::App* logs = app.add_subcommand("logs", "Fetch the logs of a container");
  logs->add_option("CONTAINER-ID", logs_options->id, "Container id")->required();
  logs->add_flag("-f,--follow", logs_options->follow, "Follow log output");
  logs->add_flag("-p,--previous", logs_options->previous,
                 "Print the logs of the previous instance of the container (not supported yet)");
  logs->add_flag("-r,--reopen", logs_options->reopen,
                 "Reopen the container logs for the provided container");
  logs->add_option("--tail", logs_options->tail,
                   "Number of lines to show from the end of the logs. Defaults to all")
      ->capture_default_str();
  logs->add_option("--limit-bytes", logs_options->limit_bytes,
                   "Maximum bytes of logs to return. Defaults to no limit")
      ->capture_default_str();
  logs->add_option("--since", logs_options->since,
                   "Show logs since timestamp (e.g. 2013-01-02T13:23:37) or relative (e.g. 42m "
                   "for 42 minutes)");
  logs->add_flag("-t,--timestamps", logs_options->timestamps, "Show timestamps");
  logs->callback([&env, logs_options] { env.Run([&] { return Logs(env, *logs_options); }); });
}

}  // namespace tether::ctl
