#include "podrunner/manifest.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "util/file.h"

namespace tether::podrunner {
namespace {

absl::Status FieldError(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

std::string Sub(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

// A node with the path it was found at, so that every error names its field.
struct Field {
  YAML::Node node;
  std::string path;

  bool present() const { return node.IsDefined() && !node.IsNull(); }
  Field operator[](absl::string_view key) const {
    // A missing key is an invalid ("zombie") node in yaml-cpp: test it before asking its type.
    if (!present() || !node.IsMap()) {
      return Field{YAML::Node(YAML::NodeType::Undefined), Sub(path, key)};
    }
    return Field{node[std::string(key)], Sub(path, key)};
  }
};

// What a pod's fields may refer to outside the pod: the file's ConfigMaps by (namespace, name).
using ConfigMaps = std::map<std::pair<std::string, std::string>, ConfigMap>;

absl::Status ExpectMap(const Field& f) {
  if (f.present() && !f.node.IsMap()) return FieldError(f.path, "must be an object");
  return absl::OkStatus();
}

absl::Status ExpectSequence(const Field& f) {
  if (f.present() && !f.node.IsSequence()) return FieldError(f.path, "must be a list");
  return absl::OkStatus();
}

std::vector<Field> Items(const Field& f) {
  std::vector<Field> out;
  if (!f.present() || !f.node.IsSequence()) return out;
  for (size_t i = 0; i < f.node.size(); ++i) out.push_back(Field{f.node[i], Index(f.path, i)});
  return out;
}

absl::Status GetString(const Field& f, std::string* out, bool required = false) {
  if (!f.present()) return required ? FieldError(f.path, "is required") : absl::OkStatus();
  if (!f.node.IsScalar()) return FieldError(f.path, "must be a string");
  *out = f.node.Scalar();
  if (required && out->empty()) return FieldError(f.path, "is required");
  return absl::OkStatus();
}

absl::Status GetBool(const Field& f, std::optional<bool>* out) {
  if (!f.present()) return absl::OkStatus();
  std::string s = f.node.IsScalar() ? f.node.Scalar() : "";
  if (s == "true") {
    *out = true;
  } else if (s == "false") {
    *out = false;
  } else {
    return FieldError(f.path, "must be true or false");
  }
  return absl::OkStatus();
}

absl::Status GetBool(const Field& f, bool* out) {
  std::optional<bool> v;
  if (auto st = GetBool(f, &v); !st.ok()) return st;
  if (v) *out = *v;
  return absl::OkStatus();
}

absl::Status GetInt(const Field& f, std::optional<int64_t>* out) {
  if (!f.present()) return absl::OkStatus();
  int64_t v = 0;
  if (!f.node.IsScalar() || !absl::SimpleAtoi(f.node.Scalar(), &v)) {
    return FieldError(f.path, "must be an integer");
  }
  *out = v;
  return absl::OkStatus();
}

// A file mode: 0..0777. YAML writes it in octal (0644, 0o644), JSON in decimal (420).
absl::Status GetMode(const Field& f, std::optional<uint32_t>* out) {
  if (!f.present()) return absl::OkStatus();
  std::string s = f.node.IsScalar() ? f.node.Scalar() : "";
  int base = 10;
  if (absl::StartsWith(s, "0o")) {
    s = s.substr(2);
    base = 8;
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
  }
  size_t used = 0;
  long v = -1;
  try {
    v = std::stol(s, &used, base);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < 0 || v > 0777) {
    return FieldError(f.path, "must be a file mode between 0 and 0777 (octal)");
  }
  *out = static_cast<uint32_t>(v);
  return absl::OkStatus();
}

absl::Status GetStrings(const Field& f, std::vector<std::string>* out) {
  if (auto st = ExpectSequence(f); !st.ok()) return st;
  for (const Field& item : Items(f)) {
    std::string s;
    if (!item.present() || !item.node.IsScalar()) return FieldError(item.path, "must be a string");
    out->push_back(item.node.Scalar());
  }
  return absl::OkStatus();
}

absl::Status GetStringMap(const Field& f, std::map<std::string, std::string>* out) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  if (!f.present()) return absl::OkStatus();
  for (const auto& kv : f.node) {
    std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar()) return FieldError(Sub(f.path, key), "must be a string");
    (*out)[key] = kv.second.Scalar();
  }
  return absl::OkStatus();
}

// RFC 1123 label: what container, volume and port names must be.
bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

// RFC 1123 subdomain: what pod names and namespaces must be.
bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) return false;
  }
  return absl::ascii_isalnum(s.front()) && absl::ascii_isalnum(s.back());
}

// IANA_SVC_NAME: what a named port must be (at most 15, lower-case alphanumerics and '-', a
// letter somewhere, no leading, trailing or double '-').
bool IsPortName(absl::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  bool letter = false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
    letter |= absl::ascii_islower(c);
  }
  return letter && !absl::StrContains(s, "--");
}

// A ConfigMap key: [-._a-zA-Z0-9]+, at most 253, not "." or "..", not starting with "..".
bool IsConfigMapKey(absl::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s == ".." || absl::StartsWith(s, "..")) {
    return false;
  }
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

// An environment variable name: letters, digits, '_', '-' and '.', not starting with a digit.
bool IsEnvVarName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s.front())) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// An HTTP header field name (a token).
bool IsHttpHeaderName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c))) return false;
  }
  return true;
}

// A relative path inside a volume: not absolute, no ".." element.
bool IsVolumeRelativePath(absl::string_view s) {
  // Not starting with "..": the volume's own ..data and versions are named so (as kubelet's).
  if (s.empty() || s.front() == '/' || absl::StartsWith(s, "..")) return false;
  for (absl::string_view part : absl::StrSplit(s, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::Status ParsePort(const Field& f, ContainerPort* port) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  if (auto st = GetString(f["name"], &port->name); !st.ok()) return st;
  std::optional<int64_t> container_port, host_port;
  if (auto st = GetInt(f["containerPort"], &container_port); !st.ok()) return st;
  if (!container_port) return FieldError(f["containerPort"].path, "is required");
  if (*container_port < 1 || *container_port > 65535) {
    return FieldError(f["containerPort"].path, "must be between 1 and 65535");
  }
  port->container_port = static_cast<int32_t>(*container_port);
  if (auto st = GetInt(f["hostPort"], &host_port); !st.ok()) return st;
  if (host_port && (*host_port < 0 || *host_port > 65535)) {
    return FieldError(f["hostPort"].path, "must be between 0 and 65535");
  }
  port->host_port = static_cast<int32_t>(host_port.value_or(0));
  if (auto st = GetString(f["hostIP"], &port->host_ip); !st.ok()) return st;
  if (auto st = GetString(f["protocol"], &port->protocol); !st.ok()) return st;
  if (port->protocol.empty()) port->protocol = "TCP";
  if (port->protocol != "TCP" && port->protocol != "UDP" && port->protocol != "SCTP") {
    return FieldError(f["protocol"].path, "must be TCP, UDP or SCTP");
  }
  return absl::OkStatus();
}

absl::Status ParseResources(const Field& f, ContainerSpec* c) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  for (const char* section : {"limits", "requests"}) {
    Field s = f[section];
    if (auto st = ExpectMap(s); !st.ok()) return st;
    if (!s.present()) continue;
    for (const auto& kv : s.node) {
      std::string key = kv.first.Scalar();
      std::string path = Sub(s.path, key);
      if (!kv.second.IsScalar()) return FieldError(path, "must be a quantity");
      const std::string value = kv.second.Scalar();
      const bool limit = std::string(section) == "limits";
      if (key == "cpu") {
        auto v = ParseCpuMillis(value);
        if (!v.ok()) return FieldError(path, v.status().message());
        (limit ? c->cpu_limit_millis : c->cpu_request_millis) = *v;
      } else if (key == "memory") {
        auto v = ParseMemoryBytes(value);
        if (!v.ok()) return FieldError(path, v.status().message());
        if (limit) c->memory_limit_bytes = *v;
      }  // ephemeral-storage, hugepages-*, extended resources: not enforced here
    }
  }
  return absl::OkStatus();
}

absl::Status ParseSecurityContext(const Field& f, ContainerSpec* c) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  if (auto st = GetInt(f["runAsUser"], &c->run_as_user); !st.ok()) return st;
  if (auto st = GetInt(f["runAsGroup"], &c->run_as_group); !st.ok()) return st;
  if (auto st = GetBool(f["runAsNonRoot"], &c->run_as_non_root); !st.ok()) return st;
  if (auto st = GetBool(f["readOnlyRootFilesystem"], &c->read_only_root_filesystem); !st.ok()) {
    return st;
  }
  if (auto st = GetBool(f["privileged"], &c->privileged); !st.ok()) return st;
  if (auto st = GetBool(f["allowPrivilegeEscalation"], &c->allow_privilege_escalation); !st.ok()) {
    return st;
  }
  Field caps = f["capabilities"];
  if (auto st = ExpectMap(caps); !st.ok()) return st;
  if (auto st = GetStrings(caps["add"], &c->capabilities_add); !st.ok()) return st;
  if (auto st = GetStrings(caps["drop"], &c->capabilities_drop); !st.ok()) return st;
  if (c->privileged && c->allow_privilege_escalation == false) {
    return FieldError(f["allowPrivilegeEscalation"].path,
                      "cannot be false when privileged is true");
  }
  return absl::OkStatus();
}

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

absl::Status ParseContainer(const Field& f, bool init, int64_t grace, const ConfigMaps& cms,
                            const std::string& ns, ContainerSpec* c,
                            std::vector<std::string>* warnings) {
  if (!f.present() || !f.node.IsMap()) return FieldError(f.path, "must be an object");
  if (auto st = GetString(f["name"], &c->name, true); !st.ok()) return st;
  if (!IsDnsLabel(c->name)) {
    return FieldError(f["name"].path,
                      "must be a DNS label (lower-case alphanumerics and '-', at most 63)");
  }
  if (auto st = GetString(f["image"], &c->image, true); !st.ok()) return st;
  std::string policy;
  if (auto st = GetString(f["imagePullPolicy"], &policy); !st.ok()) return st;
  if (policy.empty()) {
    // Kubernetes' default: Always for :latest or no tag (and no digest), else IfNotPresent.
    const std::string& image = c->image;
    size_t slash = image.rfind('/');
    std::string last = slash == std::string::npos ? image : image.substr(slash + 1);
    bool digest = absl::StrContains(image, "@");
    size_t colon = last.find(':');
    bool latest = !digest && (colon == std::string::npos || last.substr(colon + 1) == "latest");
    c->pull_policy = latest ? PullPolicy::kAlways : PullPolicy::kIfNotPresent;
  } else if (policy == "Always") {
    c->pull_policy = PullPolicy::kAlways;
  } else if (policy == "IfNotPresent") {
    c->pull_policy = PullPolicy::kIfNotPresent;
  } else if (policy == "Never") {
    c->pull_policy = PullPolicy::kNever;
  } else {
    return FieldError(f["imagePullPolicy"].path, "must be Always, IfNotPresent or Never");
  }
  if (auto st = GetStrings(f["command"], &c->command); !st.ok()) return st;
  if (auto st = GetStrings(f["args"], &c->args); !st.ok()) return st;
  if (auto st = GetString(f["workingDir"], &c->working_dir); !st.ok()) return st;
  if (!c->working_dir.empty() && c->working_dir[0] != '/') {
    return FieldError(f["workingDir"].path, "must be an absolute path");
  }
  // envFrom first, env after it: a name in env wins, as kubelet does it.
  auto set_env = [c](std::string name, std::string value) {
    for (EnvVar& e : c->env) {
      if (e.name == name) {
        e.value = std::move(value);
        return;
      }
    }
    c->env.push_back(EnvVar{std::move(name), std::move(value)});
  };
  if (auto st = ExpectSequence(f["envFrom"]); !st.ok()) return st;
  for (const Field& e : Items(f["envFrom"])) {
    if (auto st = ExpectMap(e); !st.ok()) return st;
    if (!e["configMapRef"].present()) {
      return FieldError(e.path,
                        "only configMapRef is supported by tetherctl play (a ConfigMap in the "
                        "same file)");
    }
    std::string prefix, name;
    std::optional<bool> optional;
    Field ref = e["configMapRef"];
    if (auto st = ExpectMap(ref); !st.ok()) return st;
    if (auto st = GetString(e["prefix"], &prefix); !st.ok()) return st;
    if (auto st = GetString(ref["name"], &name, true); !st.ok()) return st;
    if (auto st = GetBool(ref["optional"], &optional); !st.ok()) return st;
    auto cm = cms.find({ns, name});
    if (cm == cms.end()) {
      if (optional.value_or(false)) continue;
      return FieldError(ref["name"].path, absl::StrCat("ConfigMap \"", name, "\" (namespace ", ns,
                                                       ") is not in the manifest file"));
    }
    for (const auto& [key, value] : cm->second.data) {
      std::string var = prefix + key;
      if (!IsEnvVarName(var)) {  // kubelet skips these too
        warnings->push_back(absl::StrCat(e.path, ": skipped ConfigMap key \"", key,
                                         "\": not a valid environment variable name"));
        continue;
      }
      set_env(var, value);
    }
  }
  if (auto st = ExpectSequence(f["env"]); !st.ok()) return st;
  for (const Field& e : Items(f["env"])) {
    std::string name, value;
    if (auto st = ExpectMap(e); !st.ok()) return st;
    if (auto st = GetString(e["name"], &name, true); !st.ok()) return st;
    if (e["valueFrom"].present()) {
      Field ref = e["valueFrom"]["configMapKeyRef"];
      if (!ref.present()) {
        return FieldError(e["valueFrom"].path,
                          "is not supported by tetherctl play (no API server); use value or "
                          "configMapKeyRef (a ConfigMap in the same file)");
      }
      if (auto st = ExpectMap(ref); !st.ok()) return st;
      std::string cm_name, key;
      std::optional<bool> optional;
      if (auto st = GetString(ref["name"], &cm_name, true); !st.ok()) return st;
      if (auto st = GetString(ref["key"], &key, true); !st.ok()) return st;
      if (auto st = GetBool(ref["optional"], &optional); !st.ok()) return st;
      auto cm = cms.find({ns, cm_name});
      if (cm == cms.end()) {
        if (optional.value_or(false)) continue;
        return FieldError(ref["name"].path, absl::StrCat("ConfigMap \"", cm_name, "\" (namespace ",
                                                         ns, ") is not in the manifest file"));
      }
      auto it = cm->second.data.find(key);
      if (it == cm->second.data.end()) {
        if (optional.value_or(false)) continue;
        return FieldError(ref["key"].path,
                          absl::StrCat("ConfigMap \"", cm_name, "\" has no key \"", key, "\""));
      }
      value = it->second;
    } else if (auto st = GetString(e["value"], &value); !st.ok()) {
      return st;
    }
    set_env(std::move(name), std::move(value));
  }
  if (auto st = ExpectSequence(f["ports"]); !st.ok()) return st;
  for (const Field& p : Items(f["ports"])) {
    ContainerPort port;
    if (auto st = ParsePort(p, &port); !st.ok()) return st;
    c->ports.push_back(std::move(port));
  }
  if (auto st = ExpectSequence(f["volumeMounts"]); !st.ok()) return st;
  for (const Field& m : Items(f["volumeMounts"])) {
    VolumeMount mount;
    if (auto st = ExpectMap(m); !st.ok()) return st;
    if (auto st = GetString(m["name"], &mount.name, true); !st.ok()) return st;
    if (auto st = GetString(m["mountPath"], &mount.mount_path, true); !st.ok()) return st;
    if (mount.mount_path[0] != '/') return FieldError(m["mountPath"].path, "must be absolute");
    if (auto st = GetBool(m["readOnly"], &mount.read_only); !st.ok()) return st;
    if (m["subPath"].present() || m["subPathExpr"].present()) {
      return FieldError(Sub(m.path, "subPath"), "is not supported by tetherctl play yet");
    }
    c->volume_mounts.push_back(std::move(mount));
  }
  if (auto st = GetBool(f["tty"], &c->tty); !st.ok()) return st;
  if (auto st = GetBool(f["stdin"], &c->stdin); !st.ok()) return st;
  if (auto st = ParseResources(f["resources"], c); !st.ok()) return st;
  if (auto st = ParseSecurityContext(f["securityContext"], c); !st.ok()) return st;
  std::string restart;
  if (auto st = GetString(f["restartPolicy"], &restart); !st.ok()) return st;
  if (!restart.empty()) {
    if (!init || restart != "Always") {
      return FieldError(f["restartPolicy"].path, init ? "must be Always (a sidecar) or unset"
                                                      : "is only allowed on init containers");
    }
    c->sidecar = true;
  }
  return ParseProbesAndHooks(f, init, grace, c);
}

// A configMap volume: its files from the ConfigMap in the file (all keys, or `items`).
absl::Status ParseConfigMapVolume(const Field& f, const ConfigMaps& cms, const std::string& ns,
                                  Volume* volume) {
  if (auto st = ExpectMap(f); !st.ok()) return st;
  volume->kind = Volume::Kind::kConfigMap;
  if (auto st = GetString(f["name"], &volume->config_map, true); !st.ok()) return st;
  std::optional<uint32_t> default_mode;
  std::optional<bool> optional;
  if (auto st = GetMode(f["defaultMode"], &default_mode); !st.ok()) return st;
  if (auto st = GetBool(f["optional"], &optional); !st.ok()) return st;
  const uint32_t mode = default_mode.value_or(0644);
  auto cm = cms.find({ns, volume->config_map});
  if (cm == cms.end() && !optional.value_or(false)) {
    return FieldError(f["name"].path,
                      absl::StrCat("ConfigMap \"", volume->config_map, "\" (namespace ", ns,
                                   ") is not in the manifest file"));
  }
  if (auto st = ExpectSequence(f["items"]); !st.ok()) return st;
  std::set<std::string> paths;
  if (!f["items"].present() || f["items"].node.size() == 0) {
    if (cm == cms.end()) return absl::OkStatus();
    for (const auto& [key, value] : cm->second.data) {
      volume->files.push_back(VolumeFile{key, value, mode});
    }
    return absl::OkStatus();
  }
  for (const Field& item : Items(f["items"])) {
    VolumeFile file;
    std::string key;
    std::optional<uint32_t> item_mode;
    if (auto st = ExpectMap(item); !st.ok()) return st;
    if (auto st = GetString(item["key"], &key, true); !st.ok()) return st;
    if (auto st = GetString(item["path"], &file.path, true); !st.ok()) return st;
    if (!IsVolumeRelativePath(file.path)) {
      return FieldError(item["path"].path, "must be a relative path without '..'");
    }
    if (!paths.insert(file.path).second) {
      return FieldError(item["path"].path, absl::StrCat("duplicate path \"", file.path, "\""));
    }
    if (auto st = GetMode(item["mode"], &item_mode); !st.ok()) return st;
    file.mode = item_mode.value_or(mode);
    if (cm == cms.end()) continue;  // optional and absent: an empty volume
    auto it = cm->second.data.find(key);
    if (it == cm->second.data.end()) {
      if (optional.value_or(false)) continue;
      return FieldError(item["key"].path, absl::StrCat("ConfigMap \"", volume->config_map,
                                                       "\" has no key \"", key, "\""));
    }
    file.content = it->second;
    volume->files.push_back(std::move(file));
  }
  return absl::OkStatus();
}

absl::Status ParsePodSpec(const Field& spec, const ConfigMaps& cms, PodManifest* pod) {
  if (!spec.present()) return FieldError(spec.path, "is required");
  if (!spec.node.IsMap()) return FieldError(spec.path, "must be an object");
  std::string restart;
  if (auto st = GetString(spec["restartPolicy"], &restart); !st.ok()) return st;
  if (restart.empty() || restart == "Always") {
    pod->restart_policy = RestartPolicy::kAlways;
  } else if (restart == "OnFailure") {
    pod->restart_policy = RestartPolicy::kOnFailure;
  } else if (restart == "Never") {
    pod->restart_policy = RestartPolicy::kNever;
  } else {
    return FieldError(spec["restartPolicy"].path, "must be Always, OnFailure or Never");
  }
  std::optional<int64_t> grace;
  if (auto st = GetInt(spec["terminationGracePeriodSeconds"], &grace); !st.ok()) return st;
  if (grace && *grace < 0) {
    return FieldError(spec["terminationGracePeriodSeconds"].path, "must be non-negative");
  }
  if (grace) pod->termination_grace_period_seconds = *grace;
  if (auto st = GetString(spec["hostname"], &pod->hostname); !st.ok()) return st;
  if (!pod->hostname.empty() && !IsDnsLabel(pod->hostname)) {
    return FieldError(spec["hostname"].path, "must be a DNS label");
  }
  if (auto st = GetBool(spec["hostNetwork"], &pod->host_network); !st.ok()) return st;
  if (auto st = GetBool(spec["hostPID"], &pod->host_pid); !st.ok()) return st;
  if (auto st = GetBool(spec["hostIPC"], &pod->host_ipc); !st.ok()) return st;
  if (auto st = GetBool(spec["shareProcessNamespace"], &pod->share_process_namespace); !st.ok()) {
    return st;
  }
  if (pod->host_pid && pod->share_process_namespace) {
    return FieldError(spec["shareProcessNamespace"].path, "cannot be true with hostPID");
  }
  if (auto st = GetString(spec["dnsPolicy"], &pod->dns_policy); !st.ok()) return st;
  Field dns = spec["dnsConfig"];
  if (auto st = ExpectMap(dns); !st.ok()) return st;
  if (auto st = GetStrings(dns["nameservers"], &pod->dns_nameservers); !st.ok()) return st;
  if (auto st = GetStrings(dns["searches"], &pod->dns_searches); !st.ok()) return st;
  if (auto st = ExpectSequence(dns["options"]); !st.ok()) return st;
  for (const Field& o : Items(dns["options"])) {
    std::string name, value;
    if (auto st = ExpectMap(o); !st.ok()) return st;
    if (auto st = GetString(o["name"], &name, true); !st.ok()) return st;
    if (auto st = GetString(o["value"], &value); !st.ok()) return st;
    pod->dns_options.push_back(value.empty() ? name : absl::StrCat(name, ":", value));
  }
  if (pod->dns_policy == "None" && pod->dns_nameservers.empty()) {
    return FieldError(dns.path + ".nameservers", "is required when dnsPolicy is None");
  }
  Field sc = spec["securityContext"];
  if (auto st = ExpectMap(sc); !st.ok()) return st;
  if (auto st = GetInt(sc["runAsUser"], &pod->run_as_user); !st.ok()) return st;
  if (auto st = GetInt(sc["runAsGroup"], &pod->run_as_group); !st.ok()) return st;
  if (auto st = GetBool(sc["runAsNonRoot"], &pod->run_as_non_root); !st.ok()) return st;
  if (auto st = ExpectSequence(sc["supplementalGroups"]); !st.ok()) return st;
  for (const Field& g : Items(sc["supplementalGroups"])) {
    std::optional<int64_t> gid;
    if (auto st = GetInt(g, &gid); !st.ok()) return st;
    if (gid) pod->supplemental_groups.push_back(*gid);
  }
  if (auto st = ExpectSequence(sc["sysctls"]); !st.ok()) return st;
  for (const Field& s : Items(sc["sysctls"])) {
    std::string name, value;
    if (auto st = ExpectMap(s); !st.ok()) return st;
    if (auto st = GetString(s["name"], &name, true); !st.ok()) return st;
    if (auto st = GetString(s["value"], &value); !st.ok()) return st;
    pod->sysctls[name] = value;
  }

  std::set<std::string> volume_names;
  if (auto st = ExpectSequence(spec["volumes"]); !st.ok()) return st;
  for (const Field& v : Items(spec["volumes"])) {
    Volume volume;
    if (auto st = ExpectMap(v); !st.ok()) return st;
    if (auto st = GetString(v["name"], &volume.name, true); !st.ok()) return st;
    if (!IsDnsLabel(volume.name)) return FieldError(v["name"].path, "must be a DNS label");
    if (!volume_names.insert(volume.name).second) {
      return FieldError(v["name"].path, absl::StrCat("duplicate volume \"", volume.name, "\""));
    }
    if (v["emptyDir"].node.IsDefined()) {  // `emptyDir: {}` (medium and sizeLimit ignored)
      volume.kind = Volume::Kind::kEmptyDir;
    } else if (v["hostPath"].present()) {
      volume.kind = Volume::Kind::kHostPath;
      if (auto st = ExpectMap(v["hostPath"]); !st.ok()) return st;
      if (auto st = GetString(v["hostPath"]["path"], &volume.host_path, true); !st.ok()) {
        return st;
      }
      if (volume.host_path[0] != '/') {
        return FieldError(v["hostPath"]["path"].path, "must be an absolute path");
      }
      if (auto st = GetString(v["hostPath"]["type"], &volume.host_path_type); !st.ok()) return st;
    } else if (v["configMap"].present()) {
      if (auto st = ParseConfigMapVolume(v["configMap"], cms, pod->namespace_, &volume); !st.ok()) {
        return st;
      }
    } else {
      return FieldError(v.path,
                        "only emptyDir, hostPath and configMap volumes are supported by "
                        "tetherctl play");
    }
    pod->volumes.push_back(std::move(volume));
  }

  std::set<std::string> names;
  auto containers = [&](const char* key, bool init, std::vector<ContainerSpec>* out) {
    Field list = spec[key];
    if (auto st = ExpectSequence(list); !st.ok()) return st;
    for (const Field& c : Items(list)) {
      ContainerSpec container;
      if (auto st = ParseContainer(c, init, pod->termination_grace_period_seconds, cms,
                                   pod->namespace_, &container, &pod->warnings);
          !st.ok()) {
        return st;
      }
      if (!names.insert(container.name).second) {
        return FieldError(c["name"].path,
                          absl::StrCat("duplicate container name \"", container.name, "\""));
      }
      for (size_t i = 0; i < container.volume_mounts.size(); ++i) {
        if (!volume_names.contains(container.volume_mounts[i].name)) {
          return FieldError(Index(c["volumeMounts"].path, i) + ".name",
                            absl::StrCat("volume \"", container.volume_mounts[i].name,
                                         "\" is not in spec.volumes"));
        }
      }
      out->push_back(std::move(container));
    }
    return absl::OkStatus();
  };
  if (auto st = containers("initContainers", true, &pod->init_containers); !st.ok()) return st;
  if (auto st = containers("containers", false, &pod->containers); !st.ok()) return st;
  if (pod->containers.empty()) return FieldError(spec["containers"].path, "is required");
  if (spec["ephemeralContainers"].present()) {
    pod->warnings.push_back(Sub(spec.path, "ephemeralContainers") + ": ignored");
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(const Field& meta, bool name_required, PodManifest* pod) {
  if (auto st = ExpectMap(meta); !st.ok()) return st;
  if (auto st = GetString(meta["name"], &pod->name, name_required); !st.ok()) return st;
  if (!pod->name.empty() && !IsDnsSubdomain(pod->name)) {
    return FieldError(meta["name"].path,
                      "must be a DNS subdomain (lower-case alphanumerics, '-' and '.')");
  }
  std::string ns;
  if (auto st = GetString(meta["namespace"], &ns); !st.ok()) return st;
  if (!ns.empty()) {
    if (!IsDnsLabel(ns)) return FieldError(meta["namespace"].path, "must be a DNS label");
    pod->namespace_ = ns;
  }
  if (auto st = GetString(meta["uid"], &pod->uid); !st.ok()) return st;
  if (auto st = GetStringMap(meta["labels"], &pod->labels); !st.ok()) return st;
  if (auto st = GetStringMap(meta["annotations"], &pod->annotations); !st.ok()) return st;
  return absl::OkStatus();
}

absl::Status ParseConfigMapDoc(const Field& doc, ConfigMap* cm) {
  std::string api_version;
  if (auto st = GetString(doc["apiVersion"], &api_version, true); !st.ok()) return st;
  if (api_version != "v1") return FieldError("apiVersion", "must be v1 for a ConfigMap");
  PodManifest meta;  // name and namespace, validated as a pod's
  if (auto st = ParseMetadata(doc["metadata"], true, &meta); !st.ok()) return st;
  cm->name = meta.name;
  cm->namespace_ = meta.namespace_;
  for (const char* section : {"data", "binaryData"}) {
    Field f = doc[section];
    if (auto st = ExpectMap(f); !st.ok()) return st;
    if (!f.present()) continue;
    for (const auto& kv : f.node) {
      const std::string key = kv.first.Scalar();
      const std::string path = Sub(f.path, key);
      if (!IsConfigMapKey(key)) {
        return FieldError(path, "must be a valid ConfigMap key ([-._a-zA-Z0-9]+, not '.' or '..')");
      }
      if (!kv.second.IsScalar()) return FieldError(path, "must be a string");
      std::string value = kv.second.Scalar();
      if (std::string(section) == "binaryData") {
        std::string decoded;
        if (!absl::Base64Unescape(value, &decoded)) return FieldError(path, "must be base64");
        value = std::move(decoded);
      }
      if (!cm->data.emplace(key, std::move(value)).second) {
        return FieldError(path, "is also in data (a key may be in data or binaryData, not both)");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParsePodDoc(const Field& doc, const std::string& kind, const ConfigMaps& cms,
                         PodManifest* pod) {
  std::string api_version;
  if (auto st = GetString(doc["apiVersion"], &api_version, true); !st.ok()) return st;
  if (kind == "Pod") {
    if (api_version != "v1") return FieldError("apiVersion", "must be v1 for a Pod");
    if (auto st = ParseMetadata(doc["metadata"], true, pod); !st.ok()) return st;
    if (auto st = ParsePodSpec(doc["spec"], cms, pod); !st.ok()) return st;
  } else {
    // The workload's name and namespace, the template's labels and annotations.
    PodManifest owner;
    if (auto st = ParseMetadata(doc["metadata"], true, &owner); !st.ok()) return st;
    Field tmpl = doc["spec"]["template"];
    if (!tmpl.present()) return FieldError(tmpl.path, "is required");
    if (auto st = ParseMetadata(tmpl["metadata"], false, pod); !st.ok()) return st;
    pod->name = owner.name;
    pod->namespace_ = owner.namespace_;
    pod->uid.clear();
    if (auto st = ParsePodSpec(tmpl["spec"], cms, pod); !st.ok()) return st;
  }
  if (pod->hostname.empty()) {
    // The pod name, cut to a DNS label as kubelet does.
    pod->hostname = pod->name.substr(0, 63);
    while (!pod->hostname.empty() && (pod->hostname.back() == '-' || pod->hostname.back() == '.')) {
      pod->hostname.pop_back();
    }
  }
  return absl::OkStatus();
}

bool IsWorkload(const std::string& kind) {
  return kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" ||
         kind == "DaemonSet" || kind == "Job";
}

// "Pod web", "ConfigMap settings": how a document is named in errors of a multi-document file.
std::string Describe(const YAML::Node& doc) {
  std::string kind = "object", name;
  try {
    if (doc["kind"] && doc["kind"].IsScalar()) kind = doc["kind"].Scalar();
    if (doc["metadata"] && doc["metadata"].IsMap() && doc["metadata"]["name"] &&
        doc["metadata"]["name"].IsScalar()) {
      name = doc["metadata"]["name"].Scalar();
    }
  } catch (const YAML::Exception&) {
  }
  return name.empty() ? kind : absl::StrCat(kind, " ", name);
}

}  // namespace

absl::StatusOr<std::vector<PodManifest>> ParseManifests(absl::string_view yaml) {
  std::vector<YAML::Node> docs;
  try {
    for (YAML::Node& doc : YAML::LoadAll(std::string(yaml))) {
      if (doc.IsDefined() && !doc.IsNull()) docs.push_back(doc);  // `---` with nothing after it
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  if (docs.empty()) {
    return absl::InvalidArgumentError("the manifest must be a Kubernetes object (a YAML map)");
  }
  const bool multi = docs.size() > 1;
  auto in_doc = [&](size_t i, const absl::Status& st) {
    if (!multi || st.ok()) return st;
    return absl::Status(
        st.code(), absl::StrCat("document ", i + 1, " (", Describe(docs[i]), "): ", st.message()));
  };
  ConfigMaps config_maps;
  std::vector<std::pair<size_t, std::string>> pod_docs;  // index, kind
  try {
    for (size_t i = 0; i < docs.size(); ++i) {
      Field doc{docs[i], ""};
      if (!docs[i].IsMap()) {
        return in_doc(
            i, absl::InvalidArgumentError("the manifest must be a Kubernetes object (a YAML map)"));
      }
      std::string kind;
      if (auto st = GetString(doc["kind"], &kind, true); !st.ok()) return in_doc(i, st);
      if (kind == "ConfigMap") {
        ConfigMap cm;
        if (auto st = ParseConfigMapDoc(doc, &cm); !st.ok()) return in_doc(i, st);
        auto key = std::make_pair(cm.namespace_, cm.name);
        if (config_maps.contains(key)) {
          return in_doc(i, FieldError("metadata.name",
                                      absl::StrCat("duplicate ConfigMap \"", cm.name, "\"")));
        }
        config_maps.emplace(std::move(key), std::move(cm));
      } else if (kind == "Pod" || IsWorkload(kind)) {
        pod_docs.emplace_back(i, kind);
      } else {
        return in_doc(i, FieldError("kind", absl::StrCat("\"", kind,
                                                         "\" is not a Pod, a workload with a pod "
                                                         "template, or a ConfigMap")));
      }
    }
    std::vector<PodManifest> pods;
    std::set<std::pair<std::string, std::string>> names;
    for (const auto& [i, kind] : pod_docs) {
      PodManifest pod;
      if (auto st = ParsePodDoc(Field{docs[i], ""}, kind, config_maps, &pod); !st.ok()) {
        return in_doc(i, st);
      }
      if (!names.emplace(pod.namespace_, pod.name).second) {
        return in_doc(i, FieldError("metadata.name",
                                    absl::StrCat("duplicate pod \"", pod.name, "\" in namespace \"",
                                                 pod.namespace_, "\"")));
      }
      pods.push_back(std::move(pod));
    }
    if (pods.empty()) {
      return absl::InvalidArgumentError(
          "the manifest has no Pod (or workload with a pod template) to run");
    }
    return pods;
  } catch (const YAML::Exception& e) {  // a node of an unexpected shape
    return absl::InvalidArgumentError(absl::StrCat("malformed manifest: ", e.what()));
  }
}

absl::StatusOr<PodManifest> ParseManifest(absl::string_view yaml) {
  auto pods = ParseManifests(yaml);
  if (!pods.ok()) return pods.status();
  if (pods->size() != 1) {
    std::vector<std::string> names;
    for (const PodManifest& p : *pods) names.push_back(p.name);
    return absl::InvalidArgumentError(absl::StrCat("the manifest has ", pods->size(), " pods (",
                                                   absl::StrJoin(names, ", "),
                                                   "), where one is expected"));
  }
  return std::move(pods->front());
}

absl::StatusOr<std::vector<PodManifest>> LoadManifests(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto pods = ParseManifests(*text);
  if (!pods.ok()) {
    return absl::Status(pods.status().code(), absl::StrCat(path, ": ", pods.status().message()));
  }
  return pods;
}

absl::StatusOr<PodManifest> LoadManifest(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto pod = ParseManifest(*text);
  if (!pod.ok()) {
    return absl::Status(pod.status().code(), absl::StrCat(path, ": ", pod.status().message()));
  }
  return pod;
}

absl::StatusOr<int64_t> ParseCpuMillis(absl::string_view quantity) {
  std::string q(absl::StripAsciiWhitespace(quantity));
  double value = 0;
  if (absl::EndsWith(q, "m")) {
    int64_t millis = 0;
    if (!absl::SimpleAtoi(q.substr(0, q.size() - 1), &millis) || millis < 0) {
      return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a CPU quantity"));
    }
    return millis;
  }
  if (!absl::SimpleAtod(q, &value) || value < 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a CPU quantity"));
  }
  return static_cast<int64_t>(std::ceil(value * 1000));
}

absl::StatusOr<int64_t> ParseMemoryBytes(absl::string_view quantity) {
  std::string q(absl::StripAsciiWhitespace(quantity));
  static const std::pair<const char*, double> kSuffixes[] = {{"Ki", 1024.0},
                                                             {"Mi", 1024.0 * 1024},
                                                             {"Gi", 1024.0 * 1024 * 1024},
                                                             {"Ti", 1099511627776.0},
                                                             {"Pi", 1125899906842624.0},
                                                             {"Ei", 1152921504606846976.0},
                                                             {"k", 1e3},
                                                             {"M", 1e6},
                                                             {"G", 1e9},
                                                             {"T", 1e12},
                                                             {"P", 1e15},
                                                             {"E", 1e18},
                                                             {"m", 1e-3}};
  double multiplier = 1;
  std::string number = q;
  for (const auto& [suffix, mult] : kSuffixes) {
    if (absl::EndsWith(q, suffix)) {
      number = q.substr(0, q.size() - std::string(suffix).size());
      multiplier = mult;
      break;
    }
  }
  double value = 0;
  if (number.empty() || !absl::SimpleAtod(number, &value) || value < 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", q, "\" is not a memory quantity"));
  }
  return static_cast<int64_t>(std::ceil(value * multiplier));
}

const char* RestartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kAlways:
      return "Always";
    case RestartPolicy::kOnFailure:
      return "OnFailure";
    case RestartPolicy::kNever:
      return "Never";
  }
  return "Always";
}

}  // namespace tether::podrunner
