#include "podrunner/probe.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "util/log.h"

namespace tether::podrunner {
namespace {

std::once_flag g_curl_init;

// kubelet reads at most 10 KiB of a probe's body.
constexpr size_t kMaxBody = 10 * 1024;

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t len = size * n;
  if (body->size() < kMaxBody) body->append(data, std::min(len, kMaxBody - body->size()));
  return len;  // read (and drop) the rest
}

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// An IPv6 literal goes in brackets in a URL.
std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

// Go's http.Client stops after 10 requests (kubelet's redirect checker keeps that limit).
constexpr int kMaxHttpRequests = 10;

// The host part of an absolute URL ("" when it has none).
std::string UrlHostOf(const std::string& url) {
  std::string out;
  CURLU* u = curl_url();
  if (u == nullptr) return out;
  char* host = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    out = host;
    curl_free(host);
  }
  curl_url_cleanup(u);
  return out;
}

// A host as Go's URL.Hostname() compares them: no brackets, lower case.
std::string NormalizedHost(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return absl::AsciiStrToLower(host);
}

std::string HostFor(const Handler& h, const ProbeTarget& t) {
  return h.host.empty() ? t.pod_ip : h.host;
}

// Combined output, trimmed, as kubelet shows it in the Unhealthy event.
std::string ExecOutput(const runtime::v1::ExecSyncResponse& r) {
  std::string out = absl::StrCat(r.stdout(), r.stderr());
  if (out.size() > kMaxBody) out.resize(kMaxBody);
  return std::string(absl::StripAsciiWhitespace(out));
}

}  // namespace

const char* ProbeTypeName(ProbeType type) {
  switch (type) {
    case ProbeType::kLiveness:
      return "Liveness";
    case ProbeType::kReadiness:
      return "Readiness";
    case ProbeType::kStartup:
      return "Startup";
  }
  return "Unknown";
}

// --- handlers --------------------------------------------------------------------------------

HttpAnswer HttpGet(const Handler& handler, const std::string& host, absl::Duration timeout) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpAnswer answer;
  std::unique_ptr<CURL, CurlDeleter> h(curl_easy_init());
  if (!h) {
    answer.error = "curl_easy_init failed";
    return answer;
  }
  const std::string scheme = handler.scheme == "HTTPS" ? "https" : "http";
  std::string url = absl::StrCat(scheme, "://", UrlHost(host), ":", handler.port, handler.path);
  // kubelet's defaults, which the manifest's headers override (an empty value removes one).
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  bool user_agent = false, accept = false;
  for (const auto& [name, value] : handler.http_headers) {
    user_agent |= absl::AsciiStrToLower(name) == "user-agent";
    accept |= absl::AsciiStrToLower(name) == "accept";
    std::string line = value.empty() ? absl::StrCat(name, ";") : absl::StrCat(name, ": ", value);
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  }
  if (!user_agent) headers.reset(curl_slist_append(headers.release(), "User-Agent: kube-probe/1"));
  if (!accept) headers.reset(curl_slist_append(headers.release(), "Accept: */*"));
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h.get(), CURLOPT_PROXY, "");  // never through a proxy from the environment
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &answer.body);
  // kubelet does not check the certificates of the pods it probes.
  curl_easy_setopt(h.get(), CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(h.get(), CURLOPT_SSL_VERIFYHOST, 0L);
  // Redirects are followed here, not by libcurl, to apply kubelet's rule: up to 10 requests,
  // only to the host of the first one (its port and scheme may change); a redirect elsewhere
  // ends the chain with that answer. The timeout covers the whole chain, as Go's Client.Timeout.
  const absl::Time deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  const std::string first_host = NormalizedHost(host);
  for (int request = 1;; ++request) {
    answer.body.clear();
    errbuf[0] = 0;
    curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    if (deadline != absl::InfiniteFuture()) {
      int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      curl_easy_setopt(h.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, ms)));
    }
    CURLcode rc = curl_easy_perform(h.get());
    if (rc != CURLE_OK) {
      answer.status = 0;
      answer.error =
          absl::StrCat("Get \"", url, "\": ", errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc));
      return answer;
    }
    long status = 0;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
    answer.status = static_cast<int>(status);
    // The redirects Go's client follows; a 3xx without a Location is an answer as it is.
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
      return answer;
    }
    char* location = nullptr;
    curl_easy_getinfo(h.get(), CURLINFO_REDIRECT_URL, &location);
    if (location == nullptr || *location == 0) return answer;
    std::string next = location;
    if (NormalizedHost(UrlHostOf(next)) != first_host) {
      answer.redirected_elsewhere = true;
      return answer;
    }
    if (request >= kMaxHttpRequests) {
      answer.status = 0;
      answer.error =
          absl::StrCat("Get \"", next, "\": stopped after ", kMaxHttpRequests, " redirects");
      return answer;
    }
    url = std::move(next);
  }
}

ProbeOutcome TcpConnect(const std::string& host, int port, absl::Duration timeout) {
  ProbeOutcome out{.result = ProbeResult::kFailure};
  const std::string where = absl::StrCat(UrlHost(host), ":", port);
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int gai = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (gai != 0) {
    out.output = absl::StrCat("dial tcp ", where, ": ", gai_strerror(gai));
    return out;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
  const absl::Time deadline = absl::Now() + timeout;
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = strerror(errno);
      continue;
    }
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
      int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
      do {
        rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, INT32_MAX)));
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) {
        close(fd);
        out.output = absl::StrCat("dial tcp ", where, ": i/o timeout");
        return out;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0) {
        rc = err == 0 ? 0 : -1;
        errno = err;
      } else {
        rc = -1;
      }
    }
    if (rc == 0) {
      close(fd);
      out.result = ProbeResult::kSuccess;
      return out;
    }
    error = strerror(errno);
    close(fd);
  }
  out.output = absl::StrCat("dial tcp ", where, ": connect: ", error);
  return out;
}

RuntimeProber::RuntimeProber(RuntimeClient* client) : client_(client) {}

ProbeOutcome RuntimeProber::Probe(const Handler& handler, const ProbeTarget& target,
                                  absl::Duration timeout) {
  switch (handler.kind) {
    case Handler::Kind::kExec: {
      auto r = client_->ExecSync(target.container_id, handler.command, timeout);
      if (absl::IsDeadlineExceeded(r.status())) {
        return {ProbeResult::kFailure,
                absl::StrCat("command timed out after ", absl::FormatDuration(timeout))};
      }
      if (!r.ok()) return {ProbeResult::kError, std::string(r.status().message())};
      return {r->exit_code() == 0 ? ProbeResult::kSuccess : ProbeResult::kFailure, ExecOutput(*r)};
    }
    case Handler::Kind::kHttpGet: {
      const std::string host = HostFor(handler, target);
      if (host.empty()) return {ProbeResult::kError, "the pod has no IP address"};
      HttpAnswer a = HttpGet(handler, host, timeout);
      if (a.status == 0) return {ProbeResult::kFailure, a.error};
      if (a.status >= 200 && a.status < 300) return {ProbeResult::kSuccess, ""};
      if (a.status >= 300 && a.status < 400) {
        // kubelet's probe.Warning: a success, reported with a ProbeWarning event.
        return {ProbeResult::kSuccess,
                absl::StrCat("Probe terminated redirects, Response body: ", a.body.substr(0, 200)),
                /*warning=*/true};
      }
      std::string body(absl::StripAsciiWhitespace(a.body));
      return {ProbeResult::kFailure,
              absl::StrCat("HTTP probe failed with statuscode: ", a.status,
                           body.empty() ? "" : absl::StrCat(" (", body.substr(0, 200), ")"))};
    }
    case Handler::Kind::kTcpSocket: {
      const std::string host = HostFor(handler, target);
      if (host.empty()) return {ProbeResult::kError, "the pod has no IP address"};
      return TcpConnect(host, handler.port, timeout);
    }
    case Handler::Kind::kGrpc: {
      if (target.pod_ip.empty()) return {ProbeResult::kError, "the pod has no IP address"};
      return GrpcHealthCheck(target.pod_ip, handler.port, handler.grpc_service, timeout);
    }
    case Handler::Kind::kSleep:
    case Handler::Kind::kNone:
      break;
  }
  return {ProbeResult::kError, "not a probe handler"};
}

absl::Status RuntimeProber::Hook(const Handler& handler, const ProbeTarget& target,
                                 absl::Duration timeout) {
  switch (handler.kind) {
    case Handler::Kind::kExec: {
      auto r =
          client_->ExecSync(target.container_id, handler.command,
                            timeout == absl::InfiniteDuration() ? absl::ZeroDuration() : timeout);
      if (!r.ok()) return r.status();
      if (r->exit_code() != 0) {
        std::string out = ExecOutput(*r);
        return absl::UnknownError(absl::StrCat("command '", handler.command[0], "' exited with ",
                                               r->exit_code(), ": ", out));
      }
      return absl::OkStatus();
    }
    case Handler::Kind::kHttpGet: {
      const std::string host = HostFor(handler, target);
      if (host.empty()) return absl::FailedPreconditionError("the pod has no IP address");
      HttpAnswer a = HttpGet(handler, host, timeout);
      if (a.status == 0) return absl::UnavailableError(a.error);
      return absl::OkStatus();
    }
    case Handler::Kind::kSleep: {
      absl::Duration d = absl::Seconds(handler.sleep_seconds);
      absl::SleepFor(std::min(d, timeout));
      return absl::OkStatus();
    }
    case Handler::Kind::kTcpSocket:
    case Handler::Kind::kGrpc:
    case Handler::Kind::kNone:
      break;
  }
  return absl::InvalidArgumentError("not a lifecycle handler");
}

// --- the worker ------------------------------------------------------------------------------

ProbeWorker::ProbeWorker(ProbeType type, const Probe& spec) : type_(type), spec_(spec) {
  Reset(absl::InfinitePast());
}

void ProbeWorker::Reset(absl::Time started) {
  started_ = started;
  next_ = started + absl::Seconds(spec_.initial_delay_seconds);
  // kubelet's initial results: a container is live until proven otherwise, not ready until
  // proven ready, and not started until its startup probe says so.
  result_ = type_ == ProbeType::kLiveness    ? ProbeResult::kSuccess
            : type_ == ProbeType::kReadiness ? ProbeResult::kFailure
                                             : ProbeResult::kError;
  last_ = ProbeResult::kError;
  run_ = 0;
  on_hold_ = false;
}

bool ProbeWorker::Due(absl::Time now) const {
  if (on_hold_ || started_ == absl::InfinitePast()) return false;
  if (type_ == ProbeType::kStartup && result_ == ProbeResult::kSuccess) return false;
  return now >= next_;
}

void ProbeWorker::Launched(absl::Time now) { next_ = now + absl::Seconds(spec_.period_seconds); }

bool ProbeWorker::Record(ProbeResult result) {
  if (result == ProbeResult::kError || on_hold_) return false;
  if (result == last_) {
    ++run_;
  } else {
    last_ = result;
    run_ = 1;
  }
  if ((result == ProbeResult::kFailure && run_ < spec_.failure_threshold) ||
      (result == ProbeResult::kSuccess && run_ < spec_.success_threshold)) {
    return false;  // not enough in a row: the result stands
  }
  const bool changed = result_ != result;
  result_ = result;
  if (result == ProbeResult::kFailure && type_ != ProbeType::kReadiness) {
    // The container will be killed: nothing more to learn from it.
    on_hold_ = true;
    run_ = 0;
  }
  return changed;
}

// --- the container's probes ------------------------------------------------------------------

ContainerProbes::ContainerProbes(const ContainerSpec& spec) {
  if (spec.startup_probe) workers_.emplace_back(ProbeType::kStartup, *spec.startup_probe);
  if (spec.liveness_probe) workers_.emplace_back(ProbeType::kLiveness, *spec.liveness_probe);
  if (spec.readiness_probe) workers_.emplace_back(ProbeType::kReadiness, *spec.readiness_probe);
}

ContainerProbes::~ContainerProbes() = default;  // the futures wait for their probes

ProbeWorker* ContainerProbes::Find(ProbeType type) {
  for (ProbeWorker& w : workers_) {
    if (w.type() == type) return &w;
  }
  return nullptr;
}

const ProbeWorker* ContainerProbes::Find(ProbeType type) const {
  for (const ProbeWorker& w : workers_) {
    if (w.type() == type) return &w;
  }
  return nullptr;
}

void ContainerProbes::Start(const std::string& id, absl::Time started) {
  container_id_ = id;
  known_id_ = id;
  for (ProbeWorker& w : workers_) w.Reset(started);
}

void ContainerProbes::Stop() {
  container_id_.clear();
  for (ProbeWorker& w : workers_) w.Reset(absl::InfinitePast());
}

bool ContainerProbes::has_startup_probe() const { return Find(ProbeType::kStartup) != nullptr; }

bool ContainerProbes::started() const {
  if (container_id_.empty()) return false;
  const ProbeWorker* s = Find(ProbeType::kStartup);
  return s == nullptr || s->succeeded();
}

bool ContainerProbes::ready() const {
  if (!started()) return false;
  const ProbeWorker* r = Find(ProbeType::kReadiness);
  return r == nullptr || r->succeeded();
}

std::optional<int64_t> ContainerProbes::KillGrace(ProbeType type) const {
  const ProbeWorker* w = Find(type);
  if (w == nullptr) return std::nullopt;
  return w->spec().termination_grace_period_seconds;
}

void ContainerProbes::Launch(Prober* prober, const ProbeTarget& target, absl::Time now) {
  if (container_id_.empty()) return;
  const bool is_started = started();
  for (size_t i = 0; i < workers_.size(); ++i) {
    ProbeWorker& w = workers_[i];
    // Liveness and readiness wait for the startup probe; one probe of a kind at a time.
    if (w.type() != ProbeType::kStartup && !is_started) continue;
    if (!w.Due(now)) continue;
    bool busy = false;
    for (const InFlight& f : in_flight_) busy |= f.worker == i;
    if (busy) continue;
    w.Launched(now);
    Handler handler = w.spec().handler;
    absl::Duration timeout = absl::Seconds(w.spec().timeout_seconds);
    in_flight_.push_back(
        InFlight{.worker = i,
                 .container_id = container_id_,
                 .result = std::async(std::launch::async, [prober, handler, target, timeout] {
                   return prober->Probe(handler, target, timeout);
                 })});
  }
}

ContainerProbes::Collected ContainerProbes::Collect(absl::Time deadline) {
  Collected out;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    const absl::Duration left = std::max(absl::ZeroDuration(), deadline - absl::Now());
    if (it->result.wait_for(absl::ToChronoMilliseconds(left)) != std::future_status::ready) {
      ++it;
      continue;
    }
    ProbeOutcome outcome = it->result.get();
    const bool stale = it->container_id != container_id_;
    ProbeWorker& w = workers_[it->worker];
    it = in_flight_.erase(it);
    if (stale) continue;  // an earlier attempt's probe
    if (outcome.result != ProbeResult::kSuccess) out.failures.push_back({w.type(), outcome});
    if (outcome.warning) out.warnings.push_back({w.type(), outcome});
    if (w.Record(outcome.result)) {
      out.changed = true;
      if (w.failed() && w.type() != ProbeType::kReadiness) out.kill = w.type();
    }
  }
  return out;
}

}  // namespace tether::podrunner
