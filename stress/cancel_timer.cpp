#include "cancel_timer.hpp"

#include "clock.hpp"

namespace sfstress {

void cancel_ticket::request() noexcept {
  requested_ns.store(now_ns(), std::memory_order_release);  // pairs with the caller's acquire
  source.request_stop();
}

cancel_timer::cancel_timer() : thread_([this] { loop(); }) {}

cancel_timer::~cancel_timer() { stop(); }

void cancel_timer::schedule(std::shared_ptr<cancel_ticket> ticket) {
  {
    std::lock_guard lock(mu_);
    due_.push(std::move(ticket));
  }
  cv_.notify_one();
}

void cancel_timer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  due_ = {};
}

void cancel_timer::loop() {
  tighten_timer_slack();
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const std::int64_t wait = due_.top()->due_ns - now_ns();
    if (wait > 0) {
      cv_.wait_for(lock, std::chrono::nanoseconds(wait));
      continue;
    }
    std::shared_ptr<cancel_ticket> ticket = due_.top();
    due_.pop();
    lock.unlock();
    ticket->request();
    lock.lock();
  }
}

}  // namespace sfstress
