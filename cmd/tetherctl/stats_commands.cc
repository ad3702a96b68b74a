// stats and statsp: container and pod resource usage, sampled twice for CPU rates (crictl's
// commands and tables; container_output.h renders them).
#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tetherctl/commands.h"
#include "tetherctl/container_output.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

using Stub = runtime::v1::RuntimeService::StubInterface;

// "\033[2J\033[H": crictl clears the screen before each table; tetherctl only does so with
// --watch, so that a single table can be piped.
constexpr char kClearScreen[] = "\033[2J\033[H";

// The flags both commands share.
struct SampleOptions {
  std::vector<std::string> labels;
  std::string output = std::string(kOutputTable);
  int seconds = 1;
  bool watch = false;
};

// Sleeps for the sampling period.
void Sample(int seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::seconds(seconds));
}

// `list` answers a response sorted by id. json/yaml print one answer; a table takes two answers
// `seconds` apart and is rendered by `table(first, second)`. With --watch, again and again.
template <typename Response, typename List, typename Table>
absl::Status SampleAndPrint(CommandEnv& env, const SampleOptions& options, List list, Table table,
                            absl::string_view what) {
  do {
    absl::StatusOr<Response> first = list();
    if (!first.ok()) return first.status();
    if (options.output == kOutputJson || options.output == kOutputYaml) {
      if (absl::Status s = PrintMessage(env, *first, options.output); !s.ok()) return s;
      if (options.watch) Sample(options.seconds);
      continue;
    }
    Sample(options.seconds);
    absl::StatusOr<Response> second = list();
    if (!second.ok()) return second.status();
    absl::StatusOr<std::string> text = table(*first, *second);
    if (!text.ok()) return Annotate(what, text.status());
    if (options.watch) env.out() << kClearScreen;
    env.out() << *text;
    env.out().flush();
  } while (options.watch);
  return absl::OkStatus();
}

// Calls `method` and sorts the answer's stats by id.
template <typename Request, typename Response>
absl::StatusOr<Response> ListSorted(CommandEnv& env,
                                    grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                 const Request&, Response*),
                                    const Request& request, absl::string_view what) {
  auto response = CallRuntime(env, method, request, what);
  if (!response.ok()) return response.status();
  std::stable_sort(
      response->mutable_stats()->begin(), response->mutable_stats()->end(),
      [](const auto& a, const auto& b) { return a.attributes().id() < b.attributes().id(); });
  return response;
}

void AddSampleFlags(CLI::App* cmd, SampleOptions& o, const char* watch_help) {
  cmd->add_option("--label", o.labels, "Filter by key=value label (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("-o,--output", o.output, "Output format, one of: json|yaml|table")
      ->check(CLI::IsMember(OutputFormats()))
      ->capture_default_str();
  cmd->add_option("-s,--seconds", o.seconds, "Sample duration for CPU usage in seconds")
      ->capture_default_str();
  cmd->add_flag("-w,--watch", o.watch, watch_help);
}

// --- stats ----------------------------------------------------------------------------------

struct StatsOptions {
  std::string arg_id;
  std::string id;
  bool all = false;
  std::string pod_id;
  SampleOptions sample;
};

absl::Status Stats(CommandEnv& env, const StatsOptions& options) {
  using Response = runtime::v1::ListContainerStatsResponse;
  runtime::v1::ListContainerStatsRequest request;
  auto* filter = request.mutable_filter();
  filter->set_id(options.id.empty() ? options.arg_id : options.id);
  filter->set_pod_sandbox_id(options.pod_id);
  auto labels = ParseLabels(options.sample.labels);
  if (!labels.ok()) return labels.status();
  filter->mutable_label_selector()->insert(labels->begin(), labels->end());
  return SampleAndPrint<Response>(
      env, options.sample,
      [&] { return ListSorted(env, &Stub::ListContainerStats, request, "get container stats"); },
      [&](const Response& first, const Response& second) {
        return ContainerStatsTable(first, second, options.all);
      },
      "get container stats");
}

// --- statsp ---------------------------------------------------------------------------------

struct StatspOptions {
  std::string arg_id;
  std::string id;
  SampleOptions sample;
};

absl::Status Statsp(CommandEnv& env, const StatspOptions& options) {
  using Response = runtime::v1::ListPodSandboxStatsResponse;
  runtime::v1::ListPodSandboxStatsRequest request;
  auto* filter = request.mutable_filter();
  filter->set_id(options.id.empty() ? options.arg_id : options.id);
  auto labels = ParseLabels(options.sample.labels);
  if (!labels.ok()) return Annotate("parse pod labels", labels.status());
  filter->mutable_label_selector()->insert(labels->begin(), labels->end());
  return SampleAndPrint<Response>(
      env, options.sample,
      [&] {
        return ListSorted(env, &Stub::ListPodSandboxStats, request,
                          "get pod stats: list pod sandbox stats");
      },
      [](const Response& first, const Response& second) { return PodStatsTable(first, second); },
      "get pod stats");
}

}  // namespace

void RegisterStatsCommands(CLI::App& app, CommandEnv& env) {
  auto stats_options = std::make_shared<StatsOptions>();
  CLI::App* stats = app.add_subcommand("stats", "List container(s) resource usage statistics");
  stats->add_option("ID", stats_options->arg_id, "Container id");
  stats->add_flag("-a,--all", stats_options->all,
                  "Show all containers (default shows just running)");
  stats->add_option("--id", stats_options->id, "Filter by container id");
  stats->add_option("-p,--pod", stats_options->pod_id, "Filter by pod id");
  AddSampleFlags(stats, stats_options->sample, "Watch container resources");
  stats->callback([&env, stats_options] { env.Run([&] { return Stats(env, *stats_options); }); });

  auto statsp_options = std::make_shared<StatspOptions>();
  CLI::App* statsp = app.add_subcommand("statsp", "List pod statistics");
  statsp->add_option("ID", statsp_options->arg_id, "Pod id");
  statsp->add_option("--id", statsp_options->id, "Filter by pod id");
  AddSampleFlags(statsp, statsp_options->sample, "Watch pod resources");
  statsp->callback(
      [&env, statsp_options] { env.Run([&] { return Statsp(env, *statsp_options); }); });
}

}  // namespace tether::ctl
