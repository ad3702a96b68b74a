// A small HTTP client over libcurl for the registry client: pooled easy handles (each keeps its
// connections alive, so requests to a registry reuse them), a shared DNS and TLS session cache,
// deadlines, cancellation, capped buffered bodies or streaming into a sink. Thread-safe.
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

 private:
  CURL* Acquire();
  void Release(CURL* handle);

  HttpClientOptions options_;
  CURLSH* share_ = nullptr;
  std::mutex share_locks_[CURL_LOCK_DATA_LAST];
  std::mutex pool_mu_;
  std::vector<CURL*> idle_;
};

// Percent-encodes everything except RFC 3986 unreserved characters.
std::string UrlEncode(const std::string& s);

}  // namespace tether
