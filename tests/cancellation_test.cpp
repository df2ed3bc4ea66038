// Cancellation (S7): a follower whose stop_token is requested while it waits throws `cancelled`
// promptly, without disturbing the flight or its other callers; a token stopped before the call
// cancels it before it joins or starts anything; the leader always runs fn to the end.
#include <atomic>
#include <latch>
#include <optional>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class cancellation : public ::testing::Test {};
TYPED_TEST_SUITE(cancellation, implementations);

using singleflight::cancelled;

static_assert(std::is_base_of_v<std::exception, cancelled>);

TYPED_TEST(cancellation, stopped_follower_leaves_promptly_and_the_flight_goes_on) {
  constexpr int kOthers = 3;  // followers without a token, before and after the cancellation
  group_for<TypeParam, int, int> g;
  std::atomic<int> executions{0};
  auto fn = [&] {
    ++executions;
    return 7;
  };
  gate release, follower_done;
  held_leader<int> leader(g, 1, release, fn);  // registered until `release`

  arrivals arrived;
  std::vector<std::jthread> others;
  auto add_others = [&] {
    for (int i = 0; i < kOthers; ++i) {
      others.emplace_back([&] {
        arrived.arrive();
        EXPECT_EQ(*g.call(1, fn), 7);
      });
    }
  };
  add_others();
  std::stop_source stop = new_stop_source();
  std::jthread follower([&] {
    arrived.arrive();
    EXPECT_THROW(g.call(1, fn, stop.get_token()), cancelled);
    follower_done.open();
  });
  arrived.wait_for(kOthers + 1);
  grace_period();

  stop.request_stop();
  EXPECT_TRUE(follower_done.wait_patiently())
      << "a stopped follower kept waiting for the leader";  // the leader is still held here
  add_others();  // the flight still takes joiners
  arrived.wait_for(2 * kOthers + 1);
  grace_period();

  EXPECT_EQ(*leader.finish(), 7);
  others.clear();
  EXPECT_EQ(executions.load(), 1) << "the flight stayed registered from start to release";
}

// A token whose stop was requested before anyone could wait on it.
std::stop_token already_stopped() {
  std::stop_source source = new_stop_source();
  source.request_stop();
  return source.get_token();
}

TYPED_TEST(cancellation, already_stopped_token_cancels_without_running_fn_or_joining) {
  group_for<TypeParam, int, int> g;
  const std::stop_token stopped = already_stopped();
  bool ran = false;
  auto must_not_run = [&] {
    ran = true;
    return 1;
  };
  EXPECT_THROW(g.call(1, must_not_run, stopped), cancelled);
  EXPECT_FALSE(ran) << "a stopped caller must not start a flight";

  // With a flight in progress: the stopped caller must not join it, so the flight stays
  // unshared.
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 2; });
  EXPECT_THROW(g.call(1, must_not_run, stopped), cancelled);
  EXPECT_FALSE(leader.finish().shared()) << "a caller with a stopped token joined the flight";
  EXPECT_FALSE(ran);

  const auto after = g.call(1, [] { return 4; });
  EXPECT_EQ(*after, 4) << "the key is free";
  EXPECT_TRUE(after.leader());
}

TYPED_TEST(cancellation, token_that_can_never_be_stopped_behaves_like_no_token) {
  group_for<TypeParam, int, int> g;
  const std::stop_token never;
  ASSERT_FALSE(never.stop_possible());

  const auto lone = g.call(1, [] { return 1; }, never);
  EXPECT_EQ(*lone, 1);
  EXPECT_TRUE(lone.leader());
  EXPECT_FALSE(lone.shared());

  gate release;
  held_leader<int> leader(g, 2, release, [] { return 2; });
  pile_up_callers(1, release, [&](int) {
    EXPECT_EQ(*g.call(2, [] { return 2; }, never), 2);  // joins, or leads if it came late
  });
}

// The leader is never cancelled: its own token being stopped while fn runs changes nothing.
TYPED_TEST(cancellation, leader_runs_fn_to_the_end_even_if_its_token_is_stopped) {
  group_for<TypeParam, int, int> g;
  std::stop_source stop = new_stop_source();
  gate started, stopped;
  std::jthread leader([&] {
    const auto r = g.call(1, [&] {
      started.open();
      stopped.wait();
      return 9;
    }, stop.get_token());
    EXPECT_EQ(*r, 9);
    EXPECT_TRUE(r.leader());
  });
  started.wait();
  stop.request_stop();
  stopped.open();
}

// The stop request races the leader's publication: a follower must either receive this flight's
// value, lead a flight of its own (it called after this one ended and before its stop), or throw
// `cancelled`. It must never hang, crash or see another iteration's value.
TYPED_TEST(cancellation, stop_racing_the_leaders_return_is_either_value_or_cancelled) {
  constexpr int kIterations = 200;
  group_for<TypeParam, int, int> g;
  int got_value = 0, got_cancelled = 0;

  for (int i = 0; i < kIterations; ++i) {
    gate release;
    held_leader<int> leader(g, 1, release, [i] { return i; });
    std::stop_source stop = new_stop_source();
    arrivals arrived;
    std::jthread follower([&] {
      arrived.arrive();
      bool led = false;
      try {
        const auto r = g.call(1, [&] {
          led = true;
          return -1;
        }, stop.get_token());
        EXPECT_EQ(*r, led ? -1 : i) << "iteration " << i;
        EXPECT_EQ(r.leader(), led);
        ++got_value;
      } catch (const cancelled&) {
        ++got_cancelled;
      }
    });
    arrived.wait_for(1);

    // Release the leader and request the stop at the same moment, with a little jitter on
    // either side so that the race goes both ways.
    std::latch together(2);
    std::jthread stopper([&] {
      together.arrive_and_wait();
      for (int spin = 0; spin < i % 4; ++spin) std::this_thread::yield();
      stop.request_stop();
    });
    together.arrive_and_wait();
    for (int spin = 0; spin < (i / 4) % 4; ++spin) std::this_thread::yield();
    const auto& r = leader.finish();
    EXPECT_EQ(*r, i);
    EXPECT_TRUE(r.leader());
    follower.join();  // before the next iteration's leader, so this one cannot join it
  }
  EXPECT_EQ(got_value + got_cancelled, kIterations);
}

}  // namespace
}  // namespace sftest
