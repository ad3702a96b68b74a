// Exec, Attach and PortForward: validate, resolve the target, and hand out a streaming URL
// (src/stream/streaming_server.h serves it).
#include "absl/strings/str_cat.h"
#include "server/runtime_service.h"
#include "server/status.h"
#include "stream/streaming_server.h"

namespace tether {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// The same rules as kubelet's streaming server (validateExecRequest / validateAttachRequest).
grpc::Status ValidateStreams(bool in, bool out, bool err, bool tty) {
  if (!in && !out && !err) return Invalid("one of stdin, stdout, or stderr must be set");
  if (tty && err) return Invalid("tty and stderr cannot both be true");
  return grpc::Status::OK;
}

absl::StatusOr<ContainerRecord> RunningContainer(ContainerManager& containers,
                                                 const std::string& id) {
  auto c = containers.Get(id);
  if (!c.ok()) return c.status();
  ContainerRecord r = (*c)->Snapshot();
  if (r.state != ContainerState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", r.id, " is not running (", ContainerStateName(r.state), ")"));
  }
  return r;
}

// What Exec and Attach share once their own fields are checked: the streams asked for, a running
// streaming server and a running container, which lands in `*r`.
template <class Request>
grpc::Status CheckStreamTarget(const Request& req, bool streaming, ContainerManager& containers,
                               ContainerRecord* r) {
  if (auto st = ValidateStreams(req.stdin(), req.stdout(), req.stderr(), req.tty()); !st.ok()) {
    return st;
  }
  if (!streaming) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the streaming server is not running");
  }
  auto found = RunningContainer(containers, req.container_id());
  if (!found.ok()) return ToGrpc(found.status());
  *r = std::move(*found);
  return grpc::Status::OK;
}

// The streams of an Exec or Attach request onto the streaming server's request.
template <class Request, class StreamRequest>
void CopyStreams(const Request& req, StreamRequest* out) {
  out->tty = req.tty();
  out->stdin = req.stdin();
  out->stdout = req.stdout();
  out->stderr = req.stderr();
}

}  // namespace

grpc::Status RuntimeService::Exec(Ctx*, const runtime::v1::ExecRequest* req,
                                  runtime::v1::ExecResponse* resp) {
  if (req->container_id().empty()) return Required("container_id");
  if (req->cmd_size() == 0) return Required("cmd");
  ContainerRecord r;
  if (auto st = CheckStreamTarget(*req, streaming_ != nullptr, *containers_, &r); !st.ok()) {
    return st;
  }
  auto runtime = containers_->RuntimeOf(r);
  if (!runtime) {
    return ToGrpc(absl::InternalError("runtime " + r.runtime_name + " is not set up"));
  }
  stream::ExecRequest e;
  e.container_id = r.id;
  e.cmd.assign(req->cmd().begin(), req->cmd().end());
  CopyStreams(*req, &e);
  e.runtime_path = runtime->path();
  e.runtime_root = runtime->root();
  e.bundle_dir = r.bundle_dir;
  e.process = r.runtime_spec->value("process", nlohmann::json::object());
  auto url = streaming_->GetExec(std::move(e));
  if (!url.ok()) return ToGrpc(url.status());
  resp->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Attach(Ctx*, const runtime::v1::AttachRequest* req,
                                    runtime::v1::AttachResponse* resp) {
  if (req->container_id().empty()) return Required("container_id");
  ContainerRecord r;
  if (auto st = CheckStreamTarget(*req, streaming_ != nullptr, *containers_, &r); !st.ok()) {
    return st;
  }
  if (req->stdin() && !r.config.stdin()) {
    return Invalid(absl::StrCat("container ", r.id, " was not created with stdin"));
  }
  stream::AttachRequest a;
  a.container_id = r.id;
  CopyStreams(*req, &a);
  a.stdin_once = r.config.stdin_once();
  // conmon binds <bundle>/attach (through <sockets>/<id> -> <bundle> when that path is short);
  // the backend connects through /proc/self/fd when the path is too long for sun_path.
  a.attach_socket = r.bundle_dir + "/attach";
  a.bundle_dir = r.bundle_dir;
  auto url = streaming_->GetAttach(std::move(a));
  if (!url.ok()) return ToGrpc(url.status());
  resp->set_url(*url);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::PortForward(Ctx*, const runtime::v1::PortForwardRequest* req,
                                         runtime::v1::PortForwardResponse* resp) {
  if (req->pod_sandbox_id().empty()) return Required("pod_sandbox_id");
  for (int32_t port : req->port()) {
    if (port < 1 || port > 65535) return Invalid(absl::StrCat("port: ", port, " is out of range"));
  }
  if (!streaming_) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the streaming server is not running");
  }
  auto sb = sandboxes_->Get(req->pod_sandbox_id());
  if (!sb.ok()) return ToGrpc(sb.status());
  SandboxRecord r = (*sb)->Snapshot();
  if (r.state != SandboxState::kReady) {
    return ToGrpc(absl::FailedPreconditionError(
        absl::StrCat("pod sandbox ", r.id, " is not ready (", SandboxStateName(r.state), ")")));
  }
  stream::PortForwardRequest p;
  p.sandbox_id = r.id;
  p.netns_path = r.host_network() ? "" : r.netns_path;
  p.ports.assign(req->port().begin(), req->port().end());
  auto url = streaming_->GetPortForward(std::move(p));
  if (!url.ok()) return ToGrpc(url.status());
  resp->set_url(*url);
  return grpc::Status::OK;
}

}  // namespace tether
