#include "tetherctl/cli.h"

#include <google/protobuf/message.h>

#include <CLI/CLI.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"

#ifndef TETHER_VERSION
#define TETHER_VERSION "0.0.0"
#endif

namespace tether::ctl {

absl::StatusOr<CriClient*> CommandEnv::client() {
  if (client_ == nullptr) {
    ClientOptions options;
    options.runtime_endpoint = globals_.runtime_endpoint;
    options.image_endpoint = globals_.image_endpoint;
    auto timeout = ParseTimeout(globals_.timeout);
    if (!timeout.ok()) return timeout.status();
    options.call_timeout = *timeout;
    auto connect_timeout = ParseTimeout(globals_.connect_timeout);
    if (!connect_timeout.ok()) return connect_timeout.status();
    options.connect_timeout = *connect_timeout;
    client_ = std::make_unique<CriClient>(std::move(options));
  }
  return client_.get();
}

void CommandEnv::Debug(absl::string_view label, const google::protobuf::Message& message) {
  if (globals_.debug) err_ << label << ": " << message.ShortDebugString() << "\n";
}

void CommandEnv::Run(const std::function<absl::Status()>& command) {
  absl::Status status;
  try {
    status = command();
  } catch (const std::exception& e) {  // a parser at the boundary (nlohmann, yaml-cpp)
    status = absl::InternalError(e.what());
  }
  if (!status.ok()) ReportError(status);
}

void CommandEnv::ReportError(const absl::Status& status) {
  failed_ = true;
  err_ << "tetherctl: " << status.message() << "\n";
  err_.flush();
}

absl::Status PrintMessage(CommandEnv& env, const google::protobuf::Message& message,
                          absl::string_view format) {
  auto value = ProtoToJsonValue(message);
  if (!value.ok()) return value.status();
  if (format == kOutputJson) {
    env.out() << value->dump(2) << "\n";
  } else if (format == kOutputYaml) {
    env.out() << JsonToYaml(nlohmann::json::parse(value->dump())) << "\n";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported output format \"", format, "\""));
  }
  return absl::OkStatus();
}

absl::Status PrintStatusEntries(CommandEnv& env, const std::vector<nlohmann::json>& entries,
                                absl::string_view format) {
  auto text = RenderStatusEntries(entries, format);
  if (!text.ok()) return text.status();
  env.out() << *text;
  return absl::OkStatus();
}

absl::Status Annotate(absl::string_view what, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

absl::StatusOr<absl::Duration> CallTimeout(CommandEnv& env) {
  return ParseTimeout(env.globals().timeout);
}

namespace {

void BuildApp(CLI::App& app, CommandEnv& env) {
  app.description("tetherctl: a CRI client of tetherd (crictl-compatible commands and output)");
  app.set_version_flag("-v,--version", std::string("tetherctl version ") + TETHER_VERSION);
  // Global flags are also accepted after the command name.
  app.fallthrough();
  app.require_subcommand(0, 1);

  GlobalOptions& g = env.globals();
  app.add_option("-r,--runtime-endpoint", g.runtime_endpoint,
                 "Endpoint of the CRI runtime service (unix socket)")
      ->envname(kEndpointEnv)
      ->capture_default_str();
  app.add_option("-i,--image-endpoint", g.image_endpoint,
                 "Endpoint of the CRI image service (default: the runtime endpoint)")
      ->envname(kImageEndpointEnv);
  app.add_option("-t,--timeout", g.timeout,
                 "Deadline of each call to the runtime (e.g. 30, 30s, 2m)")
      ->capture_default_str();
  app.add_option("--connect-timeout", g.connect_timeout,
                 "How long to wait for the runtime socket to accept a connection")
      ->capture_default_str();
  app.add_flag("-D,--debug", g.debug, "Print requests and responses on stderr");

  RegisterRuntimeCommands(app, env);
  RegisterPodCommands(app, env);
  RegisterImageCommands(app, env);
  RegisterImportCommand(app, env);
  RegisterContainerCommands(app, env);
  RegisterStatsCommands(app, env);
  RegisterStreamCommands(app, env);
  RegisterPlayCommands(app, env);
  RegisterDebugCommands(app, env);
}

int Run(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
        std::optional<std::pair<absl::Time, absl::TimeZone>> clock) {
  CommandEnv env(out, err);
  if (clock) env.SetClock(clock->first, clock->second);
  CLI::App app;
  app.name("tetherctl");
  BuildApp(app, env);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; real parse errors exit 1.
    return app.exit(e, out, err) == 0 ? 0 : 1;
  }
  if (app.get_subcommands().empty()) {
    out << app.help();
    return 0;
  }
  return env.exit_code();
}

}  // namespace

int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err) {
  return Run(argc, argv, out, err, std::nullopt);
}

int RunCli(int argc, const char* const argv[], std::ostream& out, std::ostream& err, absl::Time now,
           absl::TimeZone tz) {
  return Run(argc, argv, out, err, std::make_pair(now, tz));
}

}  // namespace tether::ctl
