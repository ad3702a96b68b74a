// Single-use tokens for streaming URLs, as kubelet's streaming server keeps them: random and
// URL-safe, valid for a minute, at most 1000 pending.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "stream/stream_request.h"

namespace tether::stream {

class TokenCache {
 public:
  using Clock = std::function<absl::Time()>;
  static constexpr size_t kDefaultMaxPending = 1000;
  static constexpr size_t kTokenBytes = 12;  // 16 URL-safe base64 characters

  explicit TokenCache(size_t max_pending = kDefaultMaxPending,
                      absl::Duration ttl = absl::Minutes(1), Clock clock = nullptr);

  // A new token for `request`. RESOURCE_EXHAUSTED when `max_pending` unexpired tokens wait.
  absl::StatusOr<std::string> Insert(StreamRequest request);
  // The request behind `token`, removing it; nullopt when unknown, used or expired.
  std::optional<StreamRequest> Consume(const std::string& token);
  size_t size() const;

 private:
  struct Entry {
    StreamRequest request;
    absl::Time expires;
  };
  void EvictExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_pending_;
  const absl::Duration ttl_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// `n` bytes from the kernel's random source as unpadded URL-safe base64.
std::string RandomUrlToken(size_t n);

}  // namespace tether::stream
