// Independence (S9): a slow flight for one key never delays a call for another key, and flights
// for different keys run in parallel, also when the keys' hashes collide; colliding keys still
// get one flight per key (S1). Memory ordering (S8): everything fn wrote is visible to every
// caller once its call returns.
#include <array>
#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class independence : public ::testing::Test {};
TYPED_TEST_SUITE(independence, implementations);

// Every key has the same hash.
struct constant_hash {
  std::size_t operator()(int) const noexcept { return 42; }
};

// Keys 2n and 2n+1 share a hash.
struct pairing_hash {
  std::size_t operator()(int key) const noexcept { return static_cast<std::size_t>(key / 2); }
};

// Holds a flight for `slow` inside fn and checks that a call for `other` completes meanwhile.
template <class Impl, class Hash>
void expect_slow_flight_does_not_delay(int slow, int other) {
  group_for<Impl, int, int, Hash> g;
  gate release, other_done;
  held_leader<int> slow_leader(g, slow, release, [] { return 1; });

  std::jthread other_caller([&] {
    const auto r = g.call(other, [] { return 2; });
    EXPECT_EQ(*r, 2) << "key " << other << " got key " << slow << "'s value";
    EXPECT_TRUE(r.leader());
    other_done.open();
  });
  EXPECT_TRUE(other_done.wait_patiently())
      << "the call for key " << other << " waited for the slow flight of key " << slow;
  slow_leader.finish();
}

// fn for key `a` and fn for key `b` each wait for the other to be running: both complete only if
// the two flights run at the same time.
template <class Impl, class Hash>
void expect_flights_run_in_parallel(int a, int b) {
  group_for<Impl, int, bool, Hash> g;
  gate a_running, b_running;
  std::jthread other([&] {
    EXPECT_TRUE(*g.call(b, [&] {
      b_running.open();
      return a_running.wait_patiently();
    })) << "fn for key " << b << " never saw fn for key " << a << " running";
  });
  EXPECT_TRUE(*g.call(a, [&] {
    a_running.open();
    return b_running.wait_patiently();
  })) << "fn for key " << a << " never saw fn for key " << b << " running";
}

TYPED_TEST(independence, slow_flight_does_not_delay_another_key) {
  expect_slow_flight_does_not_delay<TypeParam, std::hash<int>>(1, 2);
}

TYPED_TEST(independence, slow_flight_does_not_delay_a_key_with_the_same_hash) {
  expect_slow_flight_does_not_delay<TypeParam, constant_hash>(1, 2);
  expect_slow_flight_does_not_delay<TypeParam, pairing_hash>(4, 5);
  expect_slow_flight_does_not_delay<TypeParam, pairing_hash>(5, 4);
}

TYPED_TEST(independence, different_keys_run_fn_in_parallel) {
  expect_flights_run_in_parallel<TypeParam, std::hash<int>>(1, 2);
}

TYPED_TEST(independence, keys_with_the_same_hash_run_fn_in_parallel) {
  expect_flights_run_in_parallel<TypeParam, constant_hash>(1, 2);
  expect_flights_run_in_parallel<TypeParam, pairing_hash>(6, 7);
}

// S1 per key when every key collides: the full per-flight checks of coalescing_test, on keys
// that all share one hash, or share it pairwise.
TYPED_TEST(independence, colliding_keys_keep_one_flight_per_key) {
  hammer_keys<TypeParam, 4, constant_hash>();
  hammer_keys<TypeParam, 6, pairing_hash>();
}

// S8: fn writes plain, non-atomic data outside the value; every caller reads it after its call
// returns. Under ThreadSanitizer a missing happens-before edge shows up as a data race. Each
// flight writes its own page, so a caller that led a later flight never writes what another
// caller reads.
TYPED_TEST(independence, everything_fn_wrote_is_visible_to_every_caller) {
  constexpr int kCallers = 16;
  struct page {
    std::string text;
    std::vector<int> numbers;
  };
  std::array<page, kCallers + 1> pages;  // one per possible flight; flight ids start at 1
  group_for<TypeParam, int, std::string> g;
  std::atomic<int> flights{0};
  gate release;

  pile_up_callers(kCallers, release, [&](int) {
    int flight = 0;
    const auto r = g.call(1, [&] {
      flight = ++flights;
      release.wait();
      pages[static_cast<std::size_t>(flight)].text = "written by flight " + std::to_string(flight);
      pages[static_cast<std::size_t>(flight)].numbers.assign(64, flight);
      return std::to_string(flight);
    });
    // A follower learns its flight from the value, which is itself fn's work.
    const int served_by = std::stoi(*r);
    const page& p = pages[static_cast<std::size_t>(served_by)];
    EXPECT_EQ(p.text, "written by flight " + std::to_string(served_by));
    EXPECT_EQ(p.numbers, std::vector<int>(64, served_by));
    if (r.leader()) {
      EXPECT_EQ(served_by, flight);
    }
  });
}

}  // namespace
}  // namespace sftest
