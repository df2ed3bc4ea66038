// Deadlines (S7): a follower whose deadline passes while it waits throws `deadline_exceeded`
// promptly, without disturbing the flight or its other callers; a deadline already passed throws
// before the call joins or starts anything; the leader's outcome is fn's outcome; a timeout too
// long for the clock is no deadline. How late `deadline_exceeded` arrives is measured by the
// benchmarks (bench/), never asserted here: the bounds below only tell a hang from a return.
#include <chrono>
#include <cmath>
#include <limits>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class deadlines : public ::testing::Test {};
TYPED_TEST_SUITE(deadlines, implementations);

using singleflight::cancelled;
using singleflight::deadline_exceeded;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

static_assert(std::is_base_of_v<cancelled, deadline_exceeded>);

TYPED_TEST(deadlines, follower_whose_deadline_passes_throws_deadline_exceeded_and_the_flight_goes_on) {
  group_for<TypeParam, int, int> g;
  std::atomic<int> executions{0};
  auto fn = [&] {
    ++executions;
    return 7;
  };
  gate release;
  held_leader<int> leader(g, 1, release, fn);  // registered until `release`

  arrivals arrived;
  std::vector<std::jthread> others;  // followers without a deadline, before and after
  auto add_other = [&] {
    others.emplace_back([&] {
      arrived.arrive();
      EXPECT_EQ(*g.call(1, fn), 7);
    });
  };
  add_other();
  const auto start = steady::now();
  EXPECT_THROW(g.call_for(1, fn, 30ms), deadline_exceeded);
  const auto waited = steady::now() - start;
  EXPECT_GE(waited, 30ms) << "deadline_exceeded before the deadline";
  EXPECT_LT(waited, patience) << "the follower kept waiting long after its deadline";

  const auto wall = std::chrono::system_clock::now() + 20ms;  // another clock
  EXPECT_THROW(g.call_until(1, fn, wall), deadline_exceeded);
  EXPECT_GE(std::chrono::system_clock::now(), wall);

  add_other();  // the flight still takes joiners
  arrived.wait_for(2);
  grace_period();
  EXPECT_EQ(*leader.finish(), 7);
  others.clear();
  EXPECT_EQ(executions.load(), 1) << "the flight stayed registered from start to release";
}

TYPED_TEST(deadlines, deadline_already_passed_throws_without_running_fn_or_joining) {
  group_for<TypeParam, int, int> g;
  bool ran = false;
  auto must_not_run = [&] {
    ran = true;
    return 1;
  };
  EXPECT_THROW(g.call_for(1, must_not_run, 0ms), deadline_exceeded);
  EXPECT_THROW(g.call_for(1, must_not_run, -5s), deadline_exceeded);
  EXPECT_THROW(g.call_until(1, must_not_run, steady::now() - 1ms), deadline_exceeded);
  EXPECT_THROW(g.call_until(1, must_not_run, std::chrono::system_clock::time_point::min()),
               deadline_exceeded);
  EXPECT_THROW(g.call_for(1, must_not_run,
                          std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
               deadline_exceeded)
      << "a NaN timeout is not a positive one";
  EXPECT_FALSE(ran) << "a caller whose deadline had passed started a flight";

  gate release;
  held_leader<int> leader(g, 1, release, [] { return 2; });
  EXPECT_THROW(g.call_for(1, must_not_run, 0ms), deadline_exceeded);
  EXPECT_FALSE(leader.finish().shared()) << "a caller whose deadline had passed joined the flight";
  EXPECT_FALSE(ran);
}

TYPED_TEST(deadlines, timeout_too_long_for_the_clock_is_no_deadline) {
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 3; });
  pile_up_callers(6, release, [&](int i) {
    singleflight::result<int> r;
    switch (i) {
      case 0: r = g.call_for(1, [] { return 3; }, steady::duration::max()); break;
      case 1: r = g.call_for(1, [] { return 3; }, std::chrono::hours::max()); break;
      case 2: r = g.call_until(1, [] { return 3; }, steady::time_point::max()); break;
      case 3: r = g.call_until(1, [] { return 3; }, std::chrono::system_clock::time_point::max()); break;
      case 4:
        r = g.call_for(1, [] { return 3; },
                       std::chrono::duration<double>(std::numeric_limits<double>::infinity()));
        break;
      default: r = g.call_for(1, [] { return 3; }, std::chrono::duration<long, std::ratio<86400 * 365>>(1000000)); break;
    }
    EXPECT_EQ(*r, 3) << "caller " << i;  // no overflow into the past: it waited, or led later
  });
  EXPECT_EQ(*leader.finish(), 3);
}

// The leader runs fn in its own thread: once fn has started, its outcome is fn's.
TYPED_TEST(deadlines, leader_returns_fns_outcome_even_after_its_deadline) {
  group_for<TypeParam, int, int> g;
  const auto r = g.call_for(1, [] {
    std::this_thread::sleep_for(40ms);
    return 5;
  }, 10ms);
  EXPECT_EQ(*r, 5);
  EXPECT_TRUE(r.leader());

  EXPECT_THROW(g.call_for(2, [&]() -> int {
    std::this_thread::sleep_for(20ms);
    throw std::runtime_error("fn's own");
  }, 5ms), std::runtime_error);
}

TYPED_TEST(deadlines, stop_and_deadline_together_throw_whichever_came_first) {
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 4; });

  std::stop_source stop = new_stop_source();
  EXPECT_THROW(g.call_for(1, [] { return 4; }, 20ms, stop.get_token()), deadline_exceeded);

  std::jthread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  try {
    (void)g.call_until(1, [] { return 4; }, steady::now() + patience, stop.get_token());
    ADD_FAILURE() << "returned a value while the leader was held";
  } catch (const deadline_exceeded&) {
    ADD_FAILURE() << "deadline_exceeded for a caller whose token was requested first";
  } catch (const cancelled&) {
  }
  EXPECT_EQ(*leader.finish(), 4);
}

// The close races the deadline: a follower either receives this flight's value, leads a flight
// of its own (it called after this one ended), or throws deadline_exceeded. Never a hang, a
// crash or another iteration's value.
TYPED_TEST(deadlines, deadline_racing_the_leaders_return_is_either_value_or_deadline_exceeded) {
  constexpr int kIterations = 200;
  group_for<TypeParam, int, int> g;
  int got_value = 0, got_exceeded = 0;
  for (int i = 0; i < kIterations; ++i) {
    gate release;
    held_leader<int> leader(g, 1, release, [i] { return i; });
    const auto deadline = steady::now() + std::chrono::microseconds(200 + 50 * (i % 8));
    std::jthread follower([&] {
      bool led = false;
      try {
        const auto r = g.call_until(1, [&] {
          led = true;
          return -1;
        }, deadline);
        EXPECT_EQ(*r, led ? -1 : i) << "iteration " << i;
        ++got_value;
      } catch (const deadline_exceeded&) {
        ++got_exceeded;
      }
    });
    std::this_thread::sleep_until(deadline - std::chrono::microseconds(50 * (i % 3)));
    EXPECT_EQ(*leader.finish(), i);
    follower.join();
  }
  EXPECT_EQ(got_value + got_exceeded, kIterations);
}

// Many followers with deadlines on one flight, leaving one by one: the others, and the flight,
// are unaffected, and those whose deadline never came get the value.
TYPED_TEST(deadlines, staggered_deadlines_leave_one_by_one) {
  constexpr int kCallers = 8;
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 6; });
  std::atomic<int> exceeded{0}, valued{0};
  {
    std::vector<std::jthread> callers;
    for (int i = 0; i < kCallers; ++i) {
      callers.emplace_back([&, i] {
        try {
          // Half leave at 10, 20, 30, 40 ms; half have a deadline far away.
          const auto timeout = i % 2 == 0 ? std::chrono::milliseconds(10 * (i / 2 + 1))
                                          : std::chrono::milliseconds(patience);
          EXPECT_EQ(*g.call_for(1, [] { return 6; }, timeout), 6);
          ++valued;
        } catch (const deadline_exceeded&) {
          EXPECT_EQ(i % 2, 0) << "a caller whose deadline was far away left";
          ++exceeded;
        }
      });
    }
    std::this_thread::sleep_for(80ms);
    release.open();
  }
  EXPECT_EQ(*leader.finish(), 6);
  EXPECT_EQ(valued.load() + exceeded.load(), kCallers);
  EXPECT_GE(valued.load(), kCallers / 2);
}

}  // namespace
}  // namespace sftest
