// Recipe 10 — stress the coalescing ratio.
//
// Pattern: many threads, a few dozen keys, a loader that takes a few milliseconds; count calls
// and flights and report the coalescing ratio, 1 - flights/calls: the share of calls that the
// backend never saw. How high it goes depends on how often callers of one key overlap, which the
// Poisson model captures: for arrivals at rate λ per key and a loader taking D, a flight is
// joined by λD callers on average, so the ratio is λD / (1 + λD). This recipe prints its
// measured ratio beside that figure, with λ and D measured from the run. Its callers loop in a
// closed cycle (each waits for its call before making the next) rather than arriving as a
// Poisson stream, so the two figures agree only roughly, and either may be the higher.
//
// A ratio depends on the scheduler, so the acceptance checks what must hold whatever the ratio
// is: loads for one key never overlap (S1); every caller gets its own key's value; exactly one
// caller per flight is the leader, so leaders == flights; and some calls were coalesced.
//
// This is the small version. The full harness is sf-stress in stress/ (ctest -L stress): open-
// loop Poisson arrivals at a chosen λ, more threads and keys, the S1–S7 and S10 invariant
// checkers, and the analytic figure beside each measured ratio.
#include <singleflight/singleflight.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "recipe.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

constexpr int threads = 16;
constexpr int calls_per_thread = 100;
constexpr int keys = 20;

struct per_thread {
  int leaders = 0, wrong_values = 0;
};

}  // namespace

int main() {
  singleflight::group<int, int> group;
  std::array<std::atomic<int>, keys> running{};  // loads in progress, per key
  std::atomic<int> overlaps{0}, flights{0};
  std::atomic<long long> loading_ns{0};
  std::vector<per_thread> tally(threads);

  const auto start = clock_type::now();
  recipe::in_parallel(threads, [&](int t) {
    std::minstd_rand rng(static_cast<unsigned>(t) + 1);
    std::uniform_int_distribution<int> pick_key(0, keys - 1), pick_us(1000, 3000);
    for (int c = 0; c < calls_per_thread; ++c) {
      const int key = pick_key(rng);
      const int load_us = pick_us(rng);
      const auto r = group.call(key, [&] {
        const auto began = clock_type::now();
        // Relaxed, all of these: each counter is only ever compared with itself (running) or
        // read after the threads join (the rest).
        if (running[key].fetch_add(1, std::memory_order_relaxed) != 0) {
          overlaps.fetch_add(1, std::memory_order_relaxed);
        }
        flights.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::microseconds(load_us));
        running[key].fetch_sub(1, std::memory_order_relaxed);
        loading_ns.fetch_add((clock_type::now() - began).count(), std::memory_order_relaxed);
        return key * 1000;
      });
      tally[t].leaders += r.leader();
      tally[t].wrong_values += *r != key * 1000;
    }
  });
  const std::chrono::duration<double> elapsed = clock_type::now() - start;

  int leaders = 0, wrong = 0;
  for (const per_thread& p : tally) {
    leaders += p.leaders;
    wrong += p.wrong_values;
  }
  const int calls = threads * calls_per_thread;
  // Relaxed reads from here on: the threads have joined.
  const int n = flights.load(std::memory_order_relaxed);
  const double ratio = 1.0 - static_cast<double>(n) / calls;
  const double lambda = calls / (keys * elapsed.count());  // arrivals per second per key
  const double d =  // the mean load, in seconds
      static_cast<double>(loading_ns.load(std::memory_order_relaxed)) / n * 1e-9;
  const double poisson = lambda * d / (1 + lambda * d);
  std::printf("%d threads, %d calls over %d keys in %.3f s: %d flights\n", threads, calls, keys,
              elapsed.count(), n);
  std::printf("coalescing ratio %.3f; Poisson figure for λ=%.0f/s per key, D=%.2f ms: %.3f\n",
              ratio, lambda, d * 1e3, poisson);

  recipe::check_eq(overlaps.load(std::memory_order_relaxed), 0,
                   "loads of one key that overlapped another");
  recipe::check_eq(wrong, 0, "callers that got another key's value");
  recipe::check_eq(leaders, n, "leaders (one per flight)");
  recipe::check(n < calls, "some calls were coalesced (flights < calls)");
  return recipe::verdict();
}
