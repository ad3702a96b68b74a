// ExecSync, UpdateContainerResources and ReopenContainerLog.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "container/container_manager.h"
#include "util/fd.h"
#include "util/file.h"
#include "util/id.h"
#include "util/log.h"
#include "util/process.h"

namespace tether {
namespace {

constexpr size_t kExecOutputCap = 16 << 20;  // as kubelet and containerd cap ExecSync output

// The OCI LinuxResources object for `runc update`.
nlohmann::json OciResources(const runtime::v1::LinuxContainerResources& r) {
  nlohmann::json cpu = nlohmann::json::object(), memory = nlohmann::json::object();
  if (r.cpu_shares() > 0) cpu["shares"] = r.cpu_shares();
  if (r.cpu_quota() != 0) cpu["quota"] = r.cpu_quota();
  if (r.cpu_period() > 0) cpu["period"] = r.cpu_period();
  if (!r.cpuset_cpus().empty()) cpu["cpus"] = r.cpuset_cpus();
  if (!r.cpuset_mems().empty()) cpu["mems"] = r.cpuset_mems();
  if (r.memory_limit_in_bytes() > 0) memory["limit"] = r.memory_limit_in_bytes();
  if (r.memory_swap_limit_in_bytes() > 0) memory["swap"] = r.memory_swap_limit_in_bytes();
  nlohmann::json out = nlohmann::json::object();
  if (!cpu.empty()) out["cpu"] = cpu;
  if (!memory.empty()) out["memory"] = memory;
  if (!r.unified().empty()) {
    for (const auto& [k, v] : r.unified()) out["unified"][k] = v;
  }
  return out;
}

}  // namespace

absl::StatusOr<ExecSyncResult> ContainerManager::ExecSync(const std::string& id,
                                                          const std::vector<std::string>& cmd,
                                                          int64_t timeout_seconds) {
  if (cmd.empty()) return absl::InvalidArgumentError("cmd: is required");
  auto found = Get(id);
  if (!found.ok()) return found.status();
  ContainerRecord r = (*found)->Snapshot();
  if (r.state != ContainerState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", r.id, " is not running (", ContainerStateName(r.state), ")"));
  }
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  // The exec'd process gets the container's process settings with the new argv.
  nlohmann::json process = r.runtime_spec->value("process", nlohmann::json::object());
  process["args"] = cmd;
  process["terminal"] = false;
  std::string token = NewId().substr(0, 12);
  std::string process_file = absl::StrCat(r.bundle_dir, "/exec-", token, ".json");
  std::string pid_file = absl::StrCat(r.bundle_dir, "/exec-", token, ".pid");
  if (auto st = WriteFileAtomic(process_file, process.dump(), 0600); !st.ok()) return st;
  ProcessOptions o;
  o.argv = {runtime->path(), "--root",     runtime->root(), "exec", "--process",
            process_file,    "--pid-file", pid_file,        r.id};
  o.output_cap = kExecOutputCap;
  if (timeout_seconds > 0) o.timeout = std::chrono::seconds(timeout_seconds);
  // On timeout kill the exec'd process, not runc: runc is its parent and reaps it, so no zombie
  // stays behind in the container.
  o.on_timeout = [&](int runc_pid) {
    int pid = 0;
    if (auto pid_text = ReadFile(pid_file); pid_text.ok()) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*pid_text), &pid);
    }
    kill(pid > 0 ? pid : runc_pid, SIGKILL);
  };
  auto result = RunProcess(o);
  (void)RemoveFile(process_file);
  (void)RemoveFile(pid_file);
  if (!result.ok()) return result.status();
  if (result->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("command timed out after ", timeout_seconds, "s: ", cmd[0]));
  }
  ExecSyncResult out;
  out.stdout_data = std::move(result->out);
  out.stderr_data = std::move(result->err);
  out.exit_code = result->term_signal != 0 ? 128 + result->term_signal : result->exit_code;
  return out;
}

absl::Status ContainerManager::UpdateResources(
    const std::string& id, const runtime::v1::LinuxContainerResources& resources) {
  auto found = Get(id);
  if (!found.ok()) return found.status();
  auto c = *found;
  absl::MutexLock op(&c->op_mutex());
  ContainerRecord r = c->Snapshot();
  if (r.state == ContainerState::kExited) {
    return absl::FailedPreconditionError(absl::StrCat("container ", r.id, " has exited"));
  }
  if (resources.memory_limit_in_bytes() < 0 || resources.cpu_shares() < 0 ||
      resources.cpu_period() < 0) {
    return absl::InvalidArgumentError("linux: resource values must not be negative");
  }
  auto runtime = RuntimeOf(r);
  if (!runtime) return absl::InternalError("runtime " + r.runtime_name + " is not set up");
  nlohmann::json oci = OciResources(resources);
  if (auto st = runtime->Update(r.id, oci); !st.ok()) return st;
  {
    absl::MutexLock l(&c->mu_);
    // The spec is shared with snapshots: change a copy and swap it in.
    nlohmann::json spec = *c->record_.runtime_spec;
    auto& spec_resources = spec["linux"]["resources"];
    for (auto& [k, v] : oci.items()) {
      if (v.is_object()) {
        for (auto& [k2, v2] : v.items()) spec_resources[k][k2] = v2;
      }
    }
    c->record_.runtime_spec = MakeSharedJson(std::move(spec));
    *c->record_.config.mutable_linux()->mutable_resources() = resources;
  }
  return PersistCurrent(*c);
}

absl::Status ContainerManager::ReopenLog(const std::string& id) {
  auto found = Get(id);
  if (!found.ok()) return found.status();
  ContainerRecord r = (*found)->Snapshot();
  if (r.state != ContainerState::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat("container ", r.id, " is not running"));
  }
  if (r.log_path.empty()) return absl::OkStatus();
  // Watch for the new file before asking, so the answer means the file is there.
  const std::string dir = r.log_path.substr(0, r.log_path.rfind('/'));
  Fd watch(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (watch.valid()) inotify_add_watch(watch.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO);
  // conmon's control fifo: "<type> <height> <width>\n", type 2 = reopen the log file.
  Fd ctl(open((r.bundle_dir + "/ctl").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!ctl.valid()) {
    return absl::UnavailableError(
        absl::StrCat("container ", r.id, ": conmon's control fifo: ", strerror(errno)));
  }
  static const char kReopen[] = "2 0 0\n";
  if (write(ctl.get(), kReopen, sizeof kReopen - 1) != sizeof kReopen - 1) {
    return absl::UnavailableError(absl::StrCat("container ", r.id, ": cannot signal conmon"));
  }
  auto deadline = absl::Now() + absl::Seconds(5);
  alignas(inotify_event) char buf[4096];
  while (!PathExists(r.log_path)) {
    if (!watch.valid() || absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("container ", r.id, ": conmon did not reopen ", r.log_path));
    }
    pollfd p{watch.get(), POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      ssize_t n = read(watch.get(), buf, sizeof buf);
      (void)n;  // any event in the directory: look again
    }
  }
  return absl::OkStatus();
}

}  // namespace tether
