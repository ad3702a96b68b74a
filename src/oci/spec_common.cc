#include "oci/spec_common.h"

#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/file.h"

namespace tether {

const char* const kCapabilityNames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
const size_t kCapabilityCount = std::size(kCapabilityNames);

std::vector<std::string> DefaultMaskedPaths() {
  return {
      "/proc/acpi",
      "/proc/asound",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/proc/scsi",
      "/sys/firmware",
      "/sys/devices/virtual/powercap",
  };
}

std::vector<std::string> DefaultReadonlyPaths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

std::vector<std::string> CurrentBoundingCapabilities() {
  std::vector<std::string> caps;
  auto status = ReadFile("/proc/self/status");
  if (!status.ok()) return caps;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (!absl::ConsumePrefix(&line, "CapBnd:")) continue;
    uint64_t mask = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line), &mask)) break;
    for (size_t bit = 0; bit < kCapabilityCount; ++bit) {
      if (mask & (uint64_t{1} << bit)) caps.emplace_back(kCapabilityNames[bit]);
    }
  }
  return caps;
}

std::string NormalizeCapabilityName(const std::string& name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (!absl::StartsWith(upper, "CAP_")) upper = absl::StrCat("CAP_", upper);
  for (size_t i = 0; i < kCapabilityCount; ++i) {
    if (upper == kCapabilityNames[i]) return upper;
  }
  return "";
}

nlohmann::json OciMount(const std::string& destination, const std::string& type,
                        const std::string& source, std::vector<std::string> options) {
  return nlohmann::json{{"destination", destination},
                        {"type", type},
                        {"source", source},
                        {"options", std::move(options)}};
}

std::string CgroupsPathFor(const std::string& driver, const std::string& parent,
                           const std::string& id) {
  if (driver == "systemd") {
    std::string slice = parent.empty() ? "system.slice" : parent;
    while (slice.size() > 1 && slice.back() == '/') slice.pop_back();
    if (auto slash = slice.rfind('/'); slash != std::string::npos) slice = slice.substr(slash + 1);
    if (slice.empty()) slice = "system.slice";
    return absl::StrCat(slice, ":tether:", id);
  }
  std::string p = parent.empty() ? "/tether" : parent;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return absl::StrCat(p, "/", id);
}

}  // namespace tether
