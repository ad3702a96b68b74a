// BuildContainerSpec: the CRI CreateContainer request → OCI runtime spec rules, field by field,
// plus one root-only smoke test that runs the result with runc.
#include "oci/container_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "oci/seccomp_default.h"
#include "oci/spec_common.h"
#include "util/file.h"
#include "util/id.h"
#include "util/proc.h"
#include "util/process.h"

namespace tether {
namespace {

namespace fs = std::filesystem;
namespace v1 = runtime::v1;
using nlohmann::json;

// The real host for files and paths, canned answers for devices, mount propagation and chosen
// host files.
class FakeHost : public SpecHost {
 public:
  absl::StatusOr<std::string> ReadHostFile(const std::string& path) override {
    ++host_reads;
    if (auto it = files.find(path); it != files.end()) return it->second;
    return SpecHost::ReadHostFile(path);
  }
  absl::StatusOr<std::vector<HostDevice>> Devices(const std::string& host_path,
                                                  const std::string& container_path) override {
    auto it = devices.find(host_path);
    if (it == devices.end()) return SpecHost::Devices(host_path, container_path);
    std::vector<HostDevice> out = it->second;
    for (auto& d : out) {
      if (d.container_path.empty()) d.container_path = container_path;
    }
    return out;
  }
  absl::StatusOr<std::string> ResolvePath(const std::string& path) override {
    if (devices.count(path)) return path;  // canned devices need not exist here
    return SpecHost::ResolvePath(path);
  }
  absl::StatusOr<std::string> MountPropagation(const std::string& path) override {
    for (const auto& [prefix, fields] : propagation) {
      if (absl::StartsWith(path, prefix)) return fields;
    }
    return std::string();
  }

  std::map<std::string, std::string> files;
  std::map<std::string, std::vector<HostDevice>> devices;
  std::map<std::string, std::string> propagation;  // path prefix → optional fields
  int host_reads = 0;
};

// The deprecated string forms of the profiles, still sent by older kubelets.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void SetSeccompPath(v1::LinuxContainerSecurityContext* sc, const std::string& p) {
  sc->set_seccomp_profile_path(p);
}
void SetApparmorProfile(v1::LinuxContainerSecurityContext* sc, const std::string& p) {
  sc->set_apparmor_profile(p);
}
#pragma GCC diagnostic pop

std::vector<std::string> AllButSysResource() {
  std::vector<std::string> caps;
  for (size_t i = 0; i < kCapabilityCount; ++i) {
    if (std::string(kCapabilityNames[i]) != "CAP_SYS_RESOURCE") caps.push_back(kCapabilityNames[i]);
  }
  return caps;
}

const json* FindMount(const json& spec, const std::string& dest) {
  for (const auto& m : spec["mounts"]) {
    if (m["destination"] == dest) return &m;
  }
  return nullptr;
}

const json* FindNamespace(const json& spec, const std::string& type) {
  for (const auto& ns : spec["linux"]["namespaces"]) {
    if (ns["type"] == type) return &ns;
  }
  return nullptr;
}

const json* FindRule(const json& seccomp, const std::string& syscall) {
  for (const auto& r : seccomp["syscalls"]) {
    for (const auto& n : r["names"]) {
      if (n == syscall) return &r;
    }
  }
  return nullptr;
}

std::vector<std::string> Destinations(const json& spec) {
  std::vector<std::string> out;
  for (const auto& m : spec["mounts"]) out.push_back(m["destination"]);
  return out;
}

bool Contains(const json& list, const std::string& s) {
  return std::find(list.begin(), list.end(), json(s)) != list.end();
}

// Test fixtures need no fsync.
void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  ASSERT_TRUE(f.good()) << path;
}

class ContainerSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-cspec-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    rootfs_ = tmp_ + "/rootfs";
    ASSERT_TRUE(MakeDirs(rootfs_ + "/etc").ok());
    ASSERT_TRUE(MakeDirs(tmp_ + "/sandbox/shm").ok());
    ASSERT_TRUE(MakeDirs(tmp_ + "/host/data").ok());
    for (const char* f : {"hostname", "hosts", "resolv.conf"}) {
      WriteText(tmp_ + "/sandbox/" + f, "x\n");
    }
    WriteRootFile("etc/passwd",
                  "root:x:0:0:root:/root:/bin/sh\n"
                  "# a comment\n"
                  "broken line\n"
                  "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
                  "bob:x:1001:100::/home/bob:/bin/sh\n");
    WriteRootFile("etc/group",
                  "root:x:0:\n"
                  "wheel:x:10:alice\n"
                  "users:x:100:alice,bob\n"
                  "docker:x:999:bob\n"
                  "alice:x:1000:alice\n");

    config_.mutable_metadata()->set_name("app");
    config_.mutable_image()->set_image("sha256:abc");
    sandbox_config_.mutable_metadata()->set_name("pod");
    sandbox_config_.mutable_metadata()->set_namespace_("ns");
    sandbox_config_.mutable_metadata()->set_uid("pod-uid");
    sandbox_config_.set_hostname("mypod");

    in_.id = "c0ffee";
    in_.config = &config_;
    in_.sandbox_config = &sandbox_config_;
    in_.sandbox.id = "5a4db0x";
    in_.sandbox.netns_path = "/run/tether/netns/5a4db0x";
    in_.sandbox.pause_pid = 1234;
    in_.sandbox.hostname_path = tmp_ + "/sandbox/hostname";
    in_.sandbox.hosts_path = tmp_ + "/sandbox/hosts";
    in_.sandbox.resolv_conf_path = tmp_ + "/sandbox/resolv.conf";
    in_.sandbox.shm_path = tmp_ + "/sandbox/shm";
    in_.sandbox.cgroup_parent = "/kubepods/besteffort/podUID";
    in_.image.entrypoint = {"/entry"};
    in_.image.cmd = {"serve", "--port=80"};
    in_.image.env = {"PATH=/img/bin:/bin", "IMG=1", "SHARED=image"};
    in_.image.working_dir = "/srv";
    in_.image_name = "docker.io/library/app:1";
    in_.rootfs = rootfs_;
    in_.own_oom_score_adj = -998;
    in_.bounding_caps = AllButSysResource();
    in_.features.kernel_major = 6;
    in_.features.kernel_minor = 1;
    in_.host = &host_;
  }

  void TearDown() override {
    if (!tmp_.empty()) (void)RemoveAll(tmp_);
  }

  void WriteRootFile(const std::string& rel, const std::string& text) {
    WriteText(rootfs_ + "/" + rel, text);
  }

  json Build() {
    auto spec = BuildContainerSpec(in_);
    EXPECT_TRUE(spec.ok()) << spec.status();
    return spec.ok() ? *spec : json();
  }

  absl::Status BuildError() {
    auto spec = BuildContainerSpec(in_);
    EXPECT_FALSE(spec.ok()) << spec->dump(2);
    return spec.status();
  }

  v1::LinuxContainerSecurityContext* sc() {
    return config_.mutable_linux()->mutable_security_context();
  }
  v1::LinuxContainerResources* res() { return config_.mutable_linux()->mutable_resources(); }
  v1::Mount* AddMount(const std::string& container_path, const std::string& host_path) {
    auto* m = config_.add_mounts();
    m->set_container_path(container_path);
    m->set_host_path(host_path);
    return m;
  }

  std::string tmp_, rootfs_;
  v1::ContainerConfig config_;
  v1::PodSandboxConfig sandbox_config_;
  FakeHost host_;
  ContainerSpecInput in_;
};

// ---- The whole spec with nothing but defaults ---------------------------------------------------

TEST_F(ContainerSpecTest, DefaultsAreCompleteAndUnprivileged) {
  json spec = Build();
  EXPECT_EQ(spec["ociVersion"], "1.0.2-dev");
  const json& p = spec["process"];
  EXPECT_EQ(p["terminal"], false);
  EXPECT_EQ(p["args"], json({"/entry", "serve", "--port=80"}));
  EXPECT_EQ(p["cwd"], "/srv");
  EXPECT_EQ(p["user"], json({{"uid", 0}, {"gid", 0}, {"additionalGids", {0}}}));
  EXPECT_EQ(p["noNewPrivileges"], false);
  EXPECT_EQ(p["oomScoreAdj"], 0);  // max(0 requested by default, -998 own)
  EXPECT_FALSE(p.contains("apparmorProfile"));
  EXPECT_FALSE(p.contains("selinuxLabel"));
  EXPECT_FALSE(p.contains("rlimits"));  // containerd sets none
  json caps =
      json::array({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                   "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"});
  EXPECT_EQ(p["capabilities"],
            json({{"bounding", caps}, {"effective", caps}, {"permitted", caps}}));
  EXPECT_FALSE(spec.contains("hostname"));  // the pause's UTS namespace is joined
  EXPECT_EQ(spec["root"], json({{"path", rootfs_}, {"readonly", false}}));

  const json& l = spec["linux"];
  EXPECT_EQ(l["cgroupsPath"], "/kubepods/besteffort/podUID/c0ffee");
  EXPECT_EQ(l["maskedPaths"], json(DefaultMaskedPaths()));
  EXPECT_EQ(l["readonlyPaths"], json(DefaultReadonlyPaths()));
  EXPECT_FALSE(l.contains("seccomp"));  // Kubernetes' default is Unconfined
  EXPECT_FALSE(l.contains("devices"));
  EXPECT_FALSE(l.contains("rootfsPropagation"));
  EXPECT_EQ(l["resources"], json({{"devices", {{{"allow", false}, {"access", "rwm"}}}}}));
  EXPECT_EQ(l["namespaces"], json::parse(R"([
      {"type": "pid", "path": "/proc/1234/ns/pid"},
      {"type": "ipc", "path": "/proc/1234/ns/ipc"},
      {"type": "uts", "path": "/proc/1234/ns/uts"},
      {"type": "mount"},
      {"type": "network", "path": "/run/tether/netns/5a4db0x"}])"));

  EXPECT_EQ(Destinations(spec),
            std::vector<std::string>({"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys",
                                      "/sys/fs/cgroup", "/etc/hostname", "/etc/hosts",
                                      "/etc/resolv.conf", "/dev/shm"}));
  EXPECT_EQ(*FindMount(spec, "/sys"), json({{"destination", "/sys"},
                                            {"type", "sysfs"},
                                            {"source", "sysfs"},
                                            {"options", {"nosuid", "noexec", "nodev", "ro"}}}));
  EXPECT_EQ((*FindMount(spec, "/sys/fs/cgroup"))["options"],
            json({"nosuid", "noexec", "nodev", "relatime", "ro"}));
  EXPECT_EQ(*FindMount(spec, "/dev/shm"),
            json({{"destination", "/dev/shm"},
                  {"type", "bind"},
                  {"source", tmp_ + "/sandbox/shm"},
                  {"options", {"rbind", "rprivate", "rw", "nosuid", "nodev", "noexec"}}}));
  EXPECT_EQ(*FindMount(spec, "/etc/hosts"), json({{"destination", "/etc/hosts"},
                                                  {"type", "bind"},
                                                  {"source", tmp_ + "/sandbox/hosts"},
                                                  {"options", {"rbind", "rprivate", "rw"}}}));
  EXPECT_EQ((*FindMount(spec, "/dev/pts"))["options"],
            json({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
}

// ---- Command and args (Kubernetes' rules) -------------------------------------------------------

TEST_F(ContainerSpecTest, CommandOverridesEntrypointAndDropsImageCmd) {
  config_.add_command("/bin/sh");
  EXPECT_EQ(Build()["process"]["args"], json({"/bin/sh"}));
  config_.add_args("-c");
  config_.add_args("true");
  EXPECT_EQ(Build()["process"]["args"], json({"/bin/sh", "-c", "true"}));
}

TEST_F(ContainerSpecTest, ArgsAloneReplaceImageCmd) {
  config_.add_args("worker");
  EXPECT_EQ(Build()["process"]["args"], json({"/entry", "worker"}));
}

TEST_F(ContainerSpecTest, EmptyEntrypointMeansNone) {
  in_.image.entrypoint = {""};
  EXPECT_EQ(Build()["process"]["args"], json({"serve", "--port=80"}));
  in_.image.entrypoint.clear();
  EXPECT_EQ(Build()["process"]["args"], json({"serve", "--port=80"}));
}

TEST_F(ContainerSpecTest, NoCommandAnywhereIsInvalid) {
  in_.image.entrypoint.clear();
  in_.image.cmd.clear();
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "no command specified")) << st;
}

// ---- Environment, working directory, tty --------------------------------------------------------

TEST_F(ContainerSpecTest, EnvImageThenConfigLaterWinsInPlace) {
  auto* e = config_.add_envs();
  e->set_key("SHARED");
  e->set_value("config");
  e = config_.add_envs();
  e->set_key("NEW");
  e->set_value("a=b");
  EXPECT_EQ(Build()["process"]["env"],
            json({"PATH=/img/bin:/bin", "HOSTNAME=mypod", "IMG=1", "SHARED=config", "NEW=a=b"}));
}

TEST_F(ContainerSpecTest, EnvDefaultPathTermAndUnset) {
  in_.image.env = {"IMG=1", "GONE=1", "GONE"};  // an entry without '=' unsets the key
  config_.set_tty(true);
  sandbox_config_.clear_hostname();
  in_.node_hostname = "node-1";
  json p = Build()["process"];
  EXPECT_EQ(p["terminal"], true);
  EXPECT_EQ(p["env"], json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            "TERM=xterm", "HOSTNAME=node-1", "IMG=1"}));
}

TEST_F(ContainerSpecTest, EmptyEnvKeyIsInvalid) {
  config_.add_envs()->set_value("x");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, WorkingDir) {
  config_.set_working_dir("/data");
  EXPECT_EQ(Build()["process"]["cwd"], "/data");
  config_.clear_working_dir();
  in_.image.working_dir.clear();
  EXPECT_EQ(Build()["process"]["cwd"], "/");
  config_.set_working_dir("relative");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Users and groups ---------------------------------------------------------------------------

TEST_F(ContainerSpecTest, RunAsUsernameResolvesUidGidAndMemberships) {
  sc()->set_run_as_username("alice");
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10, 100, 1000}}}));
}

TEST_F(ContainerSpecTest, RunAsUserUsesPasswdGidAndNameForGroups) {
  sc()->mutable_run_as_user()->set_value(1001);
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1001}, {"gid", 100}, {"additionalGids", {100, 999}}}));
}

TEST_F(ContainerSpecTest, RunAsUserAndGroupAreTakenAsIs) {
  sc()->mutable_run_as_user()->set_value(1000);
  sc()->mutable_run_as_group()->set_value(5);
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1000}, {"gid", 5}, {"additionalGids", {5, 10, 100}}}));
}

TEST_F(ContainerSpecTest, ImageUserForms) {
  in_.image.user = "alice:wheel";
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1000}, {"gid", 10}, {"additionalGids", {10, 100}}}));
  in_.image.user = "1000";
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10, 100, 1000}}}));
  in_.image.user = "bob:5";
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1001}, {"gid", 5}, {"additionalGids", {5, 100, 999}}}));
  in_.image.user = "4242";  // unknown uid: gid 0, no error
  EXPECT_EQ(Build()["process"]["user"], json({{"uid", 4242}, {"gid", 0}, {"additionalGids", {0}}}));
  in_.image.user = "alice:";  // an empty part stays 0
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 1000}, {"gid", 0}, {"additionalGids", {0, 10, 100}}}));
  in_.image.user = "4242:4343";
  EXPECT_EQ(Build()["process"]["user"],
            json({{"uid", 4242}, {"gid", 4343}, {"additionalGids", {4343}}}));
  // The request wins over the image.
  sc()->set_run_as_username("bob");
  EXPECT_EQ(Build()["process"]["user"]["uid"], 1001);
}

TEST_F(ContainerSpecTest, UnknownUserOrGroupIsInvalid) {
  in_.image.user = "nobody";
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "nobody")) << st;
  in_.image.user = "alice:nogroup";
  st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "nogroup")) << st;
  in_.image.user = "a:b:c";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  in_.image.user = "4294967296";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  in_.image.user.clear();
  sc()->mutable_run_as_user()->set_value(-1);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, NamedUserWithoutPasswdIsInvalid) {
  ASSERT_TRUE(RemoveFile(rootfs_ + "/etc/passwd").ok());
  in_.image.user = "alice";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  in_.image.user = "1000";  // numeric needs no passwd
  EXPECT_EQ(Build()["process"]["user"]["gid"], 0);
}

TEST_F(ContainerSpecTest, RunAsGroupWithoutUserIsInvalid) {
  sc()->mutable_run_as_group()->set_value(10);
  in_.image.user = "alice";  // containerd refuses even when the image names a user
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "run_as_group")) << st;
}

TEST_F(ContainerSpecTest, SupplementalGroupsMergeAndStrict) {
  sc()->set_run_as_username("alice");
  sc()->add_supplemental_groups(2000);
  sc()->add_supplemental_groups(10);
  EXPECT_EQ(Build()["process"]["user"]["additionalGids"], json({10, 100, 1000, 2000}));
  sc()->set_supplemental_groups_policy(v1::Strict);
  EXPECT_EQ(Build()["process"]["user"]["additionalGids"], json({10, 1000, 2000}));
  sc()->add_supplemental_groups(-3);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, ImagePasswdSymlinkCannotReachHostFiles) {
  // An absolute symlink in the image resolves inside the image root, not on the host.
  const std::string outside = tmp_ + "/host-passwd";
  ASSERT_TRUE(WriteFileAtomic(outside, "evil:x:0:0::/:/bin/sh\n").ok());
  ASSERT_TRUE(RemoveFile(rootfs_ + "/etc/passwd").ok());
  fs::create_symlink(outside, rootfs_ + "/etc/passwd");
  in_.image.user = "evil";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  // A symlink within the image is followed.
  ASSERT_TRUE(MakeDirs(rootfs_ + "/usr/share/base").ok());
  WriteRootFile("usr/share/base/passwd", "svc:x:77:78::/:/bin/sh\n");
  ASSERT_TRUE(RemoveFile(rootfs_ + "/etc/passwd").ok());
  fs::create_symlink("/usr/share/base/passwd", rootfs_ + "/etc/passwd");
  in_.image.user = "svc";
  EXPECT_EQ(Build()["process"]["user"]["uid"], 77);
}

TEST_F(ContainerSpecTest, UsersReadFromTheGivenRoot) {
  const std::string other = tmp_ + "/lower";
  ASSERT_TRUE(MakeDirs(other + "/etc").ok());
  ASSERT_TRUE(WriteFileAtomic(other + "/etc/passwd", "carol:x:3000:3000::/:/bin/sh\n").ok());
  in_.image_rootfs_for_users = other;
  in_.image.user = "carol";
  EXPECT_EQ(Build()["process"]["user"]["uid"], 3000);
}

TEST(PasswdInfo, ParsesAndSkipsMalformedLines) {
  auto db = PasswdInfo::Parse(std::string("a:x:1:2:g:/h:/s\nbad\n:x:3:3\nb:x:nan:1\nc:x:5:6\n"),
                              std::string("g1:x:7:a, c\nbad\ng2:x:8:\n"));
  ASSERT_TRUE(db.passwd.has_value());
  ASSERT_EQ(db.passwd->size(), 2u);
  EXPECT_EQ(db.FindUserByName("a")->home, "/h");
  EXPECT_EQ(db.FindUserById(5)->name, "c");
  EXPECT_EQ(db.FindUserByName("b"), nullptr);
  EXPECT_EQ(db.FindGroupByName("g1")->members, std::vector<std::string>({"a", "c"}));
  EXPECT_TRUE(db.FindGroupByName("g2")->members.empty());
  auto none = PasswdInfo::Parse(std::nullopt, std::nullopt);
  EXPECT_FALSE(none.passwd.has_value());
  EXPECT_EQ(none.FindUserById(0), nullptr);
}

// ---- Capabilities -------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, CapabilitiesAddAndDropWithOrWithoutPrefix) {
  auto* caps = sc()->mutable_capabilities();
  caps->add_add_capabilities("NET_ADMIN");
  caps->add_add_capabilities("cap_sys_time");
  caps->add_drop_capabilities("CAP_CHOWN");
  caps->add_drop_capabilities("net_raw");
  caps->add_drop_capabilities("CAP_FROM_THE_FUTURE");  // unknown drops are harmless
  json c = Build()["process"]["capabilities"];
  EXPECT_TRUE(Contains(c["bounding"], "CAP_NET_ADMIN"));
  EXPECT_TRUE(Contains(c["effective"], "CAP_SYS_TIME"));
  EXPECT_FALSE(Contains(c["permitted"], "CAP_CHOWN"));
  EXPECT_FALSE(Contains(c["bounding"], "CAP_NET_RAW"));
  EXPECT_EQ(c["bounding"].size(), 14u);
  EXPECT_FALSE(c.contains("ambient"));
  EXPECT_FALSE(c.contains("inheritable"));
}

TEST_F(ContainerSpecTest, CapabilitiesDropAllThenAdd) {
  auto* caps = sc()->mutable_capabilities();
  caps->add_drop_capabilities("ALL");
  caps->add_add_capabilities("NET_BIND_SERVICE");
  EXPECT_EQ(Build()["process"]["capabilities"]["effective"], json({"CAP_NET_BIND_SERVICE"}));
}

TEST_F(ContainerSpecTest, CapabilitiesAddAllIsTheBoundingSet) {
  auto* caps = sc()->mutable_capabilities();
  caps->add_add_capabilities("all");
  caps->add_drop_capabilities("NET_RAW");
  std::vector<std::string> want = AllButSysResource();
  want.erase(std::find(want.begin(), want.end(), "CAP_NET_RAW"));
  EXPECT_EQ(Build()["process"]["capabilities"]["bounding"], json(want));
}

TEST_F(ContainerSpecTest, CapabilityErrors) {
  sc()->mutable_capabilities()->add_add_capabilities("NOT_A_CAP");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  sc()->mutable_capabilities()->clear_add_capabilities();
  sc()->mutable_capabilities()->add_add_capabilities("SYS_RESOURCE");  // not in the host's set
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.message(), "CAP_SYS_RESOURCE")) << st;
}

TEST_F(ContainerSpecTest, NonRootUserKeepsTheSetForTheKernelToClear) {
  sc()->mutable_run_as_user()->set_value(1000);
  json c = Build()["process"]["capabilities"];
  EXPECT_EQ(c["effective"].size(), 14u);  // as containerd: execve clears them for uid != 0
}

TEST_F(ContainerSpecTest, Privileged) {
  sandbox_config_.mutable_linux()->mutable_security_context()->set_privileged(true);
  sc()->set_privileged(true);
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  host_.devices["/dev"] = {{.path = "/dev/null",
                            .type = 'c',
                            .major = 1,
                            .minor = 3,
                            .file_mode = 0666,
                            .container_path = "/dev/null"},
                           {.path = "/dev/sda",
                            .type = 'b',
                            .major = 8,
                            .minor = 0,
                            .file_mode = 0660,
                            .gid = 6,
                            .container_path = "/dev/sda"}};
  json spec = Build();
  EXPECT_EQ(spec["process"]["capabilities"]["bounding"], json(AllButSysResource()));
  EXPECT_EQ(spec["process"]["capabilities"]["effective"], json(AllButSysResource()));
  EXPECT_FALSE(spec["linux"].contains("maskedPaths"));
  EXPECT_FALSE(spec["linux"].contains("readonlyPaths"));
  EXPECT_FALSE(spec["linux"].contains("seccomp"));
  EXPECT_EQ((*FindMount(spec, "/sys"))["options"], json({"nosuid", "noexec", "nodev", "rw"}));
  EXPECT_EQ((*FindMount(spec, "/sys/fs/cgroup"))["options"],
            json({"nosuid", "noexec", "nodev", "relatime", "rw"}));
  EXPECT_EQ(spec["linux"]["resources"]["devices"], json({{{"allow", true}, {"access", "rwm"}}}));
  EXPECT_EQ(spec["linux"]["devices"], json::parse(R"([
      {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0,
       "gid": 0},
      {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 432, "uid": 0,
       "gid": 6}])"));
  // Privileged without a known bounding set: every capability.
  in_.bounding_caps.clear();
  EXPECT_EQ(Build()["process"]["capabilities"]["bounding"].size(), kCapabilityCount);
}

TEST_F(ContainerSpecTest, PrivilegedNeedsAPrivilegedSandbox) {
  sc()->set_privileged(true);
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "privileged")) << st;
}

TEST_F(ContainerSpecTest, NoNewPrivsAndReadonlyRootfs) {
  sc()->set_no_new_privs(true);
  sc()->set_readonly_rootfs(true);
  json spec = Build();
  EXPECT_EQ(spec["process"]["noNewPrivileges"], true);
  EXPECT_EQ(spec["root"]["readonly"], true);
  // The sandbox's files follow the root's read-only flag; /dev/shm stays writable.
  for (const char* f : {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}) {
    EXPECT_EQ((*FindMount(spec, f))["options"], json({"rbind", "rprivate", "ro"})) << f;
  }
  EXPECT_TRUE(Contains((*FindMount(spec, "/dev/shm"))["options"], "rw"));
}

// ---- Masked and read-only paths -----------------------------------------------------------------

TEST_F(ContainerSpecTest, MaskedAndReadonlyPathsFromTheRequest) {
  sc()->add_masked_paths("/proc/kcore");
  sc()->add_readonly_paths("/proc/sys");
  sc()->add_readonly_paths("/proc/bus");
  json l = Build()["linux"];
  EXPECT_EQ(l["maskedPaths"], json({"/proc/kcore"}));
  EXPECT_EQ(l["readonlyPaths"], json({"/proc/sys", "/proc/bus"}));
}

// ---- Seccomp ------------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, SeccompRuntimeDefaultBuiltIn) {
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  json s = Build()["linux"]["seccomp"];
  EXPECT_EQ(s["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(s["defaultErrnoRet"], 1);
#if defined(__x86_64__)
  EXPECT_EQ(s["architectures"], json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_NE(FindRule(s, "arch_prctl"), nullptr);
  EXPECT_EQ(FindRule(s, "arm_fadvise64_64"), nullptr);
#endif
  for (const char* key : {"archMap", "comment"}) EXPECT_FALSE(s.contains(key)) << key;
  for (const auto& r : s["syscalls"]) {
    for (const char* key : {"includes", "excludes", "comment", "name"}) {
      EXPECT_FALSE(r.contains(key)) << r.dump();
    }
  }
  EXPECT_NE(FindRule(s, "read"), nullptr);
  EXPECT_NE(FindRule(s, "ptrace"), nullptr);  // minKernel 4.8 holds on 6.1
  // Without CAP_SYS_ADMIN: no mount, clone only without namespace flags, clone3 → ENOSYS.
  EXPECT_EQ(FindRule(s, "mount"), nullptr);
  EXPECT_EQ(FindRule(s, "reboot"), nullptr);
  ASSERT_NE(FindRule(s, "clone"), nullptr);
  EXPECT_EQ((*FindRule(s, "clone"))["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
  ASSERT_NE(FindRule(s, "clone3"), nullptr);
  EXPECT_EQ((*FindRule(s, "clone3"))["errnoRet"], 38);
  EXPECT_NE(FindRule(s, "chroot"), nullptr);  // CAP_SYS_CHROOT is a default capability

  // With CAP_SYS_ADMIN the capability-gated rules switch.
  sc()->mutable_capabilities()->add_add_capabilities("SYS_ADMIN");
  s = Build()["linux"]["seccomp"];
  EXPECT_NE(FindRule(s, "mount"), nullptr);
  EXPECT_FALSE(FindRule(s, "clone")->contains("args"));
  EXPECT_EQ((*FindRule(s, "clone3"))["action"], "SCMP_ACT_ALLOW");
  // Dropping CAP_SYS_CHROOT removes chroot.
  sc()->mutable_capabilities()->add_drop_capabilities("SYS_CHROOT");
  EXPECT_EQ(FindRule(Build()["linux"]["seccomp"], "chroot"), nullptr);
}

std::string SourceDir() {
  if (const char* d = std::getenv("TETHER_SOURCE_DIR"); d && *d) return d;
  std::string f = __FILE__;  // <source>/tests/unit/container_spec_test.cc
  return fs::path(f).parent_path().parent_path().parent_path().string();
}

TEST_F(ContainerSpecTest, SeccompRuntimeDefaultFromFileMatchesBuiltIn) {
  const std::string path = SourceDir() + "/configs/seccomp/default.json";
  if (!PathExists(path)) GTEST_SKIP() << path << " not found (set TETHER_SOURCE_DIR)";
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  json built_in = Build()["linux"]["seccomp"];
  in_.default_seccomp_profile_path = path;
  EXPECT_EQ(Build()["linux"]["seccomp"], built_in);
  in_.default_seccomp_profile_path = tmp_ + "/missing.json";
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.message(), "missing.json")) << st;
}

// The profile has the OCI shape runc accepts once resolved: only known keys and values.
TEST(SeccompProfile, DefaultProfileResolvesToValidOciSeccomp) {
  json profile = json::parse(kDefaultSeccompProfile, nullptr, false);
  ASSERT_TRUE(profile.is_object());
  HostFeatures host;
  for (const std::string arch : {"amd64", "arm64"}) {
    for (const auto& caps : {std::vector<std::string>{}, AllButSysResource()}) {
      auto r = ResolveSeccompProfile(profile, caps, host, arch);
      ASSERT_TRUE(r.ok()) << r.status();
      const std::set<std::string> top = {"defaultAction", "defaultErrnoRet", "architectures",
                                         "syscalls"};
      for (const auto& [k, v] : r->items()) EXPECT_TRUE(top.count(k)) << k;
      EXPECT_EQ((*r)["architectures"][0],
                arch == "amd64" ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64");
      std::set<std::string> allowed_names;
      for (const auto& rule : (*r)["syscalls"]) {
        for (const auto& [k, v] : rule.items()) {
          EXPECT_TRUE(k == "names" || k == "action" || k == "errnoRet" || k == "args") << k;
        }
        ASSERT_TRUE(rule["names"].is_array());
        ASSERT_FALSE(rule["names"].empty());
        for (const auto& n : rule["names"]) {
          ASSERT_TRUE(n.is_string());
          EXPECT_FALSE(n.get<std::string>().empty());
        }
        EXPECT_TRUE(rule["action"] == "SCMP_ACT_ALLOW" || rule["action"] == "SCMP_ACT_ERRNO");
        for (const auto& a : rule.value("args", json::array())) {
          EXPECT_TRUE(a["index"].is_number_unsigned());
          EXPECT_TRUE(a["value"].is_number_unsigned());
          EXPECT_TRUE(absl::StartsWith(a["op"].get<std::string>(), "SCMP_CMP_"));
        }
      }
      EXPECT_GT((*r)["syscalls"].size(), 10u);
    }
  }
}

TEST(SeccompProfile, ConditionsOnArchKernelAndCaps) {
  json profile = json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO",
    "archMap": [{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
    "syscalls": [
      {"name": "a", "action": "SCMP_ACT_ALLOW", "comment": "old style single name"},
      {"names": ["b"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
      {"names": ["c"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
      {"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_X"]}},
      {"names": ["e"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X", "CAP_Y"]}},
      {"names": ["f"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
       "excludes": {"arches": ["amd64"], "minKernel": "7.0"}}
    ]})");
  auto names = [](const json& r) {
    std::vector<std::string> out;
    for (const auto& rule : r["syscalls"]) out.push_back(rule["names"][0]);
    return out;
  };
  HostFeatures old_kernel;
  old_kernel.kernel_major = 4;
  old_kernel.kernel_minor = 19;
  auto r = ResolveSeccompProfile(profile, {"CAP_X"}, old_kernel, "amd64");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(names(*r), std::vector<std::string>({"a"}));
  EXPECT_FALSE(r->contains("architectures"));  // amd64 is not in the archMap

  HostFeatures new_kernel;
  new_kernel.kernel_major = 6;
  new_kernel.kernel_minor = 1;
  r = ResolveSeccompProfile(profile, {"CAP_X", "CAP_Y"}, new_kernel, "arm64");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(names(*r), std::vector<std::string>({"a", "b", "c", "e", "f"}));
  EXPECT_EQ((*r)["architectures"], json({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  EXPECT_EQ((*r)["syscalls"][4],
            json({{"names", {"f"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}}));

  // Plain OCI profiles pass through.
  json oci = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
      "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]})");
  r = ResolveSeccompProfile(oci, {}, new_kernel, "amd64");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, oci);
  // Neither default action nor rules: seccomp off.
  r = ResolveSeccompProfile(json::object(), {}, new_kernel);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_null());
  // Malformed.
  for (
      const char* bad : {
          R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["X"], "archMap": [{"architecture": "X"}]})",
          R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]})",
          R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"]}]})",
          R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]})",
          R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5"}}]})",
          R"({"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}]})",
      }) {
    EXPECT_FALSE(ResolveSeccompProfile(json::parse(bad), {}, new_kernel, "amd64").ok()) << bad;
  }
}

TEST_F(ContainerSpecTest, SeccompLocalhost) {
  const std::string path = tmp_ + "/profile.json";
  ASSERT_TRUE(WriteFileAtomic(path, R"({"defaultAction": "SCMP_ACT_LOG"})").ok());
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::Localhost);
  sc()->mutable_seccomp()->set_localhost_ref(path);
  EXPECT_EQ(Build()["linux"]["seccomp"],
            json({{"defaultAction", "SCMP_ACT_LOG"}, {"syscalls", json::array()}}));
  // The deprecated form.
  sc()->clear_seccomp();
  SetSeccompPath(sc(), "localhost/" + path);
  EXPECT_EQ(Build()["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_LOG");
}

TEST_F(ContainerSpecTest, SeccompLocalhostErrors) {
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::Localhost);
  sc()->mutable_seccomp()->set_localhost_ref(tmp_ + "/nope.json");
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), tmp_ + "/nope.json")) << st;

  sc()->mutable_seccomp()->set_localhost_ref("relative.json");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(WriteFileAtomic(tmp_ + "/bad.json", "[1, 2]").ok());
  sc()->mutable_seccomp()->set_localhost_ref(tmp_ + "/bad.json");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);

  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);  // ref with another type
}

TEST_F(ContainerSpecTest, SeccompUnconfinedAndDeprecatedPaths) {
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::Unconfined);
  EXPECT_FALSE(Build()["linux"].contains("seccomp"));
  sc()->clear_seccomp();
  for (const char* p : {"runtime/default", "docker/default"}) {
    SetSeccompPath(sc(), p);
    EXPECT_EQ(Build()["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO") << p;
  }
  SetSeccompPath(sc(), "unconfined");
  EXPECT_FALSE(Build()["linux"].contains("seccomp"));
  SetSeccompPath(sc(), "bogus");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, SeccompUnsupportedHost) {
  in_.features.seccomp = false;
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kFailedPrecondition);
  sc()->mutable_seccomp()->set_profile_type(v1::SecurityProfile::Unconfined);
  EXPECT_FALSE(Build()["linux"].contains("seccomp"));
}

// ---- AppArmor and SELinux -----------------------------------------------------------------------

TEST_F(ContainerSpecTest, ApparmorDisabledHost) {
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  EXPECT_FALSE(Build()["process"].contains("apparmorProfile"));
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::Localhost);
  sc()->mutable_apparmor()->set_localhost_ref("my-profile");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ContainerSpecTest, ApparmorEnabledHost) {
  in_.features.apparmor = true;
  host_.files["/sys/kernel/security/apparmor/profiles"] =
      "docker-default (enforce)\nmy-profile (enforce)\n";
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
  EXPECT_FALSE(Build()["process"].contains("apparmorProfile"));  // none configured
  in_.apparmor_default_profile = "tether-default";
  EXPECT_EQ(Build()["process"]["apparmorProfile"], "tether-default");
  sc()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::Localhost);
  sc()->mutable_apparmor()->set_localhost_ref("localhost/my-profile");
  EXPECT_EQ(Build()["process"]["apparmorProfile"], "my-profile");
  sc()->mutable_apparmor()->set_localhost_ref("missing");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kFailedPrecondition);
  sc()->clear_apparmor();
  SetApparmorProfile(sc(), "localhost/my-profile");  // deprecated field
  EXPECT_EQ(Build()["process"]["apparmorProfile"], "my-profile");
  SetApparmorProfile(sc(), "unconfined");
  EXPECT_FALSE(Build()["process"].contains("apparmorProfile"));
}

TEST_F(ContainerSpecTest, SelinuxOptions) {
  auto* o = sc()->mutable_selinux_options();
  o->set_type("spc_t");
  EXPECT_FALSE(Build()["process"].contains("selinuxLabel"));  // ignored without SELinux
  in_.features.selinux = true;
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kFailedPrecondition);  // partial
  o->set_user("system_u");
  o->set_role("system_r");
  o->set_level("s0:c1,c2");
  EXPECT_EQ(Build()["process"]["selinuxLabel"], "system_u:system_r:spc_t:s0:c1,c2");
}

// ---- Namespaces ---------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, PidNamespaceModes) {
  auto* ns = sc()->mutable_namespace_options();
  ns->set_pid(v1::CONTAINER);
  EXPECT_EQ(*FindNamespace(Build(), "pid"), json({{"type", "pid"}}));
  ns->set_pid(v1::TARGET);
  ns->set_target_id("other");
  in_.target_pid = 777;
  EXPECT_EQ(*FindNamespace(Build(), "pid"), json({{"type", "pid"}, {"path", "/proc/777/ns/pid"}}));
  in_.target_pid = 0;
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  ns->set_pid(v1::NODE);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);  // sandbox not host PID
  in_.sandbox.host_pid = true;
  EXPECT_EQ(FindNamespace(Build(), "pid"), nullptr);
  ns->set_pid(v1::POD);  // the pod is in the host's PID namespace
  EXPECT_EQ(FindNamespace(Build(), "pid"), nullptr);
}

TEST_F(ContainerSpecTest, HostNamespaces) {
  in_.sandbox.host_network = true;
  in_.sandbox.netns_path.clear();
  in_.sandbox.host_ipc = true;
  in_.sandbox.shm_path.clear();
  json spec = Build();
  EXPECT_EQ(spec["linux"]["namespaces"], json::parse(R"([
      {"type": "pid", "path": "/proc/1234/ns/pid"}, {"type": "mount"}])"));
  EXPECT_EQ((*FindMount(spec, "/dev/shm"))["source"], "/dev/shm");  // the host's
  EXPECT_EQ((*FindMount(spec, "/dev/shm"))["type"], "bind");
}

TEST_F(ContainerSpecTest, NetworkNamespaceFallsBackToThePause) {
  in_.sandbox.netns_path.clear();
  EXPECT_EQ(*FindNamespace(Build(), "network"),
            json({{"type", "network"}, {"path", "/proc/1234/ns/net"}}));
  in_.sandbox.pause_pid = 0;
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, CgroupNamespaceOnUnifiedHierarchy) {
  in_.features.cgroup2_unified = true;
  EXPECT_NE(FindNamespace(Build(), "cgroup"), nullptr);
  sandbox_config_.mutable_linux()->mutable_security_context()->set_privileged(true);
  sc()->set_privileged(true);
  EXPECT_EQ(FindNamespace(Build(), "cgroup"), nullptr);
}

TEST_F(ContainerSpecTest, ContainerJoinsThePodsUserNamespace) {
  for (auto* opts : {sandbox_config_.mutable_linux()
                         ->mutable_security_context()
                         ->mutable_namespace_options()
                         ->mutable_userns_options(),
                     sc()->mutable_namespace_options()->mutable_userns_options()}) {
    opts->set_mode(v1::POD);
    for (auto* maps : {opts->mutable_uids(), opts->mutable_gids()}) {
      auto* m = maps->Add();
      m->set_host_id(100000);
      m->set_length(65536);
    }
  }
  json spec = Build();
  ASSERT_NE(FindNamespace(spec, "user"), nullptr);
  EXPECT_EQ((*FindNamespace(spec, "user"))["path"], "/proc/1234/ns/user");
  EXPECT_EQ((*FindNamespace(spec, "network"))["path"], "/run/tether/netns/5a4db0x");
  json maps = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  EXPECT_EQ(spec["linux"]["uidMappings"], maps);
  EXPECT_EQ(spec["linux"]["gidMappings"], maps);
}

TEST_F(ContainerSpecTest, UserNamespaceModeMustMatchThePod) {
  sc()->mutable_namespace_options()->mutable_userns_options()->set_mode(v1::POD);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);  // the pod has none
  sc()->mutable_namespace_options()->mutable_userns_options()->set_mode(v1::CONTAINER);
  EXPECT_THAT(std::string(BuildError().message()), ::testing::HasSubstr("userns_options.mode"));
  sc()->mutable_namespace_options()->mutable_userns_options()->set_mode(v1::NODE);
  EXPECT_EQ(FindNamespace(Build(), "user"), nullptr);
}

// ---- Mounts -------------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, RequestMountReadOnlyAndReadWrite) {
  AddMount("/data", tmp_ + "/host/data")->set_readonly(true);
  AddMount("/scratch", tmp_ + "/host/data");
  json spec = Build();
  EXPECT_EQ(*FindMount(spec, "/data"), json({{"destination", "/data"},
                                             {"type", "bind"},
                                             {"source", tmp_ + "/host/data"},
                                             {"options", {"rbind", "rprivate", "ro"}}}));
  EXPECT_EQ((*FindMount(spec, "/scratch"))["options"], json({"rbind", "rprivate", "rw"}));
}

TEST_F(ContainerSpecTest, MountPathErrors) {
  AddMount("relative/path", tmp_ + "/host/data");
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "container_path")) << st;
  config_.clear_mounts();
  AddMount("/data", tmp_ + "/host/missing");
  st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), tmp_ + "/host/missing")) << st;
  // containerd's behaviour on request: create the directory.
  in_.create_missing_host_paths = true;
  EXPECT_EQ((*FindMount(Build(), "/data"))["source"], tmp_ + "/host/missing");
  EXPECT_TRUE(fs::is_directory(tmp_ + "/host/missing"));
}

TEST_F(ContainerSpecTest, MountSymlinksInHostPathAreResolved) {
  fs::create_symlink(tmp_ + "/host", tmp_ + "/link");
  AddMount("/data", tmp_ + "/link/data");
  EXPECT_EQ((*FindMount(Build(), "/data"))["source"], tmp_ + "/host/data");
}

TEST_F(ContainerSpecTest, MountsSortedParentsFirstStable) {
  const std::string h = tmp_ + "/host/data";
  AddMount("/a/b/c", h);
  AddMount("/z", h);
  AddMount("/a//b/", h);
  AddMount("/a", h);
  std::vector<std::string> d = Destinations(Build());
  std::vector<std::string> binds(d.begin() + 6, d.end());  // after the 6 defaults left
  EXPECT_EQ(binds, std::vector<std::string>({"/z", "/a", "/a//b/", "/etc/hostname", "/etc/hosts",
                                             "/etc/resolv.conf", "/dev/shm", "/a/b/c"}));
}

TEST_F(ContainerSpecTest, RequestMountReplacesSandboxFilesAndDefaults) {
  const std::string hosts = tmp_ + "/kubelet-hosts";
  ASSERT_TRUE(WriteFileAtomic(hosts, "127.0.0.1 localhost\n").ok());
  AddMount("/etc/hosts", hosts);
  AddMount("/proc/", tmp_ + "/host/data");
  json spec = Build();
  int hosts_mounts = 0;
  for (const auto& m : spec["mounts"]) hosts_mounts += m["destination"] == "/etc/hosts";
  EXPECT_EQ(hosts_mounts, 1);
  EXPECT_EQ((*FindMount(spec, "/etc/hosts"))["source"], hosts);
  EXPECT_EQ(FindMount(spec, "/proc"), nullptr);  // the default proc is replaced by "/proc/"
  EXPECT_NE(FindMount(spec, "/proc/"), nullptr);

  // A /dev of the request replaces everything under /dev too.
  config_.clear_mounts();
  AddMount("/dev", tmp_ + "/host/data");
  spec = Build();
  EXPECT_EQ(Destinations(spec),
            std::vector<std::string>({"/proc", "/sys", "/sys/fs/cgroup", "/dev", "/etc/hostname",
                                      "/etc/hosts", "/etc/resolv.conf", "/dev/shm"}));
}

TEST_F(ContainerSpecTest, MissingSandboxFilesAreSkipped) {
  in_.sandbox.hostname_path = tmp_ + "/sandbox/gone";
  in_.sandbox.resolv_conf_path.clear();
  in_.sandbox.shm_path = tmp_ + "/sandbox/no-shm";
  json spec = Build();
  EXPECT_EQ(FindMount(spec, "/etc/hostname"), nullptr);
  EXPECT_EQ(FindMount(spec, "/etc/resolv.conf"), nullptr);
  // Without the pod's shm the default tmpfs stays.
  EXPECT_EQ((*FindMount(spec, "/dev/shm"))["type"], "tmpfs");
}

TEST_F(ContainerSpecTest, MountPropagation) {
  const std::string h = tmp_ + "/host/data";
  host_.propagation[h] = "master:4";
  AddMount("/slave", h)->set_propagation(v1::PROPAGATION_HOST_TO_CONTAINER);
  json spec = Build();
  EXPECT_EQ((*FindMount(spec, "/slave"))["options"], json({"rbind", "rslave", "rw"}));
  EXPECT_EQ(spec["linux"]["rootfsPropagation"], "rslave");

  // Bidirectional needs a shared source.
  AddMount("/shared", h)->set_propagation(v1::PROPAGATION_BIDIRECTIONAL);
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  host_.propagation[h] = "shared:7";
  spec = Build();
  EXPECT_EQ((*FindMount(spec, "/shared"))["options"], json({"rbind", "rshared", "rw"}));
  EXPECT_EQ(spec["linux"]["rootfsPropagation"], "rshared");  // wins over rslave

  host_.propagation[h] = "";
  config_.clear_mounts();
  AddMount("/slave", h)->set_propagation(v1::PROPAGATION_HOST_TO_CONTAINER);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ContainerSpecTest, RecursiveReadOnly) {
  auto* m = AddMount("/rro", tmp_ + "/host/data");
  m->set_recursive_read_only(true);
  auto st = BuildError();  // needs readonly
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  m->set_readonly(true);
  st = BuildError();  // the runtime lacks rro
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.message(), "recursive read-only mounts are not supported"))
      << st;
  in_.features.rro_mounts = true;
  EXPECT_EQ((*FindMount(Build(), "/rro"))["options"], json({"rbind", "rprivate", "rro"}));
  host_.propagation[tmp_] = "master:1";
  m->set_propagation(v1::PROPAGATION_HOST_TO_CONTAINER);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, UnsupportedMountKinds) {
  auto* m = AddMount("/img", "");
  m->mutable_image()->set_image("docker.io/library/data:1");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kUnimplemented);
  config_.clear_mounts();
  m = AddMount("/data", tmp_ + "/host/data");
  m->add_uidmappings()->set_length(1);
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kUnimplemented);
  config_.clear_mounts();
  config_.add_cdi_devices()->set_name("vendor.com/gpu=0");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kUnimplemented);
}

TEST_F(ContainerSpecTest, SelinuxRelabelIsIgnoredWithoutSelinux) {
  AddMount("/data", tmp_ + "/host/data")->set_selinux_relabel(true);
  EXPECT_EQ((*FindMount(Build(), "/data"))["options"], json({"rbind", "rprivate", "rw"}));
}

// ---- Devices ------------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, Devices) {
  host_.devices["/dev/fuse"] = {
      {.path = "/dev/fuse", .type = 'c', .major = 10, .minor = 229, .file_mode = 0666}};
  auto* d = config_.add_devices();
  d->set_host_path("/dev/fuse");
  d->set_container_path("/dev/myfuse");
  d->set_permissions("rw");
  d = config_.add_devices();
  d->set_host_path("/dev/null");  // the real one, through the real host
  d->set_container_path("/dev/xnull");
  json spec = Build();
  EXPECT_EQ(spec["linux"]["devices"][0], json::parse(R"({"path": "/dev/myfuse", "type": "c",
      "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0})"));
  EXPECT_EQ(spec["linux"]["devices"][1]["path"], "/dev/xnull");
  EXPECT_EQ(spec["linux"]["devices"][1]["major"], 1);
  EXPECT_EQ(spec["linux"]["devices"][1]["minor"], 3);
  EXPECT_EQ(spec["linux"]["resources"]["devices"], json::parse(R"([
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
      {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])"));
}

TEST_F(ContainerSpecTest, DeviceErrors) {
  auto* d = config_.add_devices();
  d->set_host_path(tmp_ + "/no-such-device");
  d->set_container_path("/dev/x");
  auto st = BuildError();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(st.message(), "no-such-device")) << st;
  d->set_host_path(tmp_ + "/sandbox/hosts");  // a regular file
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  d->set_host_path("/dev/null");
  d->set_container_path("dev/x");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  d->set_container_path("/dev/x");
  d->set_permissions("rwx");
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Resources ----------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, Resources) {
  in_.features.swap_controller = true;
  in_.features.hugetlb_controller = true;
  res()->set_cpu_period(100000);
  res()->set_cpu_quota(50000);
  res()->set_cpu_shares(512);
  res()->set_cpuset_cpus("0-1,3");
  res()->set_cpuset_mems("0");
  res()->set_memory_limit_in_bytes(256 << 20);
  auto* h = res()->add_hugepage_limits();
  h->set_page_size("2MB");
  h->set_limit(4 << 20);
  json r = Build()["linux"]["resources"];
  EXPECT_EQ(r["cpu"], json::parse(R"({"period": 100000, "quota": 50000, "shares": 512,
                                      "cpus": "0-1,3", "mems": "0"})"));
  // No swap beyond the memory limit unless asked.
  EXPECT_EQ(r["memory"], json({{"limit", 256 << 20}, {"swap", 256 << 20}}));
  EXPECT_EQ(r["hugepageLimits"], json({{{"pageSize", "2MB"}, {"limit", 4 << 20}}}));
  res()->set_memory_swap_limit_in_bytes(512 << 20);
  EXPECT_EQ(Build()["linux"]["resources"]["memory"],
            json({{"limit", 256 << 20}, {"swap", 512 << 20}}));
  res()->set_memory_swap_limit_in_bytes(-1);
  EXPECT_EQ(Build()["linux"]["resources"]["memory"]["swap"], -1);
  res()->set_cpu_quota(-1);
  EXPECT_EQ(Build()["linux"]["resources"]["cpu"]["quota"], -1);

  // Hosts without swap accounting or hugetlb: those settings are left out.
  in_.features.swap_controller = false;
  in_.features.hugetlb_controller = false;
  r = Build()["linux"]["resources"];
  EXPECT_EQ(r["memory"], json({{"limit", 256 << 20}}));
  EXPECT_FALSE(r.contains("hugepageLimits"));
}

TEST_F(ContainerSpecTest, UnifiedNeedsCgroupV2) {
  (*res()->mutable_unified())["memory.high"] = "1000000";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  in_.features.cgroup2_unified = true;
  EXPECT_EQ(Build()["linux"]["resources"]["unified"], json({{"memory.high", "1000000"}}));
  (*res()->mutable_unified())["../escape"] = "1";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ContainerSpecTest, InvalidResourcesNameTheField) {
  struct Case {
    std::string field;
    std::function<void(v1::LinuxContainerResources*)> set;
  };
  std::vector<Case> cases = {
      {"cpu_period", [](auto* r) { r->set_cpu_period(999); }},
      {"cpu_period", [](auto* r) { r->set_cpu_period(-5); }},
      {"cpu_period", [](auto* r) { r->set_cpu_period(1000001); }},
      {"cpu_quota", [](auto* r) { r->set_cpu_quota(999); }},
      {"cpu_quota", [](auto* r) { r->set_cpu_quota(-2); }},
      {"cpu_shares", [](auto* r) { r->set_cpu_shares(1); }},
      {"cpu_shares", [](auto* r) { r->set_cpu_shares(262145); }},
      {"cpuset_cpus", [](auto* r) { r->set_cpuset_cpus("0-"); }},
      {"cpuset_cpus", [](auto* r) { r->set_cpuset_cpus("3-1"); }},
      {"cpuset_mems", [](auto* r) { r->set_cpuset_mems("a"); }},
      {"memory_limit_in_bytes", [](auto* r) { r->set_memory_limit_in_bytes(-1); }},
      {"memory_swap_limit_in_bytes", [](auto* r) { r->set_memory_swap_limit_in_bytes(-2); }},
      {"memory_swap_limit_in_bytes",
       [](auto* r) {
         r->set_memory_limit_in_bytes(100 << 20);
         r->set_memory_swap_limit_in_bytes(50 << 20);
       }},
      {"hugepage_limits", [](auto* r) { r->add_hugepage_limits()->set_page_size("2M"); }},
      {"oom_score_adj", [](auto* r) { r->set_oom_score_adj(1001); }},
      {"oom_score_adj", [](auto* r) { r->set_oom_score_adj(-1001); }},
  };
  for (const auto& c : cases) {
    res()->Clear();
    c.set(res());
    auto st = BuildContainerSpec(in_).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_TRUE(absl::StrContains(st.message(), c.field)) << st;
  }
}

TEST_F(ContainerSpecTest, OomScoreAdjIsClampedToOurOwn) {
  in_.own_oom_score_adj = -500;
  res()->set_oom_score_adj(-900);
  EXPECT_EQ(Build()["process"]["oomScoreAdj"], -500);
  res()->set_oom_score_adj(800);
  EXPECT_EQ(Build()["process"]["oomScoreAdj"], 800);
  config_.mutable_linux()->clear_resources();
  in_.own_oom_score_adj = 100;
  EXPECT_EQ(Build()["process"]["oomScoreAdj"], 100);
}

TEST_F(ContainerSpecTest, CgroupsPathForBothDrivers) {
  EXPECT_EQ(Build()["linux"]["cgroupsPath"], "/kubepods/besteffort/podUID/c0ffee");
  in_.sandbox.cgroup_parent.clear();
  EXPECT_EQ(Build()["linux"]["cgroupsPath"], "/tether/c0ffee");
  in_.sandbox.cgroup_driver = "systemd";
  EXPECT_EQ(Build()["linux"]["cgroupsPath"], "system.slice:tether:c0ffee");
  in_.sandbox.cgroup_parent = "kubepods-besteffort-podUID.slice";
  EXPECT_EQ(Build()["linux"]["cgroupsPath"], "kubepods-besteffort-podUID.slice:tether:c0ffee");
  EXPECT_EQ(CgroupsPathFor("systemd", "/", "x"), "system.slice:tether:x");
  EXPECT_EQ(CgroupsPathFor("cgroupfs", "/a/b/", "x"), "/a/b/x");
}

// ---- Annotations --------------------------------------------------------------------------------

TEST_F(ContainerSpecTest, Annotations) {
  (*config_.mutable_annotations())["team"] = "infra";
  (*config_.mutable_annotations())["io.kubernetes.cri.container-type"] = "sandbox";  // spoof
  EXPECT_EQ(Build()["annotations"], json::parse(R"({
      "team": "infra",
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.container-name": "app",
      "io.kubernetes.cri.sandbox-id": "5a4db0x",
      "io.kubernetes.cri.sandbox-name": "pod",
      "io.kubernetes.cri.sandbox-namespace": "ns",
      "io.kubernetes.cri.sandbox-uid": "pod-uid",
      "io.kubernetes.cri.image-name": "docker.io/library/app:1"})"));
  in_.image_name.clear();
  EXPECT_EQ(Build()["annotations"]["io.kubernetes.cri.image-name"], "sha256:abc");
}

TEST_F(ContainerSpecTest, InputErrors) {
  in_.rootfs = "relative";
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
  in_.rootfs = rootfs_;
  in_.config = nullptr;
  EXPECT_EQ(BuildError().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Image config, host probes ------------------------------------------------------------------

TEST(ImageConfigInfo, ParsesTheOciConfig) {
  auto info = ImageConfigInfo::FromOciImageConfig(json::parse(R"({
      "architecture": "amd64",
      "config": {"Entrypoint": ["/e"], "Cmd": ["a", "b"], "Env": ["A=1"], "WorkingDir": "/w",
                 "User": "1:2", "StopSignal": "SIGQUIT", "Labels": {"k": "v"}}})"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->entrypoint, std::vector<std::string>({"/e"}));
  EXPECT_EQ(info->cmd, std::vector<std::string>({"a", "b"}));
  EXPECT_EQ(info->env, std::vector<std::string>({"A=1"}));
  EXPECT_EQ(info->working_dir, "/w");
  EXPECT_EQ(info->user, "1:2");
  EXPECT_EQ(info->stop_signal, "SIGQUIT");
  EXPECT_EQ(info->labels.at("k"), "v");
  auto bare = ImageConfigInfo::FromOciImageConfig(json::parse(R"({"Cmd": null, "User": ""})"));
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->cmd.empty());
  EXPECT_TRUE(ImageConfigInfo::FromOciImageConfig(json::parse(R"({"config": null})")).ok());
  EXPECT_FALSE(ImageConfigInfo::FromOciImageConfig(json::parse(R"({"Cmd": "ls"})")).ok());
  EXPECT_FALSE(ImageConfigInfo::FromOciImageConfig(json::parse(R"({"User": 5})")).ok());
}

TEST(SpecHostReal, MountPropagationAndResolve) {
  SpecHost host;
  auto root = host.MountPropagation("/");
  EXPECT_TRUE(root.ok()) << root.status();
  EXPECT_TRUE(absl::IsNotFound(host.ResolvePath("/no/such/path/here").status()));
  auto dev = host.Devices("/dev/null", "/dev/null");
  ASSERT_TRUE(dev.ok()) << dev.status();
  ASSERT_EQ(dev->size(), 1u);
  EXPECT_EQ((*dev)[0].type, 'c');
  EXPECT_FALSE(host.Devices("/etc/hostname", "/x").ok());
  // A directory: every node below it, pts and shm skipped (what a privileged container gets).
  auto all = host.Devices("/dev", "/dev");
  ASSERT_TRUE(all.ok()) << all.status();
  bool null_found = false;
  for (const auto& d : *all) {
    null_found = null_found || (d.container_path == "/dev/null" && d.major == 1 && d.minor == 3);
    EXPECT_FALSE(absl::StartsWith(d.container_path, "/dev/pts/")) << d.container_path;
  }
  EXPECT_TRUE(null_found);
}

TEST(HostFeatures, ProbeAndRro) {
  HostFeatures f = ProbeHostFeatures();
  EXPECT_GT(f.kernel_major, 2);
  json features = json::parse(R"({"mountOptions": ["ro", "rro"]})");
  HostFeatures k;
  k.kernel_major = 5;
  k.kernel_minor = 12;
  EXPECT_TRUE(RuntimeSupportsRro(features, k));
  k.kernel_minor = 11;
  EXPECT_FALSE(RuntimeSupportsRro(features, k));
  k.kernel_major = 6;
  EXPECT_FALSE(RuntimeSupportsRro(json::parse(R"({"mountOptions": ["ro"]})"), k));
  EXPECT_FALSE(RuntimeSupportsRro(json::object(), k));
}

// ---- Root only: the spec runs under runc --------------------------------------------------------

class ContainerSpecRunc : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (access(kRunc, X_OK) != 0) GTEST_SKIP() << kRunc << " missing";
    if (access(kBusybox, X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (busybox-static)";
    char tmpl[] = "/tmp/tether-cspec-runc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    bundle_ = tmp_ + "/bundle";
    rootfs_ = bundle_ + "/rootfs";
    for (const char* d : {"bin", "proc", "dev", "sys", "etc", "tmp"}) {
      ASSERT_TRUE(MakeDirs(rootfs_ + "/" + d).ok());
    }
    fs::copy_file(kBusybox, rootfs_ + "/bin/busybox");
    fs::permissions(rootfs_ + "/bin/busybox", fs::perms(0755));
    for (const char* applet : {"sh", "id", "cat", "grep"}) {
      fs::create_symlink("busybox", rootfs_ + "/bin/" + applet);
    }
    id_ = "tether-cspec-" + NewId().substr(0, 12);
  }

  void TearDown() override {
    if (tmp_.empty()) return;
    ProcessOptions o;
    o.argv = {kRunc, "--root", tmp_ + "/runc-root", "delete", "--force", id_};
    o.timeout = std::chrono::seconds(10);
    (void)RunProcess(o);
    for (const char* ctrl : {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices",
                             "freezer", "systemd", "unified", ""}) {
      std::string base = std::string("/sys/fs/cgroup/") + ctrl;
      rmdir((base + "/tether-cspec/" + id_).c_str());
      rmdir((base + "/tether-cspec").c_str());
    }
    EXPECT_TRUE(RemoveAll(tmp_).ok());
  }

  // Runs the container in the foreground and returns its stdout.
  std::string Run(const v1::ContainerConfig& config) {
    v1::PodSandboxConfig sandbox_config;
    sandbox_config.mutable_metadata()->set_name("smoke");
    sandbox_config.set_hostname("smoke");
    ContainerSpecInput in;
    in.id = id_;
    in.config = &config;
    in.sandbox_config = &sandbox_config;
    in.sandbox.id = "no-pause";
    in.sandbox.host_network = true;  // no pause: the host's network, UTS and IPC
    in.sandbox.host_ipc = true;
    in.sandbox.cgroup_parent = "/tether-cspec";
    in.rootfs = rootfs_;
    in.own_oom_score_adj = OwnOomScoreAdj();
    in.bounding_caps = CurrentBoundingCapabilities();
    in.features = ProbeHostFeatures();
    auto spec = BuildContainerSpec(in);
    EXPECT_TRUE(spec.ok()) << spec.status();
    if (!spec.ok()) return "";
    EXPECT_TRUE(WriteFileAtomic(bundle_ + "/config.json", spec->dump(2)).ok());
    ProcessOptions o;
    o.argv = {kRunc, "--root", tmp_ + "/runc-root", "run", "--bundle", bundle_, id_};
    o.timeout = std::chrono::seconds(30);
    auto r = RunProcess(o);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << r->Describe() << "\nstdout: " << r->out << "\nstderr: " << r->err;
    return r->out;
  }

  static v1::ContainerConfig Config(const std::string& script) {
    v1::ContainerConfig c;
    c.mutable_metadata()->set_name("smoke");
    c.add_command("/bin/sh");
    c.add_args("-c");
    c.add_args(script);
    auto* sc = c.mutable_linux()->mutable_security_context();
    sc->mutable_namespace_options()->set_pid(v1::CONTAINER);
    sc->mutable_seccomp()->set_profile_type(v1::SecurityProfile::RuntimeDefault);
    return c;
  }

  static constexpr const char* kRunc = "/usr/bin/runc";
  static constexpr const char* kBusybox = "/bin/busybox";
  std::string tmp_, bundle_, rootfs_, id_;
};

TEST_F(ContainerSpecRunc, NonRootUserWithRuntimeDefaultSeccomp) {
  v1::ContainerConfig c =
      Config("id; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; echo pid=$$");
  auto* sc = c.mutable_linux()->mutable_security_context();
  sc->mutable_run_as_user()->set_value(1000);
  sc->mutable_run_as_group()->set_value(1000);
  sc->set_no_new_privs(true);
  std::string out = Run(c);
  EXPECT_TRUE(absl::StrContains(out, "uid=1000 gid=1000 groups=1000")) << out;
  EXPECT_TRUE(absl::StrContains(out, "CapEff:\t0000000000000000")) << out;  // execve as uid 1000
  EXPECT_TRUE(absl::StrContains(out, "Seccomp:\t2")) << out;                // filter mode
  EXPECT_TRUE(absl::StrContains(out, "NoNewPrivs:\t1")) << out;
  EXPECT_TRUE(absl::StrContains(out, "pid=1")) << out;  // its own PID namespace
}

TEST_F(ContainerSpecRunc, RootGetsTheDefaultCapabilities) {
  std::string out = Run(Config("id -u; grep '^CapEff:' /proc/self/status"));
  EXPECT_TRUE(absl::StrContains(out, "0\n")) << out;
  EXPECT_TRUE(absl::StrContains(out, "CapEff:\t00000000a80425fb")) << out;  // containerd's 14
}

}  // namespace
}  // namespace tether
