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
#include "podrunner/manifest_internal.h"
#include "util/file.h"

namespace tether::podrunner {
namespace {

using namespace manifest_internal;  // NOLINT: the parser's own helpers

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
