#include "podrunner/manifest.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

absl::Status ParseContainer(const Field& f, bool init, ContainerSpec* c,
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
  if (auto st = ExpectSequence(f["env"]); !st.ok()) return st;
  for (const Field& e : Items(f["env"])) {
    EnvVar var;
    if (auto st = ExpectMap(e); !st.ok()) return st;
    if (auto st = GetString(e["name"], &var.name, true); !st.ok()) return st;
    if (e["valueFrom"].present()) {
      return FieldError(e["valueFrom"].path,
                        "is not supported by tetherctl play (no API server); use value");
    }
    if (auto st = GetString(e["value"], &var.value); !st.ok()) return st;
    c->env.push_back(std::move(var));
  }
  if (f["envFrom"].present()) {
    return FieldError(f["envFrom"].path, "is not supported by tetherctl play (no API server)");
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
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"}) {
    if (f[probe].present()) {
      warnings->push_back(absl::StrCat(f[probe].path, ": not run by tetherctl play yet (ignored)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParsePodSpec(const Field& spec, PodManifest* pod) {
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
    } else {
      return FieldError(v.path,
                        "only emptyDir and hostPath volumes are supported by tetherctl play");
    }
    pod->volumes.push_back(std::move(volume));
  }

  std::set<std::string> names;
  auto containers = [&](const char* key, bool init, std::vector<ContainerSpec>* out) {
    Field list = spec[key];
    if (auto st = ExpectSequence(list); !st.ok()) return st;
    for (const Field& c : Items(list)) {
      ContainerSpec container;
      if (auto st = ParseContainer(c, init, &container, &pod->warnings); !st.ok()) return st;
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

}  // namespace

absl::StatusOr<PodManifest> ParseManifest(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not valid YAML: ", e.what()));
  }
  Field doc{root, ""};
  if (!doc.present() || !root.IsMap()) {
    return absl::InvalidArgumentError("the manifest must be a Kubernetes object (a YAML map)");
  }
  PodManifest pod;
  try {
    std::string kind, api_version;
    if (auto st = GetString(doc["kind"], &kind, true); !st.ok()) return st;
    if (auto st = GetString(doc["apiVersion"], &api_version, true); !st.ok()) return st;
    if (kind == "Pod") {
      if (api_version != "v1") return FieldError("apiVersion", "must be v1 for a Pod");
      if (auto st = ParseMetadata(doc["metadata"], true, &pod); !st.ok()) return st;
      if (auto st = ParsePodSpec(doc["spec"], &pod); !st.ok()) return st;
    } else if (kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" ||
               kind == "DaemonSet" || kind == "Job") {
      // The workload's name and namespace, the template's labels and annotations.
      PodManifest owner;
      if (auto st = ParseMetadata(doc["metadata"], true, &owner); !st.ok()) return st;
      Field tmpl = doc["spec"]["template"];
      if (!tmpl.present()) return FieldError(tmpl.path, "is required");
      if (auto st = ParseMetadata(tmpl["metadata"], false, &pod); !st.ok()) return st;
      pod.name = owner.name;
      pod.namespace_ = owner.namespace_;
      pod.uid.clear();
      if (auto st = ParsePodSpec(tmpl["spec"], &pod); !st.ok()) return st;
    } else {
      return FieldError(
          "kind", absl::StrCat("\"", kind, "\" is not a Pod or a workload with a pod template"));
    }
  } catch (const YAML::Exception& e) {  // a node of an unexpected shape
    return absl::InvalidArgumentError(absl::StrCat("malformed manifest: ", e.what()));
  }
  if (pod.hostname.empty()) {
    // The pod name, cut to a DNS label as kubelet does.
    pod.hostname = pod.name.substr(0, 63);
    while (!pod.hostname.empty() && (pod.hostname.back() == '-' || pod.hostname.back() == '.')) {
      pod.hostname.pop_back();
    }
  }
  return pod;
}

absl::StatusOr<PodManifest> LoadManifest(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto pod = ParseManifest(*text);
  if (!pod.ok())
    return absl::Status(pod.status().code(), absl::StrCat(path, ": ", pod.status().message()));
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
