// CniPluginNetwork against fake plugins: shell scripts that record their environment and stdin
// and print a canned result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "network/cni_plugin_network.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/id.h"

namespace tether {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("tether-cni-" + NewId().substr(0, 12));
    conf_ = root_ + "/net.d";
    bin_ = root_ + "/bin";
    state_ = root_ + "/state";
    cache_ = root_ + "/cache";
    netns_ = root_ + "/netns-pin";
    for (const auto& d : {conf_, bin_, state_}) ASSERT_TRUE(MakeDirs(d).ok());
    ASSERT_TRUE(WriteFileAtomic(netns_, "").ok());  // stands in for a pinned namespace
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // A fake plugin named `name`: records "<name> <command> <ifname>" to state/calls, its stdin to
  // state/<name>.<command>.stdin and its CNI_* environment to state/<name>.<command>.env; fails
  // with state/<name>.<command>.fail as its output when that exists; on ADD prints
  // state/<name>.result (or a minimal result).
  void FakePlugin(const std::string& name) {
    std::string script = absl::StrCat(R"(#!/bin/sh
d=')",
                                      state_, R"('
n=')",
                                      name, R"('
in=$(cat)
echo "$n $CNI_COMMAND $CNI_IFNAME" >> "$d/calls"
printf '%s' "$in" > "$d/$n.$CNI_COMMAND.stdin"
env | grep '^CNI_' > "$d/$n.$CNI_COMMAND.env"
if [ -f "$d/$n.$CNI_COMMAND.sleep" ]; then sleep 5; fi
if [ -f "$d/$n.$CNI_COMMAND.fail" ]; then cat "$d/$n.$CNI_COMMAND.fail"; exit 1; fi
if [ "$CNI_COMMAND" = ADD ]; then
  if [ -f "$d/$n.result" ]; then cat "$d/$n.result"; else echo '{"cniVersion":"1.0.0"}'; fi
fi
exit 0
)");
    ASSERT_TRUE(WriteFileAtomic(bin_ + "/" + name, script, 0755).ok());
  }
  void Conf(const std::string& file, const json& j) {
    ASSERT_TRUE(WriteFileAtomic(conf_ + "/" + file, j.dump(2)).ok());
  }
  json List(const std::string& name, std::vector<json> plugins,
            const std::string& version = "1.0.0") {
    return {{"cniVersion", version}, {"name", name}, {"plugins", plugins}};
  }
  void SetResult(const std::string& plugin, const json& result) {
    ASSERT_TRUE(WriteFileAtomic(state_ + "/" + plugin + ".result", result.dump()).ok());
  }
  void SetFail(const std::string& plugin, const std::string& cmd, const std::string& out) {
    ASSERT_TRUE(WriteFileAtomic(state_ + "/" + plugin + "." + cmd + ".fail", out).ok());
  }
  std::unique_ptr<CniPluginNetwork> Net() {
    CniConfigOptions o;
    o.conf_dir = conf_;
    o.bin_dirs = {root_ + "/nonexistent-bin", bin_};
    o.cache_dir = cache_;
    return std::make_unique<CniPluginNetwork>(o);
  }
  CniAttachment Att() {
    CniAttachment a;
    a.container_id = "abc123";
    a.netns_path = netns_;
    a.args = {{"K8S_POD_NAMESPACE", "default"},
              {"K8S_POD_NAME", "web"},
              {"K8S_POD_INFRA_CONTAINER_ID", "abc123"},
              {"K8S_POD_UID", "uid-1"}};
    return a;
  }
  std::vector<std::string> Calls() {
    auto text = ReadFile(state_ + "/calls");
    if (!text.ok()) return {};
    std::vector<std::string> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
    return lines;
  }
  void ClearCalls() { unlink((state_ + "/calls").c_str()); }
  // A change on disk reaches the network's configuration through its watcher thread, not at once:
  // waits (each completed scan is looked at) until `want()` holds, or 10 s pass.
  template <typename Want>
  void AwaitConf(CniPluginNetwork& net, Want want) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    CniConfCache::View v = net.conf().Get();
    while (!want() && absl::Now() < deadline)
      v = net.conf().AwaitScan(v.scans, deadline - absl::Now());
  }
  void AwaitName(CniPluginNetwork& net, const std::string& name) {
    AwaitConf(net, [&] { return net.NetworkName() == name; });
  }
  json Stdin(const std::string& plugin, const std::string& cmd) {
    auto text = ReadFile(state_ + "/" + plugin + "." + cmd + ".stdin");
    EXPECT_TRUE(text.ok()) << plugin << " " << cmd << " did not run";
    return text.ok() ? json::parse(*text) : json();
  }
  std::map<std::string, std::string> Env(const std::string& plugin, const std::string& cmd) {
    std::map<std::string, std::string> env;
    auto text = ReadFile(state_ + "/" + plugin + "." + cmd + ".env");
    EXPECT_TRUE(text.ok()) << plugin << " " << cmd << " did not run";
    if (!text.ok()) return env;
    for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      env[kv.first] = kv.second;
    }
    return env;
  }

  std::string root_, conf_, bin_, state_, cache_, netns_;
};

json IpResult(std::vector<std::string> addresses) {
  json r = {{"cniVersion", "1.0.0"},
            {"interfaces", {{{"name", "eth0"}, {"sandbox", "/var/run/netns/x"}}}},
            {"ips", json::array()}};
  for (const auto& a : addresses) r["ips"].push_back({{"address", a}, {"interface", 0}});
  return r;
}

TEST_F(CniTest, LoadsConflist) {
  FakePlugin("p1");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}}));
  auto net = Net();
  EXPECT_TRUE(net->Ready().ok()) << net->Ready();
  EXPECT_EQ(net->NetworkName(), "net1");
}

TEST_F(CniTest, SingleConfIsWrappedAsList) {
  FakePlugin("p1");
  Conf("10-net.conf", {{"cniVersion", "0.4.0"}, {"name", "single"}, {"type", "p1"}, {"x", 1}});
  auto net = Net();
  ASSERT_TRUE(net->Ready().ok()) << net->Ready();
  EXPECT_EQ(net->NetworkName(), "single");
  ASSERT_TRUE(net->Add(Att()).ok());
  json in = Stdin("p1", "ADD");
  EXPECT_EQ(in["name"], "single");
  EXPECT_EQ(in["cniVersion"], "0.4.0");
  EXPECT_EQ(in["x"], 1);
}

TEST_F(CniTest, LexicallyFirstValidFileWins) {
  FakePlugin("p1");
  Conf("20-b.conflist", List("b", {{{"type", "p1"}}}));
  Conf("10-a.json", List("a", {{{"type", "p1"}}}));
  ASSERT_TRUE(WriteFileAtomic(conf_ + "/05-broken.conflist", "{not json").ok());
  ASSERT_TRUE(WriteFileAtomic(conf_ + "/01-notes.txt", "ignored").ok());
  EXPECT_EQ(Net()->NetworkName(), "a");
}

TEST_F(CniTest, NoConfigReadyFailsNamingTheDirectory) {
  auto net = Net();
  absl::Status st = net->Ready();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("no network config found in " + conf_));
  EXPECT_EQ(net->NetworkName(), "");
  EXPECT_EQ(net->Add(Att()).status().code(), absl::StatusCode::kFailedPrecondition);

  std::filesystem::remove_all(conf_);
  st = net->Ready();
  EXPECT_THAT(st.message(), HasSubstr("no network config found in " + conf_));
}

TEST_F(CniTest, OnlyInvalidConfigsAreNamed) {
  ASSERT_TRUE(WriteFileAtomic(conf_ + "/10-x.conflist", R"({"name":"x","plugins":[]})").ok());
  absl::Status st = Net()->Ready();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("10-x.conflist"));
  EXPECT_THAT(st.message(), HasSubstr("plugins"));
}

TEST_F(CniTest, MissingPluginBinaryNamesTheType) {
  FakePlugin("p1");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}, {{"type", "flannel"}}}));
  absl::Status st = Net()->Ready();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("\"flannel\" not found"));
  EXPECT_THAT(st.message(), HasSubstr(bin_));
}

TEST_F(CniTest, PluginTypeMustBeAName) {
  Conf("10-net.conflist", List("net1", {{{"type", "../../bin/sh"}}}));
  EXPECT_THAT(Net()->Ready().message(), HasSubstr("is not a name"));
}

TEST_F(CniTest, ReloadsWhenTheDirectoryChanges) {
  FakePlugin("p1");
  auto net = Net();
  EXPECT_FALSE(net->Ready().ok());
  Conf("20-b.conflist", List("b", {{{"type", "p1"}}}));
  AwaitConf(*net, [&] { return net->Ready().ok(); });
  EXPECT_TRUE(net->Ready().ok());
  EXPECT_EQ(net->NetworkName(), "b");
  Conf("10-a.conflist", List("a", {{{"type", "p1"}}}));
  AwaitName(*net, "a");
  EXPECT_EQ(net->NetworkName(), "a");
  Conf("10-a.conflist", List("a-renamed", {{{"type", "p1"}}}));  // replaced in place
  AwaitName(*net, "a-renamed");
  EXPECT_EQ(net->NetworkName(), "a-renamed");
  // Rewritten without rename (same inode): size differs.
  {
    std::ofstream out(conf_ + "/10-a.conflist", std::ios::trunc);
    out << List("a-rewritten-in-place", {{{"type", "p1"}}}).dump();
  }
  AwaitName(*net, "a-rewritten-in-place");
  EXPECT_EQ(net->NetworkName(), "a-rewritten-in-place");
  ASSERT_TRUE(RemoveFile(conf_ + "/10-a.conflist").ok());
  AwaitName(*net, "b");
  EXPECT_EQ(net->NetworkName(), "b");
}

TEST_F(CniTest, AddRunsLoopbackThenTheChainWithPrevResult) {
  for (auto p : {"loopback", "p1", "p2"}) FakePlugin(p);
  SetResult("p1", IpResult({"10.88.0.5/16"}));
  json final_result = IpResult({"10.88.0.5/16"});
  final_result["dns"] = {{"nameservers", {"10.88.0.1"}}};
  SetResult("p2", final_result);
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}, {"bridge", "br9"}}, {{"type", "p2"}}}));
  auto net = Net();
  auto r = net->Add(Att());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Calls(), ElementsAre("loopback ADD lo", "p1 ADD eth0", "p2 ADD eth0"));
  json in1 = Stdin("p1", "ADD");
  EXPECT_EQ(in1["name"], "net1");
  EXPECT_EQ(in1["cniVersion"], "1.0.0");
  EXPECT_EQ(in1["bridge"], "br9");
  EXPECT_FALSE(in1.contains("prevResult"));
  json in2 = Stdin("p2", "ADD");
  EXPECT_EQ(in2["prevResult"], IpResult({"10.88.0.5/16"}));
  EXPECT_EQ(r->raw, final_result);
  EXPECT_THAT(r->ips, ElementsAre("10.88.0.5"));

  auto env = Env("p1", "ADD");
  EXPECT_EQ(env["CNI_COMMAND"], "ADD");
  EXPECT_EQ(env["CNI_CONTAINERID"], "abc123");
  EXPECT_EQ(env["CNI_NETNS"], netns_);
  EXPECT_EQ(env["CNI_IFNAME"], "eth0");
  EXPECT_EQ(env["CNI_PATH"], root_ + "/nonexistent-bin:" + bin_);
  EXPECT_EQ(env["CNI_ARGS"],
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
            "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=uid-1");
  json lo = Stdin("loopback", "ADD");
  EXPECT_EQ(lo["type"], "loopback");
  EXPECT_EQ(lo["name"], "cni-loopback");
  EXPECT_EQ(Env("loopback", "ADD")["CNI_IFNAME"], "lo");

  // The result is cached with the configuration that produced it.
  auto cache = ReadFile(net->CachePath(Att()));
  ASSERT_TRUE(cache.ok());
  json c = json::parse(*cache);
  EXPECT_EQ(c["result"], final_result);
  EXPECT_EQ(c["config"]["name"], "net1");
  EXPECT_EQ(c["config"]["plugins"].size(), 2u);
}

TEST_F(CniTest, WithoutLoopbackBinaryTheChainStillRuns) {
  FakePlugin("p1");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}}));
  ASSERT_TRUE(Net()->Add(Att()).ok());
  EXPECT_THAT(Calls(), ElementsAre("p1 ADD eth0"));
}

TEST_F(CniTest, AddRequiresTheNamespace) {
  FakePlugin("p1");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}}));
  CniAttachment a = Att();
  a.netns_path = root_ + "/gone";
  EXPECT_EQ(Net()->Add(a).status().code(), absl::StatusCode::kFailedPrecondition);
  a = Att();
  a.container_id = "../x";
  EXPECT_EQ(Net()->Add(a).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniTest, CapabilityArgsGoOnlyToPluginsThatDeclareThem) {
  for (auto p : {"pm", "bw", "ipr", "plain"}) FakePlugin(p);
  Conf("10-net.conflist",
       List("net1", {{{"type", "ipr"}, {"capabilities", {{"ipRanges", true}}}},
                     {{"type", "pm"},
                      {"capabilities", {{"portMappings", true}, {"bandwidth", false}}},
                      {"runtimeConfig", {{"stale", 1}}}},
                     {{"type", "bw"}, {"capabilities", {{"bandwidth", true}}}},
                     {{"type", "plain"}}}));
  CniAttachment a = Att();
  a.port_mappings = {{"TCP", 80, 8080, ""}, {"udp", 53, 5353, "127.0.0.1"}};
  a.bandwidth.ingress_rate = 1000000;
  a.bandwidth.egress_rate = 2000000;
  a.bandwidth.egress_burst = 4000;
  a.pod_cidr = "10.244.1.0/24, fd00:1::/64";
  ASSERT_TRUE(Net()->Add(a).ok());

  json pm = Stdin("pm", "ADD");
  EXPECT_EQ(pm["runtimeConfig"], json::parse(R"({"portMappings":[
                {"hostPort":8080,"containerPort":80,"protocol":"tcp"},
                {"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]})"));
  json bw = Stdin("bw", "ADD");
  EXPECT_EQ(bw["runtimeConfig"],
            json::parse(R"({"bandwidth":{"ingressRate":1000000,"ingressBurst":4294967295,
                                         "egressRate":2000000,"egressBurst":4000}})"));
  json ipr = Stdin("ipr", "ADD");
  EXPECT_EQ(
      ipr["runtimeConfig"],
      json::parse(R"({"ipRanges":[[{"subnet":"10.244.1.0/24"}],[{"subnet":"fd00:1::/64"}]]})"));
  EXPECT_FALSE(Stdin("plain", "ADD").contains("runtimeConfig"));
}

TEST_F(CniTest, UnsetCapabilitiesAreNotPassed) {
  for (auto p : {"bw", "ipr"}) FakePlugin(p);
  Conf("10-net.conflist",
       List("net1", {{{"type", "ipr"}, {"capabilities", {{"ipRanges", true}}}},
                     {{"type", "bw"}, {"capabilities", {{"bandwidth", true}}}}}));
  ASSERT_TRUE(Net()->Add(Att()).ok());
  EXPECT_FALSE(Stdin("ipr", "ADD").contains("runtimeConfig"));
  EXPECT_FALSE(Stdin("bw", "ADD").contains("runtimeConfig"));
}

TEST_F(CniTest, FailingPluginUndoesTheChainInReverse) {
  for (auto p : {"loopback", "p1", "p2", "p3"}) FakePlugin(p);
  SetResult("p1", IpResult({"10.88.0.7/16"}));
  SetFail("p2", "ADD", R"({"cniVersion":"1.0.0","code":7,"msg":"boom","details":"disk on fire"})");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}, {{"type", "p2"}}, {{"type", "p3"}}}));
  auto net = Net();
  auto r = net->Add(Att());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("\"p2\""));
  EXPECT_THAT(r.status().message(), HasSubstr("boom: disk on fire"));
  EXPECT_THAT(Calls(), ElementsAre("loopback ADD lo", "p1 ADD eth0", "p2 ADD eth0", "p2 DEL eth0",
                                   "p1 DEL eth0"));
  // The rollback DEL carries what the chain had produced so far.
  EXPECT_EQ(Stdin("p1", "DEL")["prevResult"], IpResult({"10.88.0.7/16"}));
  EXPECT_FALSE(PathExists(net->CachePath(Att())));
}

TEST_F(CniTest, FailureWithoutJsonReportsStderr) {
  ASSERT_TRUE(
      WriteFileAtomic(bin_ + "/crash", "#!/bin/sh\necho 'segfault in foo' >&2\nexit 2\n", 0755)
          .ok());
  Conf("10-net.conflist", List("net1", {{{"type", "crash"}}}));
  auto r = Net()->Add(Att());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("exit status 2: segfault in foo"));
}

// A plugin that exits without reading its configuration must not kill us with SIGPIPE.
TEST_F(CniTest, PluginIgnoringStdinDoesNotRaiseSigpipe) {
  ASSERT_TRUE(WriteFileAtomic(bin_ + "/deaf",
                              "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"ips\":"
                              "[{\"address\":\"10.1.2.3/24\"}]}'\nexit 0\n",
                              0755)
                  .ok());
  Conf("10-net.conflist",
       List("net1", {{{"type", "deaf"}, {"padding", std::string(1 << 20, 'x')}}}));
  auto r = Net()->Add(Att());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->ips, ElementsAre("10.1.2.3"));
}

TEST_F(CniTest, PluginTimeoutIsDeadlineExceeded) {
  FakePlugin("slow");
  ASSERT_TRUE(WriteFileAtomic(state_ + "/slow.ADD.sleep", "").ok());
  Conf("10-net.conflist", List("net1", {{{"type", "slow"}}}));
  auto net = Net();
  net->set_plugin_timeout(std::chrono::milliseconds(300));
  auto r = net->Add(Att());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("timed out"));
}

TEST_F(CniTest, ResultIpsAreIPv4First) {
  EXPECT_THAT(CniResultIps(IpResult({"fd00::5/64", "10.88.0.5/16"}), "eth0"),
              ElementsAre("10.88.0.5", "fd00::5"));
  // 0.2.0 results.
  json old = {{"ip4", {{"ip", "10.1.0.2/24"}}}, {"ip6", {{"ip", "2001:db8::2/64"}}}};
  EXPECT_THAT(CniResultIps(old, "eth0"), ElementsAre("10.1.0.2", "2001:db8::2"));
  // Only addresses on the sandbox's interface when the result says which is which.
  json multi = json::parse(R"({
    "interfaces": [{"name": "cni0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
    "ips": [{"address": "10.88.0.1/16", "interface": 0},
            {"address": "fd00::9/64", "interface": 2},
            {"address": "10.88.0.9/16", "interface": 2}]})");
  EXPECT_THAT(CniResultIps(multi, "eth0"), ElementsAre("10.88.0.9", "fd00::9"));
  // Without interface indices: all of them.
  json plain = json::parse(R"({"ips": [{"address": "10.0.0.3/8"}]})");
  EXPECT_THAT(CniResultIps(plain, "eth0"), ElementsAre("10.0.0.3"));
  EXPECT_TRUE(CniResultIps(json::object(), "eth0").empty());
}

TEST_F(CniTest, DelUsesTheCachedConfigAndIsIdempotent) {
  for (auto p : {"loopback", "p1", "p2", "q1"}) FakePlugin(p);
  SetResult("p2", IpResult({"10.88.0.5/16"}));
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}, {{"type", "p2"}}}));
  auto net = Net();
  CniAttachment a = Att();
  a.port_mappings = {{"tcp", 80, 8080, ""}};
  ASSERT_TRUE(net->Add(a).ok());
  // The configuration changes after ADD: DEL still tears down what ADD set up.
  ASSERT_TRUE(RemoveFile(conf_ + "/10-net.conflist").ok());
  Conf("10-other.conflist", List("other", {{{"type", "q1"}}}));
  ClearCalls();
  CniAttachment d = Att();
  d.args.clear();  // the caller may not have them any more: the cached ones are used
  ASSERT_TRUE(net->Del(d).ok());
  EXPECT_THAT(Calls(), ElementsAre("p2 DEL eth0", "p1 DEL eth0", "loopback DEL lo"));
  json in = Stdin("p1", "DEL");
  EXPECT_EQ(in["name"], "net1");
  EXPECT_EQ(in["prevResult"], IpResult({"10.88.0.5/16"}));
  EXPECT_THAT(Env("p1", "DEL")["CNI_ARGS"], HasSubstr("K8S_POD_NAME=web"));
  EXPECT_FALSE(PathExists(net->CachePath(a)));

  // Again, without a cache: the current configuration, no prevResult; still fine.
  AwaitName(*net, "other");
  ClearCalls();
  EXPECT_TRUE(net->Del(d).ok());
  EXPECT_THAT(Calls(), ElementsAre("q1 DEL eth0", "loopback DEL lo"));
  EXPECT_FALSE(Stdin("q1", "DEL").contains("prevResult"));

  // No cache and no configuration: nothing to do, not an error.
  ASSERT_TRUE(RemoveFile(conf_ + "/10-other.conflist").ok());
  AwaitName(*net, "");
  ClearCalls();
  EXPECT_TRUE(net->Del(d).ok());
  EXPECT_TRUE(Calls().empty());
}

TEST_F(CniTest, DelWithMissingNamespacePassesEmptyNetns) {
  for (auto p : {"loopback", "p1"}) FakePlugin(p);
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}}));
  auto net = Net();
  ASSERT_TRUE(net->Add(Att()).ok());
  ASSERT_TRUE(RemoveFile(netns_).ok());
  ClearCalls();
  ASSERT_TRUE(net->Del(Att()).ok());
  EXPECT_THAT(Calls(), ElementsAre("p1 DEL eth0"));  // no loopback: its namespace is gone
  EXPECT_EQ(Env("p1", "DEL")["CNI_NETNS"], "");
}

TEST_F(CniTest, DelIgnoresGoneErrorsButReportsRealOnes) {
  for (auto p : {"p1", "p2", "p3"}) FakePlugin(p);
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}, {{"type", "p2"}}, {{"type", "p3"}}}));
  auto net = Net();
  ASSERT_TRUE(net->Add(Att()).ok());
  SetFail("p3", "DEL", R"({"code":999,"msg":"link \"veth1\" not found"})");
  SetFail("p2", "DEL", R"({"code":5,"msg":"iptables: permission denied"})");
  ClearCalls();
  absl::Status st = net->Del(Att());
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("iptables: permission denied"));
  EXPECT_THAT(Calls(), ElementsAre("p3 DEL eth0", "p2 DEL eth0", "p1 DEL eth0"));
  EXPECT_TRUE(PathExists(net->CachePath(Att())));  // kept for the retry

  ASSERT_TRUE(RemoveFile(state_ + "/p2.DEL.fail").ok());
  EXPECT_TRUE(net->Del(Att()).ok());
  EXPECT_FALSE(PathExists(net->CachePath(Att())));
}

TEST_F(CniTest, CheckRunsTheChainWithTheCachedResult) {
  for (auto p : {"p1", "p2"}) FakePlugin(p);
  SetResult("p2", IpResult({"10.88.0.5/16"}));
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}, {{"type", "p2"}}}));
  auto net = Net();
  EXPECT_EQ(net->Check(Att()).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(net->Add(Att()).ok());
  ClearCalls();
  ASSERT_TRUE(net->Check(Att()).ok());
  EXPECT_THAT(Calls(), ElementsAre("p1 CHECK eth0", "p2 CHECK eth0"));
  EXPECT_EQ(Stdin("p1", "CHECK")["prevResult"], IpResult({"10.88.0.5/16"}));

  SetFail("p2", "CHECK", R"({"code":100,"msg":"address mismatch"})");
  EXPECT_THAT(net->Check(Att()).message(), HasSubstr("address mismatch"));
}

TEST_F(CniTest, CheckIsSkippedBefore040AndWhenDisabled) {
  FakePlugin("p1");
  Conf("10-net.conflist", List("net1", {{{"type", "p1"}}}, "0.3.1"));
  auto net = Net();
  ASSERT_TRUE(net->Add(Att()).ok());
  ClearCalls();
  EXPECT_TRUE(net->Check(Att()).ok());
  EXPECT_TRUE(Calls().empty());
  // 0.3.1: DEL gets no prevResult.
  ASSERT_TRUE(net->Del(Att()).ok());
  EXPECT_FALSE(Stdin("p1", "DEL").contains("prevResult"));

  json l = List("net2", {{{"type", "p1"}}});
  l["disableCheck"] = true;
  Conf("05-net.conflist", l);
  AwaitName(*net, "net2");
  ASSERT_TRUE(net->Add(Att()).ok());
  ClearCalls();
  EXPECT_TRUE(net->Check(Att()).ok());
  EXPECT_TRUE(Calls().empty());
}

}  // namespace
}  // namespace tether
