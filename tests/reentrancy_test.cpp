// Misuse (S11): fn calling back into its own key on the same thread would wait for itself
// forever; the library throws reentrant_call instead. Calls into other keys, and into the same
// key once its flight is forgotten, are ordinary nested flights.
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class reentrancy : public ::testing::Test {};
TYPED_TEST_SUITE(reentrancy, implementations);

using singleflight::reentrant_call;

static_assert(std::is_base_of_v<std::logic_error, reentrant_call>);

TYPED_TEST(reentrancy, calling_own_key_from_fn_throws_reentrant_call) {
  group_for<TypeParam, int, int> g;
  std::stop_source stop = new_stop_source();  // the overload with a token checks too
  int refusals = 0;
  bool inner_ran = false;
  auto inner = [&] {
    inner_ran = true;
    return 0;
  };

  const auto r = g.call(1, [&] {
    try {
      g.call(1, inner);
    } catch (const reentrant_call&) {
      ++refusals;
    }
    try {
      g.call(1, inner, stop.get_token());
    } catch (const reentrant_call&) {
      ++refusals;
    }
    return 5;  // fn caught the misuse and goes on
  });
  EXPECT_EQ(refusals, 2);
  EXPECT_FALSE(inner_ran);
  EXPECT_EQ(*r, 5) << "the outer call completes normally";
  EXPECT_TRUE(r.leader());
  EXPECT_FALSE(r.shared()) << "a refused nested call is not a caller of the flight";
}

TYPED_TEST(reentrancy, uncaught_reentrant_call_becomes_the_flights_exception) {
  group_for<TypeParam, int, int> g;
  EXPECT_THROW(g.call(1, [&] { return *g.call(1, [] { return 0; }); }), reentrant_call);
  EXPECT_EQ(*g.call(1, [] { return 3; }), 3) << "the key is free afterwards";
}

TYPED_TEST(reentrancy, fn_may_call_another_key_of_the_same_group) {
  group_for<TypeParam, int, int> g;
  const auto outer = g.call(1, [&] {
    const auto nested = g.call(2, [] { return 41; });
    EXPECT_TRUE(nested.leader()) << "the nested call leads its own flight";
    EXPECT_FALSE(nested.shared());
    return *nested + 1;
  });
  EXPECT_EQ(*outer, 42);
  EXPECT_TRUE(outer.leader());
}

TYPED_TEST(reentrancy, reentry_through_a_nested_flight_is_refused_too) {
  group_for<TypeParam, int, int> g;
  bool refused = false;
  const auto outer = g.call(1, [&] {
    return *g.call(2, [&] {
      try {
        g.call(1, [] { return 0; });  // key 1 is led by this thread, two levels up
      } catch (const reentrant_call&) {
        refused = true;
      }
      return 2;
    });
  });
  EXPECT_TRUE(refused);
  EXPECT_EQ(*outer, 2);
}

TYPED_TEST(reentrancy, forget_inside_fn_lets_a_nested_call_start_a_new_flight) {
  group_for<TypeParam, int, int> g;
  const auto outer = g.call(1, [&] {
    g.forget(1);
    const auto nested = g.call(1, [] { return 2; });  // no deadlock, no reentrant_call
    EXPECT_TRUE(nested.leader()) << "the nested call leads a new flight";
    EXPECT_FALSE(nested.shared());
    return *nested * 10;
  });
  EXPECT_EQ(*outer, 20);
  EXPECT_TRUE(outer.leader());

  int runs = 0;
  EXPECT_EQ(*g.call(1, [&] { return ++runs; }), 1) << "neither flight is left registered";
}

// The check is per thread: another thread calling the key while fn runs is an ordinary follower.
TYPED_TEST(reentrancy, another_thread_calling_the_same_key_is_not_refused) {
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 6; });
  pile_up_callers(1, release, [&](int) {
    EXPECT_NO_THROW(EXPECT_EQ(*g.call(1, [] { return 6; }), 6));
  });
}

}  // namespace
}  // namespace sftest
