// What every tetherctl command shares, and the registration of the command groups.
//
// Adding commands: a group lives in its own file (runtime_commands.cc, pod_commands.cc, later
// image_commands.cc, container_commands.cc, ...) with one Register*Commands() function that adds
// its subcommands to the app. Declare it below, add the file to tetherctl_lib in
// CMakeLists.txt and call it from BuildApp() in cli.cc. A subcommand's callback runs the command
// through CommandEnv::Run(), which reports a failure on stderr and sets the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tetherctl/client.h"
#include "tetherctl/output.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace tether::ctl {

// Flags of the top-level command.
struct GlobalOptions {
  std::string runtime_endpoint = std::string(kDefaultEndpoint);
  std::string image_endpoint;
  std::string timeout = "120s";
  std::string connect_timeout = "2s";
  bool debug = false;
};

class CommandEnv {
 public:
  CommandEnv(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  GlobalOptions& globals() { return globals_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // The client for the global options, made at first use.
  absl::StatusOr<CriClient*> client();

  // The clock and time zone of time columns (fixed by tests).
  absl::Time Now() const { return now_ ? *now_ : absl::Now(); }
  absl::TimeZone TimeZone() const { return tz_ ? *tz_ : absl::LocalTimeZone(); }
  void SetClock(absl::Time now, absl::TimeZone tz) {
    now_ = now;
    tz_ = tz;
  }

  // With --debug, "<label>: <message in text format>" on stderr.
  void Debug(absl::string_view label, const google::protobuf::Message& message);

  // Runs a command; a failure is reported.
  void Run(const std::function<absl::Status()>& command);
  // Prints "tetherctl: <message>" on stderr and makes the exit code 1; for commands that go on
  // after a failure (rmp with several ids).
  void ReportError(const absl::Status& status);
  bool failed() const { return failed_; }

  // The process exit code: the one set (exec passes on its command's), else 1 after a
  // failure, else 0.
  void SetExitCode(int code) { exit_code_ = code; }
  int exit_code() const { return exit_code_ ? *exit_code_ : (failed_ ? 1 : 0); }

 private:
  std::ostream& out_;
  std::ostream& err_;
  GlobalOptions globals_;
  std::unique_ptr<CriClient> client_;
  std::optional<absl::Time> now_;
  std::optional<absl::TimeZone> tz_;
  bool failed_ = false;
  std::optional<int> exit_code_;
};

// One unary call: `(stub->*method)(request)` under the call deadline (or `timeout`), logged with
// --debug. A failed call is "<what>: rpc error: code = ... desc = ..." with the call's code.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CallStub(CommandEnv& env, Stub* stub,
                                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                               Response*),
                                  const Request& request, absl::string_view what,
                                  absl::Duration timeout = absl::ZeroDuration()) {
  auto client = env.client();
  if (!client.ok()) return client.status();
  env.Debug(Request::descriptor()->name(), request);
  Response response;
  auto context = (*client)->NewCallContext(timeout);
  grpc::Status status = (stub->*method)(context.get(), request, &response);
  if (!status.ok()) return RpcError(what, status);
  env.Debug(Response::descriptor()->name(), response);
  return response;
}

// CallStub on the RuntimeService, connecting first.
template <typename Request, typename Response>
absl::StatusOr<Response> CallRuntime(
    CommandEnv& env,
    grpc::Status (runtime::v1::RuntimeService::StubInterface::*method)(grpc::ClientContext*,
                                                                       const Request&, Response*),
    const Request& request, absl::string_view what, absl::Duration timeout = absl::ZeroDuration()) {
  auto client = env.client();
  if (!client.ok()) return client.status();
  auto stub = (*client)->Runtime();
  if (!stub.ok()) return stub.status();
  return CallStub(env, *stub, method, request, what, timeout);
}

// CallStub on the ImageService, connecting first.
template <typename Request, typename Response>
absl::StatusOr<Response> CallImage(CommandEnv& env,
                                   grpc::Status (runtime::v1::ImageService::StubInterface::*method)(
                                       grpc::ClientContext*, const Request&, Response*),
                                   const Request& request, absl::string_view what,
                                   absl::Duration timeout = absl::ZeroDuration()) {
  auto client = env.client();
  if (!client.ok()) return client.status();
  auto stub = (*client)->Image();
  if (!stub.ok()) return stub.status();
  return CallStub(env, *stub, method, request, what, timeout);
}

// A deadline long enough to count as none: calls that may rightly take long (pulling an image,
// ExecSync without --timeout) are not cut by the global --timeout, as in crictl.
inline constexpr absl::Duration kNoDeadline = absl::Hours(24 * 365);

// Prints a response (a list) as `-o json` / `-o yaml` do: protobuf JSON with defaults, two-space
// indented; YAML followed by a blank line, as crictl prints it.
absl::Status PrintMessage(CommandEnv& env, const google::protobuf::Message& message,
                          absl::string_view format);

// Prints RenderStatusEntries(entries, format) (output.h): what inspect, inspectp, inspecti and
// info print for -o json / -o yaml.
absl::Status PrintStatusEntries(CommandEnv& env, const std::vector<nlohmann::json>& entries,
                                absl::string_view format);

// `status` with "<what>: " before its message, same code.
absl::Status Annotate(absl::string_view what, const absl::Status& status);

// The global --timeout as a duration.
absl::StatusOr<absl::Duration> CallTimeout(CommandEnv& env);

// ImageStatus of `image` (a reference, id or unique id prefix); the response's image is unset
// when the runtime does not have it.
absl::StatusOr<runtime::v1::ImageStatusResponse> GetImageStatus(CommandEnv& env,
                                                                const std::string& image,
                                                                bool verbose);

// PullImage; returns the image reference the runtime answers with. `timeout` zero: no deadline.
absl::StatusOr<std::string> PullImage(CommandEnv& env, const runtime::v1::PullImageRequest& request,
                                      absl::Duration timeout = absl::ZeroDuration());

// version, info
void RegisterRuntimeCommands(CLI::App& app, CommandEnv& env);
// runp, pods, inspectp, stopp, rmp
void RegisterPodCommands(CLI::App& app, CommandEnv& env);
// pull, images, inspecti, rmi, imagefsinfo
void RegisterImageCommands(CLI::App& app, CommandEnv& env);
// import (load an image archive without a registry; import_command.cc)
void RegisterImportCommand(CLI::App& app, CommandEnv& env);
// create, run, start, stop, rm, ps, inspect, logs, update
void RegisterContainerCommands(CLI::App& app, CommandEnv& env);
// stats, statsp (stats_commands.cc)
void RegisterStatsCommands(CLI::App& app, CommandEnv& env);
// exec, attach, port-forward (stream_commands.cc; the streaming client is stream_client.h)
void RegisterStreamCommands(CLI::App& app, CommandEnv& env);
// play (run a Kubernetes Pod manifest; play_command.cc)
void RegisterPlayCommands(CLI::App& app, CommandEnv& env);
// debug (an ephemeral debug container in a pod; debug_command.cc)
void RegisterDebugCommands(CLI::App& app, CommandEnv& env);

}  // namespace tether::ctl
