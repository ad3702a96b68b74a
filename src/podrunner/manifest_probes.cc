// Probes (startup, liveness, readiness) and lifecycle hooks of a container, with Kubernetes'
// defaults and validation.
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "podrunner/manifest_internal.h"

namespace tether::podrunner::manifest_internal {
namespace {

// httpGet.port / tcpSocket.port: a number, or the name of one of the container's ports.
absl::Status ParsePortRef(const Field& f, const ContainerSpec& c, int32_t* out) {
  if (!f.present()) return FieldError(f.path, "is required");
  if (!f.node.IsScalar()) return FieldError(f.path, "must be a port number or name");
  const std::string s = f.node.Scalar();
  int64_t n = 0;
  if (absl::SimpleAtoi(s, &n)) {
    if (n < 1 || n > 65535) return FieldError(f.path, "must be between 1 and 65535");
    *out = static_cast<int32_t>(n);
    return absl::OkStatus();
  }
  if (!IsPortName(s)) {
    return FieldError(f.path, "must be a port number or an IANA service name (a port's name)");
  }
  for (const ContainerPort& p : c.ports) {
    if (p.name == s) {
      *out = p.container_port;
      return absl::OkStatus();
    }
  }
  return FieldError(f.path, absl::StrCat("the container has no port named \"", s, "\""));
}

// A probe's or a hook's handler: exactly one of exec, httpGet, tcpSocket and grpc (probes), sleep
// (hooks).
absl::Status ParseHandler(const Field& f, bool hook, const ContainerSpec& c, int64_t grace,
                          Handler* h) {
  if (!f.present() || !f.node.IsMap()) return FieldError(f.path, "must be an object");
  std::vector<const char*> kinds;
  for (const char* k : {"exec", "httpGet", "tcpSocket", "grpc", "sleep"}) {
    if (f[k].node.IsDefined()) kinds.push_back(k);
  }
  if (kinds.empty()) return FieldError(f.path, "must specify a handler type");
  if (kinds.size() > 1) {
    return FieldError(Sub(f.path, kinds[1]), "may not specify more than 1 handler type");
  }
  const std::string kind = kinds[0];
  Field a = f[kind];
  if (auto st = ExpectMap(a); !st.ok()) return st;
  if (kind == "exec") {
    h->kind = Handler::Kind::kExec;
    if (auto st = GetStrings(a["command"], &h->command); !st.ok()) return st;
    if (h->command.empty()) return FieldError(a["command"].path, "is required");
  } else if (kind == "httpGet") {
    h->kind = Handler::Kind::kHttpGet;
    if (auto st = ParsePortRef(a["port"], c, &h->port); !st.ok()) return st;
    if (auto st = GetString(a["host"], &h->host); !st.ok()) return st;
    std::string path;
    if (auto st = GetString(a["path"], &path); !st.ok()) return st;
    if (path.find_first_of(" \r\n") != std::string::npos) {
      return FieldError(a["path"].path, "must not contain spaces or line breaks");
    }
    h->path = path.empty() ? "/" : (path[0] == '/' ? path : "/" + path);
    std::string scheme;
    if (auto st = GetString(a["scheme"], &scheme); !st.ok()) return st;
    if (!scheme.empty()) h->scheme = scheme;
    if (h->scheme != "HTTP" && h->scheme != "HTTPS") {
      return FieldError(a["scheme"].path, "must be HTTP or HTTPS");
    }
    if (auto st = ExpectSequence(a["httpHeaders"]); !st.ok()) return st;
    for (const Field& hd : Items(a["httpHeaders"])) {
      std::string name, value;
      if (auto st = ExpectMap(hd); !st.ok()) return st;
      if (auto st = GetString(hd["name"], &name, true); !st.ok()) return st;
      if (!IsHttpHeaderName(name))
        return FieldError(hd["name"].path, "must be an HTTP header name");
      if (auto st = GetString(hd["value"], &value); !st.ok()) return st;
      if (value.find_first_of("\r\n") != std::string::npos) {
        return FieldError(hd["value"].path, "must not contain line breaks");
      }
      h->http_headers.emplace_back(std::move(name), std::move(value));
    }
  } else if (kind == "tcpSocket") {
    if (hook) {
      return FieldError(a.path, "is not supported as a lifecycle handler (use exec or httpGet)");
    }
    h->kind = Handler::Kind::kTcpSocket;
    if (auto st = ParsePortRef(a["port"], c, &h->port); !st.ok()) return st;
    if (auto st = GetString(a["host"], &h->host); !st.ok()) return st;
  } else if (kind == "grpc") {
    if (hook) {
      return FieldError(a.path, "is not supported as a lifecycle handler (use exec or httpGet)");
    }
    h->kind = Handler::Kind::kGrpc;
    std::optional<int64_t> port;
    if (auto st = GetInt(a["port"], &port); !st.ok()) return st;
    if (!port) return FieldError(a["port"].path, "is required");
    if (*port < 1 || *port > 65535) {
      return FieldError(a["port"].path, "must be between 1 and 65535");
    }
    h->port = static_cast<int32_t>(*port);
    if (auto st = GetString(a["service"], &h->grpc_service); !st.ok()) return st;
  } else if (kind == "sleep") {
    if (!hook) return FieldError(a.path, "is only a lifecycle handler, not a probe");
    h->kind = Handler::Kind::kSleep;
    std::optional<int64_t> seconds;
    if (auto st = GetInt(a["seconds"], &seconds); !st.ok()) return st;
    if (!seconds) return FieldError(a["seconds"].path, "is required");
    if (*seconds <= 0 || *seconds > grace) {
      return FieldError(a["seconds"].path, absl::StrCat("must be greater than 0 and at most "
                                                        "terminationGracePeriodSeconds (",
                                                        grace, ")"));
    }
    h->sleep_seconds = *seconds;
  }
  return absl::OkStatus();
}

enum class ProbeKind { kLiveness, kReadiness, kStartup };

absl::Status ParseProbe(const Field& f, ProbeKind kind, const ContainerSpec& c, Probe* p) {
  if (auto st = ParseHandler(f, /*hook=*/false, c, 0, &p->handler); !st.ok()) return st;
  struct IntField {
    const char* key;
    int32_t* out;
    int64_t min;  // values below are refused; 0 (or unset) means the default where min is 1
    const char* why;
  };
  const IntField fields[] = {
      {"initialDelaySeconds", &p->initial_delay_seconds, 0, "must be non-negative"},
      {"timeoutSeconds", &p->timeout_seconds, 1, "must be positive"},
      {"periodSeconds", &p->period_seconds, 1, "must be positive"},
      {"successThreshold", &p->success_threshold, 1, "must be positive"},
      {"failureThreshold", &p->failure_threshold, 1, "must be positive"},
  };
  for (const IntField& i : fields) {
    std::optional<int64_t> v;
    if (auto st = GetInt(f[i.key], &v); !st.ok()) return st;
    if (!v) continue;
    // As the API server defaults them: 0 keeps the default.
    if (*v < 0 || (*v > 0 && *v < i.min) || *v > INT32_MAX) return FieldError(f[i.key].path, i.why);
    if (*v > 0 || i.min == 0) *i.out = static_cast<int32_t>(*v);
  }
  if (kind != ProbeKind::kReadiness && p->success_threshold != 1) {
    return FieldError(f["successThreshold"].path, "must be 1 for liveness and startup probes");
  }
  if (auto st = GetInt(f["terminationGracePeriodSeconds"], &p->termination_grace_period_seconds);
      !st.ok()) {
    return st;
  }
  if (p->termination_grace_period_seconds) {
    if (kind == ProbeKind::kReadiness) {
      return FieldError(f["terminationGracePeriodSeconds"].path,
                        "must not be set for readiness probes");
    }
    if (*p->termination_grace_period_seconds <= 0) {
      return FieldError(f["terminationGracePeriodSeconds"].path, "must be positive");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseProbesAndHooks(const Field& f, bool init, int64_t grace, ContainerSpec* c) {
  struct {
    const char* key;
    ProbeKind kind;
    std::optional<Probe>* out;
  } probes[] = {{"livenessProbe", ProbeKind::kLiveness, &c->liveness_probe},
                {"readinessProbe", ProbeKind::kReadiness, &c->readiness_probe},
                {"startupProbe", ProbeKind::kStartup, &c->startup_probe}};
  for (auto& p : probes) {
    if (!f[p.key].present()) continue;
    if (init && !c->sidecar) {
      return FieldError(f[p.key].path,
                        "may not be set for init containers without restartPolicy: Always");
    }
    Probe probe;
    if (auto st = ParseProbe(f[p.key], p.kind, *c, &probe); !st.ok()) return st;
    *p.out = std::move(probe);
  }
  Field lifecycle = f["lifecycle"];
  if (!lifecycle.present()) return absl::OkStatus();
  if (auto st = ExpectMap(lifecycle); !st.ok()) return st;
  if (init && !c->sidecar) {
    return FieldError(lifecycle.path,
                      "may not be set for init containers without restartPolicy: Always");
  }
  for (auto [key, out] : {std::pair{"postStart", &c->post_start}, {"preStop", &c->pre_stop}}) {
    if (!lifecycle[key].present()) continue;
    Handler h;
    if (auto st = ParseHandler(lifecycle[key], /*hook=*/true, *c, grace, &h); !st.ok()) return st;
    *out = std::move(h);
  }
  return absl::OkStatus();
}

}  // namespace tether::podrunner::manifest_internal
