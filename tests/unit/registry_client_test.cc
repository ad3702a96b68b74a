// The registry client: config parsing, challenge and manifest helpers, a fake HTTP server for the
// token flow and odd answers, and a real local registry (Debian's docker-registry) for the rest.
#include "image/registry_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "image/digest.h"
#include "image/reference.h"
#include "image/registry_auth.h"
#include "image/registry_config.h"
#include "image/registry_http.h"
#include "image/registry_manifest.h"
#include "nlohmann/json.hpp"
#include "util/file.h"
#include "util/id.h"
#include "util/process.h"

extern char** environ;

namespace tether {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kRegistryBinary[] = "/usr/bin/docker-registry";
constexpr char kSkopeoBinary[] = "/usr/bin/skopeo";
constexpr char kHtpasswdBinary[] = "/usr/bin/htpasswd";

absl::Time Soon(int seconds = 30) { return absl::Now() + absl::Seconds(seconds); }

std::string TempDir(const std::string& tag) {
  std::string d =
      std::filesystem::temp_directory_path() / ("tether-reg-" + tag + "-" + NewId().substr(0, 8));
  EXPECT_TRUE(MakeDirs(d).ok());
  return d;
}

// A TCP port nobody listens on (bound, then released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

Reference Ref(const std::string& s) {
  absl::StatusOr<Reference> r = ParseReference(s);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Reference{};
}

RegistryClientOptions Options(const json& registries = json::object()) {
  RegistryClientOptions o;
  absl::StatusOr<RegistryConfig> c = ParseRegistryConfig(registries);
  EXPECT_TRUE(c.ok()) << c.status();
  if (c.ok()) o.config = *c;
  o.platform = {"linux", "amd64", ""};
  o.connect_timeout = absl::Seconds(5);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Registry configuration

TEST(RegistryConfig, ParsesTheIssueShape) {
  json j = json::parse(R"({
    "registry.k8s.io": {"mirrors": ["http://127.0.0.1:5000", "mirror.example.com/", "localhost:6000"]},
    "myreg:5000": {"insecure": true, "auth": {"username": "u", "password": "p"}},
    "b64.example.com": {"auth": {"auth": "dXNlcjpwYTpzcw=="}},
    "tok.example.com": {"auth": {"identity_token": "refresh", "registry_token": "bearer"}},
    "index.docker.io": {"mirrors": ["https://mirror.gcr.io"]}
  })");
  absl::StatusOr<RegistryConfig> c = ParseRegistryConfig(j);
  ASSERT_TRUE(c.ok()) << c.status();
  const RegistryHostConfig& k8s = c->hosts.at("registry.k8s.io");
  EXPECT_THAT(k8s.mirrors,
              ::testing::ElementsAre("http://127.0.0.1:5000", "https://mirror.example.com",
                                     "http://localhost:6000"));
  EXPECT_FALSE(k8s.insecure);
  EXPECT_TRUE(c->hosts.at("myreg:5000").insecure);
  EXPECT_EQ(c->hosts.at("myreg:5000").auth.username, "u");
  EXPECT_EQ(c->hosts.at("myreg:5000").auth.password, "p");
  EXPECT_EQ(c->hosts.at("b64.example.com").auth.username, "user");
  EXPECT_EQ(c->hosts.at("b64.example.com").auth.password, "pa:ss");
  EXPECT_EQ(c->hosts.at("tok.example.com").auth.identity_token, "refresh");
  EXPECT_EQ(c->hosts.at("tok.example.com").auth.registry_token, "bearer");
  // index.docker.io is docker.io.
  EXPECT_EQ(c->ForHost("docker.io").mirrors.size(), 1u);
}

TEST(RegistryConfig, LoopbackIsInsecureByDefault) {
  RegistryConfig c;
  EXPECT_TRUE(c.ForHost("localhost").insecure);
  EXPECT_TRUE(c.ForHost("localhost:5000").insecure);
  EXPECT_TRUE(c.ForHost("127.0.0.1:5000").insecure);
  EXPECT_TRUE(c.ForHost("127.1.2.3").insecure);
  EXPECT_TRUE(c.ForHost("[::1]:5000").insecure);
  EXPECT_FALSE(c.ForHost("docker.io").insecure);
  EXPECT_FALSE(c.ForHost("localhost.example.com").insecure);
  EXPECT_FALSE(c.ForHost("myreg:5000").insecure);
  // An explicit setting wins.
  auto parsed = ParseRegistryConfig(json::parse(R"({"localhost:5000": {"insecure": false}})"));
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->ForHost("localhost:5000").insecure);
  EXPECT_EQ(RegistryApiHost("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(RegistryApiHost("quay.io"), "quay.io");
  EXPECT_EQ(UrlHost("https://Host:5000/x/y"), "host:5000");
}

TEST(RegistryConfig, ErrorsNameTheKey) {
  struct Case {
    const char* json;
    const char* key;
  } cases[] = {
      {R"([])", "registries"},
      {R"({"r.io": []})", "registries.r.io"},
      {R"({"r.io": {"mirror": []}})", "registries.r.io.mirror"},
      {R"({"r.io": {"mirrors": "http://x"}})", "registries.r.io.mirrors"},
      {R"({"r.io": {"mirrors": [1]}})", "registries.r.io.mirrors"},
      {R"({"r.io": {"mirrors": ["ftp://x"]}})", "registries.r.io.mirrors"},
      {R"({"r.io": {"mirrors": ["http://u:p@x"]}})", "registries.r.io.mirrors"},
      {R"({"r.io": {"insecure": "yes"}})", "registries.r.io.insecure"},
      {R"({"r.io": {"auth": "u:p"}})", "registries.r.io.auth"},
      {R"({"r.io": {"auth": {"username": 1}}})", "registries.r.io.auth.username"},
      {R"({"r.io": {"auth": {"user": "x"}}})", "registries.r.io.auth.user"},
      {R"({"r.io": {"auth": {"auth": "!!!"}}})", "registries.r.io.auth.auth"},
      {R"({"r.io": {"auth": {"auth": "bm9jb2xvbg=="}}})", "registries.r.io.auth.auth"},
      {R"({"https://r.io": {}})", "registries.https://r.io"},
      {R"({"docker.io": {}, "index.docker.io": {}})", "registries.index.docker.io"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RegistryConfig> r = ParseRegistryConfig(json::parse(c.json));
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("\"", c.key, "\""))) << c.json;
  }
  EXPECT_TRUE(ParseRegistryConfig(json()).ok());  // null: no registries
}

TEST(RegistryAuth, NormalizeDecodesAuth) {
  RegistryAuth a;
  a.auth = absl::Base64Escape("alice:s3:cret");
  ASSERT_TRUE(a.Normalize().ok());
  EXPECT_EQ(a.username, "alice");
  EXPECT_EQ(a.password, "s3:cret");
  RegistryAuth bad;
  bad.auth = "***";
  EXPECT_EQ(bad.Normalize().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(RegistryAuth{}.empty());
}

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate and token responses

TEST(RegistryAuthChallenge, ParsesBearerAndBasic) {
  auto c = ParseWwwAuthenticate(
      {R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push")"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c[0].params["service"], "registry.docker.io");
  EXPECT_EQ(c[0].params["scope"], "repository:library/busybox:pull,push");

  c = ParseWwwAuthenticate(
      {R"(Basic realm="x, y", Bearer Realm=http://t/token, error="a\"b")", "Negotiate"});
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params["realm"], "x, y");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params["realm"], "http://t/token");
  EXPECT_EQ(c[1].params["error"], "a\"b");
  EXPECT_EQ(c[2].scheme, "negotiate");
  EXPECT_TRUE(ParseWwwAuthenticate({""}).empty());
}

TEST(RegistryAuthChallenge, ParsesTokenResponses) {
  auto t =
      ParseTokenResponse(R"({"token":"a","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->token, "a");
  EXPECT_EQ(t->expires_in, absl::Seconds(300));
  t = ParseTokenResponse(R"({"access_token":"b","refresh_token":"r"})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->token, "b");
  EXPECT_EQ(t->expires_in, absl::Seconds(60));
  EXPECT_EQ(t->refresh_token, "r");
  EXPECT_FALSE(ParseTokenResponse("{}").ok());
  EXPECT_FALSE(ParseTokenResponse("<html>").ok());
}

// ---------------------------------------------------------------------------------------------
// Manifests and platforms

std::string Dg(char c) { return "sha256:" + std::string(64, c); }

TEST(RegistryManifest, DetectsMediaTypesAndRejectsSchema1) {
  EXPECT_EQ(*DetectManifestMediaType(kMediaTypeOciIndex, "{}"), kMediaTypeOciIndex);
  EXPECT_EQ(*DetectManifestMediaType(std::string(kMediaTypeDockerManifest) + "; charset=utf-8", ""),
            kMediaTypeDockerManifest);
  EXPECT_EQ(
      *DetectManifestMediaType(
          "application/json",
          R"({"mediaType":")" + std::string(kMediaTypeDockerManifestList) + R"(","manifests":[]})"),
      kMediaTypeDockerManifestList);
  EXPECT_EQ(*DetectManifestMediaType("", R"({"schemaVersion":2,"manifests":[]})"),
            kMediaTypeOciIndex);
  EXPECT_EQ(
      *DetectManifestMediaType("text/plain", R"({"schemaVersion":2,"config":{},"layers":[]})"),
      kMediaTypeOciManifest);
  for (const auto& [ct, body] : std::vector<std::pair<std::string, std::string>>{
           {kMediaTypeDockerSchema1, "{}"},
           {kMediaTypeDockerSchema1Signed, "{}"},
           {"application/json", R"({"schemaVersion":1,"fsLayers":[]})"}}) {
    auto r = DetectManifestMediaType(ct, body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(r.status().message(), HasSubstr("schema 1 manifests are not supported"));
  }
  EXPECT_FALSE(DetectManifestMediaType("application/json", "not json").ok());
  EXPECT_FALSE(DetectManifestMediaType("application/json", R"({"mediaType":"x/y"})").ok());
}

TEST(RegistryManifest, ParsesManifests) {
  json m = {{"schemaVersion", 2},
            {"config", {{"mediaType", "c"}, {"digest", Dg('c')}, {"size", 7}}},
            {"layers",
             {{{"mediaType", "l"}, {"digest", Dg('1')}, {"size", 10}},
              {{"mediaType", "l"}, {"digest", Dg('2')}, {"size", 20}}}}};
  auto p = ParseImageManifest(m.dump());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config, (Descriptor{"c", Dg('c'), 7}));
  ASSERT_EQ(p->layers.size(), 2u);
  EXPECT_EQ(p->layers[1], (Descriptor{"l", Dg('2'), 20}));
  json bad = m;
  bad["layers"][0]["digest"] = "sha256:nope";
  EXPECT_EQ(ParseImageManifest(bad.dump()).status().code(), absl::StatusCode::kFailedPrecondition);
  bad = m;
  bad["layers"][0]["size"] = -1;
  EXPECT_FALSE(ParseImageManifest(bad.dump()).ok());
  bad = m;
  bad.erase("config");
  EXPECT_FALSE(ParseImageManifest(bad.dump()).ok());
}

json Entry(char d, const std::string& os, const std::string& arch, const std::string& variant = "",
           bool attestation = false) {
  json e = {{"mediaType", kMediaTypeOciManifest}, {"digest", Dg(d)}, {"size", 1}};
  e["platform"] = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) e["platform"]["variant"] = variant;
  if (attestation) {
    e["annotations"] = {{"vnd.docker.reference.type", "attestation-manifest"},
                        {"vnd.docker.reference.digest", Dg('0')}};
  }
  return e;
}

absl::StatusOr<Descriptor> Select(const std::vector<json>& entries, const Platform& p) {
  json idx = {{"schemaVersion", 2}, {"manifests", entries}};
  auto parsed = ParseIndex(idx.dump());
  if (!parsed.ok()) return parsed.status();
  return SelectPlatform(*parsed, p);
}

TEST(RegistryManifest, SelectsThePlatform) {
  const Platform amd64{"linux", "amd64", ""};
  // Attestations are ignored even when their platform would match.
  auto d = Select({Entry('a', "linux", "amd64", "", true), Entry('b', "linux", "arm64", "v8"),
                   Entry('c', "linux", "amd64"), Entry('d', "windows", "amd64")},
                  amd64);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->digest, Dg('c'));
  // An exact os/arch beats a generic entry without a platform.
  json noplat = {{"mediaType", kMediaTypeOciManifest}, {"digest", Dg('e')}, {"size", 1}};
  d = Select({noplat, Entry('c', "linux", "x86_64")}, amd64);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, Dg('c'));
  d = Select({noplat}, amd64);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, Dg('e'));
  // amd64 with a required micro-architecture level is not run on a plain amd64 node...
  d = Select({Entry('3', "linux", "amd64", "v3")}, amd64);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  // ...but a v3 node prefers v3, then v2, then generic.
  d = Select({Entry('9', "linux", "amd64"), Entry('2', "linux", "amd64", "v2"),
              Entry('3', "linux", "amd64", "v3")},
             {"linux", "amd64", "v3"});
  EXPECT_EQ(d->digest, Dg('3'));
  d = Select({Entry('9', "linux", "amd64"), Entry('2', "linux", "amd64", "v2")},
             {"linux", "amd64", "v3"});
  EXPECT_EQ(d->digest, Dg('2'));
  // arm: v7 runs v6, not v8; arm64's v8 is the same as no variant.
  d = Select({Entry('6', "linux", "arm", "v6"), Entry('8', "linux", "arm", "v8")},
             {"linux", "arm", "v7"});
  EXPECT_EQ(d->digest, Dg('6'));
  d = Select({Entry('8', "linux", "arm64", "v8")}, {"linux", "aarch64", ""});
  EXPECT_EQ(d->digest, Dg('8'));
  // Nothing fits: NOT_FOUND listing what there is.
  d = Select({Entry('b', "linux", "arm64"), Entry('d', "windows", "amd64")}, amd64);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(d.status().message(), HasSubstr("linux/amd64"));
  EXPECT_THAT(d.status().message(), HasSubstr("linux/arm64, windows/amd64"));
}

TEST(RegistryManifest, HostPlatformIsLinux) {
  EXPECT_EQ(Platform::Host().os, "linux");
#if defined(__x86_64__)
  EXPECT_EQ(Platform::Host().architecture, "amd64");
#endif
}

// ---------------------------------------------------------------------------------------------
// A fake HTTP server: one connection at a time, "Connection: close" answers.

struct FakeRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t send_only = std::string::npos;  // send this much of the body, then close
};

class FakeServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;
  explicit FakeServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 64);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string host() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string url() const { return "http://" + host(); }
  int port() const { return port_; }
  std::vector<FakeRequest> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      Serve(c);
      close(c);
    }
  }
  bool ReadMore(int c, std::string* buf) {
    pollfd p{c, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) return false;
    char tmp[65536];
    ssize_t n = read(c, tmp, sizeof(tmp));
    if (n <= 0) return false;
    buf->append(tmp, static_cast<size_t>(n));
    return true;
  }
  void Serve(int c) {
    std::string buf;
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(c, &buf)) return;
    }
    FakeRequest r;
    std::vector<std::string> lines = absl::StrSplit(buf.substr(0, end), "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    if (first.size() < 2) return;
    r.method = first[0];
    r.target = first[1];
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      std::string name = lines[i].substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(tolower(ch));
      r.headers[name] = std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    size_t want = 0;
    if (!r.Header("content-length").empty()) want = std::stoul(r.Header("content-length"));
    r.body = buf.substr(end + 4);
    while (r.body.size() < want) {
      if (!ReadMore(c, &r.body)) return;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(r);
    }
    FakeResponse resp = handler_(r);
    std::string out = absl::StrCat("HTTP/1.1 ", resp.status, " Fake\r\n");
    for (const auto& [k, v] : resp.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
    absl::StrAppend(&out, "Content-Length: ", resp.body.size(), "\r\nConnection: close\r\n\r\n");
    out += resp.body.substr(0, resp.send_only);
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<FakeRequest> requests_;
  std::thread thread_;
};

// A listening socket that never accepts: connections complete (backlog) and then hang.
class HangingListener {
 public:
  HangingListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~HangingListener() { close(fd_); }
  std::string host() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_;
  int port_;
};

// A small image in memory: a manifest over `layer`.
struct FakeImage {
  std::string layer = "layer bytes, not really a tarball";
  std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}})";
  std::string manifest;
  FakeImage() {
    manifest = json{{"schemaVersion", 2},
                    {"mediaType", kMediaTypeOciManifest},
                    {"config",
                     {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                      {"digest", Sha256Digest(config)},
                      {"size", config.size()}}},
                    {"layers",
                     {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                       {"digest", Sha256Digest(layer)},
                       {"size", layer.size()}}}}}
                   .dump();
  }
  Descriptor layer_descriptor() const {
    return {"application/vnd.oci.image.layer.v1.tar+gzip", Sha256Digest(layer),
            static_cast<int64_t>(layer.size())};
  }
};

FakeResponse Unauthorized(const std::string& challenge) {
  return {401,
          {{"WWW-Authenticate", challenge}, {"Content-Type", "application/json"}},
          R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})"};
}

// Serves `img` as team/app:v1 behind a bearer token from `token_server`.
FakeServer::Handler BearerRegistry(const FakeImage& img, const std::string* realm,
                                   const std::string& token) {
  return [&img, realm, token](const FakeRequest& r) -> FakeResponse {
    if (r.Header("authorization") != "Bearer " + token) {
      return Unauthorized(
          absl::StrCat("Bearer realm=\"", *realm,
                       "\",service=\"fake-registry\",scope=\"repository:team/app:pull\""));
    }
    if (r.target == "/v2/team/app/manifests/v1") {
      return {200, {{"Content-Type", kMediaTypeOciManifest}}, img.manifest};
    }
    if (r.target == "/v2/team/app/blobs/" + Sha256Digest(img.layer)) return {200, {}, img.layer};
    return {404, {}, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"};
  };
}

TEST(RegistryClientFake, BearerTokenFlowWithBasicCredentialsAndCaching) {
  FakeImage img;
  std::atomic<int> token_calls{0};
  FakeServer auth([&](const FakeRequest& r) -> FakeResponse {
    ++token_calls;
    if (r.Header("authorization") != "Basic " + absl::Base64Escape("alice:secret")) {
      return {401, {}, "{}"};
    }
    return {200, {{"Content-Type", "application/json"}}, R"({"token":"tok-1","expires_in":300})"};
  });
  std::string realm = auth.url() + "/token";
  FakeServer reg(BearerRegistry(img, &realm, "tok-1"));
  RegistryClient client(Options());
  Reference ref = Ref(reg.host() + "/team/app:v1");
  RegistryAuth creds{.username = "alice", .password = "secret"};

  absl::StatusOr<ResolvedManifest> m = client.Resolve(ref, &creds, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repo_digest, Sha256Digest(img.manifest));
  EXPECT_EQ(m->manifest_digest, Sha256Digest(img.manifest));
  EXPECT_EQ(m->media_type, kMediaTypeOciManifest);
  EXPECT_EQ(m->manifest_json, img.manifest);
  EXPECT_EQ(m->config_digest, Sha256Digest(img.config));
  EXPECT_EQ(m->config_size, static_cast<int64_t>(img.config.size()));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0], img.layer_descriptor());
  EXPECT_EQ(m->endpoint, reg.url());
  EXPECT_EQ(token_calls, 1);
  auto treqs = auth.requests();
  ASSERT_EQ(treqs.size(), 1u);
  EXPECT_EQ(treqs[0].method, "GET");
  EXPECT_THAT(treqs[0].target, HasSubstr("service=fake-registry"));
  EXPECT_THAT(treqs[0].target, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));

  // The token is cached: another resolve and a blob fetch need no new token and no 401.
  size_t before = reg.requests().size();
  ASSERT_TRUE(client.Resolve(ref, &creds, Soon()).ok());
  std::string got;
  absl::Status s =
      client.FetchBlob(ref, *m, m->layers[0], &creds, Soon(), [&](const char* d, size_t n) {
        got.append(d, n);
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(got, img.layer);
  EXPECT_EQ(token_calls, 1);
  EXPECT_EQ(reg.requests().size(), before + 2);

  // Other credentials do not get that token: a new token request, which fails here.
  RegistryAuth wrong{.username = "alice", .password = "wrong"};
  m = client.Resolve(ref, &wrong, Soon());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnauthenticated) << m.status();
  EXPECT_THAT(m.status().message(), HasSubstr("credentials rejected"));
  EXPECT_THAT(m.status().message(), ::testing::Not(HasSubstr("wrong")));
  EXPECT_EQ(token_calls, 2);
}

TEST(RegistryClientFake, AnonymousTokenAndRegistryToken) {
  FakeImage img;
  FakeServer auth([&](const FakeRequest& r) -> FakeResponse {
    EXPECT_EQ(r.Header("authorization"), "");
    return {200, {}, R"({"access_token":"anon"})"};
  });
  std::string realm = auth.url() + "/token?x=1";  // a realm with a query string
  FakeServer reg(BearerRegistry(img, &realm, "anon"));
  RegistryClient client(Options());
  Reference ref = Ref(reg.host() + "/team/app:v1");
  absl::StatusOr<ResolvedManifest> m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(auth.requests().size(), 1u);
  EXPECT_THAT(auth.requests()[0].target, HasSubstr("/token?x=1&service="));

  // A registry token is sent as-is, with no token server involved.
  RegistryAuth rt{.registry_token = "anon"};
  RegistryClient client2(Options());
  ASSERT_TRUE(client2.Resolve(ref, &rt, Soon()).ok());
  EXPECT_EQ(auth.requests().size(), 1u);
}

TEST(RegistryClientFake, IdentityTokenUsesOAuthPost) {
  FakeImage img;
  FakeServer auth([&](const FakeRequest& r) -> FakeResponse {
    if (r.method != "POST") return {405, {}, ""};
    EXPECT_EQ(r.Header("content-type"), "application/x-www-form-urlencoded");
    EXPECT_THAT(r.body, HasSubstr("grant_type=refresh_token"));
    EXPECT_THAT(r.body, HasSubstr("refresh_token=my%2Frefresh"));
    EXPECT_THAT(r.body, HasSubstr("service=fake-registry"));
    EXPECT_THAT(r.body, HasSubstr("scope=repository%3Ateam%2Fapp%3Apull"));
    return {200, {}, R"({"access_token":"oauth","expires_in":120,"refresh_token":"new"})"};
  });
  std::string realm = auth.url() + "/token";
  FakeServer reg(BearerRegistry(img, &realm, "oauth"));
  RegistryClient client(
      Options(json{{reg.host(), {{"auth", {{"identity_token", "my/refresh"}}}}}}));
  absl::StatusOr<ResolvedManifest> m =
      client.Resolve(Ref(reg.host() + "/team/app:v1"), nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(auth.requests().size(), 1u);
  EXPECT_EQ(auth.requests()[0].method, "POST");
}

TEST(RegistryClientFake, RejectsSchema1AndOversizedManifests) {
  std::string big =
      R"({"schemaVersion":2,"config":{},"layers":[],"pad":")" + std::string(5 << 20, 'x') + "\"}";
  FakeServer reg([&](const FakeRequest& r) -> FakeResponse {
    if (absl::EndsWith(r.target, "/manifests/old")) {
      return {200,
              {{"Content-Type", kMediaTypeDockerSchema1Signed}},
              R"({"schemaVersion":1,"name":"x","tag":"old","fsLayers":[]})"};
    }
    if (absl::EndsWith(r.target, "/manifests/oldjson")) {
      return {200, {{"Content-Type", "application/json"}}, R"({"schemaVersion":1})"};
    }
    return {200, {{"Content-Type", kMediaTypeOciManifest}}, big};
  });
  RegistryClient client(Options());
  for (const char* tag : {"old", "oldjson"}) {
    auto m = client.Resolve(Ref(reg.host() + "/x:" + tag), nullptr, Soon());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(m.status().message(), HasSubstr("schema 1 manifests are not supported"));
  }
  auto m = client.Resolve(Ref(reg.host() + "/x:big"), nullptr, Soon());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(m.status().message(), HasSubstr("manifest too large"));
}

TEST(RegistryClientFake, VerifiesDigestsOfManifests) {
  FakeImage img;
  FakeServer reg([&](const FakeRequest& r) -> FakeResponse {
    if (absl::EndsWith(r.target, "/manifests/lying")) {
      return {200,
              {{"Content-Type", kMediaTypeOciManifest}, {"Docker-Content-Digest", Dg('f')}},
              img.manifest};
    }
    return {200, {{"Content-Type", kMediaTypeOciManifest}}, img.manifest};
  });
  RegistryClient client(Options());
  // Pulling by digest: the bytes must hash to it.
  auto m = client.Resolve(Ref(reg.host() + "/x@" + Dg('e')), nullptr, Soon());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(m.status().message(), HasSubstr(Dg('e')));
  // A Docker-Content-Digest that disagrees with the bytes.
  m = client.Resolve(Ref(reg.host() + "/x:lying"), nullptr, Soon());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  // By the right digest, it works.
  m = client.Resolve(Ref(reg.host() + "/x@" + Sha256Digest(img.manifest)), nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repo_digest, Sha256Digest(img.manifest));
}

TEST(RegistryClientFake, RedirectedBlobDropsCredentials) {
  FakeImage img;
  FakeServer storage([&](const FakeRequest&) -> FakeResponse { return {200, {}, img.layer}; });
  FakeServer reg([&](const FakeRequest& r) -> FakeResponse {
    if (r.Header("authorization") != "Basic " + absl::Base64Escape("u:p")) {
      return Unauthorized("Basic realm=\"fake\"");
    }
    if (absl::StrContains(r.target, "/blobs/")) {
      return {307, {{"Location", absl::StrCat("http://localhost:", storage.port(), "/data")}}, ""};
    }
    return {200, {{"Content-Type", kMediaTypeOciManifest}}, img.manifest};
  });
  RegistryClient client(Options());
  Reference ref = Ref(reg.host() + "/team/app:v1");
  RegistryAuth creds{.username = "u", .password = "p"};
  auto m = client.Resolve(ref, &creds, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  std::string got;
  absl::Status s = client.FetchBlob(ref, *m, img.layer_descriptor(), &creds, Soon(),
                                    [&](const char* d, size_t n) {
                                      got.append(d, n);
                                      return absl::OkStatus();
                                    });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(got, img.layer);
  ASSERT_EQ(storage.requests().size(), 1u);
  EXPECT_EQ(storage.requests()[0].Header("authorization"), "");
}

TEST(RegistryClientFake, BlobVerificationSinkErrorsAndResume) {
  FakeImage img;
  std::string layer(200000, 'L');
  for (size_t i = 0; i < layer.size(); ++i) layer[i] = static_cast<char>('a' + i % 26);
  std::atomic<bool> honour_range{true};
  // The first mirror breaks off half-way; the second honours Range (or not).
  FakeServer m1([&](const FakeRequest& r) -> FakeResponse {
    if (absl::StrContains(r.target, "/manifests/")) {
      return {200, {{"Content-Type", kMediaTypeOciManifest}}, img.manifest};
    }
    if (absl::EndsWith(r.target, Dg('b'))) return {200, {}, layer};  // wrong content
    return {200, {}, layer, layer.size() / 2};
  });
  FakeServer m2([&](const FakeRequest& r) -> FakeResponse {
    std::string range = r.Header("range");
    if (honour_range && absl::StartsWith(range, "bytes=")) {
      size_t from = std::stoul(range.substr(6));
      return {206,
              {{"Content-Range",
                absl::StrCat("bytes ", from, "-", layer.size() - 1, "/", layer.size())}},
              layer.substr(from)};
    }
    return {200, {}, layer};
  });
  RegistryClient client(Options(json{{"reg.invalid", {{"mirrors", {m1.url(), m2.url()}}}}}));
  Reference ref = Ref("reg.invalid/team/app:v1");
  auto m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->endpoint, m1.url());
  Descriptor d{"x", Sha256Digest(layer), static_cast<int64_t>(layer.size())};
  for (bool range : {true, false}) {
    honour_range = range;
    std::string got;
    absl::Status s = client.FetchBlob(ref, *m, d, nullptr, Soon(), [&](const char* p, size_t n) {
      got.append(p, n);
      return absl::OkStatus();
    });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_TRUE(got == layer) << "range=" << range << " got " << got.size() << " bytes";
  }
  EXPECT_EQ(m2.requests()[0].Header("range"), absl::StrCat("bytes=", layer.size() / 2, "-"));

  // Content that does not hash to the digest: DATA_LOSS naming it.
  Descriptor wrong{"x", Dg('b'), static_cast<int64_t>(layer.size())};
  absl::Status s = client.FetchBlob(ref, *m, wrong, nullptr, Soon(),
                                    [](const char*, size_t) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr(Dg('b')));

  // A sink error stops the transfer and is returned as is.
  int calls = 0;
  s = client.FetchBlob(ref, *m, d, nullptr, Soon(), [&](const char*, size_t) {
    ++calls;
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "disk full");
  EXPECT_EQ(calls, 1);

  // Bad descriptors are refused up front.
  EXPECT_EQ(client
                .FetchBlob(ref, *m, {"x", "sha256:zz", 1}, nullptr, Soon(),
                           [](const char*, size_t) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RegistryClientFake, DeadlineAndCancel) {
  HangingListener hang;
  RegistryClient client(Options());
  Reference ref = Ref(hang.host() + "/x:y");
  absl::Time start = absl::Now();
  auto m = client.Resolve(ref, nullptr, absl::Now() + absl::Milliseconds(300));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_THAT(m.status().message(), HasSubstr(ref.String()));
  // A deadline already past.
  m = client.Resolve(ref, nullptr, absl::Now() - absl::Seconds(1));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded);

  // Cancellation while waiting on a silent server.
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(200));
    cancel = true;
  });
  start = absl::Now();
  m = client.Resolve(ref, nullptr, Soon(), &cancel);
  canceller.join();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kCancelled) << m.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  ResolvedManifest where;
  where.endpoint = "http://" + hang.host();
  absl::Status s = client.FetchBlob(
      ref, where, {"x", Dg('a'), 1}, nullptr, Soon(),
      [](const char*, size_t) { return absl::OkStatus(); }, &cancel);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

TEST(RegistryClientFake, ErrorsMapToCodes) {
  FakeServer reg([&](const FakeRequest& r) -> FakeResponse {
    if (absl::EndsWith(r.target, ":denied")) return {403, {}, "{}"};
    if (absl::EndsWith(r.target, "/manifests/busy")) return {503, {}, "overloaded"};
    if (absl::EndsWith(r.target, "/manifests/slow")) return {429, {}, "{}"};
    if (absl::EndsWith(r.target, "/manifests/weird")) return {418, {}, "{}"};
    return {
        404, {}, R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]})"};
  });
  RegistryClient client(Options());
  auto code = [&](const std::string& tag) {
    return client.Resolve(Ref(reg.host() + "/x:" + tag), nullptr, Soon()).status();
  };
  absl::Status s = code("missing");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr(reg.host() + "/x:missing"));
  EXPECT_THAT(s.message(), HasSubstr("NAME_UNKNOWN"));
  EXPECT_EQ(code("busy").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code("slow").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(code("weird").code(), absl::StatusCode::kUnknown);
  // Connection refused: UNAVAILABLE naming the endpoint.
  int closed = FreePort();
  s = client.Resolve(Ref(absl::StrCat("127.0.0.1:", closed, "/x:y")), nullptr, Soon()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(),
              HasSubstr(absl::StrCat("http://127.0.0.1:", closed, "/v2/x/manifests/y")));
}

// ---------------------------------------------------------------------------------------------
// A real registry: Debian's docker-registry (distribution 2.8), images pushed with skopeo.

bool Executable(const char* path) { return access(path, X_OK) == 0; }

class RegistryProcess {
 public:
  // Starts docker-registry on 127.0.0.1 with storage under `dir`; with `htpasswd`, Basic auth.
  static absl::StatusOr<std::unique_ptr<RegistryProcess>> Start(const std::string& dir,
                                                                const std::string& htpasswd) {
    absl::Status last = absl::UnavailableError("not started");
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto p = std::unique_ptr<RegistryProcess>(new RegistryProcess());
      p->port_ = FreePort();
      std::string config = absl::StrCat(
          "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n",
          "storage:\n  filesystem:\n    rootdirectory: ", dir,
          "/data\n  delete:\n    enabled: true\n", "http:\n  addr: 127.0.0.1:", p->port_, "\n");
      if (!htpasswd.empty()) {
        absl::StrAppend(&config, "auth:\n  htpasswd:\n    realm: tether-test\n    path: ", htpasswd,
                        "\n");
      }
      std::string config_path = dir + "/config.yml";
      if (absl::Status s = WriteFileAtomic(config_path, config); !s.ok()) return s;
      std::string log = dir + "/registry.log";
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&fa, 1, 2);
      std::vector<std::string> args = {kRegistryBinary, "serve", config_path};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int rc = posix_spawn(&p->pid_, kRegistryBinary, &fa, nullptr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&fa);
      if (rc != 0) return absl::InternalError(absl::StrCat("posix_spawn: ", strerror(rc)));
      HttpClient http;
      absl::Time until = absl::Now() + absl::Seconds(20);
      bool ready = false, exited = false;
      while (absl::Now() < until) {
        int status;
        if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
          exited = true;
          p->pid_ = -1;
          break;
        }
        HttpRequest req;
        req.url = p->url() + "/v2/";
        req.deadline = absl::Now() + absl::Seconds(1);
        auto resp = http.Do(req);
        if (resp.ok() && (resp->status == 200 || resp->status == 401)) {
          ready = true;
          break;
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
      if (ready) return p;
      auto text = ReadFile(log);
      last = absl::UnavailableError(absl::StrCat("docker-registry did not come up",
                                                 exited ? " (exited)" : "", ": ",
                                                 text.ok() ? *text : ""));
    }
    return last;
  }
  ~RegistryProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string host() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string url() const { return "http://" + host(); }

 private:
  RegistryProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
};

struct TestImage {
  std::string layer, config, manifest;
  std::string layer_digest, config_digest, manifest_digest;
};

// A one-layer image: a tar.gz of a couple of files, its config and an OCI manifest.
absl::StatusOr<TestImage> MakeImage(const std::string& work, const std::string& arch,
                                    const std::string& marker) {
  std::string rootfs = absl::StrCat(work, "/rootfs-", marker);
  for (const auto& [path, content] : std::vector<std::pair<std::string, std::string>>{
           {"/hello.txt", "hello from " + marker + "\n"}, {"/etc/motd", "tether test image\n"}}) {
    if (auto s = MakeDirs(std::filesystem::path(rootfs + path).parent_path()); !s.ok()) return s;
    if (auto s = WriteFileAtomic(rootfs + path, content); !s.ok()) return s;
  }
  std::string tar = absl::StrCat(work, "/layer-", marker, ".tar");
  auto t = RunChecked({.argv = {"tar", "-C", rootfs, "--owner=0", "--group=0", "--numeric-owner",
                                "--mtime=@0", "-cf", tar, "."},
                       .timeout = std::chrono::seconds(30)});
  if (!t.ok()) return t.status();
  auto tar_bytes = ReadFile(tar);
  if (!tar_bytes.ok()) return tar_bytes.status();
  auto gz = RunChecked({.argv = {"gzip", "-n", "-c", tar}, .timeout = std::chrono::seconds(30)});
  if (!gz.ok()) return gz.status();
  TestImage img;
  img.layer = *gz;
  img.layer_digest = Sha256Digest(img.layer);
  img.config = json{{"architecture", arch},
                    {"os", "linux"},
                    {"config", {{"Cmd", {"/bin/sh"}}}},
                    {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Digest(*tar_bytes)}}}}}
                   .dump();
  img.config_digest = Sha256Digest(img.config);
  img.manifest = json{{"schemaVersion", 2},
                      {"mediaType", kMediaTypeOciManifest},
                      {"config",
                       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                        {"digest", img.config_digest},
                        {"size", img.config.size()}}},
                      {"layers",
                       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                         {"digest", img.layer_digest},
                         {"size", img.layer.size()}}}}}
                     .dump();
  img.manifest_digest = Sha256Digest(img.manifest);
  return img;
}

absl::Status WriteOciLayout(const std::string& dir, const TestImage& img, const std::string& tag) {
  std::string blobs = dir + "/blobs/sha256/";
  if (auto s = MakeDirs(blobs); !s.ok()) return s;
  for (const std::string* b : {&img.layer, &img.config, &img.manifest}) {
    if (auto s = WriteFileAtomic(blobs + Sha256Digest(*b).substr(7), *b); !s.ok()) return s;
  }
  if (auto s = WriteFileAtomic(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !s.ok()) {
    return s;
  }
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", kMediaTypeOciManifest},
                   {"digest", img.manifest_digest},
                   {"size", img.manifest.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  return WriteFileAtomic(dir + "/index.json", index.dump());
}

absl::Status Skopeo(const std::string& layout, const std::string& tag, const std::string& dest,
                    const std::string& creds = "") {
  std::vector<std::string> argv = {kSkopeoBinary, "--insecure-policy",  "copy",
                                   "--quiet",     "--preserve-digests", "--dest-tls-verify=false"};
  if (!creds.empty()) argv.insert(argv.end(), {"--dest-creds", creds});
  argv.push_back(absl::StrCat("oci:", layout, ":", tag));
  argv.push_back("docker://" + dest);
  return RunChecked({.argv = argv, .timeout = std::chrono::seconds(120)}).status();
}

// Uploads through the registry's HTTP API (POST an upload, PUT it with the digest).
absl::Status PushBlob(const std::string& base, const std::string& name, const std::string& data) {
  HttpClient http;
  HttpRequest post;
  post.method = "POST";
  post.url = absl::StrCat(base, "/v2/", name, "/blobs/uploads/");
  post.deadline = Soon();
  auto r = http.Do(post);
  if (!r.ok()) return r.status();
  if (r->status != 202)
    return absl::InternalError(absl::StrCat("POST upload: ", r->status, r->body));
  std::string location = r->Header("location");
  if (absl::StartsWith(location, "/")) location = base + location;
  HttpRequest put;
  put.method = "PUT";
  put.url = absl::StrCat(location, absl::StrContains(location, "?") ? "&" : "?",
                         "digest=", UrlEncode(Sha256Digest(data)));
  put.headers = {"Content-Type: application/octet-stream"};
  put.body = data;
  put.deadline = Soon();
  r = http.Do(put);
  if (!r.ok()) return r.status();
  if (r->status != 201) return absl::InternalError(absl::StrCat("PUT blob: ", r->status, r->body));
  return absl::OkStatus();
}

absl::Status PushManifest(const std::string& base, const std::string& name, const std::string& ref,
                          const std::string& media_type, const std::string& body) {
  HttpClient http;
  HttpRequest put;
  put.method = "PUT";
  put.url = absl::StrCat(base, "/v2/", name, "/manifests/", ref);
  put.headers = {"Content-Type: " + media_type};
  put.body = body;
  put.deadline = Soon();
  auto r = http.Do(put);
  if (!r.ok()) return r.status();
  if (r->status != 201)
    return absl::InternalError(absl::StrCat("PUT manifest: ", r->status, r->body));
  return absl::OkStatus();
}

std::string MissingTools() {
  if (!Executable(kRegistryBinary))
    return "docker-registry is not installed (apt install docker-registry)";
  if (!Executable(kSkopeoBinary)) return "skopeo is not installed (apt install skopeo)";
  return "";
}

class RealRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MissingTools().empty()) return;
    dir_ = new std::string(TempDir("plain"));
    auto reg = RegistryProcess::Start(*dir_, "");
    if (!reg.ok()) {
      setup_error_ = new std::string(reg.status().ToString());
      return;
    }
    registry_ = reg->release();
    auto amd = MakeImage(*dir_, "amd64", "amd64");
    auto arm = MakeImage(*dir_, "arm64", "arm64");
    if (!amd.ok() || !arm.ok()) {
      setup_error_ = new std::string(amd.ok() ? arm.status().ToString() : amd.status().ToString());
      return;
    }
    amd64_ = new TestImage(*amd);
    arm64_ = new TestImage(*arm);
    std::string layout = *dir_ + "/layout";
    absl::Status s = WriteOciLayout(layout, *amd64_, "v1");
    if (s.ok()) s = Skopeo(layout, "v1", registry_->host() + "/test/app:v1");
    // The arm64 image and a two-platform index (with an attestation entry that claims
    // linux/amd64 but points at the arm64 manifest: it must be skipped), by the HTTP API.
    std::string base = registry_->url();
    for (const std::string* b : {&arm64_->layer, &arm64_->config}) {
      if (s.ok()) s = PushBlob(base, "test/app", *b);
    }
    if (s.ok()) {
      s = PushManifest(base, "test/app", arm64_->manifest_digest, kMediaTypeOciManifest,
                       arm64_->manifest);
    }
    auto entry = [](const TestImage& img, const std::string& arch) {
      return json{{"mediaType", kMediaTypeOciManifest},
                  {"digest", img.manifest_digest},
                  {"size", img.manifest.size()},
                  {"platform", {{"os", "linux"}, {"architecture", arch}}}};
    };
    json attestation = entry(*arm64_, "amd64");
    attestation["annotations"] = {{"vnd.docker.reference.type", "attestation-manifest"},
                                  {"vnd.docker.reference.digest", amd64_->manifest_digest}};
    index_ = new std::string(
        json{{"schemaVersion", 2},
             {"mediaType", kMediaTypeOciIndex},
             {"manifests", {attestation, entry(*arm64_, "arm64"), entry(*amd64_, "amd64")}}}
            .dump());
    if (s.ok()) s = PushManifest(base, "test/app", "multi", kMediaTypeOciIndex, *index_);
    if (!s.ok()) setup_error_ = new std::string(s.ToString());
  }
  static void TearDownTestSuite() {
    delete registry_;  // stops it (SIGTERM by pid)
    registry_ = nullptr;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
    delete amd64_;
    delete arm64_;
    delete index_;
    delete setup_error_;
    amd64_ = arm64_ = nullptr;
    index_ = setup_error_ = nullptr;
  }
  void SetUp() override {
    if (std::string missing = MissingTools(); !missing.empty()) GTEST_SKIP() << missing;
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
  }

  static std::string Collect(RegistryClient& client, const Reference& ref,
                             const ResolvedManifest& m, const Descriptor& d, absl::Status* status) {
    std::string got;
    *status = client.FetchBlob(ref, m, d, nullptr, Soon(), [&](const char* p, size_t n) {
      got.append(p, n);
      return absl::OkStatus();
    });
    return got;
  }

  static inline std::string* dir_ = nullptr;
  static inline RegistryProcess* registry_ = nullptr;
  static inline TestImage* amd64_ = nullptr;
  static inline TestImage* arm64_ = nullptr;
  static inline std::string* index_ = nullptr;
  static inline std::string* setup_error_ = nullptr;
};

TEST_F(RealRegistryTest, ResolvesByTagAndFetchesBlobs) {
  RegistryClient client(Options());
  Reference ref = Ref(registry_->host() + "/test/app:v1");
  auto m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repo_digest, amd64_->manifest_digest);
  EXPECT_EQ(m->manifest_digest, amd64_->manifest_digest);
  EXPECT_EQ(m->media_type, kMediaTypeOciManifest);
  EXPECT_EQ(m->manifest_json, amd64_->manifest);
  EXPECT_EQ(m->config_digest, amd64_->config_digest);
  EXPECT_EQ(m->config_size, static_cast<int64_t>(amd64_->config.size()));
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].digest, amd64_->layer_digest);
  EXPECT_EQ(m->endpoint, registry_->url());
  EXPECT_TRUE(m->index_json.empty());

  absl::Status s;
  EXPECT_EQ(Collect(client, ref, *m, m->config(), &s), amd64_->config);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Collect(client, ref, *m, m->layers[0], &s), amd64_->layer);
  ASSERT_TRUE(s.ok()) << s;
}

TEST_F(RealRegistryTest, ResolvesByDigest) {
  RegistryClient client(Options());
  Reference ref = Ref(registry_->host() + "/test/app@" + amd64_->manifest_digest);
  EXPECT_TRUE(ref.tag.empty());
  auto m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repo_digest, amd64_->manifest_digest);
  EXPECT_EQ(m->manifest_digest, amd64_->manifest_digest);
  // tag@digest: the digest wins.
  m = client.Resolve(Ref(registry_->host() + "/test/app:nonexistent@" + amd64_->manifest_digest),
                     nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->manifest_digest, amd64_->manifest_digest);
}

TEST_F(RealRegistryTest, SelectsThePlatformFromAnIndex) {
  RegistryClient client(Options());
  const std::string index_digest = Sha256Digest(*index_);
  for (const std::string& r :
       {registry_->host() + "/test/app:multi", registry_->host() + "/test/app@" + index_digest}) {
    Reference ref = Ref(r);
    auto m = client.Resolve(ref, nullptr, Soon());
    ASSERT_TRUE(m.ok()) << r << ": " << m.status();
    EXPECT_EQ(m->repo_digest, index_digest) << r;
    EXPECT_EQ(m->manifest_digest, amd64_->manifest_digest) << r;
    EXPECT_EQ(m->config_digest, amd64_->config_digest) << r;
    EXPECT_EQ(m->index_media_type, kMediaTypeOciIndex);
    EXPECT_EQ(m->index_json, *index_);
  }
  // An arm64 node gets the arm64 image.
  RegistryClientOptions o = Options();
  o.platform = {"linux", "arm64", "v8"};
  RegistryClient arm(o);
  Reference ref = Ref(registry_->host() + "/test/app:multi");
  auto m = arm.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->manifest_digest, arm64_->manifest_digest);
  absl::Status s;
  EXPECT_EQ(Collect(arm, ref, *m, m->layers[0], &s), arm64_->layer);
  EXPECT_TRUE(s.ok()) << s;
  // A platform the index lacks.
  o.platform = {"linux", "s390x", ""};
  RegistryClient s390(o);
  m = s390.Resolve(ref, nullptr, Soon());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound) << m.status();
}

TEST_F(RealRegistryTest, NotFoundNamesTheReference) {
  RegistryClient client(Options());
  for (const std::string& r :
       {registry_->host() + "/test/app:nope", registry_->host() + "/test/missing:v1",
        registry_->host() + "/test/app@" + Dg('1')}) {
    auto m = client.Resolve(Ref(r), nullptr, Soon());
    ASSERT_FALSE(m.ok()) << r;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kNotFound) << m.status();
    EXPECT_THAT(m.status().message(), HasSubstr(Ref(r).String()));
  }
  auto m = client.Resolve(Ref(registry_->host() + "/test/app:v1"), nullptr, Soon());
  ASSERT_TRUE(m.ok());
  absl::Status s;
  Collect(client, Ref(registry_->host() + "/test/app:v1"), *m, {"x", Dg('2'), 3}, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
}

TEST_F(RealRegistryTest, WrongDescriptorSizeIsDataLoss) {
  RegistryClient client(Options());
  Reference ref = Ref(registry_->host() + "/test/app:v1");
  auto m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  for (int64_t delta : {-1, 1}) {
    Descriptor d = m->layers[0];
    d.size += delta;
    absl::Status s;
    Collect(client, ref, *m, d, &s);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(s.message(), HasSubstr(d.digest));
  }
}

TEST_F(RealRegistryTest, FallsBackToTheNextMirror) {
  int closed = FreePort();
  RegistryClient client(Options(
      json{{"mirrored.invalid",
            {{"mirrors", {absl::StrCat("http://127.0.0.1:", closed), registry_->url()}}}}}));
  Reference ref = Ref("mirrored.invalid/test/app:v1");
  auto m = client.Resolve(ref, nullptr, Soon());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->endpoint, registry_->url());
  EXPECT_EQ(m->manifest_digest, amd64_->manifest_digest);
  absl::Status s;
  EXPECT_EQ(Collect(client, ref, *m, m->layers[0], &s), amd64_->layer);
  EXPECT_TRUE(s.ok()) << s;
  // Every endpoint down: UNAVAILABLE, naming each.
  RegistryClient down(Options(
      json{{"down.invalid",
            {{"mirrors", {absl::StrCat("http://127.0.0.1:", closed)}}, {"insecure", true}}}}));
  m = down.Resolve(Ref("down.invalid/test/app:v1"), nullptr, Soon());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable) << m.status();
  EXPECT_THAT(m.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", closed)));
  EXPECT_THAT(m.status().message(), HasSubstr("http://down.invalid/v2/"));
}

TEST_F(RealRegistryTest, TinyDeadline) {
  RegistryClient client(Options());
  auto m = client.Resolve(Ref(registry_->host() + "/test/app:v1"), nullptr,
                          absl::Now() + absl::Microseconds(1));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDeadlineExceeded) << m.status();
}

TEST_F(RealRegistryTest, ConcurrentPulls) {
  RegistryClient client(Options());
  Reference ref = Ref(registry_->host() + "/test/app:multi");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto m = client.Resolve(ref, nullptr, Soon());
        if (!m.ok()) continue;
        absl::Status s;
        if (Collect(client, ref, *m, m->layers[0], &s) == amd64_->layer && s.ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 20);
}

class AuthRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = MissingTools(); !missing.empty()) GTEST_SKIP() << missing;
    if (!Executable(kHtpasswdBinary)) {
      GTEST_SKIP() << "htpasswd is not installed (apt install apache2-utils): no bcrypt htpasswd";
    }
    dir_ = TempDir("auth");
    auto hash = RunChecked({.argv = {kHtpasswdBinary, "-Bbn", "alice", "s3cret"},
                            .timeout = std::chrono::seconds(30)});
    ASSERT_TRUE(hash.ok()) << hash.status();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/htpasswd", *hash).ok());
    auto reg = RegistryProcess::Start(dir_, dir_ + "/htpasswd");
    ASSERT_TRUE(reg.ok()) << reg.status();
    registry_ = *std::move(reg);
    auto img = MakeImage(dir_, "amd64", "auth");
    ASSERT_TRUE(img.ok()) << img.status();
    image_ = *img;
    ASSERT_TRUE(WriteOciLayout(dir_ + "/layout", image_, "v1").ok());
    absl::Status s =
        Skopeo(dir_ + "/layout", "v1", registry_->host() + "/private/app:v1", "alice:s3cret");
    ASSERT_TRUE(s.ok()) << s;
  }
  void TearDown() override {
    registry_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<RegistryProcess> registry_;
  TestImage image_;
};

TEST_F(AuthRegistryTest, BasicAuthWithRightAndWrongCredentials) {
  Reference ref = Ref(registry_->host() + "/private/app:v1");
  RegistryAuth right{.username = "alice", .password = "s3cret"};
  RegistryAuth wrong{.username = "alice", .password = "nope"};
  RegistryAuth encoded{.auth = absl::Base64Escape("alice:s3cret")};
  {
    RegistryClient client(Options());
    auto m = client.Resolve(ref, &right, Soon());
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->manifest_digest, image_.manifest_digest);
    std::string got;
    absl::Status s =
        client.FetchBlob(ref, *m, m->layers[0], &right, Soon(), [&](const char* p, size_t n) {
          got.append(p, n);
          return absl::OkStatus();
        });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(got, image_.layer);
    // Without credentials the blob is refused.
    s = client.FetchBlob(ref, *m, m->layers[0], nullptr, Soon(),
                         [](const char*, size_t) { return absl::OkStatus(); });
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  }
  {
    RegistryClient client(Options());
    auto m = client.Resolve(ref, &wrong, Soon());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kUnauthenticated) << m.status();
    EXPECT_THAT(m.status().message(), HasSubstr("rejected the credentials"));
    EXPECT_THAT(m.status().message(), ::testing::Not(HasSubstr("nope")));
    m = client.Resolve(ref, nullptr, Soon());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kUnauthenticated) << m.status();
    EXPECT_TRUE(client.Resolve(ref, &encoded, Soon()).ok());
  }
  {
    // Credentials from the config, and a request's credentials for another server are not used.
    RegistryClient client(Options(
        json{{registry_->host(), {{"auth", {{"username", "alice"}, {"password", "s3cret"}}}}}}));
    EXPECT_TRUE(client.Resolve(ref, nullptr, Soon()).ok());
    RegistryAuth elsewhere = wrong;
    elsewhere.server_address = "https://other.example.com";
    auto m = client.Resolve(ref, &elsewhere, Soon());
    EXPECT_TRUE(m.ok()) << m.status();
    EXPECT_FALSE(client.Resolve(ref, &wrong, Soon()).ok());
  }
}

}  // namespace
}  // namespace tether
