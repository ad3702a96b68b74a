#include "stream/token_cache.h"

#include <sys/random.h>

#include <cerrno>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tether::stream {

std::string RandomUrlToken(size_t n) {
  std::vector<unsigned char> bytes(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(bytes.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      abort();  // the kernel's random source does not fail once initialized
    }
    got += static_cast<size_t>(r);
  }
  std::string out;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), &out);
  return out;
}

TokenCache::TokenCache(size_t max_pending, absl::Duration ttl, Clock clock)
    : max_pending_(max_pending),
      ttl_(ttl),
      clock_(clock ? std::move(clock) : Clock([] { return absl::Now(); })) {}

void TokenCache::EvictExpired(absl::Time now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expires <= now) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<std::string> TokenCache::Insert(StreamRequest request) {
  absl::Time now = clock_();
  absl::MutexLock l(&mu_);
  if (entries_.size() >= max_pending_) EvictExpired(now);
  if (entries_.size() >= max_pending_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("too many pending streaming requests (", max_pending_, ")"));
  }
  for (;;) {
    std::string token = RandomUrlToken(kTokenBytes);
    if (entries_.count(token) != 0) continue;  // astronomically unlikely
    entries_.emplace(token, Entry{std::move(request), now + ttl_});
    return token;
  }
}

std::optional<StreamRequest> TokenCache::Consume(const std::string& token) {
  absl::Time now = clock_();
  absl::MutexLock l(&mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  Entry e = std::move(it->second);
  entries_.erase(it);
  if (e.expires <= now) return std::nullopt;
  return std::move(e.request);
}

size_t TokenCache::size() const {
  absl::MutexLock l(&mu_);
  return entries_.size();
}

}  // namespace tether::stream
