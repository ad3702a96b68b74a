// The pod runner's probes, lifecycle hooks, ConfigMaps and multi-document manifests: parsing and
// validation, kubelet's probe worker semantics, the runner over a fake runtime and a fake clock,
// and the real prober's httpGet and tcpSocket against servers on 127.0.0.1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "podrunner/hooks.h"
#include "podrunner/manifest.h"
#include "podrunner/pod_runner.h"
#include "podrunner/probe.h"
#include "podrunner_fakes.h"
#include "podrunner_http_server.h"
#include "tetherctl/cli.h"

namespace tether::podrunner {
namespace {

using fake::PodWith;

using fake::FakeClock;
using fake::FakeRuntime;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ErrorOfManifests(const std::string& yaml) {
  auto pods = ParseManifests(yaml);
  EXPECT_FALSE(pods.ok()) << yaml;
  if (pods.ok()) return "";
  EXPECT_EQ(pods.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(pods.status().message());
}

// --- manifests: probes and hooks -------------------------------------------------------------

TEST(ProbeManifestTest, ParsesProbesAndHooksWithDefaults) {
  auto pod = ParseManifest(PodWith(R"(  terminationGracePeriodSeconds: 20
  initContainers:
  - name: side
    image: x:1
    restartPolicy: Always
    startupProbe: {tcpSocket: {port: 9000}, failureThreshold: 30, periodSeconds: 2}
  containers:
  - name: app
    image: x:1
    ports: [{name: http, containerPort: 8080}]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 5
      timeoutSeconds: 2
      terminationGracePeriodSeconds: 3
    readinessProbe:
      httpGet:
        path: healthz
        port: http
        httpHeaders: [{name: X-Probe, value: ready}]
      successThreshold: 2
      periodSeconds: 0
    lifecycle:
      postStart: {exec: {command: [sh, -c, "echo hi"]}}
      preStop: {httpGet: {port: 8080, path: /quit, host: 127.0.0.1, scheme: HTTPS}}
)"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE(pod->warnings.empty());
  const ContainerSpec& side = pod->init_containers[0];
  ASSERT_TRUE(side.startup_probe.has_value());
  EXPECT_EQ(side.startup_probe->handler.kind, Handler::Kind::kTcpSocket);
  EXPECT_EQ(side.startup_probe->handler.port, 9000);
  EXPECT_EQ(side.startup_probe->failure_threshold, 30);
  EXPECT_EQ(side.startup_probe->period_seconds, 2);
  const ContainerSpec& app = pod->containers[0];
  ASSERT_TRUE(app.liveness_probe.has_value());
  const Probe& live = *app.liveness_probe;
  EXPECT_EQ(live.handler.kind, Handler::Kind::kExec);
  EXPECT_THAT(live.handler.command, ElementsAre("cat", "/tmp/healthy"));
  EXPECT_EQ(live.initial_delay_seconds, 5);
  EXPECT_EQ(live.timeout_seconds, 2);
  EXPECT_EQ(live.period_seconds, 10);    // default
  EXPECT_EQ(live.success_threshold, 1);  // default
  EXPECT_EQ(live.failure_threshold, 3);  // default
  EXPECT_EQ(live.termination_grace_period_seconds, 3);
  ASSERT_TRUE(app.readiness_probe.has_value());
  const Probe& ready = *app.readiness_probe;
  EXPECT_EQ(ready.handler.kind, Handler::Kind::kHttpGet);
  EXPECT_EQ(ready.handler.port, 8080);  // the port named http
  EXPECT_EQ(ready.handler.path, "/healthz");
  EXPECT_EQ(ready.handler.scheme, "HTTP");
  EXPECT_EQ(ready.handler.host, "");
  ASSERT_EQ(ready.handler.http_headers.size(), 1u);
  EXPECT_EQ(ready.handler.http_headers[0].first, "X-Probe");
  EXPECT_EQ(ready.success_threshold, 2);
  EXPECT_EQ(ready.period_seconds, 10);  // 0 is the default, as the API server has it
  EXPECT_FALSE(app.startup_probe.has_value());
  ASSERT_TRUE(app.post_start.has_value());
  EXPECT_EQ(app.post_start->kind, Handler::Kind::kExec);
  ASSERT_TRUE(app.pre_stop.has_value());
  EXPECT_EQ(app.pre_stop->kind, Handler::Kind::kHttpGet);
  EXPECT_EQ(app.pre_stop->scheme, "HTTPS");
  EXPECT_EQ(app.pre_stop->host, "127.0.0.1");
  EXPECT_EQ(app.pre_stop->path, "/quit");
}

TEST(ProbeManifestTest, ParsesGrpcProbes) {
  auto pod = ParseManifest(PodWith(R"(  containers:
  - name: app
    image: x:1
    livenessProbe: {grpc: {port: 9000, service: liveness}}
    readinessProbe: {grpc: {port: 9001}}
)"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  const ContainerSpec& app = pod->containers[0];
  ASSERT_TRUE(app.liveness_probe.has_value());
  EXPECT_EQ(app.liveness_probe->handler.kind, Handler::Kind::kGrpc);
  EXPECT_EQ(app.liveness_probe->handler.port, 9000);
  EXPECT_EQ(app.liveness_probe->handler.grpc_service, "liveness");
  ASSERT_TRUE(app.readiness_probe.has_value());
  EXPECT_EQ(app.readiness_probe->handler.port, 9001);
  EXPECT_EQ(app.readiness_probe->handler.grpc_service, "");
}

std::string ContainerWith(const std::string& fields) {
  return PodWith("  terminationGracePeriodSeconds: 10\n  containers:\n  - name: a\n    image: x\n" +
                 fields);
}

TEST(ProbeManifestTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    livenessProbe: {exec: {command: [x]}, periodSeconds: -1}")),
            "spec.containers[0].livenessProbe.periodSeconds: must be positive");
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    readinessProbe: {exec: {command: [x]}, timeoutSeconds: -5}")),
            "spec.containers[0].readinessProbe.timeoutSeconds: must be positive");
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    startupProbe: {exec: {command: [x]}, failureThreshold: -1}")),
            "spec.containers[0].startupProbe.failureThreshold: must be positive");
  EXPECT_EQ(ErrorOfManifests(ContainerWith(
                "    livenessProbe: {exec: {command: [x]}, initialDelaySeconds: -1}")),
            "spec.containers[0].livenessProbe.initialDelaySeconds: must be non-negative");
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    livenessProbe: {exec: {command: [x]}, periodSeconds: ten}")),
            "spec.containers[0].livenessProbe.periodSeconds: must be an integer");
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    livenessProbe: {exec: {command: [x]}, successThreshold: 2}")),
            "spec.containers[0].livenessProbe.successThreshold: must be 1 for liveness and startup "
            "probes");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {periodSeconds: 3}")),
            "spec.containers[0].livenessProbe: must specify a handler type");
  EXPECT_EQ(ErrorOfManifests(
                ContainerWith("    livenessProbe: {exec: {command: [x]}, tcpSocket: {port: 1}}")),
            "spec.containers[0].livenessProbe.tcpSocket: may not specify more than 1 handler "
            "type");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {exec: {command: []}}")),
            "spec.containers[0].livenessProbe.exec.command: is required");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    readinessProbe: {httpGet: {path: /}}")),
            "spec.containers[0].readinessProbe.httpGet.port: is required");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    readinessProbe: {httpGet: {port: 0}}")),
            "spec.containers[0].readinessProbe.httpGet.port: must be between 1 and 65535");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    readinessProbe: {httpGet: {port: web}}")),
            "spec.containers[0].readinessProbe.httpGet.port: the container has no port named "
            "\"web\"");
  EXPECT_THAT(ErrorOfManifests(ContainerWith("    readinessProbe: {tcpSocket: {port: Web_1}}")),
              HasSubstr("spec.containers[0].readinessProbe.tcpSocket.port: must be a port"));
  EXPECT_EQ(
      ErrorOfManifests(ContainerWith("    readinessProbe: {httpGet: {port: 80, scheme: FTP}}")),
      "spec.containers[0].readinessProbe.httpGet.scheme: must be HTTP or HTTPS");
  EXPECT_EQ(
      ErrorOfManifests(ContainerWith(
          "    readinessProbe: {httpGet: {port: 80, httpHeaders: [{name: 'a b', value: x}]}}")),
      "spec.containers[0].readinessProbe.httpGet.httpHeaders[0].name: must be an HTTP "
      "header name");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    readinessProbe: {exec: {command: [x]}, "
                                           "terminationGracePeriodSeconds: 3}")),
            "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: must not be set "
            "for readiness probes");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {grpc: {port: grpc}}")),
            "spec.containers[0].livenessProbe.grpc.port: must be an integer");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {grpc: {port: 0}}")),
            "spec.containers[0].livenessProbe.grpc.port: must be between 1 and 65535");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {grpc: {service: x}}")),
            "spec.containers[0].livenessProbe.grpc.port: is required");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    lifecycle: {postStart: {grpc: {port: 9000}}}")),
            "spec.containers[0].lifecycle.postStart.grpc: is not supported as a lifecycle "
            "handler (use exec or httpGet)");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    livenessProbe: {sleep: {seconds: 1}}")),
            "spec.containers[0].livenessProbe.sleep: is only a lifecycle handler, not a probe");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    lifecycle: {preStop: {tcpSocket: {port: 80}}}")),
            "spec.containers[0].lifecycle.preStop.tcpSocket: is not supported as a lifecycle "
            "handler (use exec or httpGet)");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    lifecycle: {preStop: {sleep: {seconds: 11}}}")),
            "spec.containers[0].lifecycle.preStop.sleep.seconds: must be greater than 0 and at "
            "most terminationGracePeriodSeconds (10)");
  EXPECT_EQ(ErrorOfManifests(ContainerWith("    lifecycle: {postStart: {}}")),
            "spec.containers[0].lifecycle.postStart: must specify a handler type");
  EXPECT_EQ(
      ErrorOfManifests(PodWith("  initContainers:\n"
                               "  - {name: i, image: x, livenessProbe: {exec: {command: [x]}}}\n"
                               "  containers: [{name: a, image: x}]")),
      "spec.initContainers[0].livenessProbe: may not be set for init containers without "
      "restartPolicy: Always");
  EXPECT_EQ(ErrorOfManifests(
                PodWith("  initContainers:\n"
                        "  - {name: i, image: x, lifecycle: {preStop: {exec: {command: [x]}}}}\n"
                        "  containers: [{name: a, image: x}]")),
            "spec.initContainers[0].lifecycle: may not be set for init containers without "
            "restartPolicy: Always");
}

// A bad manifest is refused before any connection: the endpoint does not exist.
TEST(ProbeManifestTest, BadProbeMakesNoCall) {
  std::string path = absl::StrCat(::testing::TempDir(), "/bad-probe-", getpid(), ".yaml");
  std::ofstream(path) << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
                         "---\n"
                      << ContainerWith(
                             "    livenessProbe: {exec: {command: [x]}, "
                             "periodSeconds: -1}");
  std::ostringstream out, err;
  const char* argv[] = {"tetherctl", "-r", "unix:///nonexistent/tether.sock", "play", path.c_str()};
  EXPECT_EQ(ctl::RunCli(5, argv, out, err), 1);
  EXPECT_THAT(err.str(), HasSubstr("document 2 (Pod p): spec.containers[0].livenessProbe."
                                   "periodSeconds: must be positive"));
  EXPECT_THAT(err.str(), ::testing::Not(HasSubstr("connect")));
  std::filesystem::remove(path);
}

// --- manifests: ConfigMaps and several documents ---------------------------------------------

constexpr char kConfigMapFile[] = R"(
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  volumes:
  - name: conf
    configMap: {name: settings}
  - name: some
    configMap:
      name: settings
      defaultMode: 0600
      items:
      - {key: app.conf, path: etc/app.conf}
      - {key: blob, path: bin/blob, mode: 0755}
  - name: gone
    configMap: {name: absent, optional: true}
  containers:
  - name: app
    image: x:1
    env:
    - {name: LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: level}}}
    - {name: MISSING, valueFrom: {configMapKeyRef: {name: settings, key: nope, optional: true}}}
    - {name: cfg_level, value: overridden}
    envFrom:
    - {configMapRef: {name: settings}, prefix: cfg_}
    volumeMounts:
    - {name: conf, mountPath: /etc/conf}
    - {name: some, mountPath: /some, readOnly: false}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  app.conf: |
    listen 80
  level: debug
binaryData:
  blob: aGVsbG8=
---
)";

TEST(ConfigMapManifestTest, VolumesAndEnvFromTheSameFile) {
  auto pods = ParseManifests(kConfigMapFile);
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 1u);
  const PodManifest& pod = (*pods)[0];
  ASSERT_EQ(pod.volumes.size(), 3u);
  const Volume& all = pod.volumes[0];
  EXPECT_EQ(all.kind, Volume::Kind::kConfigMap);
  EXPECT_EQ(all.config_map, "settings");
  ASSERT_EQ(all.files.size(), 3u);  // every key, binaryData decoded
  std::map<std::string, std::pair<std::string, uint32_t>> files;
  for (const VolumeFile& f : all.files) files[f.path] = {f.content, f.mode};
  EXPECT_EQ(files["app.conf"], std::make_pair(std::string("listen 80\n"), 0644u));
  EXPECT_EQ(files["level"].first, "debug");
  EXPECT_EQ(files["blob"].first, "hello");
  const Volume& some = pod.volumes[1];
  ASSERT_EQ(some.files.size(), 2u);
  EXPECT_EQ(some.files[0].path, "etc/app.conf");
  EXPECT_EQ(some.files[0].mode, 0600u);  // defaultMode, in YAML's octal
  EXPECT_EQ(some.files[1].path, "bin/blob");
  EXPECT_EQ(some.files[1].mode, 0755u);
  EXPECT_TRUE(pod.volumes[2].files.empty());  // optional and absent
  // envFrom first, then env: env wins; an optional missing key is left out.
  std::map<std::string, std::string> env;
  for (const EnvVar& e : pod.containers[0].env) env[e.name] = e.value;
  EXPECT_EQ(env["LEVEL"], "debug");
  EXPECT_EQ(env["cfg_level"], "overridden");
  EXPECT_FALSE(env.contains("MISSING"));
  EXPECT_EQ(env["cfg_app.conf"], "listen 80\n");
  EXPECT_EQ(env["cfg_blob"], "hello");

  // ConfigMap volumes are mounted read-only from the runner's volume directory.
  auto c = ContainerConfigFor(pod, pod.containers[0], "spec.containers[0]", "U", 0, "/vol");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->mounts_size(), 2);
  EXPECT_EQ(c->mounts(0).host_path(), "/vol/U/volumes/conf");
  EXPECT_TRUE(c->mounts(0).readonly());
  EXPECT_EQ(c->mounts(1).host_path(), "/vol/U/volumes/some");
  EXPECT_TRUE(c->mounts(1).readonly());
}

TEST(ConfigMapManifestTest, ErrorsNameTheField) {
  const std::string cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n";
  auto with_cm = [&](const std::string& spec) { return cm + "---\n" + PodWith(spec); };
  EXPECT_EQ(ErrorOfManifests(PodWith("  volumes: [{name: v, configMap: {name: c}}]\n"
                                     "  containers: [{name: a, image: x}]")),
            "spec.volumes[0].configMap.name: ConfigMap \"c\" (namespace default) is not in the "
            "manifest file");
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  volumes: [{name: v, configMap: {name: c, items: [{key: z, path: "
                               "z}]}}]\n  containers: [{name: a, image: x}]")),
      "document 2 (Pod p): spec.volumes[0].configMap.items[0].key: ConfigMap \"c\" has no "
      "key \"z\"");
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  volumes: [{name: v, configMap: {name: c, items: [{key: k, path: "
                               "../k}]}}]\n  containers: [{name: a, image: x}]")),
      "document 2 (Pod p): spec.volumes[0].configMap.items[0].path: must be a relative "
      "path without '..'");
  // ..data and the versions beside it are the volume's own names.
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  volumes: [{name: v, configMap: {name: c, items: [{key: k, path: "
                               "..data}]}}]\n  containers: [{name: a, image: x}]")),
      "document 2 (Pod p): spec.volumes[0].configMap.items[0].path: must be a relative "
      "path without '..'");
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  volumes: [{name: v, configMap: {name: c, defaultMode: 0999}}]\n"
                               "  containers: [{name: a, image: x}]")),
      "document 2 (Pod p): spec.volumes[0].configMap.defaultMode: must be a file mode "
      "between 0 and 0777 (octal)");
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  containers: [{name: a, image: x, env: [{name: E, valueFrom: "
                               "{configMapKeyRef: {name: c, key: q}}}]}]")),
      "document 2 (Pod p): spec.containers[0].env[0].valueFrom.configMapKeyRef.key: "
      "ConfigMap \"c\" has no key \"q\"");
  EXPECT_EQ(
      ErrorOfManifests(with_cm("  containers: [{name: a, image: x, envFrom: [{secretRef: {name: "
                               "s}}]}]")),
      "document 2 (Pod p): spec.containers[0].envFrom[0]: only configMapRef is supported "
      "by tetherctl play (a ConfigMap in the same file)");
  // A ConfigMap of another namespace is not the pod's.
  EXPECT_THAT(
      ErrorOfManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n"
                       "---\n" +
                       PodWith("  volumes: [{name: v, configMap: {name: c}}]\n"
                               "  containers: [{name: a, image: x}]")),
      HasSubstr("spec.volumes[0].configMap.name: ConfigMap \"c\" (namespace default)"));
  // The ConfigMap itself.
  EXPECT_EQ(
      ErrorOfManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {'a/b': x}\n"
                       "---\n" +
                       PodWith("  containers: [{name: a, image: x}]")),
      "document 1 (ConfigMap c): data.a/b: must be a valid ConfigMap key ([-._a-zA-Z0-9]+, "
      "not '.' or '..')");
  EXPECT_EQ(ErrorOfManifests(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbinaryData: {b: '%%'}\n"
                "---\n" +
                PodWith("  containers: [{name: a, image: x}]")),
            "document 1 (ConfigMap c): binaryData.b: must be base64");
  EXPECT_EQ(ErrorOfManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {b: x}\n"
                             "binaryData: {b: eA==}\n---\n" +
                             PodWith("  containers: [{name: a, image: x}]")),
            "document 1 (ConfigMap c): binaryData.b: is also in data (a key may be in data or "
            "binaryData, not both)");
  EXPECT_EQ(ErrorOfManifests(cm + "---\n" + cm + "---\n" +
                             PodWith("  containers: [{name: a, image: x}]")),
            "document 2 (ConfigMap c): metadata.name: duplicate ConfigMap \"c\"");
}

TEST(MultiDocumentTest, EveryPodOfTheFile) {
  auto pods = ParseManifests(R"(---
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  containers: [{name: a, image: x:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: two, namespace: ns2}
spec:
  replicas: 3
  template:
    metadata: {name: ignored, labels: {app: two}}
    spec:
      containers: [{name: b, image: x:1}]
)");
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].name, "one");
  EXPECT_EQ((*pods)[1].name, "two");  // named after the deployment
  EXPECT_EQ((*pods)[1].namespace_, "ns2");
  EXPECT_EQ((*pods)[1].labels.at("app"), "two");

  // ParseManifest wants exactly one pod.
  auto one = ParseManifest(PodWith("  containers: [{name: a, image: x}]") + "\n---\n" +
                           "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n"
                           "  containers: [{name: a, image: x}]\n");
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(one.status().message(), HasSubstr("2 pods (p, q)"));

  EXPECT_EQ(ErrorOfManifests(PodWith("  containers: [{name: a, image: x}]") + "\n---\n" +
                             PodWith("  containers: [{name: a}]")),
            "document 2 (Pod p): spec.containers[0].image: is required");
  EXPECT_EQ(ErrorOfManifests(PodWith("  containers: [{name: a, image: x}]") + "\n---\n" +
                             PodWith("  containers: [{name: a, image: x}]")),
            "document 2 (Pod p): metadata.name: duplicate pod \"p\" in namespace \"default\"");
  EXPECT_THAT(ErrorOfManifests(PodWith("  containers: [{name: a, image: x}]") +
                               "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"),
              HasSubstr("document 2 (Service s): kind: \"Service\" is not a Pod"));
  EXPECT_EQ(ErrorOfManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
            "the manifest has no Pod (or workload with a pod template) to run");
  EXPECT_THAT(ErrorOfManifests("---\n---\n"), HasSubstr("must be a Kubernetes object"));
}

// --- the probe worker ------------------------------------------------------------------------

Probe ProbeOf(int period, int failure, int success = 1, int delay = 0) {
  Probe p;
  p.handler.kind = Handler::Kind::kExec;
  p.handler.command = {"x"};
  p.period_seconds = period;
  p.failure_threshold = failure;
  p.success_threshold = success;
  p.initial_delay_seconds = delay;
  return p;
}

TEST(ProbeWorkerTest, InitialDelayAndPeriod) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  ProbeWorker w(ProbeType::kLiveness, ProbeOf(10, 3, 1, 5));
  EXPECT_FALSE(w.Due(t0));  // no container yet
  w.Reset(t0);
  EXPECT_FALSE(w.Due(t0 + absl::Seconds(4)));
  EXPECT_TRUE(w.Due(t0 + absl::Seconds(5)));
  w.Launched(t0 + absl::Seconds(5));
  EXPECT_FALSE(w.Due(t0 + absl::Seconds(14)));
  EXPECT_TRUE(w.Due(t0 + absl::Seconds(15)));
}

TEST(ProbeWorkerTest, FailureThreshold) {
  ProbeWorker w(ProbeType::kLiveness, ProbeOf(1, 3));
  w.Reset(absl::FromUnixSeconds(0));
  EXPECT_TRUE(w.succeeded());  // live until proven otherwise
  EXPECT_FALSE(w.Record(ProbeResult::kFailure));
  EXPECT_FALSE(w.Record(ProbeResult::kFailure));
  EXPECT_FALSE(w.Record(ProbeResult::kSuccess));  // the run starts over
  EXPECT_FALSE(w.Record(ProbeResult::kFailure));
  EXPECT_FALSE(w.Record(ProbeResult::kError));  // thrown away: neither breaks nor extends a run
  EXPECT_FALSE(w.Record(ProbeResult::kFailure));
  EXPECT_TRUE(w.succeeded());
  EXPECT_TRUE(w.Record(ProbeResult::kFailure));  // the third in a row
  EXPECT_TRUE(w.failed());
  // On hold until the next container attempt.
  EXPECT_FALSE(w.Due(absl::FromUnixSeconds(100)));
  EXPECT_FALSE(w.Record(ProbeResult::kSuccess));
  w.Reset(absl::FromUnixSeconds(200));
  EXPECT_TRUE(w.succeeded());
  EXPECT_TRUE(w.Due(absl::FromUnixSeconds(200)));
}

TEST(ProbeWorkerTest, ReadinessSuccessThresholdAndNoHold) {
  ProbeWorker w(ProbeType::kReadiness, ProbeOf(1, 2, 2));
  w.Reset(absl::FromUnixSeconds(0));
  EXPECT_FALSE(w.succeeded());  // not ready until proven ready
  EXPECT_FALSE(w.Record(ProbeResult::kSuccess));
  EXPECT_TRUE(w.Record(ProbeResult::kSuccess));
  EXPECT_TRUE(w.succeeded());
  EXPECT_FALSE(w.Record(ProbeResult::kFailure));
  EXPECT_TRUE(w.Record(ProbeResult::kFailure));
  EXPECT_FALSE(w.succeeded());
  EXPECT_TRUE(w.Due(absl::FromUnixSeconds(50)));  // readiness keeps probing
  EXPECT_FALSE(w.Record(ProbeResult::kSuccess));
  EXPECT_TRUE(w.Record(ProbeResult::kSuccess));
}

TEST(ProbeWorkerTest, StartupStopsOnceSucceeded) {
  ProbeWorker w(ProbeType::kStartup, ProbeOf(1, 3));
  w.Reset(absl::FromUnixSeconds(0));
  EXPECT_FALSE(w.succeeded());
  EXPECT_FALSE(w.failed());
  EXPECT_TRUE(w.Record(ProbeResult::kSuccess));
  EXPECT_FALSE(w.Due(absl::FromUnixSeconds(100)));
}

TEST(HooksTest, GraceAfterPreStop) {
  EXPECT_EQ(GraceAfterPreStop(30, absl::Milliseconds(2500)), 28);
  EXPECT_EQ(GraceAfterPreStop(30, absl::Seconds(29)), 2);  // at least 2 s
  EXPECT_EQ(GraceAfterPreStop(1, absl::ZeroDuration()), 2);
}

// --- the real prober's httpGet and tcpSocket on 127.0.0.1 ------------------------------------

TEST(RuntimeProberTest, HttpGetAndTcpSocket) {
  LocalHttpServer server([](const std::string& req) {
    if (absl::StartsWith(req, "GET /ok ")) return 200;
    if (absl::StartsWith(req, "GET /moved ")) return 302;
    if (absl::StartsWith(req, "GET /silent ")) return 0;  // closes without answering
    return 503;
  });
  FakeClock clock;
  FakeRuntime runtime(&clock);
  RuntimeProber prober(&runtime);
  ProbeTarget target{.container_id = "c1", .container_name = "a", .pod_ip = "127.0.0.1"};

  ProbeOutcome ok = prober.Probe(HttpHandler(server.port(), "/ok"), target, absl::Seconds(5));
  EXPECT_EQ(ok.result, ProbeResult::kSuccess) << ok.output;
  ASSERT_FALSE(server.requests().empty());
  const std::string req = server.requests().back();
  EXPECT_THAT(req, HasSubstr("X-Probe: yes\r\n"));
  EXPECT_THAT(req, HasSubstr("Host: example.test\r\n"));
  EXPECT_THAT(req, HasSubstr("User-Agent: kube-probe/"));
  EXPECT_EQ(prober.Probe(HttpHandler(server.port(), "/moved"), target, absl::Seconds(5)).result,
            ProbeResult::kSuccess);
  ProbeOutcome bad = prober.Probe(HttpHandler(server.port(), "/bad"), target, absl::Seconds(5));
  EXPECT_EQ(bad.result, ProbeResult::kFailure);
  EXPECT_THAT(bad.output, HasSubstr("statuscode: 503"));
  EXPECT_EQ(prober.Probe(HttpHandler(server.port(), "/silent"), target, absl::Seconds(5)).result,
            ProbeResult::kFailure);
  // A hook's httpGet succeeds on any answer, as kubelet's does; only a failed request fails it.
  EXPECT_TRUE(prober.Hook(HttpHandler(server.port(), "/bad"), target, absl::Seconds(5)).ok());

  Handler tcp;
  tcp.kind = Handler::Kind::kTcpSocket;
  tcp.port = server.port();
  EXPECT_EQ(prober.Probe(tcp, target, absl::Seconds(5)).result, ProbeResult::kSuccess);

  const int closed = ClosedLoopbackPort();
  ASSERT_GT(closed, 0);
  tcp.port = closed;
  ProbeOutcome refused = prober.Probe(tcp, target, absl::Seconds(5));
  EXPECT_EQ(refused.result, ProbeResult::kFailure);
  EXPECT_THAT(refused.output, HasSubstr("connect"));
  EXPECT_EQ(prober.Probe(HttpHandler(closed, "/ok"), target, absl::Seconds(5)).result,
            ProbeResult::kFailure);
  EXPECT_FALSE(prober.Hook(HttpHandler(closed, "/ok"), target, absl::Seconds(5)).ok());
  // Without an address there is nothing to probe: an error, not a failure.
  EXPECT_EQ(prober.Probe(tcp, ProbeTarget{}, absl::Seconds(1)).result, ProbeResult::kError);
}

TEST(RuntimeProberTest, ExecThroughExecSync) {
  FakeClock clock;
  FakeRuntime runtime(&clock);
  RuntimeProber prober(&runtime);
  runtime::v1::ContainerConfig config;
  config.mutable_metadata()->set_name("a");
  auto id = runtime.CreateContainer("s", config, {});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(runtime.StartContainer(*id).ok());
  runtime.exec =
      [](const FakeRuntime::Fake&,
         const std::vector<std::string>& cmd) -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    if (cmd[0] == "slow") return absl::DeadlineExceededError("timed out");
    return FakeRuntime::ExitCode(cmd[0] == "true" ? 0 : 1, "out\n");
  };
  Handler h;
  h.kind = Handler::Kind::kExec;
  ProbeTarget target{.container_id = *id, .container_name = "a"};
  h.command = {"true"};
  EXPECT_EQ(prober.Probe(h, target, absl::Seconds(1)).result, ProbeResult::kSuccess);
  EXPECT_TRUE(prober.Hook(h, target, absl::Seconds(1)).ok());
  h.command = {"false"};
  ProbeOutcome failed = prober.Probe(h, target, absl::Seconds(1));
  EXPECT_EQ(failed.result, ProbeResult::kFailure);
  EXPECT_EQ(failed.output, "out");
  EXPECT_FALSE(prober.Hook(h, target, absl::Seconds(1)).ok());
  h.command = {"slow"};
  ProbeOutcome slow = prober.Probe(h, target, absl::Seconds(1));
  EXPECT_EQ(slow.result, ProbeResult::kFailure);  // a timeout is a failure
  EXPECT_THAT(slow.output, HasSubstr("timed out"));
  target.container_id = "gone";
  EXPECT_EQ(prober.Probe(h, target, absl::Seconds(1)).result, ProbeResult::kError);
}

// --- the runner with probes and hooks over the fake runtime ----------------------------------

class ProbeRunnerTest : public ::testing::Test {
 protected:
  ProbeRunnerTest() : runtime_(&clock_) {
    volume_root_ = absl::StrCat(::testing::TempDir(), "/podrunner-probe-", getpid());
  }
  ~ProbeRunnerTest() override { std::filesystem::remove_all(volume_root_); }

  RunnerOptions Options() {
    RunnerOptions o;
    o.clock = &clock_;
    o.poll_interval = absl::Milliseconds(100);
    o.backoff_base = absl::Seconds(1);
    o.volume_root = volume_root_;
    o.log_root = "/logs";
    o.on_event = [this](const PodEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    };
    o.on_status = [this](const PodStatusRow& r) {
      std::lock_guard<std::mutex> l(mu_);
      rows_.push_back(r);
    };
    return o;
  }

  PodManifest Manifest(const std::string& spec) {
    auto pod = ParseManifest(PodWith(spec));
    EXPECT_TRUE(pod.ok()) << pod.status();
    return pod.ok() ? *pod : PodManifest{};
  }

  absl::StatusOr<PodPhase> RunUntil(PodRunner& runner, const std::function<bool()>& stop_when) {
    std::atomic<bool> done{false};
    absl::StatusOr<PodPhase> phase;
    std::thread t([&] {
      phase = runner.Run();
      done = true;
    });
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!done && absl::Now() < deadline) {
      if (stop_when && stop_when()) runner.Stop();
      absl::SleepFor(absl::Milliseconds(1));
    }
    runner.Stop();
    t.join();
    return phase;
  }

  std::vector<PodEvent> Events(const std::string& reason, const std::string& container = "") {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<PodEvent> out;
    for (const auto& e : events_) {
      if (e.reason == reason && (container.empty() || absl::EndsWith(e.object, "/" + container))) {
        out.push_back(e);
      }
    }
    return out;
  }
  std::vector<PodStatusRow> Rows() {
    std::lock_guard<std::mutex> l(mu_);
    return rows_;
  }
  bool SawReady(int ready, int total) {
    for (const auto& r : Rows()) {
      if (r.ready == ready && r.total == total && r.status == "Running") return true;
    }
    return false;
  }

  FakeClock clock_;
  FakeRuntime runtime_;
  std::string volume_root_;
  std::mutex mu_;
  std::vector<PodEvent> events_;
  std::vector<PodStatusRow> rows_;
};

// `cmd` answers: 0 while the container has run less than `healthy_for`, else 1.
std::function<absl::StatusOr<runtime::v1::ExecSyncResponse>(const FakeRuntime::Fake&,
                                                            const std::vector<std::string>&)>
HealthyFor(FakeClock* clock, const std::string& cmd, absl::Duration healthy_for) {
  return [clock, cmd, healthy_for](const FakeRuntime::Fake& c, const std::vector<std::string>& argv)
             -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    if (argv[0] != cmd) return FakeRuntime::ExitCode(0);
    bool healthy = clock->Now() - c.started < healthy_for;
    return FakeRuntime::ExitCode(healthy ? 0 : 1, healthy ? "" : "not healthy");
  };
}

TEST_F(ProbeRunnerTest, LivenessFailureKillsAndRestarts) {
  runtime_.exec = HealthyFor(&clock_, "live", absl::Seconds(5));
  PodRunner runner(&runtime_,
                   Manifest("  terminationGracePeriodSeconds: 9\n"
                            "  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    livenessProbe:\n"
                            "      exec: {command: [live]}\n"
                            "      initialDelaySeconds: 2\n"
                            "      periodSeconds: 1\n"
                            "      failureThreshold: 3\n"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.Named("app").size() >= 3; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto app = runtime_.Named("app");
  ASSERT_GE(app.size(), 3u);
  // Killed after three failures in a row: probes at 2, 3, 4 s pass; 5, 6, 7 s fail.
  absl::Duration ran = app[0].finished - app[0].started;
  EXPECT_GE(ran, absl::Seconds(7));
  EXPECT_LT(ran, absl::Seconds(8));
  EXPECT_EQ(app[0].code, 137);  // stopped by the runner
  EXPECT_EQ(app[1].attempt, 1u);
  EXPECT_EQ(app[2].attempt, 2u);
  EXPECT_EQ(runtime_.stop_timeouts["app"][0], 9);  // the pod's grace
  auto unhealthy = Events("Unhealthy", "app");
  ASSERT_GE(unhealthy.size(), 3u);
  EXPECT_EQ(unhealthy[0].type, "Warning");
  EXPECT_EQ(unhealthy[0].message, "Liveness probe failed: not healthy");
  auto killing = Events("Killing", "app");
  ASSERT_FALSE(killing.empty());
  EXPECT_EQ(killing[0].message, "Container app failed liveness probe, will be restarted");
  // The restarts show in the status rows.
  int restarts = 0;
  for (const auto& r : Rows()) restarts = std::max(restarts, r.restarts);
  EXPECT_GE(restarts, 1);
  // The second attempt was probed afresh (initial delay, three failures) before its kill.
  EXPECT_GE(app[1].finished - app[1].started, absl::Seconds(7));
  EXPECT_GE(app[1].started - app[0].finished, absl::Seconds(1));  // the back-off
}

TEST_F(ProbeRunnerTest, LivenessFailureWithRestartNeverFailsThePod) {
  runtime_.exec = HealthyFor(&clock_, "live", absl::Seconds(2));
  PodRunner runner(&runtime_,
                   Manifest("  restartPolicy: Never\n"
                            "  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    livenessProbe: {exec: {command: [live]}, periodSeconds: 1, "
                            "failureThreshold: 1, terminationGracePeriodSeconds: 4}\n"),
                   Options());
  auto phase = RunUntil(runner, nullptr);
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(*phase, PodPhase::kFailed);
  EXPECT_EQ(runtime_.Count("Create app"), 1);
  EXPECT_EQ(runtime_.stop_timeouts["app"][0], 4);  // the probe's own grace
}

TEST_F(ProbeRunnerTest, ReadinessDrivesTheReadyCount) {
  // `ready` passes from 3 s to 10 s of the container's life; it never kills.
  runtime_.exec = [this](const FakeRuntime::Fake& c, const std::vector<std::string>& argv)
      -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    absl::Duration age = clock_.Now() - c.started;
    bool ok = argv[0] != "ready" || (age >= absl::Seconds(3) && age < absl::Seconds(10));
    return FakeRuntime::ExitCode(ok ? 0 : 1);
  };
  PodRunner runner(&runtime_,
                   Manifest("  containers:\n"
                            "  - name: a\n"
                            "    image: x:1\n"
                            "    readinessProbe: {exec: {command: [ready]}, periodSeconds: 1, "
                            "failureThreshold: 2}\n"
                            "  - {name: b, image: x:1}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] {
    bool was_ready = false;
    for (const auto& r : Rows()) {
      was_ready |= r.ready == 2;
      if (was_ready && r.ready == 1) return true;
    }
    return false;
  });
  ASSERT_TRUE(phase.ok()) << phase.status();
  // 1/2 (b only) → 2/2 → 1/2 again, all while Running and without a restart.
  auto rows = Rows();
  std::vector<int> ready;
  for (const auto& r : rows) {
    if (r.status != "Running") continue;
    if (ready.empty() || ready.back() != r.ready) ready.push_back(r.ready);
  }
  EXPECT_THAT(ready, ElementsAre(1, 2, 1));
  EXPECT_EQ(runtime_.Count("Create a"), 1);
  EXPECT_TRUE(Events("Killing", "a").empty() ||
              Events("Killing", "a").back().message == "Stopping container a");
  EXPECT_FALSE(Events("Unhealthy", "a").empty());
  EXPECT_EQ(Events("Unhealthy", "a")[0].message.rfind("Readiness probe failed", 0), 0u);
}

TEST_F(ProbeRunnerTest, StartupProbeGatesLivenessAndReadiness) {
  // startup passes once the container has run 4 s; liveness and readiness always pass.
  runtime_.exec = [this](const FakeRuntime::Fake& c, const std::vector<std::string>& argv)
      -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    if (argv[0] == "started") {
      return FakeRuntime::ExitCode(clock_.Now() - c.started >= absl::Seconds(4) ? 0 : 1);
    }
    return FakeRuntime::ExitCode(0);
  };
  PodRunner runner(&runtime_,
                   Manifest("  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    startupProbe: {exec: {command: [started]}, periodSeconds: 1, "
                            "failureThreshold: 10}\n"
                            "    livenessProbe: {exec: {command: [live]}, periodSeconds: 1}\n"
                            "    readinessProbe: {exec: {command: [ready]}, periodSeconds: 1}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.Count("Exec app live") >= 2; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto calls = runtime_.Calls();
  int last_startup = -1, first_live = -1, first_ready = -1;
  int startups = 0;
  for (int i = 0; i < static_cast<int>(calls.size()); ++i) {
    if (calls[i] == "Exec app started") {
      last_startup = i;
      ++startups;
    }
    if (calls[i] == "Exec app live" && first_live < 0) first_live = i;
    if (calls[i] == "Exec app ready" && first_ready < 0) first_ready = i;
  }
  EXPECT_EQ(startups, 5);  // at 0, 1, 2, 3 s failing, at 4 s passing; then never again
  EXPECT_GT(first_live, last_startup);
  EXPECT_GT(first_ready, last_startup);
  EXPECT_EQ(runtime_.Count("Create app"), 1);  // 4 failures < failureThreshold 10
  EXPECT_TRUE(SawReady(0, 1));
  EXPECT_TRUE(SawReady(1, 1));
}

TEST_F(ProbeRunnerTest, StartupProbeFailureKillsAndRestarts) {
  runtime_.exec = [](const FakeRuntime::Fake&, const std::vector<std::string>&)
      -> absl::StatusOr<runtime::v1::ExecSyncResponse> { return FakeRuntime::ExitCode(1); };
  PodRunner runner(&runtime_,
                   Manifest("  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    startupProbe: {exec: {command: [started]}, periodSeconds: 2, "
                            "failureThreshold: 3}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.Named("app").size() >= 2; });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto app = runtime_.Named("app");
  ASSERT_GE(app.size(), 2u);
  // Probes at 0, 2, 4 s: killed at the third failure.
  EXPECT_GE(app[0].finished - app[0].started, absl::Seconds(4));
  EXPECT_LT(app[0].finished - app[0].started, absl::Seconds(5));
  ASSERT_FALSE(Events("Killing", "app").empty());
  EXPECT_EQ(Events("Killing", "app")[0].message,
            "Container app failed startup probe, will be restarted");
}

TEST_F(ProbeRunnerTest, SidecarStartupProbeGatesTheNextContainers) {
  runtime_.exec = [this](const FakeRuntime::Fake& c, const std::vector<std::string>& argv)
      -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    bool ok = argv[0] != "up" || clock_.Now() - c.started >= absl::Seconds(3);
    return FakeRuntime::ExitCode(ok ? 0 : 1);
  };
  PodRunner runner(&runtime_,
                   Manifest("  initContainers:\n"
                            "  - name: proxy\n"
                            "    image: x:1\n"
                            "    restartPolicy: Always\n"
                            "    startupProbe: {exec: {command: [up]}, periodSeconds: 1, "
                            "failureThreshold: 30}\n"
                            "  - {name: next, image: x:1, restartPolicy: Always}\n"
                            "  containers:\n"
                            "  - {name: app, image: x:1}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.AllRunning({"app"}); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto proxy = runtime_.Named("proxy");
  auto next = runtime_.Named("next");
  ASSERT_EQ(proxy.size(), 1u);
  ASSERT_EQ(next.size(), 1u);
  // The next sidecar was made only once the proxy's startup probe had passed (at 3 s).
  EXPECT_GE(next[0].created - proxy[0].started, absl::Seconds(3));
  EXPECT_LT(runtime_.IndexOf("Exec proxy up"), runtime_.IndexOf("Create next"));
  bool saw_init_0 = false;
  for (const auto& r : Rows()) saw_init_0 |= r.status == "Init:0/2";
  EXPECT_TRUE(saw_init_0);
}

TEST_F(ProbeRunnerTest, FailingPostStartHookKillsTheContainer) {
  // The hook fails in the first attempt only.
  runtime_.exec =
      [](const FakeRuntime::Fake& c,
         const std::vector<std::string>& argv) -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    if (argv[0] == "hook" && c.attempt == 0) return FakeRuntime::ExitCode(3, "boom");
    return FakeRuntime::ExitCode(0);
  };
  PodRunner runner(&runtime_,
                   Manifest("  terminationGracePeriodSeconds: 6\n"
                            "  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    lifecycle: {postStart: {exec: {command: [hook]}}}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] {
    auto app = runtime_.Named("app");
    return app.size() >= 2 && runtime_.AllRunning({"app"});
  });
  ASSERT_TRUE(phase.ok()) << phase.status();
  auto failed = Events("FailedPostStartHook", "app");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_THAT(failed[0].message, HasSubstr("exited with 3: boom"));
  EXPECT_EQ(failed[0].type, "Warning");
  // Started, hook, killed (with the pod's grace), then made again as attempt 1.
  int start = runtime_.IndexOf("Start app");
  int hook = runtime_.IndexOf("Exec app hook");
  int stop = runtime_.IndexOf("Stop app");
  EXPECT_LT(start, hook);
  EXPECT_LT(hook, stop);
  EXPECT_EQ(runtime_.stop_timeouts["app"][0], 6);
  auto app = runtime_.Named("app");
  ASSERT_EQ(app.size(), 2u);
  EXPECT_EQ(app[1].attempt, 1u);
  EXPECT_EQ(runner.Status().restarts, 1);
}

TEST_F(ProbeRunnerTest, PreStopRunsBeforeStopWithTheRemainingGrace) {
  // app's preStop takes 3 s (of the fake clock); the sidecar's fails.
  runtime_.exec = [this](const FakeRuntime::Fake&, const std::vector<std::string>& argv)
      -> absl::StatusOr<runtime::v1::ExecSyncResponse> {
    if (argv[0] == "drain") clock_.Sleep(absl::Seconds(3));
    return FakeRuntime::ExitCode(argv[0] == "fail" ? 1 : 0);
  };
  PodRunner runner(&runtime_,
                   Manifest("  terminationGracePeriodSeconds: 10\n"
                            "  initContainers:\n"
                            "  - name: side\n"
                            "    image: x:1\n"
                            "    restartPolicy: Always\n"
                            "    lifecycle: {preStop: {exec: {command: [fail]}}}\n"
                            "  containers:\n"
                            "  - name: app\n"
                            "    image: x:1\n"
                            "    lifecycle: {preStop: {exec: {command: [drain]}}}\n"),
                   Options());
  auto phase = RunUntil(runner, [&] { return runtime_.AllRunning({"side", "app"}); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  int drain = runtime_.IndexOf("Exec app drain");
  int stop_app = runtime_.IndexOf("Stop app");
  int fail = runtime_.IndexOf("Exec side fail");
  int stop_side = runtime_.IndexOf("Stop side");
  ASSERT_GE(drain, 0);
  EXPECT_LT(drain, stop_app);
  EXPECT_LT(stop_app, fail);  // regular containers first, then the sidecar's hook
  EXPECT_LT(fail, stop_side);
  EXPECT_EQ(runtime_.stop_timeouts["app"], std::vector<int64_t>{7});  // 10 - 3
  EXPECT_EQ(runtime_.stop_timeouts["side"], std::vector<int64_t>{10});
  auto failed = Events("FailedPreStopHook", "side");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_THAT(failed[0].message, HasSubstr("exited with 1"));
}

TEST_F(ProbeRunnerTest, HttpGetReadinessOnAHostNetworkPod) {
  std::atomic<bool> healthy{false};
  LocalHttpServer server([&](const std::string& req) {
    return absl::StartsWith(req, "GET /healthz ") && healthy.load() ? 200 : 503;
  });
  PodRunner runner(&runtime_,
                   Manifest(absl::StrCat("  hostNetwork: true\n"
                                         "  containers:\n"
                                         "  - name: web\n"
                                         "    image: x:1\n"
                                         "    ports: [{name: http, containerPort: ",
                                         server.port(),
                                         "}]\n"
                                         "    readinessProbe: {httpGet: {path: /healthz, port: "
                                         "http}, periodSeconds: 1}\n")),
                   Options());
  auto phase = RunUntil(runner, [&] {
    if (server.requests().size() >= 2) healthy = true;
    return SawReady(1, 1);
  });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_TRUE(SawReady(0, 1));
  EXPECT_TRUE(SawReady(1, 1));
  EXPECT_GE(server.requests().size(), 3u);
  EXPECT_THAT(Events("Unhealthy", "web").front().message,
              HasSubstr("Readiness probe failed: HTTP probe failed with statuscode: 503"));
}

// kubelet's ProbeWarning: a redirect to another host ends the probe as a success (the container
// becomes ready) with a warning event.
TEST_F(ProbeRunnerTest, ARedirectElsewhereIsASuccessWithAProbeWarning) {
  LocalHttpServer server([&](const std::string&) { return HttpReply(302, "http://localhost:1/"); });
  PodRunner runner(&runtime_,
                   Manifest(absl::StrCat("  hostNetwork: true\n"
                                         "  containers:\n"
                                         "  - name: web\n"
                                         "    image: x:1\n"
                                         "    readinessProbe: {httpGet: {path: /healthz, port: ",
                                         server.port(), "}, periodSeconds: 1}\n")),
                   Options());
  auto phase = RunUntil(runner, [&] { return SawReady(1, 1) && !Events("ProbeWarning").empty(); });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_TRUE(SawReady(1, 1));
  auto warnings = Events("ProbeWarning", "web");
  ASSERT_FALSE(warnings.empty());
  EXPECT_EQ(warnings[0].type, "Warning");
  EXPECT_THAT(warnings[0].message,
              HasSubstr("Readiness probe warning: Probe terminated redirects, Response body: "
                        "status 302"));
  EXPECT_TRUE(Events("Unhealthy").empty());
}

TEST_F(ProbeRunnerTest, ConfigMapVolumeIsWrittenAndRemoved) {
  auto pods = ParseManifests(kConfigMapFile);
  ASSERT_TRUE(pods.ok()) << pods.status();
  PodManifest pod = (*pods)[0];
  pod.uid = "uid-cm";
  PodRunner runner(&runtime_, pod, Options());
  std::string conf, blob;
  mode_t blob_mode = 0;
  auto phase = RunUntil(runner, [&] {
    if (!runtime_.AllRunning({"app"})) return false;
    const std::string dir = volume_root_ + "/uid-cm/volumes/";
    std::ifstream(dir + "conf/app.conf") >> conf;
    std::ifstream(dir + "some/bin/blob") >> blob;
    struct stat st = {};
    if (stat((dir + "some/bin/blob").c_str(), &st) == 0) blob_mode = st.st_mode & 07777;
    return true;
  });
  ASSERT_TRUE(phase.ok()) << phase.status();
  EXPECT_EQ(conf, "listen");
  EXPECT_EQ(blob, "hello");
  EXPECT_EQ(blob_mode, 0755u);
  EXPECT_FALSE(std::filesystem::exists(volume_root_ + "/uid-cm"));
}

}  // namespace
}  // namespace tether::podrunner
