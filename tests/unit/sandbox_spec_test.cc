#include "oci/sandbox_spec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "oci/runc_cli.h"

namespace tether {
namespace {

using nlohmann::json;

SandboxSpecInput BaseInput() {
  SandboxSpecInput in;
  in.id = "abc123";
  in.hostname = "mypod";
  in.rootfs = "/var/lib/tether/pause/rootfs";
  in.netns_path = "/var/run/netns/tether-abc123";
  in.shm_path = "/run/tether/sandboxes/abc123/shm";
  in.cgroups_path = "/kubepods/besteffort/podUID/abc123";
  return in;
}

const json* FindNamespace(const json& spec, const std::string& type) {
  for (const auto& ns : spec["linux"]["namespaces"]) {
    if (ns["type"] == type) return &ns;
  }
  return nullptr;
}

const json* FindMount(const json& spec, const std::string& dest) {
  for (const auto& m : spec["mounts"]) {
    if (m["destination"] == dest) return &m;
  }
  return nullptr;
}

bool HasOption(const json& mount, const std::string& opt) {
  const auto& o = mount["options"];
  return std::find(o.begin(), o.end(), opt) != o.end();
}

TEST(SandboxSpec, DefaultsAreCompleteAndUnprivileged) {
  json spec = BuildSandboxSpec(BaseInput());
  EXPECT_EQ(spec["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(spec["process"]["args"], json::array({"/pause"}));
  EXPECT_EQ(spec["process"]["cwd"], "/");
  EXPECT_EQ(spec["process"]["user"]["uid"], 65535);
  EXPECT_EQ(spec["process"]["user"]["gid"], 65535);
  EXPECT_FALSE(spec["process"]["user"].contains("additionalGids"));
  EXPECT_EQ(spec["process"]["noNewPrivileges"], true);
  EXPECT_EQ(spec["process"]["oomScoreAdj"], -998);
  EXPECT_EQ(spec["process"]["capabilities"]["bounding"], json::array());
  EXPECT_EQ(spec["process"]["capabilities"]["effective"], json::array());
  EXPECT_EQ(spec["hostname"], "mypod");
  EXPECT_EQ(spec["root"]["path"], "/var/lib/tether/pause/rootfs");
  EXPECT_EQ(spec["root"]["readonly"], true);
  EXPECT_EQ(spec["linux"]["cgroupsPath"], "/kubepods/besteffort/podUID/abc123");
  for (const char* t : {"pid", "ipc", "uts", "mount"}) {
    const json* ns = FindNamespace(spec, t);
    ASSERT_NE(ns, nullptr) << t;
    EXPECT_FALSE(ns->contains("path")) << t;
  }
  EXPECT_EQ(spec["linux"]["resources"]["devices"],
            json::parse(R"([{"allow": false, "access": "rwm"}])"));
  EXPECT_FALSE(spec["linux"]["resources"].contains("cpu"));
  EXPECT_FALSE(spec["linux"]["resources"].contains("memory"));
  EXPECT_FALSE(spec["linux"].contains("sysctl"));
  EXPECT_FALSE(spec["linux"].contains("seccomp"));
  EXPECT_GE(spec["linux"]["maskedPaths"].size(), 10u);
  EXPECT_NE(std::find(spec["linux"]["readonlyPaths"].begin(), spec["linux"]["readonlyPaths"].end(),
                      "/proc/sys"),
            spec["linux"]["readonlyPaths"].end());
  EXPECT_EQ(spec["annotations"]["io.kubernetes.cri.container-type"], "sandbox");
  EXPECT_EQ(spec["annotations"]["io.kubernetes.cri.sandbox-id"], "abc123");

  const json* proc = FindMount(spec, "/proc");
  ASSERT_NE(proc, nullptr);
  EXPECT_EQ((*proc)["type"], "proc");
  const json* dev = FindMount(spec, "/dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_TRUE(HasOption(*dev, "mode=755"));
  EXPECT_TRUE(HasOption(*dev, "size=65536k"));
  ASSERT_NE(FindMount(spec, "/dev/pts"), nullptr);
  ASSERT_NE(FindMount(spec, "/dev/mqueue"), nullptr);
  const json* sys = FindMount(spec, "/sys");
  ASSERT_NE(sys, nullptr);
  EXPECT_TRUE(HasOption(*sys, "ro"));
  EXPECT_TRUE(HasOption(*sys, "nosuid"));
  const json* shm = FindMount(spec, "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ((*shm)["type"], "bind");
  EXPECT_EQ((*shm)["source"], "/run/tether/sandboxes/abc123/shm");
  EXPECT_TRUE(HasOption(*shm, "rbind"));
}

TEST(SandboxSpec, NetnsPathIsUsed) {
  json spec = BuildSandboxSpec(BaseInput());
  const json* net = FindNamespace(spec, "network");
  ASSERT_NE(net, nullptr);
  EXPECT_EQ((*net)["path"], "/var/run/netns/tether-abc123");
}

TEST(SandboxSpec, UserNamespaceComesWithItsOwnNetworkNamespace) {
  SandboxSpecInput in = BaseInput();
  in.userns = UsernsMappings{{0, 100000, 65536}, {0, 200000, 65536}};
  json spec = BuildSandboxSpec(in);
  ASSERT_NE(FindNamespace(spec, "user"), nullptr);
  EXPECT_FALSE(FindNamespace(spec, "user")->contains("path"));
  ASSERT_NE(FindNamespace(spec, "network"), nullptr);
  EXPECT_FALSE(FindNamespace(spec, "network")->contains("path"));  // created with the userns
  EXPECT_EQ(spec["linux"]["uidMappings"],
            json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}}));
  EXPECT_EQ(spec["linux"]["gidMappings"][0]["hostID"], 200000);
  EXPECT_FALSE(BuildSandboxSpec(BaseInput())["linux"].contains("uidMappings"));
}

TEST(SandboxSpec, HostNetworkOmitsNetworkNamespace) {
  SandboxSpecInput in = BaseInput();
  in.netns_path.clear();
  in.host_uts = true;
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(FindNamespace(spec, "network"), nullptr);
  EXPECT_EQ(FindNamespace(spec, "uts"), nullptr);
  EXPECT_FALSE(spec.contains("hostname"));
  EXPECT_NE(FindNamespace(spec, "mount"), nullptr);
  EXPECT_NE(FindNamespace(spec, "pid"), nullptr);
}

TEST(SandboxSpec, HostPidOmitsPidNamespace) {
  SandboxSpecInput in = BaseInput();
  in.host_pid = true;
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(FindNamespace(spec, "pid"), nullptr);
  EXPECT_NE(FindNamespace(spec, "ipc"), nullptr);
}

TEST(SandboxSpec, HostIpcOmitsIpcNamespaceAndMqueue) {
  SandboxSpecInput in = BaseInput();
  in.host_ipc = true;
  in.shm_path.clear();
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(FindNamespace(spec, "ipc"), nullptr);
  EXPECT_EQ(FindMount(spec, "/dev/mqueue"), nullptr);
  const json* shm = FindMount(spec, "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ((*shm)["source"], "/dev/shm");
}

TEST(SandboxSpec, NoShmPathGivesPrivateTmpfs) {
  SandboxSpecInput in = BaseInput();
  in.shm_path.clear();
  json spec = BuildSandboxSpec(in);
  const json* shm = FindMount(spec, "/dev/shm");
  ASSERT_NE(shm, nullptr);
  EXPECT_EQ((*shm)["type"], "tmpfs");
  EXPECT_TRUE(HasOption(*shm, "mode=1777"));
}

TEST(SandboxSpec, Sysctls) {
  SandboxSpecInput in = BaseInput();
  in.sysctls = {{"net.ipv4.ip_unprivileged_port_start", "0"}, {"kernel.shm_rmid_forced", "1"}};
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(spec["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "0");
  EXPECT_EQ(spec["linux"]["sysctl"]["kernel.shm_rmid_forced"], "1");
}

TEST(SandboxSpec, ReadonlyRootAndWritableRoot) {
  SandboxSpecInput in = BaseInput();
  EXPECT_EQ(BuildSandboxSpec(in)["root"]["readonly"], true);
  in.readonly_rootfs = false;
  EXPECT_EQ(BuildSandboxSpec(in)["root"]["readonly"], false);
}

TEST(SandboxSpec, CgroupsPathOmittedWhenEmpty) {
  SandboxSpecInput in = BaseInput();
  in.cgroups_path.clear();
  EXPECT_FALSE(BuildSandboxSpec(in)["linux"].contains("cgroupsPath"));
  in.cgroups_path = "kubepods-besteffort.slice:tether:abc123";
  EXPECT_EQ(BuildSandboxSpec(in)["linux"]["cgroupsPath"],
            "kubepods-besteffort.slice:tether:abc123");
}

TEST(SandboxSpec, PrivilegedDropsMaskedPathsAndGetsCapabilities) {
  SandboxSpecInput in = BaseInput();
  in.privileged = true;
  json spec = BuildSandboxSpec(in);
  EXPECT_FALSE(spec["linux"].contains("maskedPaths"));
  EXPECT_FALSE(spec["linux"].contains("readonlyPaths"));
  const auto& caps = spec["process"]["capabilities"]["bounding"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_EQ(caps.size(), 41u);
  in.privileged_capabilities = {"CAP_CHOWN", "CAP_NET_ADMIN"};
  spec = BuildSandboxSpec(in);
  EXPECT_EQ(spec["process"]["capabilities"]["effective"],
            json::array({"CAP_CHOWN", "CAP_NET_ADMIN"}));
  in.privileged = false;  // the list only applies to privileged sandboxes
  EXPECT_EQ(BuildSandboxSpec(in)["process"]["capabilities"]["permitted"], json::array());
  EXPECT_EQ(spec["linux"]["resources"]["devices"][0]["allow"], true);
}

TEST(SandboxSpec, ResourcesUserAndAnnotations) {
  SandboxSpecInput in = BaseInput();
  in.cpu_shares = 2;
  in.cpu_quota = 50000;
  in.cpu_period = 100000;
  in.memory_limit = 64 << 20;
  in.uid = 0;
  in.gid = 0;
  in.additional_gids = {10, 20};
  in.oom_score_adj = -999;
  in.no_new_privileges = false;
  in.args = {"/pause", "-x"};
  in.annotations = {{"io.kubernetes.pod.name", "web"}};
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(spec["linux"]["resources"]["cpu"]["shares"], 2);
  EXPECT_EQ(spec["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(spec["linux"]["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(spec["process"]["user"]["uid"], 0);
  EXPECT_EQ(spec["process"]["user"]["additionalGids"], json::array({10, 20}));
  EXPECT_EQ(spec["process"]["oomScoreAdj"], -999);
  EXPECT_EQ(spec["process"]["noNewPrivileges"], false);
  EXPECT_EQ(spec["process"]["args"], json::array({"/pause", "-x"}));
  EXPECT_EQ(spec["annotations"]["io.kubernetes.pod.name"], "web");
}

TEST(SandboxSpec, SeccompEmbeddedOrFailsClosed) {
  SandboxSpecInput in = BaseInput();
  in.seccomp_profile_json = R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})";
  EXPECT_TRUE(ValidateSandboxSpecInput(in).ok());
  json spec = BuildSandboxSpec(in);
  EXPECT_EQ(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");

  in.seccomp_profile_json = "{not json";
  EXPECT_EQ(ValidateSandboxSpecInput(in).code(), absl::StatusCode::kInvalidArgument);
  spec = BuildSandboxSpec(in);
  EXPECT_TRUE(spec["linux"]["seccomp"].is_string());  // runc refuses to unmarshal it
}

TEST(SandboxSpec, CurrentBoundingCapabilities) {
  auto caps = CurrentBoundingCapabilities();
  ASSERT_FALSE(caps.empty());
  for (const auto& c : caps) EXPECT_EQ(c.rfind("CAP_", 0), 0u) << c;
}

TEST(SandboxSpec, Validate) {
  SandboxSpecInput in = BaseInput();
  EXPECT_TRUE(ValidateSandboxSpecInput(in).ok());
  in.rootfs = "relative/rootfs";
  EXPECT_EQ(ValidateSandboxSpecInput(in).code(), absl::StatusCode::kInvalidArgument);
  in = BaseInput();
  in.args.clear();
  EXPECT_EQ(ValidateSandboxSpecInput(in).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RuntimeErrorMessage, ExtractsLogrusMessages) {
  EXPECT_EQ(RuntimeErrorMessage(
                "time=\"2024-01-01T00:00:00Z\" level=error msg=\"container does not exist\"\n"),
            "container does not exist");
  EXPECT_EQ(RuntimeErrorMessage("time=\"x\" level=warning msg=\"ignored\"\n"
                                "time=\"x\" level=error msg=\"runc create failed: exec: "
                                "\\\"/nope\\\": stat /nope: no such file or directory\"\n"),
            "runc create failed: exec: \"/nope\": stat /nope: no such file or directory");
  EXPECT_EQ(RuntimeErrorMessage("time=\"x\" level=error msg=unquoted\n"), "unquoted");
  EXPECT_EQ(
      RuntimeErrorMessage("error opening file `/run/crun/x/status`: No such file or directory\n"),
      "error opening file `/run/crun/x/status`: No such file or directory");
  EXPECT_EQ(RuntimeErrorMessage("  \n"), "");
}

}  // namespace
}  // namespace tether
