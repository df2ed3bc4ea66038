// sf-stress: a small event loop for the coroutine callers (the library ships none, on purpose),
// and the few coroutine types the workloads need: an eager detached coroutine (`spawned`), a lazy
// task that the library's flight awaits as an asynchronous loader (`task<T>`), sleeps on the
// loop's timers, a hop to a given loop thread, and a gate that many coroutines wait on.
//
// The loop: N threads, each with a run queue of coroutine handles and a timer queue on the
// monotonic clock (now_ns()), both guarded by that thread's mutex; an idle thread sleeps on its
// condition variable until a handle is posted to it or its earliest timer is due. A coroutine that
// sleeps is a timer entry, not a blocked thread: twenty thousand callers and their loaders take
// two threads. Handles run in the order they were posted (a due timer joins the back of the run
// queue), so a handle posted after others runs after them: `fence` relies on it.
//
// Where a coroutine runs: on whichever thread resumes it. A loop thread resumes what was posted
// to it; the library resumes a coroutine caller inline on the thread that completes its flight
// (a loop thread, a thread caller's own thread) or that requests its stop (the cancel timer's
// thread). The harness's callers therefore go back to their home loop thread (`resume_on`) before
// they touch anything that thread owns.
//
// Lifetime: the loop must outlive every coroutine that may still post itself to it. stop() lets
// each thread finish its run queue and joins them; the run stops the loop only once every caller
// and loader has ended, so no live coroutine is left asleep then (stop() counts any that is, as a
// harness error). A stoppable sleep that was woken by its stop token leaves a stale timer entry
// behind; entries are dropped when due, or at stop().
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

namespace sfstress {

class event_loop {
 public:
  explicit event_loop(unsigned threads);
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  unsigned size() const noexcept { return size_; }

  // Runs `h` on loop thread `i`, after what was posted to it before.
  void post(unsigned i, std::coroutine_handle<> h);
  // Runs `h` on loop thread `i` once now_ns() >= due_ns. With `claim`, the timer resumes `h`
  // only if it is the first to exchange *claim to true (a stop callback may have done so first).
  void post_at(unsigned i, std::int64_t due_ns, std::coroutine_handle<> h,
               std::shared_ptr<std::atomic<bool>> claim = nullptr);

  // The index of the loop thread this is called on, or size() when it is not one of this loop's.
  unsigned current() const noexcept;

  // Waits (on a thread that is not one of the loop's) until every loop thread has run what had
  // been posted to it before this call, or until now_ns() passes give_up_ns: false then.
  bool fence(std::int64_t give_up_ns);

  // Lets every thread finish its run queue, joins them, and returns how many coroutines were
  // still asleep on a timer, unclaimed (0 when the harness is right). Idempotent.
  std::uint64_t stop();

 private:
  struct timer {
    std::int64_t due_ns;
    std::coroutine_handle<> h;
    std::shared_ptr<std::atomic<bool>> claim;
  };
  struct later {
    bool operator()(const timer& a, const timer& b) const noexcept { return a.due_ns > b.due_ns; }
  };
  struct alignas(64) lane {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::coroutine_handle<>> ready;  // guarded by mu
    std::vector<timer> timers;                   // guarded by mu; a min-heap on due_ns (later)
    bool idle = false;                           // guarded by mu: the thread waits on cv
    bool stopping = false;                       // guarded by mu
  };

  void run(unsigned i);

  const unsigned size_;
  std::unique_ptr<lane[]> lanes_;
  std::vector<std::thread> threads_;
  std::uint64_t asleep_at_stop_ = 0;
};

// ---- awaitables on the loop ----------------------------------------------------------------

// Continues on loop thread `i`: at once if this is that thread, else by posting itself there.
struct resume_on {
  event_loop& loop;
  unsigned i;
  bool await_ready() const noexcept { return loop.current() == i; }
  void await_suspend(std::coroutine_handle<> h) const { loop.post(i, h); }
  void await_resume() const noexcept {}
};

// Sleeps on the current loop thread's timers until now_ns() >= due_ns. Always suspends, even
// when the time has passed (then it only yields to the run queue), so that a loop of calls never
// grows the stack of the thread that resumed it.
struct sleep_until {
  event_loop& loop;
  std::int64_t due_ns;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const;
  void await_resume() const noexcept {}
};

// As sleep_until, but woken early when `token` is requested; co_await yields true if the stop
// woke it (not if the timer did, even when the stop came before it resumed). The stop callback
// and the timer race for the wake-up through a shared claim: the first to claim posts the
// coroutine to its loop thread, the other does nothing. Both only post, so the coroutine resumes
// on its own thread, after await_suspend has returned.
class stoppable_sleep {
 public:
  stoppable_sleep(event_loop& loop, std::int64_t due_ns, std::stop_token token)
      : loop_(loop), due_ns_(due_ns), token_(std::move(token)) {}
  bool await_ready() noexcept { return by_stop_ = token_.stop_requested(); }
  void await_suspend(std::coroutine_handle<> h);
  bool await_resume() noexcept {
    on_stop_.reset();  // waits for the callback if it is running on another thread
    return by_stop_;
  }

 private:
  struct wake {
    event_loop* loop;
    unsigned home;
    std::coroutine_handle<> h;
    std::shared_ptr<std::atomic<bool>> claim;
    bool* by_stop;  // the awaiter's, written only by the winner of the claim, before it posts
    void operator()() const;
  };
  event_loop& loop_;
  std::int64_t due_ns_;
  std::stop_token token_;
  bool by_stop_ = false;
  std::optional<std::stop_callback<wake>> on_stop_;
};

// A one-shot gate: coroutines that await it wait until open(), which posts each of them back to
// the loop thread it waited on. Awaited only on loop threads.
class gate {
 public:
  explicit gate(event_loop& loop) : loop_(loop) {}

  struct awaiter {
    gate& g;
    bool await_ready() { return g.is_open(); }
    bool await_suspend(std::coroutine_handle<> h) { return g.enqueue(h); }
    void await_resume() const noexcept {}
  };
  awaiter operator co_await() noexcept { return {*this}; }

  void open();
  std::size_t waiting();

 private:
  bool is_open();
  bool enqueue(std::coroutine_handle<> h);  // false: open already, do not suspend

  event_loop& loop_;
  std::mutex mu_;
  bool open_ = false;                                             // guarded by mu_
  std::vector<std::pair<unsigned, std::coroutine_handle<>>> waiting_;  // guarded by mu_
};

// ---- coroutine types ------------------------------------------------------------------------

// A coroutine that starts at once, is never awaited, and frees its own frame when its body ends.
// Whoever spawns it learns that it has ended from the body itself (its last statement).
struct spawned {
  struct promise_type {
    spawned get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // the bodies catch everything
  };
};

// What a task's promise keeps of its coroutine's result (nothing, for task<void>).
template <class T>
struct task_result {
  std::optional<T> value;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() { return std::move(*value); }
};
template <>
struct task_result<void> {
  void return_void() noexcept {}
  void take() noexcept {}
};

// A lazy coroutine yielding a T (or nothing): it starts when awaited, and resumes its awaiter
// when it ends (symmetric transfer, on the thread it ends on). An exception it throws is rethrown
// to the awaiter as the same object (std::rethrow_exception copies nothing in libstdc++), which
// the tracked types require (S3). The library's flight awaits a task<flight_facts> as an
// asynchronous loader.
template <class T>
class task {
 public:
  struct promise_type : task_result<T> {
    std::exception_ptr error;
    std::coroutine_handle<> continuation;

    task get_return_object() noexcept {
      return task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        return h.promise().continuation;
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  task(task&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  task& operator=(task&&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return h_.promise().take();
  }

 private:
  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

}  // namespace sfstress
