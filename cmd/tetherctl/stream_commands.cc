// Streaming commands: exec (ExecSync with -s, else the Exec URL), attach and port-forward, as
// clients of the runtime's streaming server (stream_client.h).
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tetherctl/commands.h"
#include "tetherctl/stream_client.h"
#include "tetherctl/stream_session.h"

namespace tether::ctl {
namespace {

using Stub = runtime::v1::RuntimeService::StubInterface;

// Runs an exec or attach session on the process's own stdio; the command's exit code becomes
// ours.
absl::Status RunSession(CommandEnv& env, const std::string& url, const StreamFlags& f) {
  env.out().flush();
  env.err().flush();
  auto code = RunStdioSession(url, f);
  if (!code.ok()) return code.status();
  env.SetExitCode(*code);
  return absl::OkStatus();
}

// --- exec -----------------------------------------------------------------------------------

struct ExecOptions {
  bool sync = false;
  int64_t timeout = 0;
  StreamFlags stream;
};

absl::Status ExecSync(CommandEnv& env, const ExecOptions& options, const std::string& id,
                      std::vector<std::string> args) {
  runtime::v1::ExecSyncRequest request;
  request.set_container_id(id);
  for (auto& arg : args) request.add_cmd(std::move(arg));
  request.set_timeout(options.timeout);
  absl::Duration deadline = kNoDeadline;
  if (options.timeout > 0) {
    auto t = CallTimeout(env);
    if (!t.ok()) return t.status();
    deadline = *t + absl::Seconds(options.timeout);
  }
  auto response =
      CallRuntime(env, &Stub::ExecSync, request,
                  absl::StrCat("execing command in container ", id, " synchronously"), deadline);
  if (!response.ok()) return response.status();
  env.out() << response->stdout();
  env.out().flush();
  env.err() << response->stderr();
  env.err().flush();
  env.SetExitCode(response->exit_code());
  return absl::OkStatus();
}

absl::Status Exec(CommandEnv& env, const ExecOptions& options, std::vector<std::string> args) {
  if (args.empty() || args.front().empty()) {
    return absl::InvalidArgumentError("exec: give CONTAINER-ID COMMAND [ARG...]");
  }
  const std::string id = args.front();
  args.erase(args.begin());
  if (!args.empty() && args.front() == "--") args.erase(args.begin());
  if (args.empty()) return absl::InvalidArgumentError("exec: give the COMMAND to run");
  if (options.sync) {
    if (options.stream.tty || options.stream.interactive) {
      return absl::InvalidArgumentError("exec: -s/--sync cannot be used with -t or -i");
    }
    return ExecSync(env, options, id, std::move(args));
  }
  runtime::v1::ExecRequest request;
  request.set_container_id(id);
  for (auto& arg : args) request.add_cmd(std::move(arg));
  request.set_tty(options.stream.tty);
  request.set_stdin(options.stream.interactive);
  request.set_stdout(true);
  request.set_stderr(!options.stream.tty);
  auto response = CallRuntime(env, &Stub::Exec, request, absl::StrCat("exec in container ", id));
  if (!response.ok()) return response.status();
  return RunSession(env, response->url(), options.stream);
}

// --- attach ---------------------------------------------------------------------------------

struct AttachOptions {
  std::string id;
  StreamFlags stream;
};

absl::Status Attach(CommandEnv& env, const AttachOptions& options) {
  runtime::v1::AttachRequest request;
  request.set_container_id(options.id);
  request.set_stdin(options.stream.interactive);
  request.set_tty(options.stream.tty);
  request.set_stdout(true);
  request.set_stderr(!options.stream.tty);
  auto response =
      CallRuntime(env, &Stub::Attach, request, absl::StrCat("attach to container ", options.id));
  if (!response.ok()) return response.status();
  return RunSession(env, response->url(), options.stream);
}

// --- port-forward ---------------------------------------------------------------------------

struct PortForwardOptions {
  std::string pod;
  std::vector<std::string> ports;
  std::string address = "127.0.0.1";
  StreamFlags stream;
};

absl::Status PortForward(CommandEnv& env, const PortForwardOptions& options) {
  if (options.ports.empty()) {
    return absl::InvalidArgumentError("port-forward: give POD-ID [LOCAL_PORT:]REMOTE_PORT...");
  }
  std::vector<PortMapping> mappings;
  runtime::v1::PortForwardRequest request;
  request.set_pod_sandbox_id(options.pod);
  for (const auto& p : options.ports) {
    auto m = ParsePortMapping(p);
    if (!m.ok()) return m.status();
    mappings.push_back(*m);
    request.add_port(m->remote);
  }
  auto dial = DialOptionsOf(options.stream);
  if (!dial.ok()) return dial.status();
  auto response = CallRuntime(env, &Stub::PortForward, request,
                              absl::StrCat("port forward to pod sandbox ", options.pod));
  if (!response.ok()) return response.status();
  PortForwardIo io;
  io.address = options.address;
  io.info = [&env](const std::string& line) {
    env.out() << line << "\n";
    env.out().flush();
  };
  io.error = [&env](const std::string& line) {
    env.err() << "tetherctl: " << line << "\n";
    env.err().flush();
  };
  return RunPortForward(response->url(), *dial, mappings, io);
}

}  // namespace

void RegisterStreamCommands(CLI::App& app, CommandEnv& env) {
  // exec: everything after the container id is the command, options included (-l, -c, ...).
  auto exec_options = std::make_shared<ExecOptions>();
  CLI::App* exec = app.add_subcommand("exec", "Run a command in a running container");
  exec->footer(
      "Arguments: CONTAINER-ID COMMAND [ARG...]; options after CONTAINER-ID are the command's.");
  exec->add_flag("-s,--sync", exec_options->sync,
                 "Run the command synchronously (ExecSync: no streaming, no stdin)");
  exec->add_option("--timeout", exec_options->timeout,
                   "Timeout in seconds of a --sync command (0: none)")
      ->capture_default_str();
  AddStreamFlags(exec, exec_options->stream, true);
  exec->prefix_command();
  exec->fallthrough(false);
  exec->callback([&env, exec_options, exec] {
    env.Run([&] { return Exec(env, *exec_options, exec->remaining()); });
  });

  auto attach_options = std::make_shared<AttachOptions>();
  CLI::App* attach = app.add_subcommand("attach", "Attach to a running container");
  attach->add_option("CONTAINER-ID", attach_options->id, "Container id")->required();
  AddStreamFlags(attach, attach_options->stream, false);
  attach->callback(
      [&env, attach_options] { env.Run([&] { return Attach(env, *attach_options); }); });

  auto pf_options = std::make_shared<PortForwardOptions>();
  CLI::App* pf = app.add_subcommand("port-forward", "Forward local ports to a pod");
  pf->add_option("POD-ID", pf_options->pod, "Pod sandbox id")->required();
  pf->add_option("PORTS", pf_options->ports,
                 "[LOCAL_PORT:]REMOTE_PORT (LOCAL_PORT 0 or empty: "
                 "a free port)")
      ->required();
  pf->add_option("--address", pf_options->address, "Local address to listen on")
      ->capture_default_str();
  AddTransportFlags(pf, pf_options->stream);
  pf->callback([&env, pf_options] { env.Run([&] { return PortForward(env, *pf_options); }); });
}

}  // namespace tether::ctl
