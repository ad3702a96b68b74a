// The manifest parser's own pieces, shared by its files (manifest.cc: pods and containers;
// manifest_fields.cc: field access and name rules; manifest_probes.cc: probes and hooks;
// manifest_configmaps.cc: ConfigMaps and their volumes). Not for use outside src/podrunner.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "podrunner/manifest.h"

namespace tether::podrunner::manifest_internal {

absl::Status FieldError(const std::string& path, absl::string_view message);
std::string Sub(const std::string& path, absl::string_view key);

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

std::string Index(const std::string& path, size_t i);
absl::Status ExpectMap(const Field& f);
absl::Status ExpectSequence(const Field& f);
std::vector<Field> Items(const Field& f);
absl::Status GetString(const Field& f, std::string* out, bool required = false);
absl::Status GetBool(const Field& f, std::optional<bool>* out);
absl::Status GetBool(const Field& f, bool* out);
absl::Status GetInt(const Field& f, std::optional<int64_t>* out);
absl::Status GetMode(const Field& f, std::optional<uint32_t>* out);
absl::Status GetStrings(const Field& f, std::vector<std::string>* out);
absl::Status GetStringMap(const Field& f, std::map<std::string, std::string>* out);
bool IsDnsLabel(absl::string_view s);
bool IsDnsSubdomain(absl::string_view s);
bool IsPortName(absl::string_view s);
bool IsConfigMapKey(absl::string_view s);
bool IsEnvVarName(absl::string_view s);
bool IsHttpHeaderName(absl::string_view s);
bool IsVolumeRelativePath(absl::string_view s);

// metadata: name (a DNS subdomain), namespace, uid, labels, annotations; into a pod (a ConfigMap's
// too).
absl::Status ParseMetadata(const Field& meta, bool name_required, PodManifest* pod);

// Probes and lifecycle hooks of a container (manifest_probes.cc).
absl::Status ParseProbesAndHooks(const Field& f, bool init, int64_t grace, ContainerSpec* c);
// A configMap volume's files from the file's ConfigMaps (manifest_configmaps.cc).
absl::Status ParseConfigMapVolume(const Field& f, const ConfigMaps& cms, const std::string& ns,
                                  Volume* volume);
// A ConfigMap document.
absl::Status ParseConfigMapDoc(const Field& doc, ConfigMap* cm);

}  // namespace tether::podrunner::manifest_internal
