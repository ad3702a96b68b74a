// The registry client: resolves references to manifests and streams blobs from OCI
// distribution / Docker registry v2 servers, over libcurl. Mirrors are tried in order, then the
// registry itself. Bearer token (anonymous, basic, OAuth refresh token) and Basic auth; tokens are
// cached per (host, scope, credentials) until they expire. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "image/reference.h"
#include "image/registry_auth.h"
#include "image/registry_config.h"
#include "image/registry_manifest.h"

namespace tether {

class HttpClient;
struct HttpRequest;
struct HttpResponse;

struct ResolvedManifest {
  std::string repo_digest;      // digest of what the tag (or the reference's digest) names
  std::string manifest_digest;  // digest of the platform's image manifest
  std::string media_type;       // of the image manifest
  std::string manifest_json;    // the image manifest's raw bytes
  std::string config_digest;
  int64_t config_size = 0;
  std::string config_media_type;
  std::vector<Descriptor> layers;
  std::string endpoint;  // base URL that answered, e.g. "https://registry-1.docker.io"
  // The index (or manifest list) the reference named, when it named one; its raw bytes and type.
  std::string index_media_type;
  std::string index_json;

  Descriptor config() const { return {config_media_type, config_digest, config_size}; }
};

struct RegistryClientOptions {
  RegistryConfig config;
  Platform platform = Platform::Host();
  size_t max_manifest_size = 4 << 20;
  absl::Duration connect_timeout = absl::Seconds(30);
  absl::Duration stall_timeout = absl::Seconds(60);  // a transfer below 1 B/s this long fails
  std::string user_agent;                            // empty: "tether/<version>"
};

using BlobSink = std::function<absl::Status(const char* data, size_t n)>;

class RegistryClient {
 public:
  explicit RegistryClient(RegistryClientOptions options);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // Fetches the manifest `ref` names for this node's platform. `request_auth` (may be null) is the
  // CRI request's credentials; when empty the config's credentials for the host are used.
  // Errors: NOT_FOUND (naming the reference), UNAUTHENTICATED / PERMISSION_DENIED, UNAVAILABLE
  // (naming the endpoint), DEADLINE_EXCEEDED, CANCELLED, FAILED_PRECONDITION (schema 1,
  // "manifest too large", malformed or unsupported manifests), DATA_LOSS (digest mismatch).
  absl::StatusOr<ResolvedManifest> Resolve(const Reference& ref, const RegistryAuth* request_auth,
                                           absl::Time deadline,
                                           const std::atomic<bool>* cancel = nullptr);

  // Streams blob `d` of `ref` into `sink`, from the endpoint that served `where` first, then the
  // others. The size and sha256 are verified while streaming: a mismatch is DATA_LOSS naming the
  // digest, after which the caller must discard what the sink received. A sink error aborts the
  // transfer and is returned. A transfer that breaks off is resumed (Range) on the next endpoint,
  // so the sink sees every byte exactly once.
  absl::Status FetchBlob(const Reference& ref, const ResolvedManifest& where, const Descriptor& d,
                         const RegistryAuth* auth, absl::Time deadline, const BlobSink& sink,
                         const std::atomic<bool>* cancel = nullptr);

  const RegistryClientOptions& options() const { return options_; }

 private:
  struct Endpoint {
    std::string base_url;  // "https://host[:port][/prefix]"
    std::string host;      // "host[:port]", the auth cache key
    bool mirror = false;
    RegistryAuth auth;  // effective, normalized credentials (may be empty)
  };
  struct Call {
    absl::Time deadline;
    const std::atomic<bool>* cancel;
  };

  absl::StatusOr<std::vector<Endpoint>> Endpoints(const Reference& ref,
                                                  const RegistryAuth* request_auth) const;
  absl::StatusOr<ResolvedManifest> ResolveOn(const Endpoint& ep, const Reference& ref,
                                             const Call& call);
  // GET a manifest by tag or digest; returns (media type, body).
  absl::StatusOr<std::pair<std::string, std::string>> FetchManifest(const Endpoint& ep,
                                                                    const Reference& ref,
                                                                    const std::string& ident,
                                                                    const Call& call);
  // Performs `req` against `ep` with credentials for `scope`, answering one 401 challenge.
  absl::StatusOr<HttpResponse> DoAuthorized(const Endpoint& ep, const std::string& scope,
                                            HttpRequest req, const Call& call);
  // The Authorization header line for a request to `ep`, or "" when none is known to be needed.
  absl::StatusOr<std::string> AuthHeader(const Endpoint& ep, const std::vector<std::string>& scopes,
                                         bool refresh, const Call& call);
  absl::StatusOr<BearerToken> FetchToken(const Endpoint& ep, const AuthChallenge& challenge,
                                         const std::vector<std::string>& scopes, const Call& call);

  const RegistryClientOptions options_;
  std::unique_ptr<HttpClient> http_;

  struct CachedToken {
    std::string token;
    absl::Time expires;
  };
  absl::Mutex mu_;
  std::map<std::string, AuthChallenge> challenges_ ABSL_GUARDED_BY(mu_);  // by host
  std::map<std::string, CachedToken> tokens_ ABSL_GUARDED_BY(mu_);  // by host|scopes|credentials
};

}  // namespace tether
