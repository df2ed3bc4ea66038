// Abandonment (S12): an fn that takes a std::stop_token receives one that is requested when, and
// only when, no caller of its flight is waiting any more — the leader counts as waiting until its
// own token is requested or its own deadline passes. From then on the flight takes no new
// callers, and its completion never removes the newer flight. fn's answer is the leader's.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class abandonment : public ::testing::Test {};
TYPED_TEST_SUITE(abandonment, implementations);

using singleflight::cancelled;
using singleflight::deadline_exceeded;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int kAborted = -1;

// A loader that works until `release` opens or its token is requested, and records when (and
// whether) its token was requested.
struct loader_probe {
  gate release;
  gate started;
  std::atomic<bool> stopped{false};
  std::optional<steady::time_point> stopped_at;  // written by fn's thread before it returns

  int run(std::stop_token token, int value) {
    started.open();
    std::mutex m;
    std::condition_variable_any cv;
    std::stop_callback on_stop(token, [&] {
      stopped_at = steady::now();
      stopped = true;
      std::lock_guard lock(m);
      cv.notify_all();
    });
    const auto give_up = steady::now() + patience;
    while (!release.is_open() && !stopped && steady::now() < give_up) {
      std::unique_lock lock(m);
      cv.wait_for(lock, 1ms);
    }
    return stopped ? kAborted : value;
  }
};

TYPED_TEST(abandonment, leader_without_token_or_deadline_always_waits) {
  group_for<TypeParam, int, int> g;
  std::optional<bool> requested;
  const auto r = g.call(1, [&](std::stop_token token) {
    std::this_thread::sleep_for(20ms);
    requested = token.stop_requested();
    return 1;
  });
  EXPECT_EQ(*r, 1);
  EXPECT_EQ(requested, false);
}

TYPED_TEST(abandonment, leaders_deadline_requests_fns_stop_while_fn_runs) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  const auto start = steady::now();
  const auto r = g.call_for(1, [&](std::stop_token t) { return probe.run(t, 1); }, 30ms);
  EXPECT_EQ(*r, kAborted) << "fn's token was not requested at the leader's deadline";
  EXPECT_TRUE(r.leader());
  ASSERT_TRUE(probe.stopped_at.has_value());
  EXPECT_GE(*probe.stopped_at - start, 30ms) << "the stop came before the leader's deadline";
}

TYPED_TEST(abandonment, leaders_token_requests_fns_stop_while_fn_runs) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  std::stop_source stop = new_stop_source();
  std::jthread stopper([&] {
    probe.started.wait();
    stop.request_stop();
  });
  const auto r = g.call(1, [&](std::stop_token t) { return probe.run(t, 1); }, stop.get_token());
  EXPECT_EQ(*r, kAborted);
  EXPECT_TRUE(r.leader()) << "the leader's outcome is fn's, even after it left";
}

TYPED_TEST(abandonment, fns_own_exception_on_stop_is_the_leaders_outcome) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  struct aborted : std::runtime_error {
    aborted() : std::runtime_error("aborted") {}
  };
  EXPECT_THROW(g.call_for(1, [&](std::stop_token t) -> int {
    if (probe.run(t, 1) == kAborted) throw aborted();
    return 1;
  }, 10ms), aborted);
}

TYPED_TEST(abandonment, stop_is_not_requested_while_a_follower_still_waits) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  std::optional<singleflight::result<int>> follower;
  std::jthread leader([&] {
    const auto r = g.call_for(1, [&](std::stop_token t) { return probe.run(t, 2); }, 100ms);
    EXPECT_TRUE(r.leader());
  });
  probe.started.wait();
  std::jthread follower_thread([&] { follower.emplace(g.call(1, [] { return 3; })); });
  std::this_thread::sleep_for(250ms);  // the leader's deadline has passed; the follower waits
  EXPECT_FALSE(probe.stopped) << "fn's stop was requested while a follower was waiting";
  probe.release.open();
  follower_thread.join();
  leader.join();
  if (!follower->leader()) {  // else it came late, after the flight
    EXPECT_EQ(**follower, 2);
  }
}

// With deadlines, fn's token is requested at the latest deadline of the callers still waiting.
TYPED_TEST(abandonment, stop_comes_at_the_latest_deadline_of_the_callers_still_waiting) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  const auto start = steady::now();
  std::jthread leader([&] {
    const auto r = g.call_for(1, [&](std::stop_token t) { return probe.run(t, 2); }, 20ms);
    EXPECT_TRUE(r.leader());
  });
  probe.started.wait();
  bool joined = true;
  try {
    const auto r = g.call_until(1, [&] { return 3; }, start + 120ms);
    joined = !r.leader();  // it came after the leader's deadline: it led a flight of its own
  } catch (const deadline_exceeded&) {
  }
  leader.join();
  if (joined) {
    ASSERT_TRUE(probe.stopped_at.has_value()) << "every caller left, but fn's stop never came";
    EXPECT_GE(*probe.stopped_at - start, 120ms)
        << "fn was stopped before the follower's later deadline";
  }
}

TYPED_TEST(abandonment, abandoned_flight_takes_no_new_callers_and_its_end_keeps_the_new_flight) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  gate finish_abandoned;
  std::jthread abandoned([&] {
    const auto r = g.call_for(1, [&](std::stop_token t) {
      const int v = probe.run(t, 1);
      finish_abandoned.wait();  // still running after its stop: the newer flight comes meanwhile
      return v;
    }, 10ms);
    EXPECT_EQ(*r, kAborted);
  });
  probe.started.wait();
  while (!probe.stopped) std::this_thread::sleep_for(1ms);

  gate release_new;
  held_leader<int> newer(g, 1, release_new, [] { return 2; });  // leads: a new flight
  finish_abandoned.open();
  abandoned.join();  // the abandoned flight has ended, removing itself by identity only

  bool ran = false;
  pile_up_callers(1, release_new, [&](int) {
    const auto r = g.call(1, [&] {
      ran = true;
      return 3;
    });
    EXPECT_EQ(*r, 2);
  });
  EXPECT_FALSE(ran) << "the abandoned flight's end removed the newer flight";
  EXPECT_TRUE(newer.finish().leader());
}

TYPED_TEST(abandonment, fn_without_token_runs_to_the_end_when_every_caller_left) {
  group_for<TypeParam, int, int> g;
  std::atomic<bool> finished{false};
  const auto start = steady::now();
  const auto r = g.call_for(1, [&] {
    std::this_thread::sleep_for(50ms);
    finished = true;
    return 4;
  }, 5ms);
  EXPECT_EQ(*r, 4);
  EXPECT_TRUE(finished);
  EXPECT_GE(steady::now() - start, 50ms);
}

// Followers that leave do not abandon a flight whose leader still waits, and the last of them
// abandons it once the leader has left too.
TYPED_TEST(abandonment, last_caller_to_leave_abandons_the_flight) {
  group_for<TypeParam, int, int> g;
  loader_probe probe;
  std::stop_source leader_stop = new_stop_source();
  std::jthread leader([&] {
    const auto r = g.call(1, [&](std::stop_token t) { return probe.run(t, 5); },
                          leader_stop.get_token());
    EXPECT_EQ(*r, kAborted);
  });
  probe.started.wait();
  std::vector<std::stop_source> stops;
  for (int i = 0; i < 3; ++i) stops.push_back(new_stop_source());
  std::atomic<int> left{0};
  {
    std::vector<std::jthread> followers;
    for (int i = 0; i < 3; ++i) {
      followers.emplace_back([&, i] {
        try {
          const auto r = g.call(1, [] { return 6; }, stops[static_cast<std::size_t>(i)].get_token());
          EXPECT_FALSE(r.leader() && *r == kAborted);
        } catch (const cancelled&) {
          ++left;
        }
      });
    }
    grace_period();
    for (auto& s : stops) s.request_stop();  // every follower leaves; the leader still waits
    while (left.load() < 3) std::this_thread::sleep_for(1ms);
    grace_period();
    EXPECT_FALSE(probe.stopped) << "fn's stop came while the leader was still waiting";
    leader_stop.request_stop();  // the leader leaves last
  }
  leader.join();
  EXPECT_TRUE(probe.stopped);
}

}  // namespace
}  // namespace sftest
