// Resources (S10): a result keeps its flight's value alive; the value is destroyed exactly once,
// when the last holder lets go; nothing leaks under exceptions, forget or cancellation; and
// destroying a group while a flight is in progress is reported (in builds with the check).
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class lifetime : public ::testing::Test {};
TYPED_TEST_SUITE(lifetime, implementations);

using singleflight::result;

TYPED_TEST(lifetime, result_keeps_the_value_alive_after_call_returned) {
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    auto r = g.call(1, [&] { return tracked(c, 1); });
    EXPECT_EQ(c.values, 1) << "the call returned; its result holds the value";

    auto copy = r;
    { const auto gone = std::move(r); }
    EXPECT_EQ(c.values, 1) << "a copy still holds the value";
    EXPECT_EQ(copy->get(), 1);

    { const auto gone = std::move(copy); }
    EXPECT_EQ(c.values, 0) << "the last result is gone, and so must the value be";
  }
  EXPECT_EQ(c.objects, 0);
}

TYPED_TEST(lifetime, result_outlives_its_group) {
  census c;
  {
    auto g = std::make_unique<group_for<TypeParam, int, tracked>>();
    const auto r = g->call(1, [&] { return tracked(c, 3); });
    g.reset();
    EXPECT_EQ(r->get(), 3);
    EXPECT_EQ(c.values, 1);
  }
  EXPECT_EQ(c.objects, 0);
}

// Callers of a shared flight drop their results one by one: the flight's value lives exactly as
// long as the last of them. Results are grouped by value object, so a late caller that led a
// flight of its own is accounted for.
TYPED_TEST(lifetime, value_dies_exactly_when_its_last_result_goes) {
  constexpr int kCallers = 8;
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    std::atomic<int> flights{0};
    gate release;
    std::mutex results_mu;
    std::vector<result<tracked>> results;
    pile_up_callers(kCallers, release, [&](int) {
      auto r = g.call(1, [&] {
        const int flight = ++flights;
        release.wait();
        return tracked(c, flight);
      });
      std::lock_guard lock(results_mu);
      results.push_back(std::move(r));
    });

    std::map<const tracked*, int> holders;  // value object -> results still holding it
    for (const auto& r : results) ++holders[&r.value()];
    EXPECT_EQ(c.values, static_cast<int>(holders.size())) << "one value per flight, all alive";
    while (!results.empty()) {
      const tracked* value = &results.back().value();
      results.pop_back();
      if (--holders[value] == 0) holders.erase(value);
      EXPECT_EQ(c.values, static_cast<int>(holders.size()))
          << "a value must die with its last result, and not before";
    }
  }
  EXPECT_EQ(c.objects, 0);
}

TYPED_TEST(lifetime, copies_dropped_concurrently_destroy_the_value_once) {
  constexpr int kHolders = 8;
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    std::vector<result<tracked>> copies(kHolders, g.call(1, [&] { return tracked(c, 1); }));
    run_together(kHolders, [&](int i) {
      const auto gone = std::move(copies[static_cast<std::size_t>(i)]);
    });
    EXPECT_EQ(c.values, 0);
  }
  EXPECT_EQ(c.objects, 0) << "a negative count would mean the value was destroyed twice";
}

// An exception type that reports to a census like `tracked` does.
struct tracked_error {
  explicit tracked_error(census& c) : census_(&c) { ++census_->objects; }
  tracked_error(const tracked_error& other) : census_(other.census_) { ++census_->objects; }
  tracked_error& operator=(const tracked_error&) = delete;
  ~tracked_error() { --census_->objects; }
  census* census_;
};

TYPED_TEST(lifetime, nothing_leaks_when_fn_throws) {
  constexpr int kCallers = 8;
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    gate release;
    pile_up_callers(kCallers, release, [&](int) {
      try {
        g.call(1, [&]() -> tracked {
          const tracked scratch(c, 0);  // unwound with fn
          release.wait();
          throw tracked_error(c);
        });
      } catch (const tracked_error&) {
      }
    });
  }
  EXPECT_EQ(c.objects, 0) << "an exception object (or fn's local) outlived the flight";
}

// A Value whose converting constructor throws after fn has produced its argument.
struct refuses_tracked {
  explicit refuses_tracked(tracked&& from) { throw tracked_error(from.owner()); }
};

TYPED_TEST(lifetime, nothing_leaks_when_the_value_constructor_throws) {
  census c;
  {
    group_for<TypeParam, int, refuses_tracked> g;
    EXPECT_THROW(g.call(1, [&] { return tracked(c, 1); }), tracked_error);
  }
  EXPECT_EQ(c.objects, 0) << "fn's result or the exception outlived the flight";
}

TYPED_TEST(lifetime, nothing_leaks_after_forget) {
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    gate release;
    held_leader<tracked> forgotten(g, 1, release, [&] { return tracked(c, 1); });
    g.forget(1);
    const auto newer = g.call(1, [&] { return tracked(c, 2); });
    forgotten.finish();
    EXPECT_EQ(c.values, 2) << "both flights' values are held";
  }
  EXPECT_EQ(c.objects, 0);
}

TYPED_TEST(lifetime, nothing_leaks_after_cancellation) {
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    gate release;
    held_leader<tracked> leader(g, 1, release, [&] { return tracked(c, 1); });
    std::stop_source stop = new_stop_source();
    gate follower_done;
    std::jthread follower([&] {
      EXPECT_THROW(g.call(1, [&] { return tracked(c, 2); }, stop.get_token()),
                   singleflight::cancelled);
      follower_done.open();
    });
    grace_period();  // usually the follower joins first; if not, it is cancelled before joining
    stop.request_stop();
    EXPECT_TRUE(follower_done.wait_patiently()) << "the stopped follower kept waiting";
    EXPECT_EQ(leader.finish()->get(), 1);
  }
  EXPECT_EQ(c.objects, 0);
}

// ---- precondition violation ----

template <class Impl>
class lifetime_DeathTest : public ::testing::Test {};
TYPED_TEST_SUITE(lifetime_DeathTest, implementations);

// Runs in the death test's child process: destroys a group while the leader of its only flight
// is held inside fn. The group's destructor must abort; were it to return instead, the child
// exits normally at once (skipping the joinable thread's destructor), so this cannot hang.
template <class Impl>
void destroy_group_during_flight() {
  auto g = std::make_unique<group_for<Impl, int, int>>();
  gate started, never_opened;
  std::thread leader([&] {
    g->call(1, [&] {
      started.open();
      never_opened.wait();
      return 0;
    });
  });
  started.wait();
  g.reset();
  std::_Exit(0);  // not reached when the check works; exiting normally fails the death test
}

TYPED_TEST(lifetime_DeathTest, destroying_a_group_with_a_flight_in_progress_aborts) {
#if SINGLEFLIGHT_CHECK_LIFETIME
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(destroy_group_during_flight<TypeParam>(), ::testing::KilledBySignal(SIGABRT),
              std::string(TypeParam::reported_as) + " destroyed with 1 flight");
#else
  GTEST_SKIP() << "SINGLEFLIGHT_CHECK_LIFETIME is 0 in this build (NDEBUG): the check is off";
#endif
}

}  // namespace
}  // namespace sftest
