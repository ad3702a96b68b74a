// A small HTTP client over libcurl for the registry client: pooled easy handles (each keeps its
// connections alive, so requests to a registry reuse them), a shared DNS and TLS session cache,
// deadlines, cancellation, capped buffered bodies or streaming into a sink. Thread-safe.
//
// Connection reuse: libcurl keeps live connections in the easy handle (sharing the connection
// cache through a share object is not safe across concurrent threads, per libcurl), so the pool
// hands out handles by origin (scheme://host:port): a request gets the idle handle that last
// talked to its origin, else the least recently used idle handle, else a new one. Bounds: at
// most `max_idle_handles` idle handles, each keeping at most `max_connects_per_handle`
// connections; an idle handle unused for `idle_timeout` is closed at the next request. Every
// handle taken is given back or cleaned up on every path (no handle outlives a request unless
// it is in the pool), and the destructor closes them all.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tether {

// The status line and headers of the response being received (the last one, after redirects).
struct HttpResponse {
  long status = 0;
  // Lowercased header names; every value of a repeated header.
  std::map<std::string, std::vector<std::string>> headers;
  // The body when no sink consumed it: a 2xx body (up to max_body) or an error body (up to
  // 64 KiB, the rest dropped).
  std::string body;
  std::string effective_url;

  // The first value of a header, or "".
  std::string Header(const std::string& lowercase_name) const;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // request body (POST/PUT)
  absl::Time deadline = absl::InfiniteFuture();
  const std::atomic<bool>* cancel = nullptr;
  bool follow_redirects = true;
  // Cap on a buffered 2xx body; exceeding it aborts with FAILED_PRECONDITION `too_large_message`.
  size_t max_body = 4 << 20;
  std::string too_large_message = "response too large";
  // When set, 2xx response bodies are passed here instead of being buffered. An error aborts the
  // transfer and is returned from Do.
  std::function<absl::Status(const HttpResponse& head, const char* data, size_t n)> sink;
};

struct HttpClientOptions {
  absl::Duration connect_timeout = absl::Seconds(30);
  // A transfer slower than 1 byte/s for this long is abandoned (UNAVAILABLE).
  absl::Duration stall_timeout = absl::Seconds(60);
  std::string user_agent = "tether";
  size_t max_idle_handles = 8;
  long max_connects_per_handle = 2;  // the registry, and a blob redirect's host
  absl::Duration idle_timeout = absl::Seconds(90);
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. Any HTTP status is a successful result; errors are transport failures
  // (UNAVAILABLE naming the URL), DEADLINE_EXCEEDED, CANCELLED, the sink's error, or the body cap.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

  // For tests and debugging: handles alive (idle or in use) and idle in the pool.
  size_t live_handles() const { return live_.load(); }
  size_t idle_handles() const;

  // "scheme://host:port" of a URL (the pool's key); the URL itself when it has no scheme.
  static std::string OriginOf(const std::string& url);

 private:
  struct Idle {
    CURL* handle;
    std::string origin;
    absl::Time since;
  };
  CURL* Acquire(const std::string& origin);
  void Release(CURL* handle, const std::string& origin);
  void Cleanup(CURL* handle);
  // libcurl's global init (OpenSSL's too) and the share, at the first request rather than at
  // tetherd's start: ~2 MiB of resident pages a node that never pulls does not need.
  void InitOnce();

  HttpClientOptions options_;
  std::once_flag init_once_;
  CURLSH* share_ = nullptr;
  std::mutex share_locks_[CURL_LOCK_DATA_LAST];
  mutable std::mutex pool_mu_;
  std::vector<Idle> idle_;  // least recently used first
  std::atomic<size_t> live_{0};
};

// Percent-encodes everything except RFC 3986 unreserved characters.
std::string UrlEncode(const std::string& s);

}  // namespace tether
