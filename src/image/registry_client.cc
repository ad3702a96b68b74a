#include "image/registry_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "image/digest.h"
#include "image/registry_http.h"
#include "nlohmann/json.hpp"
#include "util/log.h"

namespace tether {
namespace {

constexpr size_t kMaxTokenResponse = 1 << 20;
constexpr int kMaxIndexDepth = 2;

std::string Scope(const Reference& ref) { return absl::StrCat("repository:", ref.path, ":pull"); }

// docker.io's names all mean the same registry for credential matching.
std::string CanonicalHost(const std::string& host) {
  std::string h = absl::AsciiStrToLower(host);
  if (h == "index.docker.io" || h == "registry-1.docker.io") return kDockerDomain;
  return h;
}

// Identifies a set of credentials in cache keys without holding them.
std::string CredentialId(const RegistryAuth& a) {
  if (a.username.empty() && a.password.empty() && a.identity_token.empty()) return "anonymous";
  return Sha256Digest(absl::StrCat(a.username, std::string(1, '\0'), a.password,
                                   std::string(1, '\0'), a.identity_token))
      .substr(7, 16);
}

std::string BasicHeader(const RegistryAuth& a) {
  return absl::StrCat("Authorization: Basic ",
                      absl::Base64Escape(absl::StrCat(a.username, ":", a.password)));
}

// A short, printable rendering of a registry error body: the distribution error codes and
// messages when it is the usual JSON, else its first line.
std::string ErrorDetail(const HttpResponse& resp, std::vector<std::string>* codes) {
  nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> parts;
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      std::string code = e.value("code", "");
      std::string message =
          e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      codes->push_back(code);
      parts.push_back(message.empty() ? code : absl::StrCat(code, ": ", message));
    }
    return absl::StrJoin(parts, "; ");
  }
  std::string line = resp.body.substr(0, std::min<size_t>(resp.body.find('\n'), 200));
  for (char& c : line) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) c = '?';
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

std::string DefaultUserAgent() {
#ifdef TETHER_VERSION
  return "tether/" TETHER_VERSION;
#else
  return "tether";
#endif
}

absl::Status Prefixed(const absl::Status& s, const std::string& prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

bool IsFinal(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kCancelled;
}

// An HTTP error answer from an endpoint, as a status a CRI client can act on.
absl::Status HttpError(const HttpResponse& resp, const std::string& what,
                       const std::string& endpoint, bool had_credentials) {
  std::vector<std::string> codes;
  std::string detail = ErrorDetail(resp, &codes);
  std::string suffix = detail.empty() ? "" : absl::StrCat(" (", detail, ")");
  auto has = [&](const char* code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  };
  if (resp.status == 404 || has("MANIFEST_UNKNOWN") || has("NAME_UNKNOWN") || has("BLOB_UNKNOWN")) {
    return absl::NotFoundError(absl::StrCat(what, " not found on ", endpoint, suffix));
  }
  if (resp.status == 401) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " on ", endpoint, ": ",
        had_credentials ? "the registry rejected the credentials"
                        : "pull access denied: the repository does not exist or needs credentials",
        suffix));
  }
  if (resp.status == 403) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " on ", endpoint, ": access denied", suffix));
  }
  std::string msg = absl::StrCat(what, " on ", endpoint, ": HTTP ", resp.status, suffix);
  if (resp.status == 429) return absl::ResourceExhaustedError(msg);
  if (resp.status >= 500 || resp.status == 408) return absl::UnavailableError(msg);
  return absl::UnknownError(msg);
}

}  // namespace

RegistryClient::RegistryClient(RegistryClientOptions options)
    : options_(std::move(options)),
      http_(std::make_unique<HttpClient>(HttpClientOptions{
          .connect_timeout = options_.connect_timeout,
          .stall_timeout = options_.stall_timeout,
          .user_agent = options_.user_agent.empty() ? DefaultUserAgent() : options_.user_agent,
      })) {}

RegistryClient::~RegistryClient() = default;

absl::StatusOr<std::vector<RegistryClient::Endpoint>> RegistryClient::Endpoints(
    const Reference& ref, const RegistryAuth* request_auth) const {
  RegistryHostConfig hc = options_.config.ForHost(ref.domain);
  RegistryAuth req;
  if (request_auth != nullptr && !request_auth->empty()) {
    req = *request_auth;
    if (absl::Status s = req.Normalize(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pull credentials: ", s.message()));
    }
  }
  std::string req_host =
      req.server_address.empty() ? "" : CanonicalHost(UrlHost(req.server_address));
  auto applies = [&](const std::string& host, const std::string& domain) {
    if (req.empty()) return false;
    return req_host.empty() || req_host == CanonicalHost(host) ||
           (!domain.empty() && req_host == CanonicalHost(domain));
  };
  std::vector<Endpoint> out;
  for (const std::string& m : hc.mirrors) {
    Endpoint ep{m, UrlHost(m), true, {}};
    if (applies(ep.host, "")) {
      ep.auth = req;
    } else if (auto it = options_.config.hosts.find(ep.host); it != options_.config.hosts.end()) {
      ep.auth = it->second.auth;
    }
    out.push_back(std::move(ep));
  }
  std::string api = RegistryApiHost(ref.domain);
  Endpoint up{absl::StrCat(hc.insecure ? "http://" : "https://", api),
              absl::AsciiStrToLower(api),
              false,
              {}};
  up.auth = applies(up.host, ref.domain) ? req : hc.auth;
  out.push_back(std::move(up));
  return out;
}

absl::StatusOr<ResolvedManifest> RegistryClient::Resolve(const Reference& ref,
                                                         const RegistryAuth* request_auth,
                                                         absl::Time deadline,
                                                         const std::atomic<bool>* cancel) {
  absl::StatusOr<std::vector<Endpoint>> eps = Endpoints(ref, request_auth);
  if (!eps.ok()) return eps.status();
  Call call{deadline, cancel};
  std::vector<std::string> failures;
  absl::Status last;
  for (const Endpoint& ep : *eps) {
    absl::StatusOr<ResolvedManifest> r = ResolveOn(ep, ref, call);
    if (r.ok()) {
      spdlog::debug("registry: resolved {} to {} (manifest {}) on {}", ref.String(), r->repo_digest,
                    r->manifest_digest, ep.base_url);
      return r;
    }
    if (IsFinal(r.status())) return Prefixed(r.status(), absl::StrCat(ref.String(), ": "));
    if (ep.mirror) {
      spdlog::warn("registry: mirror {} failed for {}: {}", ep.base_url, ref.String(),
                   r.status().message());
    }
    failures.push_back(std::string(r.status().message()));
    // "Not found" from one endpoint says more than "unreachable" from another: keep it.
    if (!absl::IsNotFound(last) || absl::IsNotFound(r.status())) last = r.status();
  }
  return absl::Status(last.code(), absl::StrCat(ref.String(), ": ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<ResolvedManifest> RegistryClient::ResolveOn(const Endpoint& ep, const Reference& ref,
                                                           const Call& call) {
  absl::StatusOr<std::pair<std::string, std::string>> top =
      FetchManifest(ep, ref, ref.Identifier(), call);
  if (!top.ok()) return top.status();
  auto [media_type, body] = *std::move(top);
  std::string digest = Sha256Digest(body);
  if (!ref.digest.empty() && digest != ref.digest) {
    return absl::DataLossError(absl::StrCat("manifest ", ref.digest, " from ", ep.base_url,
                                            ": content digest mismatch (got ", digest, ")"));
  }
  ResolvedManifest out;
  out.endpoint = ep.base_url;
  out.repo_digest = digest;
  for (int depth = 0; IsIndexMediaType(media_type); ++depth) {
    if (depth >= kMaxIndexDepth) {
      return absl::FailedPreconditionError(
          absl::StrCat("image index ", digest, " on ", ep.base_url, ": indexes nested too deeply"));
    }
    if (depth == 0) {
      out.index_media_type = media_type;
      out.index_json = body;
    }
    absl::StatusOr<std::vector<IndexEntry>> entries = ParseIndex(body);
    if (!entries.ok()) return Prefixed(entries.status(), absl::StrCat(digest, ": "));
    absl::StatusOr<Descriptor> chosen = SelectPlatform(*entries, options_.platform);
    if (!chosen.ok()) return Prefixed(chosen.status(), absl::StrCat(digest, ": "));
    absl::StatusOr<std::pair<std::string, std::string>> child =
        FetchManifest(ep, ref, chosen->digest, call);
    if (!child.ok()) return child.status();
    std::string child_digest = Sha256Digest(child->second);
    if (child_digest != chosen->digest ||
        static_cast<int64_t>(child->second.size()) != chosen->size) {
      return absl::DataLossError(absl::StrCat("manifest ", chosen->digest, " from ", ep.base_url,
                                              ": content does not match the index (",
                                              child->second.size(), " bytes, ", child_digest,
                                              "; want ", chosen->size, " bytes)"));
    }
    media_type = std::move(child->first);
    body = std::move(child->second);
    digest = chosen->digest;
  }
  if (!IsImageManifestMediaType(media_type)) {
    return absl::FailedPreconditionError(
        absl::StrCat("manifest ", digest, ": unsupported media type \"", media_type, "\""));
  }
  absl::StatusOr<ImageManifest> m = ParseImageManifest(body);
  if (!m.ok()) return Prefixed(m.status(), absl::StrCat(digest, ": "));
  out.manifest_digest = digest;
  out.media_type = media_type;
  out.manifest_json = std::move(body);
  out.config_digest = m->config.digest;
  out.config_size = m->config.size;
  out.config_media_type = m->config.media_type;
  out.layers = std::move(m->layers);
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> RegistryClient::FetchManifest(
    const Endpoint& ep, const Reference& ref, const std::string& ident, const Call& call) {
  HttpRequest req;
  req.url = absl::StrCat(ep.base_url, "/v2/", ref.path, "/manifests/", ident);
  req.headers.push_back(absl::StrCat("Accept: ", ManifestAcceptHeader()));
  req.max_body = options_.max_manifest_size;
  req.too_large_message = "manifest too large";
  const std::string what = absl::StrCat("manifest ", ident);
  absl::StatusOr<HttpResponse> resp = DoAuthorized(ep, Scope(ref), std::move(req), call);
  if (!resp.ok()) {
    if (resp.status().code() == absl::StatusCode::kFailedPrecondition) {
      return Prefixed(resp.status(), absl::StrCat(what, " on ", ep.base_url, ": "));
    }
    return resp.status();
  }
  if (resp->status != 200) return HttpError(*resp, what, ep.base_url, !ep.auth.empty());
  absl::StatusOr<std::string> media_type =
      DetectManifestMediaType(resp->Header("content-type"), resp->body);
  if (!media_type.ok()) {
    return Prefixed(media_type.status(), absl::StrCat(what, " on ", ep.base_url, ": "));
  }
  // The registry's own idea of the digest must agree with the bytes we got.
  std::string claimed = resp->Header("docker-content-digest");
  if (ValidateDigest(claimed).ok() && Sha256Digest(resp->body) != claimed) {
    return absl::DataLossError(absl::StrCat(what, " on ", ep.base_url, ": content does not match ",
                                            "its Docker-Content-Digest ", claimed));
  }
  return std::make_pair(*std::move(media_type), std::move(resp->body));
}

absl::StatusOr<HttpResponse> RegistryClient::DoAuthorized(const Endpoint& ep,
                                                          const std::string& scope, HttpRequest req,
                                                          const Call& call) {
  req.deadline = call.deadline;
  req.cancel = call.cancel;
  std::vector<std::string> scopes = {scope};
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::string> auth = AuthHeader(ep, scopes, attempt > 0, call);
    if (!auth.ok()) return auth.status();
    HttpRequest r = req;
    if (!auth->empty()) r.headers.push_back(*auth);
    absl::StatusOr<HttpResponse> resp = http_->Do(r);
    if (!resp.ok() || resp->status != 401 || attempt > 0 || !ep.auth.registry_token.empty()) {
      return resp;
    }
    std::vector<AuthChallenge> challenges = ParseWwwAuthenticate(resp->headers["www-authenticate"]);
    const AuthChallenge* chosen = nullptr;
    for (const AuthChallenge& c : challenges) {
      if (c.scheme == "bearer") {
        chosen = &c;
        break;
      }
      if (c.scheme == "basic" && chosen == nullptr) chosen = &c;
    }
    if (chosen == nullptr) return resp;
    if (chosen->scheme == "basic" &&
        (ep.auth.username.empty() || absl::StartsWith(*auth, "Authorization: Basic"))) {
      return resp;  // nothing (new) to offer
    }
    if (chosen->scheme == "bearer") {
      auto it = chosen->params.find("scope");
      if (it != chosen->params.end()) {
        for (absl::string_view s : absl::StrSplit(it->second, ' ', absl::SkipEmpty())) {
          if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) {
            scopes.push_back(std::string(s));
          }
        }
      }
    }
    absl::MutexLock lock(&mu_);
    challenges_[ep.host] = *chosen;
  }
}

absl::StatusOr<std::string> RegistryClient::AuthHeader(const Endpoint& ep,
                                                       const std::vector<std::string>& scopes,
                                                       bool refresh, const Call& call) {
  if (!ep.auth.registry_token.empty()) {
    return absl::StrCat("Authorization: Bearer ", ep.auth.registry_token);
  }
  AuthChallenge challenge;
  {
    absl::MutexLock lock(&mu_);
    auto it = challenges_.find(ep.host);
    if (it == challenges_.end()) return std::string();
    challenge = it->second;
  }
  if (challenge.scheme == "basic") {
    return ep.auth.username.empty() ? std::string() : BasicHeader(ep.auth);
  }
  if (challenge.scheme != "bearer") return std::string();
  const std::string key =
      absl::StrCat(ep.host, "|", absl::StrJoin(scopes, " "), "|", CredentialId(ep.auth));
  absl::Time now = absl::Now();
  if (!refresh) {
    absl::MutexLock lock(&mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end() && it->second.expires > now) {
      return absl::StrCat("Authorization: Bearer ", it->second.token);
    }
  }
  absl::StatusOr<BearerToken> token = FetchToken(ep, challenge, scopes, call);
  if (!token.ok()) return token.status();
  absl::Duration margin = std::min(token->expires_in / 10, absl::Seconds(30));
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tokens_.begin(); it != tokens_.end();) {
      it = it->second.expires <= now ? tokens_.erase(it) : std::next(it);
    }
    tokens_[key] = {token->token, now + token->expires_in - margin};
  }
  return absl::StrCat("Authorization: Bearer ", token->token);
}

absl::StatusOr<BearerToken> RegistryClient::FetchToken(const Endpoint& ep,
                                                       const AuthChallenge& challenge,
                                                       const std::vector<std::string>& scopes,
                                                       const Call& call) {
  auto param = [&](const char* name) {
    auto it = challenge.params.find(name);
    return it == challenge.params.end() ? std::string() : it->second;
  };
  const std::string realm = param("realm");
  const std::string service = param("service");
  std::string lower = absl::AsciiStrToLower(realm);
  if (!absl::StartsWith(lower, "https://") && !absl::StartsWith(lower, "http://")) {
    return absl::UnauthenticatedError(absl::StrCat(
        ep.base_url, ": bearer challenge without an http(s) token realm (\"", realm, "\")"));
  }
  const std::string realm_host = UrlHost(realm);
  const RegistryAuth& a = ep.auth;
  auto answer = [&](const HttpResponse& resp) -> absl::StatusOr<BearerToken> {
    if (resp.status == 200) {
      absl::StatusOr<BearerToken> t = ParseTokenResponse(resp.body);
      if (!t.ok()) return Prefixed(t.status(), absl::StrCat("token server ", realm_host, ": "));
      return t;
    }
    std::string msg = absl::StrCat("token server ", realm_host, " for ", ep.base_url);
    if (resp.status == 401 || resp.status == 400) {
      return absl::UnauthenticatedError(
          absl::StrCat(msg, a.empty() ? ": anonymous access denied" : ": credentials rejected",
                       " (HTTP ", resp.status, ")"));
    }
    if (resp.status == 403)
      return absl::PermissionDeniedError(absl::StrCat(msg, ": access denied"));
    if (resp.status >= 500 || resp.status == 429) {
      return absl::UnavailableError(absl::StrCat(msg, ": HTTP ", resp.status));
    }
    return absl::UnauthenticatedError(absl::StrCat(msg, ": HTTP ", resp.status));
  };

  if (!a.identity_token.empty()) {
    // OAuth2 refresh-token grant (POST), per the registry token specification.
    HttpRequest post;
    post.method = "POST";
    post.url = realm;
    post.deadline = call.deadline;
    post.cancel = call.cancel;
    post.max_body = kMaxTokenResponse;
    post.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    post.body = absl::StrCat(
        "grant_type=refresh_token&client_id=tether&refresh_token=", UrlEncode(a.identity_token),
        "&service=", UrlEncode(service), "&scope=", UrlEncode(absl::StrJoin(scopes, " ")));
    absl::StatusOr<HttpResponse> resp = http_->Do(post);
    if (!resp.ok()) return resp.status();
    bool fallback = (resp->status == 404 || resp->status == 405 || resp->status == 400 ||
                     resp->status == 401) &&
                    !a.username.empty() && !a.password.empty();
    if (!fallback) return answer(*resp);
  }
  HttpRequest get;
  get.url = realm;
  char sep = absl::StrContains(realm, "?") ? '&' : '?';
  if (!service.empty()) {
    absl::StrAppend(&get.url, std::string(1, sep), "service=", UrlEncode(service));
    sep = '&';
  }
  for (const std::string& s : scopes) {
    absl::StrAppend(&get.url, std::string(1, sep), "scope=", UrlEncode(s));
    sep = '&';
  }
  get.deadline = call.deadline;
  get.cancel = call.cancel;
  get.max_body = kMaxTokenResponse;
  if (!a.username.empty()) get.headers.push_back(BasicHeader(a));
  absl::StatusOr<HttpResponse> resp = http_->Do(get);
  if (!resp.ok()) return resp.status();
  return answer(*resp);
}

absl::Status RegistryClient::FetchBlob(const Reference& ref, const ResolvedManifest& where,
                                       const Descriptor& d, const RegistryAuth* auth,
                                       absl::Time deadline, const BlobSink& sink,
                                       const std::atomic<bool>* cancel) {
  if (absl::Status s = ValidateDigest(d.digest); !s.ok()) return s;
  if (d.size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", d.digest, ": negative size"));
  }
  absl::StatusOr<std::vector<Endpoint>> eps = Endpoints(ref, auth);
  if (!eps.ok()) return eps.status();
  // The endpoint that served the manifest first.
  auto first = std::stable_partition(
      eps->begin(), eps->end(), [&](const Endpoint& e) { return e.base_url == where.endpoint; });
  if (first == eps->begin() && !where.endpoint.empty()) {
    Endpoint ep{where.endpoint, UrlHost(where.endpoint), true, {}};
    if (auto it = options_.config.hosts.find(ep.host); it != options_.config.hosts.end()) {
      ep.auth = it->second.auth;
    }
    eps->insert(eps->begin(), std::move(ep));
  }
  Call call{deadline, cancel};
  const std::string what = absl::StrCat("blob ", d.digest);
  Sha256 hash;
  int64_t delivered = 0;
  bool sink_failed = false;
  bool completed = false;
  std::vector<std::string> failures;
  absl::Status last;
  for (const Endpoint& ep : *eps) {
    if (delivered == d.size && delivered > 0) break;  // a transfer broke off after the last byte
    const int64_t start = delivered;
    int64_t skip = 0;
    bool head_checked = false;
    HttpRequest req;
    req.url = absl::StrCat(ep.base_url, "/v2/", ref.path, "/blobs/", d.digest);
    if (start > 0) req.headers.push_back(absl::StrCat("Range: bytes=", start, "-"));
    req.sink = [&](const HttpResponse& head, const char* data, size_t n) -> absl::Status {
      if (!head_checked) {
        head_checked = true;
        skip = start;  // a full answer repeats what the sink already has
        if (head.status == 206) {
          // "bytes <first>-<last>/<total>"
          std::string range = head.Header("content-range");
          int64_t from = -1;
          std::vector<std::string> parts = absl::StrSplit(range, absl::ByAnyChar(" -/"));
          if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &from) || from != start) {
            return absl::UnavailableError(absl::StrCat(
                what, " on ", ep.base_url, ": unexpected Content-Range \"", range, "\""));
          }
          skip = 0;
        }
      }
      if (skip > 0) {
        size_t k = static_cast<size_t>(std::min<int64_t>(skip, static_cast<int64_t>(n)));
        data += k;
        n -= k;
        skip -= static_cast<int64_t>(k);
        if (n == 0) return absl::OkStatus();
      }
      if (delivered + static_cast<int64_t>(n) > d.size) {
        sink_failed = true;
        return absl::DataLossError(absl::StrCat(what, " from ", ep.base_url,
                                                ": more data than its size of ", d.size, " bytes"));
      }
      hash.Update(data, n);
      delivered += static_cast<int64_t>(n);
      absl::Status s = sink(data, n);
      if (!s.ok()) sink_failed = true;
      return s;
    };
    absl::StatusOr<HttpResponse> resp = DoAuthorized(ep, Scope(ref), std::move(req), call);
    if (!resp.ok()) {
      if (sink_failed || IsFinal(resp.status())) return resp.status();
      spdlog::warn("registry: {} of {} from {} failed after {} bytes: {}", what, ref.Name(),
                   ep.base_url, delivered, resp.status().message());
      failures.push_back(std::string(resp.status().message()));
      last = resp.status();
      continue;
    }
    if (resp->status == 200 || resp->status == 206) {
      completed = true;
      break;
    }
    last = HttpError(*resp, what, ep.base_url, !ep.auth.empty());
    failures.push_back(std::string(last.message()));
  }
  if (!completed && !(delivered == d.size && delivered > 0)) {
    return absl::Status(last.code(), absl::StrCat(ref.Name(), ": ", absl::StrJoin(failures, "; ")));
  }
  if (delivered != d.size) {
    return absl::DataLossError(
        absl::StrCat(what, ": got ", delivered, " bytes, its descriptor says ", d.size));
  }
  std::string got = hash.Digest();
  if (got != d.digest) {
    return absl::DataLossError(absl::StrCat(what, ": content digest mismatch (got ", got, ")"));
  }
  return absl::OkStatus();
}

}  // namespace tether
