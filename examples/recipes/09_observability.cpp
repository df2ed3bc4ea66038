// Recipe 9 — observability: calls, flights, followers, errors and a latency histogram.
//
// Pattern: a wrapper with the group's own call() that counts on the way through. Everything a
// dashboard wants is visible from outside the library:
//   - a flight is a run of fn, so the wrapper's fn counts flights — and the failed ones, since an
//     exception leaving fn is the flight failing;
//   - fn runs only in the leader, in the leader's thread, so a flag the wrapper's fn sets tells
//     each caller whether it led; the others were followers. (Counting shared() instead is a
//     common mistake: it is true for the leader too, whenever anybody joined.)
//   - a caller that stopped waiting catches singleflight::cancelled;
//   - latency is the time around call(), per caller, into power-of-two buckets.
// That is why the library has no metrics hook: it would put a policy parameter on all three
// groups and a branch on every path for what this wrapper does at the cost of a few relaxed
// increments, only for those who use it. The wrapper takes the group type as a parameter, so it
// observes mutex_group and sharded_group just the same.
//
// Acceptance: after 20 callers share a good flight, 10 share a failing one, and one follower is
// cancelled: calls 32 = flights 3 + followers 28 + cancelled 1; failed flights 1; failed calls
// 10 (the leader and its 9 followers); the histogram holds one sample per call. The same
// workload runs through group and mutex_group.
#include <singleflight/baselines.hpp>
#include <singleflight/singleflight.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "recipe.hpp"

namespace {

template <class Key, class Value, class Group = singleflight::group<Key, Value>>
class observed_group {
 public:
  // Bucket b counts calls that took [2^(b-1), 2^b) microseconds; bucket 0 those under 1 us.
  static constexpr std::size_t buckets = 24;  // the last one holds everything from ~4 s up

  struct snapshot {
    std::uint64_t calls, flights, followers, cancelled, failed_flights, failed_calls;
    std::array<std::uint64_t, buckets> latency_us;

    // The upper bound, in microseconds, of the bucket holding the q-quantile of latency.
    std::uint64_t quantile_us(double q) const {
      std::uint64_t total = 0, seen = 0;
      for (std::uint64_t n : latency_us) total += n;
      for (std::size_t b = 0; b < buckets; ++b) {
        seen += latency_us[b];
        if (total != 0 && static_cast<double>(seen) >= q * static_cast<double>(total)) {
          return std::uint64_t{1} << b;
        }
      }
      return 0;
    }
  };

  template <class F>
  singleflight::result<Value> call(const Key& key, F&& fn) {
    return observe([&](auto&& counted) { return group_.call(key, counted); }, std::forward<F>(fn));
  }

  template <class F>
  singleflight::result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    return observe([&](auto&& counted) { return group_.call(key, counted, std::move(stop)); },
                   std::forward<F>(fn));
  }

  void forget(const Key& key) { group_.forget(key); }

  // Each counter is read on its own: taken while calls run, the numbers may disagree by the
  // calls in progress. Once the calls are over they add up exactly.
  snapshot read() const {
    snapshot s{};
    s.calls = calls_.load(std::memory_order_relaxed);
    s.flights = flights_.load(std::memory_order_relaxed);
    s.followers = followers_.load(std::memory_order_relaxed);
    s.cancelled = cancelled_.load(std::memory_order_relaxed);
    s.failed_flights = failed_flights_.load(std::memory_order_relaxed);
    s.failed_calls = failed_calls_.load(std::memory_order_relaxed);
    for (std::size_t b = 0; b < buckets; ++b) {
      s.latency_us[b] = latency_us_[b].load(std::memory_order_relaxed);
    }
    return s;
  }

 private:
  using clock_type = std::chrono::steady_clock;

  // Every counter is relaxed: each is a tally that publishes nothing, and whoever reads them
  // after the calls finished has synchronized with those calls by other means (a join here).
  template <class Call, class F>
  singleflight::result<Value> observe(Call&& call, F&& fn) {
    const auto start = clock_type::now();
    bool led = false;  // written only by this thread, inside its own fn
    auto counted = [&]() -> decltype(auto) {
      led = true;
      flights_.fetch_add(1, std::memory_order_relaxed);
      try {
        return std::invoke(fn);
      } catch (...) {
        failed_flights_.fetch_add(1, std::memory_order_relaxed);
        throw;
      }
    };
    try {
      singleflight::result<Value> r = call(counted);
      finish(start, led);
      return r;
    } catch (const singleflight::cancelled&) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);
      record_latency(start);
      throw;
    } catch (...) {
      failed_calls_.fetch_add(1, std::memory_order_relaxed);
      finish(start, led);
      throw;
    }
  }

  void finish(clock_type::time_point start, bool led) {
    if (!led) followers_.fetch_add(1, std::memory_order_relaxed);
    record_latency(start);
  }

  void record_latency(clock_type::time_point start) {
    const auto elapsed = clock_type::now() - start;
    const auto n = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    const std::size_t b = std::min<std::size_t>(std::bit_width(n), buckets - 1);
    latency_us_[b].fetch_add(1, std::memory_order_relaxed);
    calls_.fetch_add(1, std::memory_order_relaxed);
  }

  Group group_;
  std::atomic<std::uint64_t> calls_{0}, flights_{0}, followers_{0}, cancelled_{0};
  std::atomic<std::uint64_t> failed_flights_{0}, failed_calls_{0};
  std::array<std::atomic<std::uint64_t>, buckets> latency_us_{};
};

template <class Group>
void observe_a_workload(const char* name) {
  std::printf("%s:\n", name);
  observed_group<std::string, int, Group> g;

  // 20 callers share one good flight.
  recipe::crowd good(20);
  recipe::in_parallel(20, [&](int) {
    good.arrive();
    g.call("a", [&] {
      good.wait_for_everyone();
      return 1;
    });
  });

  // 10 callers share one failing flight. Each keeps its exception until the threads joined (a
  // thread sanitizer cannot see exception_ptr's reference count).
  recipe::crowd bad(10);
  std::vector<std::exception_ptr> caught(10);
  recipe::in_parallel(10, [&](int i) {
    bad.arrive();
    try {
      g.call("bad", [&]() -> int {
        bad.wait_for_everyone();
        throw std::runtime_error("backend down");
      });
    } catch (...) {
      caught[i] = std::current_exception();
    }
  });

  // A follower that gives up: its stop is requested while the flight is held open.
  std::latch started(1), release(1);
  std::jthread leader([&] {
    g.call("slow", [&] {
      started.count_down();
      release.wait();
      return 3;
    });
  });
  started.wait();
  std::jthread quitter([&](std::stop_token stop) {
    try {
      g.call("slow", [] { return 0; }, stop);
    } catch (const singleflight::cancelled&) {
    }
  });
  quitter.request_stop();
  quitter.join();
  release.count_down();
  leader.join();

  const auto s = g.read();
  std::printf("  calls=%llu flights=%llu followers=%llu cancelled=%llu failed_flights=%llu "
              "failed_calls=%llu latency p50 < %.1f ms, p99 < %.1f ms\n",
              static_cast<unsigned long long>(s.calls), static_cast<unsigned long long>(s.flights),
              static_cast<unsigned long long>(s.followers),
              static_cast<unsigned long long>(s.cancelled),
              static_cast<unsigned long long>(s.failed_flights),
              static_cast<unsigned long long>(s.failed_calls),
              static_cast<double>(s.quantile_us(0.5)) / 1e3,
              static_cast<double>(s.quantile_us(0.99)) / 1e3);
  std::uint64_t samples = 0;
  for (std::uint64_t n : s.latency_us) samples += n;
  recipe::check_eq(s.calls, 32u, "calls");
  recipe::check_eq(s.flights, 3u, "flights (runs of fn)");
  recipe::check_eq(s.followers, 28u, "followers (19 + 9)");
  recipe::check_eq(s.cancelled, 1u, "cancelled");
  recipe::check_eq(s.failed_flights, 1u, "failed flights");
  recipe::check_eq(s.failed_calls, 10u, "failed calls");
  recipe::check_eq(s.flights + s.followers + s.cancelled, s.calls,
                   "flights + followers + cancelled");
  recipe::check_eq(samples, s.calls, "latency samples");
}

}  // namespace

int main() {
  observe_a_workload<singleflight::group<std::string, int>>("group");
  observe_a_workload<singleflight::mutex_group<std::string, int>>("mutex_group");
  return recipe::verdict();
}
