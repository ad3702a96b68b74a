#include "image/registry_http.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "util/log.h"

namespace tether {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;

std::once_flag g_curl_init;

// Per-transfer state shared with libcurl's callbacks.
struct Transfer {
  const HttpRequest* request;
  HttpResponse response;
  absl::Status abort;  // why a callback stopped the transfer
  bool cancelled = false;
};

bool Cancelled(const Transfer* t) {
  return t->request->cancel != nullptr && t->request->cancel->load(std::memory_order_relaxed);
}

size_t HeaderCallback(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  absl::string_view line(data, len);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (1xx, a redirect, or the final one): start over.
    t->response.headers.clear();
    t->response.body.clear();
    t->response.status = 0;
    size_t sp = line.find(' ');
    if (sp != absl::string_view::npos) {
      int code = 0;
      if (absl::SimpleAtoi(line.substr(sp + 1, 3), &code)) t->response.status = code;
    }
    return len;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return len;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  t->response.headers[name].push_back(std::move(value));
  return len;
}

size_t WriteCallback(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (Cancelled(t)) {
    t->cancelled = true;
    return 0;
  }
  const HttpRequest& req = *t->request;
  bool success = t->response.status >= 200 && t->response.status < 300;
  if (success && req.sink) {
    absl::Status s = req.sink(t->response, data, len);
    if (!s.ok()) {
      t->abort = std::move(s);
      return 0;
    }
    return len;
  }
  if (success) {
    if (t->response.body.size() + len > req.max_body) {
      t->abort = absl::FailedPreconditionError(
          absl::StrCat(req.too_large_message, " (more than ", req.max_body, " bytes)"));
      return 0;
    }
    t->response.body.append(data, len);
    return len;
  }
  // An error body: keep the start for the message, drop the rest.
  size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t->response.body.size());
  t->response.body.append(data, std::min(room, len));
  return len;
}

int ProgressCallback(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (Cancelled(t)) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* user) {
  static_cast<std::mutex*>(user)[data].lock();
}
void UnlockShare(CURL*, curl_lock_data data, void* user) {
  static_cast<std::mutex*>(user)[data].unlock();
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() || it->second.empty() ? std::string() : it->second.front();
}

std::string UrlEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {}

void HttpClient::InitOnce() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  share_ = curl_share_init();
  if (share_ != nullptr) {
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, LockShare);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, UnlockShare);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, share_locks_);
    // Connections are not shared: libcurl does not support sharing its connection cache between
    // concurrent threads. Each pooled easy handle keeps its own connections alive instead.
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

HttpClient::~HttpClient() {
  for (const Idle& i : idle_) Cleanup(i.handle);
  if (share_ != nullptr) curl_share_cleanup(share_);
}

std::string HttpClient::OriginOf(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string origin = absl::AsciiStrToLower(url.substr(0, host_end));
  // The default port is the same origin as no port.
  if (absl::StartsWith(origin, "https://") && absl::EndsWith(origin, ":443")) {
    origin.resize(origin.size() - 4);
  } else if (absl::StartsWith(origin, "http://") && absl::EndsWith(origin, ":80")) {
    origin.resize(origin.size() - 3);
  }
  return origin;
}

size_t HttpClient::idle_handles() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  return idle_.size();
}

void HttpClient::Cleanup(CURL* h) {
  curl_easy_cleanup(h);  // closes the handle's connections
  live_.fetch_sub(1);
}

CURL* HttpClient::Acquire(const std::string& origin) {
  std::vector<CURL*> expired;
  CURL* found = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    const absl::Time now = absl::Now();
    // Handles idle for too long hold connections the server has most likely dropped.
    while (!idle_.empty() && now - idle_.front().since > options_.idle_timeout) {
      expired.push_back(idle_.front().handle);
      idle_.erase(idle_.begin());
    }
    // The most recent handle of this origin, else the least recently used one.
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (it->origin == origin) {
        found = it->handle;
        idle_.erase(std::next(it).base());
        break;
      }
    }
    if (found == nullptr && !idle_.empty()) {
      found = idle_.front().handle;
      idle_.erase(idle_.begin());
    }
  }
  for (CURL* h : expired) Cleanup(h);  // outside the lock: closing may take a moment
  if (found != nullptr) return found;
  CURL* h = curl_easy_init();
  if (h != nullptr) live_.fetch_add(1);
  return h;
}

void HttpClient::Release(CURL* h, const std::string& origin) {
  curl_easy_reset(h);  // options only: live connections and caches stay with the handle
  CURL* evicted = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    idle_.push_back({h, origin, absl::Now()});
    if (idle_.size() > options_.max_idle_handles) {
      evicted = idle_.front().handle;
      idle_.erase(idle_.begin());
    }
  }
  if (evicted != nullptr) Cleanup(evicted);
}

absl::StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& req) {
  const std::string what = absl::StrCat(req.method, " ", req.url);
  absl::Duration remaining = req.deadline - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded"));
  }
  if (req.cancel != nullptr && req.cancel->load()) {
    return absl::CancelledError(absl::StrCat(what, ": cancelled"));
  }
  std::call_once(init_once_, [this] { InitOnce(); });
  const std::string origin = OriginOf(req.url);
  CURL* h = Acquire(origin);
  if (h == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");

  Transfer t{&req};
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& line : req.headers) {
    curl_slist* l = curl_slist_append(headers.get(), line.c_str());
    if (l == nullptr) {
      Release(h, origin);
      return absl::ResourceExhaustedError("curl_slist_append failed");
    }
    headers.release();
    headers.reset(l);
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  // Credentials (custom Authorization headers included) are not sent to another host after a
  // redirect: CURLOPT_UNRESTRICTED_AUTH stays off.
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  if (share_ != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share_);
  // Bounds the connections this handle keeps alive between requests.
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, std::max(1L, options_.max_connects_per_handle));
  if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    // Redirects keep the method (no POST -> GET rewrite).
    curl_easy_setopt(h, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
  }
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ProgressCallback);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  long remaining_ms = 0;
  if (req.deadline != absl::InfiniteFuture()) {
    remaining_ms =
        std::max<long>(1, static_cast<long>(std::ceil(absl::ToDoubleMilliseconds(remaining))));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining_ms);
  }
  long connect_ms = static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout));
  if (remaining_ms > 0) connect_ms = std::min(connect_ms, remaining_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      h, CURLOPT_LOW_SPEED_TIME,
      std::max<long>(1, static_cast<long>(absl::ToInt64Seconds(options_.stall_timeout))));

  CURLcode rc = curl_easy_perform(h);
  char* effective = nullptr;
  if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK &&
      effective != nullptr) {
    t.response.effective_url = effective;
  }
  Release(h, origin);

  if (rc == CURLE_OK) {
    spdlog::debug("registry: {} -> HTTP {}", what, t.response.status);
    return std::move(t.response);
  }
  if (!t.abort.ok()) return t.abort;
  if (t.cancelled || rc == CURLE_ABORTED_BY_CALLBACK) {
    return absl::CancelledError(absl::StrCat(what, ": cancelled"));
  }
  std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  if (rc == CURLE_OPERATION_TIMEDOUT && absl::Now() + absl::Milliseconds(20) >= req.deadline) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": deadline exceeded (", detail, ")"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", detail));
}

}  // namespace tether
