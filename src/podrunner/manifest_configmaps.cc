// ConfigMap documents and the configMap volumes that take their files from them.
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "podrunner/manifest_internal.h"

namespace tether::podrunner::manifest_internal {

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

}  // namespace tether::podrunner::manifest_internal
