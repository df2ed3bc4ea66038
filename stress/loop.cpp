#include "loop.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "clock.hpp"

namespace sfstress {

namespace {

// The loop and lane the current thread runs, if it is a loop thread. Written once by the thread
// itself before it runs anything.
thread_local const event_loop* this_loop = nullptr;
thread_local unsigned this_lane = 0;

// A coroutine that arrives on loop thread `i` and counts itself there (event_loop::fence).
spawned arrive_on(event_loop& loop, unsigned i, std::shared_ptr<std::atomic<unsigned>> arrived) {
  co_await resume_on{loop, i};
  // Release: pairs with the acquire in fence(), which then sees what ran before this.
  arrived->fetch_add(1, std::memory_order_release);
}

}  // namespace

event_loop::event_loop(unsigned threads)
    : size_(std::max(1u, threads)), lanes_(std::make_unique<lane[]>(size_)) {
  threads_.reserve(size_);
  try {
    for (unsigned i = 0; i < size_; ++i) threads_.emplace_back([this, i] { run(i); });
  } catch (...) {
    stop();
    throw;
  }
}

event_loop::~event_loop() { stop(); }

unsigned event_loop::current() const noexcept { return this_loop == this ? this_lane : size_; }

void event_loop::post(unsigned i, std::coroutine_handle<> h) {
  assert(i < size_ && "posted to no loop thread (a sleep or gate awaited off the loop?)");
  lane& l = lanes_[i];
  bool wake;
  {
    std::lock_guard lock(l.mu);
    l.ready.push_back(h);
    wake = l.idle;
  }
  if (wake) l.cv.notify_one();
}

void event_loop::post_at(unsigned i, std::int64_t due_ns, std::coroutine_handle<> h,
                         std::shared_ptr<std::atomic<bool>> claim) {
  assert(i < size_ && "a sleep awaited off the loop");
  lane& l = lanes_[i];
  bool wake;
  {
    std::lock_guard lock(l.mu);
    l.timers.push_back({due_ns, h, std::move(claim)});
    std::push_heap(l.timers.begin(), l.timers.end(), later{});
    wake = l.idle;  // it may be waiting for a later timer than this one
  }
  if (wake) l.cv.notify_one();
}

bool event_loop::fence(std::int64_t give_up_ns) {
  auto arrived = std::make_shared<std::atomic<unsigned>>(0);
  for (unsigned i = 0; i < size_; ++i) arrive_on(*this, i, arrived);
  while (arrived->load(std::memory_order_acquire) < size_) {  // pairs with arrive_on
    if (now_ns() > give_up_ns) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

std::uint64_t event_loop::stop() {
  for (unsigned i = 0; i < size_; ++i) {
    lane& l = lanes_[i];
    {
      std::lock_guard lock(l.mu);
      l.stopping = true;
    }
    l.cv.notify_one();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  for (unsigned i = 0; i < size_; ++i) {
    lane& l = lanes_[i];
    std::lock_guard lock(l.mu);
    for (const timer& t : l.timers) {
      if (!t.claim || !t.claim->load(std::memory_order_relaxed)) ++asleep_at_stop_;  // joined
    }
    l.timers.clear();
  }
  return asleep_at_stop_;
}

void event_loop::run(unsigned i) {
  tighten_timer_slack();
  this_loop = this;
  this_lane = i;
  lane& l = lanes_[i];
  std::vector<std::coroutine_handle<>> batch;
  std::unique_lock lock(l.mu);
  for (;;) {
    const std::int64_t now = now_ns();
    while (!l.timers.empty() && l.timers.front().due_ns <= now) {
      std::pop_heap(l.timers.begin(), l.timers.end(), later{});
      timer t = std::move(l.timers.back());
      l.timers.pop_back();
      // acq_rel, pairs with the exchange in stoppable_sleep::wake: exactly one of the two posts.
      if (!t.claim || !t.claim->exchange(true, std::memory_order_acq_rel)) l.ready.push_back(t.h);
    }
    if (!l.ready.empty()) {
      batch.swap(l.ready);
      lock.unlock();
      for (std::coroutine_handle<> h : batch) h.resume();
      batch.clear();
      lock.lock();
      continue;
    }
    if (l.stopping) break;
    l.idle = true;
    if (l.timers.empty()) {
      l.cv.wait(lock);
    } else {
      l.cv.wait_until(lock, std::chrono::steady_clock::time_point(
                                std::chrono::nanoseconds(l.timers.front().due_ns)));
    }
    l.idle = false;
  }
}

void sleep_until::await_suspend(std::coroutine_handle<> h) const {
  loop.post_at(loop.current(), due_ns, h);
}

void stoppable_sleep::wake::operator()() const {
  // acq_rel, pairs with the timer's exchange in event_loop::run.
  if (!claim->exchange(true, std::memory_order_acq_rel)) {
    *by_stop = true;  // read after the resumption, which the post orders after this
    loop->post(home, h);
  }
}

void stoppable_sleep::await_suspend(std::coroutine_handle<> h) {
  const unsigned home = loop_.current();
  auto claim = std::make_shared<std::atomic<bool>>(false);
  loop_.post_at(home, due_ns_, h, claim);
  // Registered after the timer: a stop already requested runs the callback here, which only
  // posts, so the coroutine resumes on this thread once await_suspend has returned.
  on_stop_.emplace(token_, wake{&loop_, home, h, std::move(claim), &by_stop_});
}

bool gate::is_open() {
  std::lock_guard lock(mu_);
  return open_;
}

bool gate::enqueue(std::coroutine_handle<> h) {
  std::lock_guard lock(mu_);
  if (open_) return false;
  waiting_.emplace_back(loop_.current(), h);
  return true;
}

void gate::open() {
  std::vector<std::pair<unsigned, std::coroutine_handle<>>> resume;
  {
    std::lock_guard lock(mu_);
    open_ = true;
    resume.swap(waiting_);
  }
  for (const auto& [home, h] : resume) loop_.post(home, h);
}

std::size_t gate::waiting() {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

}  // namespace sfstress
