// Runtime-wide commands: version, info.
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"
#include "tetherctl/output.h"

namespace tether::ctl {
namespace {

// The CRI API version tetherctl speaks.
constexpr char kCriApiVersion[] = "v1";

absl::Status Version(CommandEnv& env) {
  runtime::v1::VersionRequest request;
  request.set_version(kCriApiVersion);
  auto response = CallRuntime(env, &runtime::v1::RuntimeService::StubInterface::Version, request,
                              "getting the runtime version");
  if (!response.ok()) return response.status();
  // Go's fmt.Println("Version: ", v) puts two blanks after the colon; crictl scripts parse that.
  env.out() << "Version:  " << response->version() << "\n"
            << "RuntimeName:  " << response->runtime_name() << "\n"
            << "RuntimeVersion:  " << response->runtime_version() << "\n"
            << "RuntimeApiVersion:  " << response->runtime_api_version() << "\n";
  return absl::OkStatus();
}

struct InfoOptions {
  std::string output = std::string(kOutputJson);
  bool quiet = false;
};

absl::Status Info(CommandEnv& env, const InfoOptions& options) {
  runtime::v1::StatusRequest request;
  request.set_verbose(!options.quiet);
  auto response = CallRuntime(env, &runtime::v1::RuntimeService::StubInterface::Status, request,
                              "getting status of runtime");
  if (!response.ok()) return response.status();

  auto status = ProtoToJsonValue(response->status());
  if (!status.ok()) return status.status();
  // crictl marshals the handlers with Go's encoding/json: proto names, zero values left out.
  nlohmann::json handlers = nullptr;
  for (const auto& handler : response->runtime_handlers()) {
    auto h = ProtoToJsonValue(handler, {.emit_defaults = false, .proto_names = true});
    if (!h.ok()) return h.status();
    handlers.push_back(nlohmann::json::parse(h->dump()));
  }
  auto entry = StatusEntry(
      nlohmann::json::parse(status->dump()), handlers,
      std::map<std::string, std::string>(response->info().begin(), response->info().end()));
  if (!entry.ok()) {
    return absl::Status(entry.status().code(),
                        absl::StrCat("getting status of runtime: ", entry.status().message()));
  }
  return PrintStatusEntries(env, {*entry}, options.output);
}

}  // namespace

void RegisterRuntimeCommands(CLI::App& app, CommandEnv& env) {
  CLI::App* version = app.add_subcommand("version", "Display runtime version information");
  version->callback([&env] { env.Run([&env] { return Version(env); }); });

  auto info_options = std::make_shared<InfoOptions>();
  CLI::App* info = app.add_subcommand("info", "Display information of the container runtime");
  info->add_option("-o,--output", info_options->output, "Output format, one of: json|yaml")
      ->check(CLI::IsMember({std::string(kOutputJson), std::string(kOutputYaml)}))
      ->capture_default_str();
  info->add_flag("-q,--quiet", info_options->quiet, "Do not show verbose information");
  info->callback([&env, info_options] { env.Run([&] { return Info(env, *info_options); }); });
}

}  // namespace tether::ctl
