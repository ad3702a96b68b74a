// tetherctl: output helpers, config files, endpoint/timeout parsing, and whole commands run
// against an in-process fake RuntimeService on a unix socket.
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/v1/api.grpc.pb.h"
#include "tetherctl/cli.h"
#include "tetherctl/client.h"
#include "tetherctl/config_file.h"
#include "tetherctl/output.h"
#include "tetherctl_test_util.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

// --- ids, durations, times ---------------------------------------------------------------------

TEST(TetherctlOutput, TruncateId) {
  const std::string id(64, 'a');
  EXPECT_EQ(TruncateId(id), std::string(13, 'a'));
  EXPECT_EQ(TruncateId("abc"), "abc");
  EXPECT_EQ(TruncateId("sha256:0123456789abcdef", "sha256:"), "0123456789abc");
  EXPECT_EQ(TruncateId("0123456789abcdef", "sha256:"), "0123456789abc");
}

TEST(TetherctlOutput, HumanDurationMatchesDockerUnits) {
  EXPECT_EQ(HumanDuration(absl::Seconds(-5)), "Less than a second");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(999)), "Less than a second");
  EXPECT_EQ(HumanDuration(absl::Seconds(1)), "1 second");
  EXPECT_EQ(HumanDuration(absl::Seconds(5)), "5 seconds");
  EXPECT_EQ(HumanDuration(absl::Seconds(59)), "59 seconds");
  EXPECT_EQ(HumanDuration(absl::Seconds(60)), "About a minute");
  EXPECT_EQ(HumanDuration(absl::Seconds(119)), "About a minute");
  EXPECT_EQ(HumanDuration(absl::Minutes(2)), "2 minutes");
  EXPECT_EQ(HumanDuration(absl::Minutes(59)), "59 minutes");
  EXPECT_EQ(HumanDuration(absl::Minutes(60)), "About an hour");
  EXPECT_EQ(HumanDuration(absl::Minutes(89)), "About an hour");
  EXPECT_EQ(HumanDuration(absl::Minutes(90)), "2 hours");
  EXPECT_EQ(HumanDuration(absl::Hours(47)), "47 hours");
  EXPECT_EQ(HumanDuration(absl::Hours(48)), "2 days");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 13)), "13 days");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 14)), "2 weeks");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 60)), "2 months");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 365 * 2)), "2 years");
  EXPECT_EQ(CreatedAgo(kBaseNs, absl::FromUnixSeconds(kBaseSeconds + 5)), "5 seconds ago");
}

TEST(TetherctlOutput, TimeFormats) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_EQ(FormatRfc3339Nano(kBaseNs + 123456789, utc), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(FormatRfc3339Nano(kBaseNs + 500000000, utc), "2023-11-14T22:13:20.5Z");
  EXPECT_EQ(FormatRfc3339Nano(kBaseNs, utc), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatRfc3339Nano(kBaseNs, absl::FixedTimeZone(2 * 3600)), "2023-11-15T00:13:20+02:00");
  EXPECT_EQ(FormatGoTime(kBaseNs + 123456789, utc), "2023-11-14 22:13:20.123456789 +0000 UTC");
  EXPECT_EQ(FormatGoTime(kBaseNs, utc), "2023-11-14 22:13:20 +0000 UTC");
}

TEST(TetherctlOutput, NamesAndErrors) {
  EXPECT_EQ(PodStateName(runtime::v1::SANDBOX_READY), "Ready");
  EXPECT_EQ(PodStateName(runtime::v1::SANDBOX_NOTREADY), "NotReady");
  EXPECT_EQ(RuntimeHandlerName(""), "(default)");
  EXPECT_EQ(RuntimeHandlerName("runc"), "runc");
  EXPECT_EQ(GoMapString({{"b", "2"}, {"a", "1"}}), "map[a:1 b:2]");
  EXPECT_EQ(GoMapString({}), "map[]");
  grpc::Status s(grpc::StatusCode::NOT_FOUND, "pod sandbox abc not found");
  EXPECT_EQ(RpcErrorText(s), "rpc error: code = NotFound desc = pod sandbox abc not found");
  absl::Status a = RpcError("stopping the pod sandbox \"abc\"", s);
  EXPECT_EQ(a.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a.message(),
            "stopping the pod sandbox \"abc\": rpc error: code = NotFound desc = pod sandbox abc "
            "not found");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DeadlineExceeded");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::CANCELLED), "Canceled");
}

TEST(TetherctlOutput, LabelsStatesRegexps) {
  auto labels = ParseLabels({"app=web", "tier="});
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (std::map<std::string, std::string>{{"app", "web"}, {"tier", ""}}));
  EXPECT_FALSE(ParseLabels({"novalue"}).ok());
  EXPECT_FALSE(ParseLabels({"a=b=c"}).ok());

  EXPECT_EQ(*ParsePodState("Ready"), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(*ParsePodState("notready"), runtime::v1::SANDBOX_NOTREADY);
  EXPECT_FALSE(ParsePodState("running").ok());

  EXPECT_TRUE(MatchesRegex("", "anything"));
  EXPECT_TRUE(MatchesRegex("ngi", "nginx"));
  EXPECT_TRUE(MatchesRegex("^nginx-[0-9]+$", "nginx-12"));
  EXPECT_FALSE(MatchesRegex("^web", "nginx"));
  EXPECT_FALSE(MatchesRegex("(", "("));  // invalid: matches nothing
}

runtime::v1::PodSandbox MakePod(const std::string& id, const std::string& name,
                                const std::string& ns, int64_t created_ns,
                                runtime::v1::PodSandboxState state = runtime::v1::SANDBOX_READY) {
  runtime::v1::PodSandbox pod;
  pod.set_id(id);
  pod.mutable_metadata()->set_name(name);
  pod.mutable_metadata()->set_namespace_(ns);
  pod.mutable_metadata()->set_uid(name + "-uid");
  pod.set_created_at(created_ns);
  pod.set_state(state);
  return pod;
}

TEST(TetherctlOutput, FilterPodsSortsNewestFirstAndLimits) {
  std::vector<runtime::v1::PodSandbox> pods = {MakePod("1", "web-1", "default", 100),
                                               MakePod("2", "db", "prod", 300),
                                               MakePod("3", "web-2", "prod", 200)};
  pods.emplace_back();  // no metadata: dropped, as crictl does
  auto all = FilterPods(pods, {});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id(), "2");
  EXPECT_EQ(all[1].id(), "3");
  EXPECT_EQ(all[2].id(), "1");
  auto web = FilterPods(pods, {.name_regex = "^web"});
  ASSERT_EQ(web.size(), 2u);
  EXPECT_EQ(web[0].id(), "3");
  EXPECT_EQ(FilterPods(pods, {.namespace_regex = "prod"}).size(), 2u);
  auto latest = FilterPods(pods, {.latest = true});
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].id(), "2");
  EXPECT_EQ(FilterPods(pods, {.last = 2}).size(), 2u);
  EXPECT_EQ(FilterPods(pods, {.last = 10}).size(), 3u);
}

// --- tables ------------------------------------------------------------------------------------

TEST(TetherctlOutput, TableLaysOutLikeTabwriter) {
  Table t;
  t.AddRow({"A", "LONGER HEADER", "LAST"});
  t.AddRow({"a-cell-of-twenty-two!", "x", "y"});
  // Column 1: max(21 + 3, 20) = 24; column 2: max(13 + 3, 20) = 20; the last is not padded.
  EXPECT_EQ(t.Render(),
            "A                       LONGER HEADER       LAST\n"
            "a-cell-of-twenty-two!   x                   y\n");
  Table unicode;
  unicode.AddRow({"né", "x"});
  EXPECT_EQ(unicode.Render(), "né                  x\n");  // widths count code points
  EXPECT_EQ(Table().Render(), "");
}

TEST(TetherctlOutput, PodsTable) {
  const absl::Time now = absl::FromUnixSeconds(kBaseSeconds + 5);
  const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auto ready = MakePod(id, "nginx", "default", kBaseNs);
  ready.mutable_metadata()->set_attempt(1);
  auto stopped = MakePod(std::string(64, 'f'), "db", "prod", kBaseNs - 3600LL * 1000000000,
                         runtime::v1::SANDBOX_NOTREADY);
  stopped.set_runtime_handler("crun");
  const std::vector<runtime::v1::PodSandbox> pods = {ready, stopped};
  EXPECT_EQ(PodsTable(pods, {}, now, absl::UTCTimeZone()),
            "POD ID              CREATED             STATE               NAME                "
            "NAMESPACE           ATTEMPT             RUNTIME\n"
            "0123456789abc       5 seconds ago       Ready               nginx               "
            "default             1                   (default)\n"
            "fffffffffffff       About an hour ago   NotReady            db                  "
            "prod                0                   crun\n");
  EXPECT_EQ(PodsTable(pods, {.quiet = true}, now, absl::UTCTimeZone()),
            id + "\n" + std::string(64, 'f') + "\n");
  const std::string no_trunc = PodsTable(pods, {.no_trunc = true}, now, absl::UTCTimeZone());
  EXPECT_TRUE(absl::StrContains(no_trunc, id + "   5 seconds ago")) << no_trunc;

  auto labelled = ready;
  (*labelled.mutable_labels())["app"] = "web";
  EXPECT_EQ(PodsTable({labelled}, {.verbose = true}, now, absl::UTCTimeZone()),
            "ID: " + id +
                "\nName: nginx\nUID: nginx-uid\nNamespace: default\nAttempt: 1\nStatus: Ready\n"
                "Created: 2023-11-14 22:13:20 +0000 UTC\nLabels:\n\tapp -> web\n"
                "Runtime: (default)\n\n");
}

// --- JSON and YAML -----------------------------------------------------------------------------

TEST(TetherctlOutput, ProtoJsonIsCamelCaseWithDefaults) {
  runtime::v1::ListPodSandboxResponse list;
  *list.add_items() = MakePod("abc", "nginx", "default", kBaseNs);
  auto text = ProtoToJson(list);
  ASSERT_TRUE(text.ok()) << text.status();
  const json v = json::parse(*text);
  const json& item = v["items"][0];
  EXPECT_EQ(item["id"], "abc");
  EXPECT_EQ(item["createdAt"], "1700000000000000000");  // int64 as a string, like protojson
  EXPECT_EQ(item["state"], "SANDBOX_READY");
  EXPECT_EQ(item["metadata"]["attempt"], 0);  // defaults are shown
  EXPECT_EQ(item["runtimeHandler"], "");
  EXPECT_TRUE(item["labels"].is_object());
  EXPECT_TRUE(absl::StrContains(*text, "\n  \"items\": [\n")) << *text;  // two-space indent
  // Fields keep declaration order.
  EXPECT_LT(text->find("\"id\""), text->find("\"metadata\""));

  auto empty = ProtoToJson(runtime::v1::ListPodSandboxResponse());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(json::parse(*empty), json::parse(R"({"items": []})"));

  runtime::v1::RuntimeHandler handler;
  handler.mutable_features()->set_user_namespaces(true);
  auto snake = ProtoToJsonValue(handler, {.emit_defaults = false, .proto_names = true});
  ASSERT_TRUE(snake.ok());
  EXPECT_EQ(json::parse(snake->dump()), json::parse(R"({"features":{"user_namespaces":true}})"));
}

TEST(TetherctlOutput, JsonToYamlLikeGoYaml) {
  const json v = json::parse(R"({
    "items": [{"id": "abc", "labels": {}, "metadata": {"attempt": 0, "name": "nginx"}}],
    "zeta": "plain text",
    "Alpha": ["a", "b"],
    "number_like": "123",
    "bool_like": "true",
    "yes_like": "yes",
    "empty": "",
    "colon": "a: b",
    "hash": "#comment",
    "dash": "- x",
    "date": "2023-11-14",
    "url": "http://x:80/y",
    "multi": "line1\nline2\n",
    "nothing": null,
    "t": true,
    "half": 0.5,
    "big": 1000000.0,
    "neg": -3,
    "nested": [[1, 2], []],
    "emptylist": []
  })");
  EXPECT_EQ(JsonToYaml(v),
            "Alpha:\n"
            "- a\n"
            "- b\n"
            "big: 1e+06\n"
            "bool_like: \"true\"\n"
            "colon: 'a: b'\n"
            "dash: '- x'\n"
            "date: \"2023-11-14\"\n"
            "empty: \"\"\n"
            "emptylist: []\n"
            "half: 0.5\n"
            "hash: '#comment'\n"
            "items:\n"
            "- id: abc\n"
            "  labels: {}\n"
            "  metadata:\n"
            "    attempt: 0\n"
            "    name: nginx\n"
            "multi: |\n"
            "  line1\n"
            "  line2\n"
            "neg: -3\n"
            "nested:\n"
            "- - 1\n"
            "  - 2\n"
            "- []\n"
            "nothing: null\n"
            "number_like: \"123\"\n"
            "t: true\n"
            "url: http://x:80/y\n"
            "yes_like: \"yes\"\n"
            "zeta: plain text\n");
  EXPECT_EQ(JsonToYaml(json::object()), "{}\n");
  EXPECT_EQ(JsonToYaml(json("x")), "x\n");
  // go-yaml sorts digit runs numerically.
  EXPECT_EQ(JsonToYaml(json::parse(R"({"a10": 1, "a9": 2})")), "a9: 2\na10: 1\n");
}

TEST(TetherctlOutput, StatusEntriesLikeCrictl) {
  auto entry = StatusEntry(json::parse(R"({"id": "abc"})"), nullptr,
                           {{"info", R"({"pid": 42, "runtimeSpec": {"ociVersion": "1.0.2"}})"},
                            {"quoted", "\"value\""},
                            {"plain", "text"}});
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(*entry, json::parse(R"({"status": {"id": "abc"}, "plain": "text", "quoted": "value",
                                     "info": {"pid": 42, "runtimeSpec": {"ociVersion": "1.0.2"}}})"));
  EXPECT_FALSE(StatusEntry(nullptr, nullptr, {{"info", "{broken"}}).ok());

  auto one = RenderStatusEntries({*entry}, "json");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(json::parse(*one), *entry);
  EXPECT_TRUE(absl::StartsWith(*one, "{\n  \"info\": {\n")) << *one;  // keys sorted, 2 spaces
  auto two = RenderStatusEntries({*entry, *entry}, "json");
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE(json::parse(*two).is_array());
  auto yaml = RenderStatusEntries({json::parse(R"({"status": {"id": "abc"}})")}, "yaml");
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ(*yaml, "status:\n  id: abc\n\n");
  EXPECT_EQ(*RenderStatusEntries({}, "json"), "");
  EXPECT_FALSE(RenderStatusEntries({*entry}, "go-template").ok());
}

TEST(TetherctlOutput, PodSandboxStatusJsonAndTable) {
  runtime::v1::PodSandboxStatusResponse response;
  auto* s = response.mutable_status();
  s->set_id("abc");
  s->mutable_metadata()->set_name("nginx");
  s->mutable_metadata()->set_namespace_("default");
  s->mutable_metadata()->set_uid("u1");
  s->set_state(runtime::v1::SANDBOX_READY);
  s->set_created_at(kBaseNs + 500000000);
  s->mutable_linux()->mutable_namespaces()->mutable_options()->set_network(runtime::v1::NODE);
  (*s->mutable_labels())["app"] = "web";
  (*response.mutable_info())["info"] = R"({"pid": 7})";

  auto v = PodSandboxStatusJson(*s, absl::UTCTimeZone());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)["createdAt"], "2023-11-14T22:13:20.5Z");
  EXPECT_TRUE((*v)["network"].is_null());  // unset message: present as null, like crictl
  EXPECT_EQ((*v)["state"], "SANDBOX_READY");
  EXPECT_EQ((*v)["linux"]["namespaces"]["options"]["network"], "NODE");
  EXPECT_EQ((*v)["runtimeHandler"], "");
  EXPECT_EQ((*v)["metadata"]["attempt"], 0);

  EXPECT_EQ(PodSandboxStatusTable(response, /*verbose=*/true, absl::UTCTimeZone()),
            "ID: abc\nName: nginx\nUID: u1\nNamespace: default\nAttempt: 0\n"
            "Status: SANDBOX_READY\nCreated: 2023-11-14 22:13:20.5 +0000 UTC\n"
            "Labels:\n\tapp -> web\nInfo: map[info:{\"pid\": 7}]\n");
}

// --- config files ------------------------------------------------------------------------------

TEST(TetherctlConfig, CrictlJsonPodConfig) {
  // crictl's docs example, snake_case, enums as numbers.
  auto config = ParsePodSandboxConfig(R"({
    "metadata": {"name": "nginx-sandbox", "namespace": "default", "attempt": 1,
                 "uid": "hdishd83djaidwnduwk28bcsb"},
    "log_directory": "/tmp",
    "dns_config": {"servers": ["8.8.8.8"]},
    "port_mappings": [{"protocol": 0, "container_port": 80, "host_port": 8080}],
    "linux": {"security_context": {"namespace_options": {"network": 2}}},
    "labels": {"app": "nginx"}
  })");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metadata().name(), "nginx-sandbox");
  EXPECT_EQ(config->metadata().attempt(), 1u);
  EXPECT_EQ(config->log_directory(), "/tmp");
  EXPECT_EQ(config->dns_config().servers(0), "8.8.8.8");
  ASSERT_EQ(config->port_mappings_size(), 1);
  EXPECT_EQ(config->port_mappings(0).host_port(), 8080);
  EXPECT_EQ(config->linux().security_context().namespace_options().network(), runtime::v1::NODE);
  EXPECT_EQ(config->labels().at("app"), "nginx");
}

TEST(TetherctlConfig, YamlPodConfigTypedBySchema) {
  auto config = ParsePodSandboxConfig(R"(
# comment
metadata:
  name: web
  namespace: default
  uid: 12345          # a number in YAML, a string field in the proto
  attempt: 2
hostname: "007"
logDirectory: /var/log/pods/web   # lowerCamelCase works too
portMappings:
  - containerPort: 80
    hostPort: 8080
    protocol: TCP
labels:
  version: 1.10       # stays the string "1.10"
  enabled: yes        # stays the string "yes"
annotations:
  empty: ""
linux:
  security_context:
    privileged: true
    namespace_options:
      network: NODE
      pid: 1
  sysctls:
    net.ipv4.ip_forward: 1
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metadata().uid(), "12345");
  EXPECT_EQ(config->metadata().attempt(), 2u);
  EXPECT_EQ(config->hostname(), "007");
  EXPECT_EQ(config->log_directory(), "/var/log/pods/web");
  ASSERT_EQ(config->port_mappings_size(), 1);
  EXPECT_EQ(config->port_mappings(0).container_port(), 80);
  EXPECT_EQ(config->port_mappings(0).protocol(), runtime::v1::TCP);
  EXPECT_EQ(config->labels().at("version"), "1.10");
  EXPECT_EQ(config->labels().at("enabled"), "yes");
  EXPECT_EQ(config->annotations().at("empty"), "");
  EXPECT_TRUE(config->linux().security_context().privileged());
  EXPECT_EQ(config->linux().security_context().namespace_options().network(), runtime::v1::NODE);
  EXPECT_EQ(config->linux().security_context().namespace_options().pid(), runtime::v1::CONTAINER);
  EXPECT_EQ(config->linux().sysctls().at("net.ipv4.ip_forward"), "1");
}

TEST(TetherctlConfig, Errors) {
  auto unknown = ParsePodSandboxConfig("metadata: {name: a, namespace: b, uid: c}\nbogus: 1\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "bogus")) << unknown.status();
  auto no_uid = ParsePodSandboxConfig(R"({"metadata": {"name": "a", "namespace": "b"}})");
  ASSERT_FALSE(no_uid.ok());
  EXPECT_TRUE(absl::StrContains(no_uid.status().message(), "name, namespace or uid"));
  EXPECT_FALSE(ParsePodSandboxConfig("hostname: x\n").ok());  // no metadata
  EXPECT_FALSE(ParsePodSandboxConfig("metadata: [unclosed\n").ok());
  EXPECT_FALSE(ParsePodSandboxConfig("- a\n- b\n").ok());
  auto missing = LoadPodSandboxConfig("/nonexistent/pod.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "config at /nonexistent/pod.yaml not found");
}

TEST(TetherctlConfig, YamlToJsonWithoutSchema) {
  auto v = YamlToJson("a: 1\nb: '1'\nc: true\nd: ~\ne: 0x10\nf: 1.5\ng: text\nh: [1, x]\n");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, json::parse(R"({"a":1,"b":"1","c":true,"d":null,"e":16,"f":1.5,"g":"text",
                                "h":[1,"x"]})"));
}

TEST(TetherctlClient, EndpointsAndTimeouts) {
  EXPECT_EQ(*NormalizeEndpoint("unix:///run/tether/tether.sock"), "unix:///run/tether/tether.sock");
  EXPECT_EQ(*NormalizeEndpoint("/run/x.sock"), "unix:///run/x.sock");
  EXPECT_EQ(*NormalizeEndpoint("unix:/run/x.sock"), "unix:/run/x.sock");
  EXPECT_FALSE(NormalizeEndpoint("").ok());
  EXPECT_FALSE(NormalizeEndpoint("tcp://1.2.3.4:80").ok());
  EXPECT_FALSE(NormalizeEndpoint("unix://").ok());

  EXPECT_EQ(*ParseTimeout("120"), absl::Seconds(120));
  EXPECT_EQ(*ParseTimeout("2s"), absl::Seconds(2));
  EXPECT_EQ(*ParseTimeout("1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParseTimeout("500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseTimeout("0.5"), absl::Milliseconds(500));
  EXPECT_FALSE(ParseTimeout("0").ok());
  EXPECT_FALSE(ParseTimeout("-1s").ok());
  EXPECT_FALSE(ParseTimeout("soon").ok());
}

// --- whole commands against a fake runtime -----------------------------------------------------

class FakeRuntime final : public runtime::v1::RuntimeService::Service {
 public:
  grpc::Status Version(grpc::ServerContext*, const runtime::v1::VersionRequest*,
                       runtime::v1::VersionResponse* response) override {
    response->set_version("0.1.0");
    response->set_runtime_name("tether");
    response->set_runtime_version("0.1.0-test");
    response->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const runtime::v1::StatusRequest* request,
                      runtime::v1::StatusResponse* response) override {
    for (const char* type : {"RuntimeReady", "NetworkReady"}) {
      auto* c = response->mutable_status()->add_conditions();
      c->set_type(type);
      c->set_status(true);
    }
    response->add_runtime_handlers()->mutable_features()->set_user_namespaces(true);
    if (request->verbose()) (*response->mutable_info())["config"] = R"({"root": "/var/lib/t"})";
    return grpc::Status::OK;
  }

  grpc::Status RunPodSandbox(grpc::ServerContext*, const runtime::v1::RunPodSandboxRequest* request,
                             runtime::v1::RunPodSandboxResponse* response) override {
    std::lock_guard lock(mu_);
    const std::string id(64, "0123456789abcdef"[++count_ % 16]);
    runtime::v1::PodSandbox& pod = pods_[id];
    pod.set_id(id);
    *pod.mutable_metadata() = request->config().metadata();
    pod.set_state(runtime::v1::SANDBOX_READY);
    pod.set_created_at(created_at_ns);
    *pod.mutable_labels() = request->config().labels();
    pod.set_runtime_handler(request->runtime_handler());
    last_run_ = *request;
    response->set_pod_sandbox_id(id);
    return grpc::Status::OK;
  }

  grpc::Status StopPodSandbox(grpc::ServerContext*,
                              const runtime::v1::StopPodSandboxRequest* request,
                              runtime::v1::StopPodSandboxResponse*) override {
    std::lock_guard lock(mu_);
    auto* pod = Find(request->pod_sandbox_id());
    if (pod == nullptr) return NotFound(request->pod_sandbox_id());
    pod->set_state(runtime::v1::SANDBOX_NOTREADY);
    return grpc::Status::OK;
  }

  grpc::Status RemovePodSandbox(grpc::ServerContext*,
                                const runtime::v1::RemovePodSandboxRequest* request,
                                runtime::v1::RemovePodSandboxResponse*) override {
    std::lock_guard lock(mu_);
    auto* pod = Find(request->pod_sandbox_id());
    if (pod != nullptr) pods_.erase(pod->id());
    return grpc::Status::OK;
  }

  grpc::Status PodSandboxStatus(grpc::ServerContext*,
                                const runtime::v1::PodSandboxStatusRequest* request,
                                runtime::v1::PodSandboxStatusResponse* response) override {
    std::lock_guard lock(mu_);
    auto* pod = Find(request->pod_sandbox_id());
    if (pod == nullptr) return NotFound(request->pod_sandbox_id());
    auto* s = response->mutable_status();
    s->set_id(pod->id());
    *s->mutable_metadata() = pod->metadata();
    s->set_state(pod->state());
    s->set_created_at(pod->created_at());
    s->mutable_network()->set_ip("10.88.0.2");
    *s->mutable_labels() = pod->labels();
    if (request->verbose()) (*response->mutable_info())["info"] = R"({"pid": 4242})";
    return grpc::Status::OK;
  }

  grpc::Status ListPodSandbox(grpc::ServerContext*,
                              const runtime::v1::ListPodSandboxRequest* request,
                              runtime::v1::ListPodSandboxResponse* response) override {
    std::lock_guard lock(mu_);
    last_list_ = *request;
    const auto& f = request->filter();
    for (const auto& [id, pod] : pods_) {
      if (!f.id().empty() && !absl::StartsWith(id, f.id())) continue;
      if (f.has_state() && f.state().state() != pod.state()) continue;
      bool labels_match = true;
      for (const auto& [k, v] : f.label_selector()) {
        auto it = pod.labels().find(k);
        labels_match = labels_match && it != pod.labels().end() && it->second == v;
      }
      if (labels_match) *response->add_items() = pod;
    }
    return grpc::Status::OK;
  }

  int64_t created_at_ns = kBaseNs;

  runtime::v1::RunPodSandboxRequest last_run() {
    std::lock_guard lock(mu_);
    return last_run_;
  }
  runtime::v1::ListPodSandboxRequest last_list() {
    std::lock_guard lock(mu_);
    return last_list_;
  }

 private:
  runtime::v1::PodSandbox* Find(const std::string& id_or_prefix) {
    for (auto& [id, pod] : pods_) {
      if (!id_or_prefix.empty() && absl::StartsWith(id, id_or_prefix)) return &pod;
    }
    return nullptr;
  }
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("pod sandbox \"", id, "\" not found"));
  }

  std::mutex mu_;
  int count_ = 0;
  std::map<std::string, runtime::v1::PodSandbox> pods_;
  runtime::v1::RunPodSandboxRequest last_run_;
  runtime::v1::ListPodSandboxRequest last_list_;
};

class TetherctlCommands : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("tetherctl-test-", getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(dir_);
    endpoint_ = absl::StrCat("unix://", (dir_ / "cri.sock").string());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(endpoint_, grpc::InsecureServerCredentials());
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  CliResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"tetherctl", "--runtime-endpoint", endpoint_});
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    std::ostringstream out, err;
    const int code = RunCli(static_cast<int>(argv.size()), argv.data(), out, err,
                            absl::FromUnixSeconds(kBaseSeconds + 5), absl::UTCTimeZone());
    return {code, out.str(), err.str()};
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_ / name;
    std::ofstream(path) << content;
    return path;
  }

  std::string RunPod(const std::string& name) {
    const std::string path =
        WriteFile(name + ".yaml", absl::StrCat("metadata:\n  name: ", name,
                                               "\n  namespace: default\n"
                                               "  uid: uid-",
                                               name, "\nlabels:\n  app: ", name, "\n"));
    CliResult r = Run({"runp", path});
    EXPECT_EQ(r.code, 0) << r.err;
    return std::string(absl::StripSuffix(r.out, "\n"));
  }

  std::filesystem::path dir_;
  std::string endpoint_;
  FakeRuntime fake_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(TetherctlCommands, Version) {
  CliResult r = Run({"version"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Version:  0.1.0\nRuntimeName:  tether\nRuntimeVersion:  0.1.0-test\n"
            "RuntimeApiVersion:  v1\n");
}

TEST_F(TetherctlCommands, Info) {
  CliResult r = Run({"info"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json v = json::parse(r.out);
  EXPECT_EQ(v["status"]["conditions"][0]["type"], "RuntimeReady");
  EXPECT_EQ(v["status"]["conditions"][0]["status"], true);
  EXPECT_EQ(v["status"]["conditions"][0]["reason"], "");
  EXPECT_EQ(v["config"]["root"], "/var/lib/t");
  EXPECT_EQ(v["runtimeHandlers"], json::parse(R"([{"features": {"user_namespaces": true}}])"));
  CliResult quiet = Run({"info", "-q", "-o", "yaml"});
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_FALSE(absl::StrContains(quiet.out, "config")) << quiet.out;
  EXPECT_TRUE(absl::StrContains(quiet.out, "- message: \"\"\n    reason: \"\"")) << quiet.out;
}

TEST_F(TetherctlCommands, PodLifecycle) {
  fake_.created_at_ns = kBaseNs;
  const std::string web = RunPod("web");
  ASSERT_EQ(web.size(), 64u);
  EXPECT_EQ(fake_.last_run().config().metadata().uid(), "uid-web");
  fake_.created_at_ns = kBaseNs - 60LL * 1000000000;
  const std::string db = RunPod("db");

  CliResult pods = Run({"pods"});
  ASSERT_EQ(pods.code, 0) << pods.err;
  // "About a minute ago" (18) widens CREATED to 21 columns.
  auto row = [](const std::vector<std::string>& cells) {
    const std::vector<size_t> widths = {20, 21, 20, 20, 20, 20};
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += cells[i];
      if (i < widths.size()) line.append(widths[i] - cells[i].size(), ' ');
    }
    return line + "\n";
  };
  EXPECT_EQ(
      pods.out,
      row({"POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"}) +
          row({web.substr(0, 13), "5 seconds ago", "Ready", "web", "default", "0", "(default)"}) +
          row({db.substr(0, 13), "About a minute ago", "Ready", "db", "default", "0",
               "(default)"}));

  CliResult quiet = Run({"pods", "-q", "--name", "^w"});
  EXPECT_EQ(quiet.out, web + "\n");
  CliResult by_label = Run({"pods", "-q", "--label", "app=db", "--state", "ready"});
  EXPECT_EQ(by_label.out, db + "\n");
  EXPECT_EQ(fake_.last_list().filter().label_selector().at("app"), "db");
  EXPECT_EQ(fake_.last_list().filter().state().state(), runtime::v1::SANDBOX_READY);
  EXPECT_EQ(Run({"pods", "-q", "--latest"}).out, web + "\n");
  EXPECT_EQ(Run({"pods", "--state", "sideways"}).code, 1);

  CliResult as_json = Run({"pods", "-o", "json"});
  ASSERT_EQ(as_json.code, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out)["items"].size(), 2u);
  CliResult as_yaml = Run({"pods", "-o", "yaml", "--id", web.substr(0, 5)});
  EXPECT_TRUE(absl::StartsWith(as_yaml.out, "items:\n- annotations: {}\n  createdAt: \""))
      << as_yaml.out;

  CliResult inspect = Run({"inspectp", web.substr(0, 8)});
  ASSERT_EQ(inspect.code, 0) << inspect.err;
  const json v = json::parse(inspect.out);
  EXPECT_EQ(v["status"]["id"], web);
  EXPECT_EQ(v["status"]["createdAt"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(v["status"]["network"]["ip"], "10.88.0.2");
  EXPECT_EQ(v["info"]["pid"], 4242);
  CliResult both = Run({"inspectp", web, db});
  EXPECT_EQ(json::parse(both.out).size(), 2u);
  CliResult table = Run({"inspectp", "-o", "table", web});
  EXPECT_TRUE(absl::StartsWith(table.out, "ID: " + web + "\nName: web\n")) << table.out;
  CliResult by_filter = Run({"inspectp", "--name", "db"});
  EXPECT_EQ(json::parse(by_filter.out)["status"]["id"], db);

  // rmp refuses a ready pod without --force.
  CliResult refused = Run({"rmp", web});
  EXPECT_EQ(refused.code, 1);
  EXPECT_TRUE(absl::StrContains(refused.err, "is running, please stop it first")) << refused.err;

  CliResult stopped = Run({"stopp", web});
  EXPECT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_EQ(stopped.out, "Stopped sandbox " + web + "\n");
  EXPECT_TRUE(absl::StrContains(Run({"pods"}).out, "NotReady"));
  EXPECT_EQ(Run({"rmp", web}).out, "Removed sandbox " + web + "\n");

  CliResult forced = Run({"rmp", "-f", db});
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(forced.out, "Stopped sandbox " + db + "\nRemoved sandbox " + db + "\n");
  EXPECT_EQ(Run({"pods", "-q"}).out, "");
}

TEST_F(TetherctlCommands, ErrorsGoToStderrWithExitCode1) {
  CliResult r = Run({"stopp", "nonexistent"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "tetherctl: stopping the pod sandbox \"nonexistent\": rpc error: code = NotFound desc "
            "= pod sandbox \"nonexistent\" not found\n");

  CliResult inspect = Run({"inspectp", "nonexistent"});
  EXPECT_EQ(inspect.code, 1);
  EXPECT_TRUE(absl::StrContains(inspect.err, "code = NotFound")) << inspect.err;

  CliResult bad_config = Run({"runp", WriteFile("bad.json", R"({"metadata": {"name": "x"}})")});
  EXPECT_EQ(bad_config.code, 1);
  EXPECT_TRUE(absl::StrContains(bad_config.err, "name, namespace or uid")) << bad_config.err;

  // rmp goes on after a failure and reports each one.
  const std::string web = RunPod("web");
  CliResult rmp = Run({"rmp", "-f", "missing", web});
  EXPECT_EQ(rmp.code, 1);
  EXPECT_TRUE(absl::StrContains(rmp.err, "\"missing\"")) << rmp.err;
  EXPECT_TRUE(absl::StrContains(rmp.out, "Removed sandbox " + web)) << rmp.out;

  EXPECT_EQ(Run({"nosuchcommand"}).code, 1);
  EXPECT_EQ(Run({"stopp"}).code, 1);  // POD-ID is required
}

TEST_F(TetherctlCommands, HelpAndUnreachableDaemon) {
  CliResult help = Run({"pods", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "--no-trunc")) << help.out;

  const char* argv[] = {"tetherctl",         "-r",  "unix:///nonexistent/dir/x.sock",
                        "--connect-timeout", "0.2", "version"};
  std::ostringstream out, err;
  EXPECT_EQ(RunCli(6, argv, out, err), 1);
  EXPECT_TRUE(absl::StrContains(err.str(), "No such file or directory")) << err.str();
}

}  // namespace
}  // namespace tether::ctl
