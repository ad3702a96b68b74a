// Pod sandbox commands: runp, pods, inspectp, stopp, rmp.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"
#include "tetherctl/config_file.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

using Stub = runtime::v1::RuntimeService::StubInterface;

// --- runp -----------------------------------------------------------------------------------

struct RunpOptions {
  std::string config_path;
  std::string runtime_handler;
  std::string cancel_timeout;
};

absl::Status Runp(CommandEnv& env, const RunpOptions& options) {
  auto config = LoadPodSandboxConfig(options.config_path);
  if (!config.ok()) return Annotate("load podSandboxConfig", config.status());
  absl::Duration timeout = absl::ZeroDuration();
  if (!options.cancel_timeout.empty()) {
    auto t = ParseTimeout(options.cancel_timeout);
    if (!t.ok()) return t.status();
    timeout = *t;
  }
  runtime::v1::RunPodSandboxRequest request;
  *request.mutable_config() = *std::move(config);
  request.set_runtime_handler(options.runtime_handler);
  auto response = CallRuntime(env, &Stub::RunPodSandbox, request, "run pod sandbox", timeout);
  if (!response.ok()) return response.status();
  env.out() << response->pod_sandbox_id() << "\n";
  return absl::OkStatus();
}

// --- pods, and the filters inspectp shares --------------------------------------------------

struct PodFilterOptions {
  std::string id;
  std::string name;
  std::string namespace_;
  std::string state;
  std::vector<std::string> labels;
  bool latest = false;
  int last = 0;
};

void AddPodFilterFlags(CLI::App* cmd, PodFilterOptions& f, bool with_id) {
  if (with_id) cmd->add_option("--id", f.id, "Filter by pod id");
  cmd->add_option("--name", f.name, "Filter by pod name regular expression pattern");
  cmd->add_option("--namespace", f.namespace_,
                  "Filter by pod namespace regular expression pattern");
  cmd->add_option("-s,--state", f.state, "Filter by pod state: ready|notready");
  cmd->add_option("--label", f.labels, "Filter by key=value label (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("-l,--latest", f.latest, "Show the most recently created pod");
  cmd->add_option("-n,--last", f.last, "Show last n recently created pods. Set 0 for unlimited");
}

absl::StatusOr<std::vector<runtime::v1::PodSandbox>> ListPods(CommandEnv& env,
                                                              const PodFilterOptions& f) {
  runtime::v1::ListPodSandboxRequest request;
  runtime::v1::PodSandboxFilter* filter = request.mutable_filter();
  filter->set_id(f.id);
  if (!f.state.empty()) {
    auto state = ParsePodState(f.state);
    if (!state.ok()) return state.status();
    filter->mutable_state()->set_state(*state);
  }
  auto labels = ParseLabels(f.labels);
  if (!labels.ok()) return labels.status();
  filter->mutable_label_selector()->insert(labels->begin(), labels->end());
  auto response = CallRuntime(env, &Stub::ListPodSandbox, request, "listing pod sandboxes");
  if (!response.ok()) return response.status();
  std::vector<runtime::v1::PodSandbox> pods(response->items().begin(), response->items().end());
  return FilterPods(
      std::move(pods),
      {.name_regex = f.name, .namespace_regex = f.namespace_, .latest = f.latest, .last = f.last});
}

struct PodsOptions {
  PodFilterOptions filter;
  bool verbose = false;
  bool quiet = false;
  std::string output = std::string(kOutputTable);
  bool no_trunc = false;
};

absl::Status Pods(CommandEnv& env, const PodsOptions& options) {
  auto pods = ListPods(env, options.filter);
  if (!pods.ok()) return pods.status();
  if (options.output == kOutputJson || options.output == kOutputYaml) {
    runtime::v1::ListPodSandboxResponse list;
    for (auto& pod : *pods) *list.add_items() = std::move(pod);
    auto value = ProtoToJsonValue(list);
    if (!value.ok()) return value.status();
    if (options.output == kOutputJson) {
      env.out() << value->dump(2) << "\n";
    } else {
      env.out() << JsonToYaml(nlohmann::json::parse(value->dump())) << "\n";  // as crictl
    }
    return absl::OkStatus();
  }
  env.out() << PodsTable(
      *pods, {.quiet = options.quiet, .verbose = options.verbose, .no_trunc = options.no_trunc},
      env.Now(), env.TimeZone());
  return absl::OkStatus();
}

// --- inspectp -------------------------------------------------------------------------------

struct InspectpOptions {
  std::vector<std::string> ids;
  PodFilterOptions filter;
  std::string output = std::string(kOutputJson);
  bool quiet = false;
};

absl::Status Inspectp(CommandEnv& env, const InspectpOptions& options) {
  std::vector<std::string> ids = options.ids;
  if (ids.empty()) {
    auto pods = ListPods(env, options.filter);
    if (!pods.ok()) return pods.status();
    for (const auto& pod : *pods) ids.push_back(pod.id());
  }
  if (ids.empty()) return absl::InvalidArgumentError("No IDs provided or nothing found per filter");

  const bool verbose = !options.quiet;
  std::vector<nlohmann::json> entries;
  for (const std::string& id : ids) {
    runtime::v1::PodSandboxStatusRequest request;
    request.set_pod_sandbox_id(id);
    request.set_verbose(verbose);
    const std::string what = absl::StrCat("getting the status of pod sandbox \"", id, "\"");
    auto response = CallRuntime(env, &Stub::PodSandboxStatus, request, what);
    if (!response.ok()) return response.status();
    if (!response->has_status()) {
      return absl::InternalError(absl::StrCat(what, ": the runtime returned no status"));
    }
    if (options.output == kOutputTable) {
      env.out() << PodSandboxStatusTable(*response, verbose, env.TimeZone());
      continue;
    }
    auto status = PodSandboxStatusJson(response->status(), env.TimeZone());
    if (!status.ok()) return status.status();
    auto entry = StatusEntry(
        *status, nullptr,
        std::map<std::string, std::string>(response->info().begin(), response->info().end()));
    if (!entry.ok()) return Annotate(what, entry.status());
    entries.push_back(*std::move(entry));
  }
  if (options.output == kOutputTable) return absl::OkStatus();
  return PrintStatusEntries(env, entries, options.output);
}

// --- stopp, rmp -----------------------------------------------------------------------------

absl::Status StopPod(CommandEnv& env, const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  runtime::v1::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  auto response = CallRuntime(env, &Stub::StopPodSandbox, request,
                              absl::StrCat("stopping the pod sandbox \"", id, "\""));
  if (!response.ok()) return response.status();
  env.out() << "Stopped sandbox " << id << "\n";
  return absl::OkStatus();
}

absl::Status Stopp(CommandEnv& env, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    if (absl::Status s = StopPod(env, id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

struct RmpOptions {
  std::vector<std::string> ids;
  bool force = false;
  bool all = false;
};

absl::Status RemovePod(CommandEnv& env, const std::string& id, bool force) {
  if (id.empty()) return absl::InvalidArgumentError("ID cannot be empty");
  runtime::v1::PodSandboxStatusRequest status_request;
  status_request.set_pod_sandbox_id(id);
  auto status = CallRuntime(env, &Stub::PodSandboxStatus, status_request,
                            absl::StrCat("getting sandbox status of pod \"", id, "\""));
  if (!status.ok()) return status.status();
  if (status->status().state() == runtime::v1::SANDBOX_READY) {
    if (!force) {
      return absl::FailedPreconditionError(
          absl::StrCat("pod sandbox \"", id, "\" is running, please stop it first"));
    }
    if (absl::Status s = StopPod(env, id); !s.ok()) return s;
  }
  runtime::v1::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(id);
  auto response = CallRuntime(env, &Stub::RemovePodSandbox, request,
                              absl::StrCat("removing the pod sandbox \"", id, "\""));
  if (!response.ok()) return response.status();
  env.out() << "Removed sandbox " << id << "\n";
  return absl::OkStatus();
}

absl::Status Rmp(CommandEnv& env, const RmpOptions& options) {
  std::vector<std::string> ids = options.ids;
  if (options.all) {
    auto pods = ListPods(env, {});
    if (!pods.ok()) return pods.status();
    ids.clear();
    for (const auto& pod : *pods) ids.push_back(pod.id());
    if (ids.empty()) {
      env.err() << "No pods to remove\n";
      return absl::OkStatus();
    }
  }
  if (ids.empty()) return absl::InvalidArgumentError("rmp: give POD-ID... or --all");
  // Every pod is tried; each failure is reported, and any makes the exit code 1.
  for (const std::string& id : ids) {
    if (absl::Status s = RemovePod(env, id, options.force); !s.ok()) env.ReportError(s);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterPodCommands(CLI::App& app, CommandEnv& env) {
  // runp
  auto runp_options = std::make_shared<RunpOptions>();
  CLI::App* runp = app.add_subcommand("runp", "Run a new pod");
  runp->add_option("pod-config", runp_options->config_path,
                   "Pod sandbox config file, JSON or YAML (crictl's pod-config.json format)")
      ->required()
      ->type_name("pod-config.[json|yaml]");
  runp->add_option("-r,--runtime", runp_options->runtime_handler,
                   "Runtime handler to use. Available options are defined by the runtime");
  runp->add_option("-T,--cancel-timeout", runp_options->cancel_timeout,
                   "Deadline of the RunPodSandbox call (default: the global --timeout)");
  runp->callback([&env, runp_options] { env.Run([&] { return Runp(env, *runp_options); }); });

  // pods
  auto pods_options = std::make_shared<PodsOptions>();
  CLI::App* pods = app.add_subcommand("pods", "List pods");
  AddPodFilterFlags(pods, pods_options->filter, /*with_id=*/true);
  pods->add_flag("-v,--verbose", pods_options->verbose, "Show verbose info for pods");
  pods->add_flag("-q,--quiet", pods_options->quiet, "List only pod IDs");
  pods->add_option("-o,--output", pods_options->output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(
          {std::string(kOutputJson), std::string(kOutputYaml), std::string(kOutputTable)}))
      ->capture_default_str();
  pods->add_flag("--no-trunc", pods_options->no_trunc, "Show output without truncating the ID");
  pods->callback([&env, pods_options] { env.Run([&] { return Pods(env, *pods_options); }); });

  // inspectp
  auto inspectp_options = std::make_shared<InspectpOptions>();
  CLI::App* inspectp = app.add_subcommand(
      "inspectp", "Display the status of one or more pods (all matching the filters if no ID)");
  inspectp->add_option("POD-ID", inspectp_options->ids, "Pod ids (a unique prefix is enough)");
  AddPodFilterFlags(inspectp, inspectp_options->filter, /*with_id=*/false);
  inspectp
      ->add_option("-o,--output", inspectp_options->output,
                   "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(
          {std::string(kOutputJson), std::string(kOutputYaml), std::string(kOutputTable)}))
      ->capture_default_str();
  inspectp->add_flag("-q,--quiet", inspectp_options->quiet, "Do not show verbose information");
  inspectp->callback(
      [&env, inspectp_options] { env.Run([&] { return Inspectp(env, *inspectp_options); }); });

  // stopp
  auto stopp_ids = std::make_shared<std::vector<std::string>>();
  CLI::App* stopp = app.add_subcommand("stopp", "Stop one or more running pods");
  stopp->add_option("POD-ID", *stopp_ids, "Pod ids")->required();
  stopp->callback([&env, stopp_ids] { env.Run([&] { return Stopp(env, *stopp_ids); }); });

  // rmp
  auto rmp_options = std::make_shared<RmpOptions>();
  CLI::App* rmp = app.add_subcommand("rmp", "Remove one or more pods");
  rmp->add_option("POD-ID", rmp_options->ids, "Pod ids");
  rmp->add_flag("-f,--force", rmp_options->force,
                "Force removal of the pod sandbox, disregarding if running (stops it first)");
  rmp->add_flag("-a,--all", rmp_options->all, "Remove all pods");
  rmp->callback([&env, rmp_options] { env.Run([&] { return Rmp(env, *rmp_options); }); });
}

}  // namespace tether::ctl
