// sf-bench's coroutine rig (bench only; the library ships no task type or loop, on purpose): a
// coroutine that nobody awaits, a plain list of suspended coroutines, and a tiny event loop per
// thread with a run queue and a timer queue, for the async_call scenarios (issue 14).
//
// The loop is what a thread-per-core program runs (one loop per thread, each coroutine at home on
// one of them): a coroutine that something resumed elsewhere (a flight's close resumes its
// followers inline, on the completing thread) goes home through schedule(), which the caller
// awaits. When a loop has nothing to run it blocks in the kernel (a condition variable's timed
// wait until its next timer is due, or until another thread posts to it): a coroutine waiting on
// a timer holds no thread, as a goroutine in time.Sleep holds none. A timer fires as soon as the
// kernel wakes the sleeping thread (its timer slack is made 1 ns) or, when the loop is busy, at
// the next look at the clock (every 64 resumptions). Go's fire when its scheduler next looks, and
// when it idles, after epoll_wait's timeout, which Go 1.19 rounds up to 1 ms. The loop records how
// long its timers really took, so that a report can say.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <queue>
#include <utility>
#include <vector>

#include <sys/prctl.h>

namespace sfbench::coro {

inline std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// A coroutine that nobody awaits. Made suspended: whoever holds `handle` starts it (resume(), or
// a loop's run queue). Its frame is freed when its body ends; one that never ends is leaked.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // a benchmark that throws is broken
  };
  std::coroutine_handle<> handle;
};

// Coroutines suspended on a plain list, resumed in order by resume_all() on the calling thread.
// One thread only. Appending reuses the list's capacity (reserve()), so a timed resume_all()
// allocates nothing when each coroutine it resumes waits on another reserved list.
class suspended_list {
 public:
  auto wait() noexcept {
    struct awaiter {
      suspended_list& list;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) { list.waiting_.push_back(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{*this};
  }

  // Resumes the coroutines that were waiting when it was called; one that waits here again
  // while this runs waits for the next call.
  void resume_all() {
    resuming_.swap(waiting_);
    for (std::coroutine_handle<> h : resuming_) h.resume();
    resuming_.clear();
  }

  void reserve(std::size_t n) {
    waiting_.reserve(n);
    resuming_.reserve(n);
  }
  std::size_t size() const noexcept { return waiting_.size(); }

 private:
  std::vector<std::coroutine_handle<>> waiting_, resuming_;
};

// An asynchronous loader for async_call: waits on `list`, then yields `value`.
template <class T>
struct value_after {
  suspended_list* list;
  T value;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { list->wait().await_suspend(h); }
  T await_resume() const noexcept { return value; }
};

// One thread's loop. run() on the thread that owns it; post() and stop() from any thread;
// timers only from coroutines running on the owning thread.
class event_loop {
 public:
  event_loop() = default;
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // The loop the calling thread runs, or null.
  static event_loop* current() noexcept { return current_; }

  // Runs until stop(): takes in what other threads posted, resumes the coroutines of due timers
  // and what the run queue held at the start of the round; with nothing to run, blocks until the
  // next timer is due or something is posted. The thread's timer slack is made 1 ns (Linux), so
  // that the kernel wakes it for a timer when it is due, not up to 50 µs later.
  void run() {
    (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    current_ = this;
    std::vector<std::coroutine_handle<>> posted;
    for (;;) {
      // Relaxed: only a hint; the inbox itself is read under mu_, whose lock orders it.
      if (has_posted_.load(std::memory_order_relaxed)) {
        {
          std::lock_guard lock(mu_);
          posted.swap(inbox_);
          has_posted_.store(false, std::memory_order_relaxed);
        }
        ready_.insert(ready_.end(), posted.begin(), posted.end());
        posted.clear();
      }
      if (!timers_.empty()) fire_due(steady_ns());
      if (!ready_.empty()) {
        for (std::size_t n = ready_.size(); n > 0; --n) {
          // A long round looks at the clock every kTimerCheck resumptions, so that a timer fires
          // on time however many coroutines are ready (as Go's scheduler checks its timers at
          // every switch).
          if (n % kTimerCheck == 0 && !timers_.empty()) fire_due(steady_ns());
          const std::coroutine_handle<> h = ready_.front();
          ready_.pop_front();
          h.resume();
        }
        continue;
      }
      std::unique_lock lock(mu_);
      if (!inbox_.empty()) continue;
      if (stopped_) break;
      sleeping_ = true;
      if (timers_.empty()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, std::chrono::steady_clock::time_point(
                                 std::chrono::nanoseconds(timers_.top().due)));
      }
      sleeping_ = false;
    }
    current_ = nullptr;
  }

  // Makes run() return once it has nothing left to run.
  void stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_one();
  }

  // Queues `h` to be resumed by this loop: on its own thread straight into the run queue, from
  // any other into the inbox (waking the loop if it sleeps).
  void post(std::coroutine_handle<> h) {
    if (current_ == this) {
      ready_.push_back(h);
      return;
    }
    std::lock_guard lock(mu_);
    inbox_.push_back(h);
    has_posted_.store(true, std::memory_order_relaxed);  // relaxed: see run()
    if (sleeping_) cv_.notify_one();
  }

  // `co_await loop.schedule()`: continue on this loop (at the back of its run queue, if already
  // on it).
  auto schedule() noexcept {
    struct awaiter {
      event_loop& loop;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) { loop.post(h); }
      void await_resume() const noexcept {}
    };
    return awaiter{*this};
  }

  // Resumes `h` on this loop, its owning thread's, once `ns` have passed.
  void add_timer(std::uint64_t ns, std::coroutine_handle<> h) {
    const std::uint64_t now = steady_ns();
    timers_.push({now + ns, now, seq_++, h});
  }

  // Timers fired so far, and the sum of the times from arming each to its firing. Read after
  // the loop's thread is joined.
  long timers_fired() const noexcept { return fired_; }
  std::uint64_t timer_elapsed_ns() const noexcept { return elapsed_ns_; }

 private:
  struct timer {
    std::uint64_t due, armed, seq;
    std::coroutine_handle<> h;
    bool operator>(const timer& o) const noexcept { return due != o.due ? due > o.due : seq > o.seq; }
  };

  static constexpr std::size_t kTimerCheck = 64;

  // Resumes, here and now, the coroutine of each timer due by `now`.
  void fire_due(std::uint64_t now) {
    while (!timers_.empty() && timers_.top().due <= now) {
      const timer t = timers_.top();
      timers_.pop();
      elapsed_ns_ += now - t.armed;
      ++fired_;
      t.h.resume();
    }
  }

  static inline thread_local event_loop* current_ = nullptr;

  // The owning thread's alone.
  std::deque<std::coroutine_handle<>> ready_;
  std::priority_queue<timer, std::vector<timer>, std::greater<>> timers_;
  std::uint64_t seq_ = 0, elapsed_ns_ = 0;
  long fired_ = 0;

  // Guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::coroutine_handle<>> inbox_;
  bool sleeping_ = false, stopped_ = false;
  std::atomic<bool> has_posted_{false};  // inbox_ is not empty (a hint; set and cleared under mu_)
};

// An asynchronous loader for async_call: completes after `ns` on the calling thread's loop's
// timer (the caller must be running on a loop), then yields `value`.
template <class T>
struct after_ns {
  std::uint64_t ns;
  T value;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { event_loop::current()->add_timer(ns, h); }
  T await_resume() const noexcept { return value; }
};

}  // namespace sfbench::coro
