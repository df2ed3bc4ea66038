// forget(key) (S5): later calls start a new flight, callers already joined keep the old outcome,
// the forgotten flight's completion never removes the newer flight (Go issue 31420), and
// forgetting an absent key does nothing. Go's TestForget lives here.
#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class forget : public ::testing::Test {};
TYPED_TEST_SUITE(forget, implementations);

using singleflight::result;

// Meant to be called from inside fn, by the leader: true if its flight is still the one
// registered for `key`. A call into `key` from this thread is refused with reentrant_call (S11)
// exactly when this thread leads the registered flight, which makes the probe deterministic. If
// nothing is registered, the probe runs a flight of its own that returns `stand_in`.
template <class Group, class Key, class Value>
bool still_registered(Group& g, const Key& key, const Value& stand_in) {
  try {
    g.call(key, [&] { return stand_in; });
    return false;
  } catch (const singleflight::reentrant_call&) {
    return true;
  }
}

// Go: TestForget, first part.
TYPED_TEST(forget, forget_makes_the_next_call_start_a_new_flight) {
  group_for<TypeParam, std::string, int> g;
  gate release;
  held_leader<int> first(g, "key", release, [] { return 1; });

  g.forget("key");
  const auto second = g.call("key", [] { return 2; });  // would wait for the held flight if joined
  EXPECT_EQ(*second, 2) << "a call after forget must not join the forgotten flight";
  EXPECT_TRUE(second.leader());
  EXPECT_FALSE(second.shared());

  const auto& r1 = first.finish();
  EXPECT_EQ(*r1, 1);
  EXPECT_TRUE(r1.leader());
  EXPECT_FALSE(r1.shared()) << "nobody joined the forgotten flight";
}

// Go issue 31420: flight 1 is forgotten while it runs; flight 2 starts; flight 1 completes and
// must not remove flight 2 from the table; a third call must join flight 2.
TYPED_TEST(forget, forgotten_flight_does_not_remove_newer_flight) {
  group_for<TypeParam, std::string, int> g;
  gate release1, release2;
  bool registered_after_flight1_ended = false;

  held_leader<int> first(g, "key", release1, [] { return 1; });
  g.forget("key");
  held_leader<int> second(g, "key", release2, [&] {
    // Flight 1 has completed by now. Deterministic check that it left flight 2 registered.
    registered_after_flight1_ended = still_registered(g, std::string("key"), -1);
    return 2;
  });
  EXPECT_EQ(*first.finish(), 1);  // flight 1 has completed and its leader has returned

  std::optional<result<int>> third;
  bool fn3_ran = false, fn3_ran_while_flight2_held = false;
  pile_up_callers(1, release2, [&](int) {
    third = g.call("key", [&] {
      fn3_ran = true;
      fn3_ran_while_flight2_held = !release2.is_open();
      return 3;
    });
  });

  const auto& r2 = second.finish();
  EXPECT_EQ(*r2, 2);
  EXPECT_TRUE(r2.leader());
  EXPECT_TRUE(registered_after_flight1_ended)
      << "the forgotten flight's completion removed the newer flight for the same key";
  EXPECT_FALSE(fn3_ran_while_flight2_held) << "the third call led a flight while flight 2 ran";
  if (!fn3_ran) {  // the third call joined (the usual case; a late one may lead after flight 2)
    EXPECT_EQ(**third, 2) << "the third call must receive the second flight's value";
    EXPECT_TRUE(third->shared());
    EXPECT_FALSE(third->leader());
    EXPECT_TRUE(r2.shared());
  }
}

TYPED_TEST(forget, forget_of_an_absent_key_does_nothing) {
  group_for<TypeParam, int, int> g;
  g.forget(1);  // a fresh group
  const auto r = g.call(1, [] { return 10; });
  EXPECT_EQ(*r, 10);
  EXPECT_TRUE(r.leader());

  // Forgetting one key leaves another key's flight registered.
  gate release;
  bool registered = false;
  held_leader<int> leader(g, 1, release, [&] {
    registered = still_registered(g, 1, -1);
    return 11;
  });
  g.forget(2);
  g.forget(2);
  leader.finish();
  EXPECT_TRUE(registered) << "forget(2) removed the flight for key 1";
}

// Callers that joined before forget() receive the forgotten flight's outcome; a call that began
// after forget() never does. Flight ids: the forgotten flight is 1, later flights count from 2.
TYPED_TEST(forget, callers_already_joined_get_the_old_outcome) {
  constexpr int kFollowers = 8;
  group_for<TypeParam, int, long> g;
  std::atomic<long> later_flights{1};
  auto fn = [&] { return ++later_flights; };
  flight_log log;
  gate release;
  held_leader<long> leader(g, 1, release, [] { return 1L; });

  arrivals arrived;
  std::vector<std::jthread> followers;
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&] {
      arrived.arrive();
      const auto r = g.call(1, fn);
      log.add(sighting_of(r, *r));
    });
  }
  arrived.wait_for(kFollowers);
  grace_period();
  g.forget(1);
  const auto after = g.call(1, fn);
  EXPECT_NE(*after, 1) << "a call that began after forget() got the forgotten flight";
  log.add(sighting_of(after, *after));

  const auto& forgotten = leader.finish();
  log.add(sighting_of(forgotten, *forgotten));
  followers.clear();
  log.expect_consistent();
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(kFollowers + 2));
}

}  // namespace
}  // namespace sftest
