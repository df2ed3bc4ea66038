// sf-stress: what each thread of a run keeps. Everything here is written by its own thread only,
// except `progress`, which the monitor reads while the run goes on; the run reads the rest after
// joining the thread. (A loop thread's worker is written by the coroutine callers whose home it
// is, each on that thread: see loop.hpp.)
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <random>
#include <vector>

#include "checks.hpp"
#include "stats.hpp"
#include "tracked.hpp"

namespace sfstress {

// What a thread is doing, for the watchdog and the progress bar. Relaxed throughout: a snapshot
// for a diagnosis, never used to decide anything about the library; the run's own totals come
// from the worker fields after join.
struct alignas(64) progress_slot {
  enum op : std::uint32_t { idle, calling, forgetting, sweeping };
  std::atomic<std::uint64_t> done{0};  // calls completed
  std::atomic<std::uint64_t> key{0};
  std::atomic<std::int64_t> since{0};  // when the current operation began
  std::atomic<std::uint32_t> doing{idle};

  void begin(op what, std::uint64_t k, std::int64_t at) noexcept {
    key.store(k, std::memory_order_relaxed);
    since.store(at, std::memory_order_relaxed);
    doing.store(what, std::memory_order_relaxed);
  }
  void end(std::uint64_t calls) noexcept {
    doing.store(idle, std::memory_order_relaxed);
    done.store(calls, std::memory_order_relaxed);
  }
};

struct worker {
  worker(unsigned i, std::uint64_t seed) : index(i), rng(seed) {}

  const unsigned index;  // 1.. for the run's threads, 0 for the main thread's sweep
  std::mt19937_64 rng;
  tracked_key key{0};  // reused for every call: assigning a key costs no census traffic

  // Set by fn when it runs in this thread, so that the caller knows it led.
  std::uint64_t led_flight = 0;
  std::uint64_t flight_seq = 0;

  std::uint64_t calls = 0, flights = 0, followers = 0, forgets = 0;
  std::uint64_t failed_flights = 0, failure_receipts = 0;
  std::uint64_t stop_requests = 0, cancelled = 0, late = 0;
  // poisson: the arrival this thread took and then gave up, a signal having come while it waited.
  static constexpr std::uint64_t kNoArrival = ~std::uint64_t{0};
  std::uint64_t skipped_arrival = kNoArrival;
  std::int64_t fn_time_ns = 0;
  // deadline: see run_result.
  std::uint64_t with_deadline = 0, with_token = 0, with_both = 0, with_neither = 0;
  std::uint64_t until = 0, expired = 0, deadline_exceeded = 0;
  std::uint64_t stoppable_flights = 0, abandoned_flights = 0;
  std::int64_t abandoned_ran_ns = 0, abandoned_planned_ns = 0;
  // coro and wide, on a loop thread's worker (its coroutine callers record here, on that thread):
  // their calls, and those that led with an fn returning its value at once or an asynchronous
  // loader.
  std::uint64_t coroutine_calls = 0, inline_leads = 0, async_leads = 0;
  histogram latency, wake, cancel_latency, lateness, deadline_lateness;

  // Exceptions received, kept until the run's threads are joined. The exception's last owner then
  // is the main thread: libstdc++ counts exception references in uninstrumented code, so a
  // sanitizer could not see that another thread's last reader came before the free.
  std::vector<std::exception_ptr> graveyard;
  std::vector<call_span> cancelled_calls;

  progress_slot progress;

  double uniform01() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
  double normal01() { return std::normal_distribution<double>(0.0, 1.0)(rng); }
  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
  }
};

}  // namespace sfstress
