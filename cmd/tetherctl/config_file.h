// Config files for tetherctl commands (pod-config.json / .yaml as crictl takes them).
//
// A file is JSON or YAML. YAML is converted to JSON guided by the target message's schema (a
// scalar written for a string field stays a string even when it looks like a number, as
// sigs.k8s.io/yaml does for crictl), and JSON becomes the message through protobuf's JSON
// parser, so both the proto field names (`log_directory`, `port_mappings`) and their JSON names
// (`logDirectory`) work, enums take their number or name, and unknown fields are errors.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "runtime/v1/api.pb.h"

namespace google::protobuf {
class Descriptor;
class Message;
}  // namespace google::protobuf

namespace tether::ctl {

// YAML text (first document) to JSON. With `schema`, scalars are typed by the field they land
// in; without it (or for fields the schema lacks) plain scalars are resolved as YAML does:
// null, booleans, integers, floats, otherwise strings. Quoted scalars are always strings.
absl::StatusOr<nlohmann::json> YamlToJson(absl::string_view yaml,
                                          const google::protobuf::Descriptor* schema = nullptr);

// Fills `msg` from JSON or YAML text (JSON when the first non-blank character is '{').
absl::Status ParseMessageText(absl::string_view text, google::protobuf::Message* msg);

// Reads `path` and parses it into `msg`; errors name the file.
absl::Status LoadMessageFile(const std::string& path, google::protobuf::Message* msg);

// A pod sandbox config; metadata name, namespace and uid are required, as crictl requires them.
absl::StatusOr<runtime::v1::PodSandboxConfig> ParsePodSandboxConfig(absl::string_view text);
absl::StatusOr<runtime::v1::PodSandboxConfig> LoadPodSandboxConfig(const std::string& path);

}  // namespace tether::ctl
