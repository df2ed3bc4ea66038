// Basic calls: what a caller gets back, and what a result is (value, flags, copies, moves), for a
// lone caller and for the callers of one flight. Go's TestDo and TestDoErr live here.
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class call : public ::testing::Test {};
TYPED_TEST_SUITE(call, implementations);

// Go: TestDo.
TYPED_TEST(call, lone_caller_is_leader_and_not_shared) {
  group_for<TypeParam, std::string, std::string> g;
  int runs = 0;
  const auto r = g.call("key", [&] {
    ++runs;
    return std::string("bar");
  });
  EXPECT_EQ(r.value(), "bar");
  EXPECT_TRUE(r.leader()) << "a lone caller runs fn itself";
  EXPECT_FALSE(r.shared()) << "a flight with one caller is not shared";
  EXPECT_EQ(runs, 1);
}

// Go: TestDoErr.
TYPED_TEST(call, exception_from_fn_reaches_a_lone_caller) {
  group_for<TypeParam, std::string, std::string> g;
  int runs = 0;
  try {
    g.call("key", [&]() -> std::string {
      ++runs;
      throw std::runtime_error("some error");
    });
    ADD_FAILURE() << "call returned although fn threw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "some error");
  }
  EXPECT_EQ(runs, 1);
}

TYPED_TEST(call, leader_runs_fn_on_its_own_thread) {
  group_for<TypeParam, int, std::thread::id> g;
  const auto r = g.call(1, [] { return std::this_thread::get_id(); });
  EXPECT_EQ(r.value(), std::this_thread::get_id());
}

TYPED_TEST(call, star_and_arrow_reach_the_value) {
  group_for<TypeParam, int, std::string> g;
  const auto r = g.call(1, [] { return std::string("bar"); });
  EXPECT_EQ(*r, "bar");
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(&*r, &r.value());
  EXPECT_EQ(r.operator->(), &r.value());
}

TYPED_TEST(call, copies_of_a_result_share_the_value_object_and_flags) {
  group_for<TypeParam, int, std::string> g;
  const auto original = g.call(1, [] { return std::string("bar"); });

  const auto copy = original;
  EXPECT_EQ(&copy.value(), &original.value()) << "a copy must not copy the value";
  EXPECT_EQ(copy.leader(), original.leader());
  EXPECT_EQ(copy.shared(), original.shared());

  auto assigned = g.call(2, [] { return std::string("other"); });
  assigned = original;
  EXPECT_EQ(&assigned.value(), &original.value());
  EXPECT_EQ(*assigned, "bar");
}

TYPED_TEST(call, moving_a_result_keeps_the_value_and_flags) {
  group_for<TypeParam, int, std::string> g;
  auto original = g.call(1, [] { return std::string("bar"); });
  const std::string* const value = &original.value();

  auto moved = std::move(original);
  EXPECT_EQ(&moved.value(), value);
  EXPECT_TRUE(moved.leader());
  EXPECT_FALSE(moved.shared());

  auto assigned = g.call(2, [] { return std::string("other"); });
  assigned = std::move(moved);
  EXPECT_EQ(&assigned.value(), value);
  EXPECT_EQ(*assigned, "bar");
  EXPECT_TRUE(assigned.leader());
}

TYPED_TEST(call, assigning_a_result_releases_the_value_it_held) {
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    auto first = g.call(1, [&] { return tracked(c, 1); });
    auto second = g.call(2, [&] { return tracked(c, 2); });
    ASSERT_EQ(c.values, 2);

    first = second;
    EXPECT_EQ(c.values, 1) << "the value first held had no other holder and must be gone";
    EXPECT_EQ(&first.value(), &second.value());

    auto& alias = first;
    first = alias;  // self-assignment keeps the value
    EXPECT_EQ(c.values, 1);
    EXPECT_EQ(first->get(), 2);
  }
  EXPECT_EQ(c.objects, 0);
}

TYPED_TEST(call, move_only_value_without_default_constructor_is_supported) {
  static_assert(!std::is_default_constructible_v<tracked>);
  static_assert(!std::is_copy_constructible_v<tracked>);
  static_assert(std::is_move_constructible_v<tracked>);
  census c;
  {
    group_for<TypeParam, int, tracked> g;
    const auto r = g.call(1, [&] { return tracked(c, 7); });
    EXPECT_EQ(r->get(), 7);
    EXPECT_EQ(c.values, 1) << "one value object per flight";
  }
  EXPECT_EQ(c.objects, 0);
}

struct base {
  virtual ~base() = default;
  virtual int id() const { return 0; }
};
struct derived : base {
  int id() const override { return 1; }
};

TYPED_TEST(call, fn_may_return_anything_convertible_to_value) {
  group_for<TypeParam, int, std::string> strings;
  EXPECT_EQ(*strings.call(1, [] { return "from a C string"; }), "from a C string");

  group_for<TypeParam, int, long> longs;
  EXPECT_EQ(*longs.call(1, [] { return 42; }), 42L);

  group_for<TypeParam, int, std::optional<int>> optionals;
  EXPECT_EQ(*optionals.call(1, [] { return 5; }), std::optional<int>(5));

  group_for<TypeParam, int, std::unique_ptr<base>> pointers;  // move-only conversion
  EXPECT_EQ((*pointers.call(1, [] { return std::make_unique<derived>(); }))->id(), 1);
}

TYPED_TEST(call, move_only_fn_is_accepted) {
  group_for<TypeParam, int, int> g;
  auto owned = std::make_unique<int>(9);
  EXPECT_EQ(*g.call(1, [p = std::move(owned)] { return *p; }), 9);
}

TYPED_TEST(call, every_caller_receives_the_same_value_object) {
  constexpr int kCallers = 16;
  group_for<TypeParam, int, long> g;
  std::atomic<long> flights{0};
  gate release;
  flight_log log;
  std::mutex kept_mu;
  std::vector<singleflight::result<long>> kept;  // holds every value alive until the checks

  pile_up_callers(kCallers, release, [&](int) {
    auto r = g.call(1, [&] {
      release.wait();
      return ++flights;
    });
    log.add(sighting_of(r, *r));
    std::lock_guard lock(kept_mu);
    kept.push_back(std::move(r));
  });
  log.expect_consistent();
  log.expect_distinct_objects();
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(kCallers));
}

// group(expected_flights) sizes the own table once; a size no table could have is refused with a
// clear error rather than wrapped around to a small one.
TEST(group_construction, an_impossible_table_size_is_refused) {
  using default_group = singleflight::group<int, int>;
  EXPECT_THROW({ default_group g(std::numeric_limits<std::size_t>::max()); }, std::length_error);
  default_group one_slot(0);  // the smallest table: every key shares its one slot
  EXPECT_EQ(*one_slot.call(1, [] { return 1; }), 1);
  EXPECT_EQ(*one_slot.call(2, [] { return 2; }), 2);
}

}  // namespace
}  // namespace sftest
