// Duplicate suppression: concurrent callers of one key share one execution of fn (S1), nothing is
// cached once a flight has ended (S2), and shared()/leader() describe each flight exactly (S4).
// Go's TestDoDupSuppress lives here.
#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class coalescing : public ::testing::Test {};
TYPED_TEST_SUITE(coalescing, implementations);

// Go: TestDoDupSuppress. The first flight is held until every caller is on its way, so callers
// pile up behind it; whoever comes too late leads a flight of its own, which the per-flight
// checks allow for.
TYPED_TEST(coalescing, duplicate_calls_are_suppressed) {
  constexpr int kCallers = 64;
  group_for<TypeParam, std::string, long> g;
  std::atomic<long> executions{0};
  gate release;
  flight_log log;

  pile_up_callers(kCallers, release, [&](int) {
    const auto r = g.call("key", [&] {
      const long flight = ++executions;
      if (flight == 1) release.wait();
      return flight;
    });
    log.add(sighting_of(r, *r));
  });

  log.expect_consistent();
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(kCallers)) << "every call returned a value";
  EXPECT_EQ(log.flights(), static_cast<std::size_t>(executions.load()))
      << "every execution of fn served exactly one flight";
  // Like Go's test: the first flight stayed open for a grace period after all 64 callers were on
  // their way, so at least one of them joined it instead of running fn.
  EXPECT_LT(executions.load(), kCallers) << "no call was suppressed";
}

TYPED_TEST(coalescing, many_threads_on_one_key_agree_per_flight) {
  hammer_keys<TypeParam, 1>();
}

TYPED_TEST(coalescing, many_threads_on_many_keys_agree_per_flight) {
  hammer_keys<TypeParam, 8>();
}

// Programs with hundreds of threads must not hit a limit in the table's memory reclamation
// (libcds's DHP has none; HP is sized for 1024 threads). All threads are alive at once, each
// calls on a few shared keys, and every flight is checked as usual.
TYPED_TEST(coalescing, hundreds_of_threads_can_call_at_once) {
  constexpr int kThreads = 300;
  constexpr int kKeys = 7;
  group_for<TypeParam, int, long> g;
  std::atomic<long> flights{0};
  flight_log log;
  std::latch all_alive(kThreads);  // no thread returns before every thread has called once

  run_together(kThreads, [&](int t) {
    for (int i = 0; i < 3; ++i) {
      const auto r = g.call((t + i) % kKeys, [&] { return ++flights; });
      log.add(sighting_of(r, *r));
      if (i == 0) all_alive.arrive_and_wait();
    }
  });

  log.expect_consistent();
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(3 * kThreads));
}

// S2: the outcome of a finished flight is never handed to a later call.
TYPED_TEST(coalescing, completed_flight_is_not_cached) {
  group_for<TypeParam, int, int> g;
  int runs = 0;
  auto fn = [&] { return ++runs; };

  const auto first = g.call(1, fn);
  const auto second = g.call(1, fn);
  EXPECT_EQ(*first, 1);
  EXPECT_EQ(*second, 2) << "a call after a flight ended must run fn again";
  EXPECT_TRUE(second.leader());
  EXPECT_FALSE(second.shared());
  EXPECT_EQ(runs, 2);
}

// S2 after a shared flight: once every caller of a flight has returned, the next call runs fn.
TYPED_TEST(coalescing, shared_flight_is_not_cached_either) {
  constexpr int kCallers = 8;
  group_for<TypeParam, int, long> g;
  std::atomic<long> executions{0};
  auto fn = [&] { return ++executions; };

  for (int round = 0; round < 20; ++round) {
    run_together(kCallers, [&](int) { g.call(1, fn); });
    const long before = executions.load();
    const auto after = g.call(1, fn);
    EXPECT_TRUE(after.leader()) << "round " << round;
    EXPECT_EQ(*after, before + 1) << "round " << round;
  }
}

}  // namespace
}  // namespace sftest
