#include "server/event_hub.h"

namespace tether {

bool EventHub::Subscription::Next(runtime::v1::ContainerEventResponse* out,
                                  absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto has_event = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_event), timeout)) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

uint64_t EventHub::Subscription::dropped() const {
  absl::MutexLock l(&mu_);
  return dropped_;
}

std::shared_ptr<EventHub::Subscription> EventHub::Subscribe() {
  auto s = std::make_shared<Subscription>();
  absl::MutexLock l(&mu_);
  subs_.insert(s);
  return s;
}

void EventHub::Unsubscribe(const std::shared_ptr<Subscription>& s) {
  absl::MutexLock l(&mu_);
  subs_.erase(s);
}

void EventHub::Publish(const runtime::v1::ContainerEventResponse& event) {
  absl::MutexLock l(&mu_);
  for (const auto& s : subs_) {
    absl::MutexLock sl(&s->mu_);
    if (s->queue_.size() >= kMaxQueued) {
      s->queue_.pop_front();
      ++s->dropped_;
    }
    s->queue_.push_back(event);
  }
}

size_t EventHub::subscribers() const {
  absl::MutexLock l(&mu_);
  return subs_.size();
}

}  // namespace tether
