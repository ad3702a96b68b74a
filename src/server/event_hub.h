// Fan-out of container events to GetContainerEvents streams. Each subscriber has a bounded
// queue: a stream that does not keep up loses its oldest events rather than slowing the runtime.
#pragma once

#include <deque>
#include <memory>
#include <set>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/v1/api.pb.h"

namespace tether {

class EventHub {
 public:
  static constexpr size_t kMaxQueued = 4096;

  class Subscription {
   public:
    // Waits up to `timeout` for an event; false when none came.
    bool Next(runtime::v1::ContainerEventResponse* out, absl::Duration timeout);
    uint64_t dropped() const;

   private:
    friend class EventHub;
    mutable absl::Mutex mu_;
    std::deque<runtime::v1::ContainerEventResponse> queue_ ABSL_GUARDED_BY(mu_);
    uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  };

  std::shared_ptr<Subscription> Subscribe();
  void Unsubscribe(const std::shared_ptr<Subscription>& s);
  void Publish(const runtime::v1::ContainerEventResponse& event);
  size_t subscribers() const;

 private:
  mutable absl::Mutex mu_;
  std::set<std::shared_ptr<Subscription>> subs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether
