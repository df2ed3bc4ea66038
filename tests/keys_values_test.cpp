// Keys as callers hold them (a std::string_view or a literal for a std::string Key, looked up
// without making a Key when Hash and KeyEqual are transparent), and values as callers want them
// (taken out by their last holder, a result declared before the call that fills it).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class keys_values : public ::testing::Test {};
TYPED_TEST_SUITE(keys_values, implementations);

template <class Impl, class Value>
using string_group = group_for<Impl, std::string, Value, transparent_string_hash, std::equal_to<>>;

TYPED_TEST(keys_values, a_string_view_key_joins_the_flight_of_an_equal_string_key) {
  string_group<TypeParam, int> g;
  gate release;
  const std::string key = "a key longer than any small-string buffer";
  held_leader<int> leader(g, key, release, [] { return 7; });
  std::optional<singleflight::result<int>> follower;
  std::jthread t([&] { follower.emplace(g.call(std::string_view(key), [] { return -1; })); });
  grace_period();
  const auto& led = leader.finish();
  t.join();
  EXPECT_EQ(*led, 7);
  // Late, it may have led a flight of its own; joined, it shares the leader's value object.
  if (!follower->leader()) {
    EXPECT_EQ(&**follower, &*led);
  }
}

TYPED_TEST(keys_values, a_literal_and_a_string_view_and_a_string_name_the_same_key) {
  string_group<TypeParam, int> g;
  EXPECT_EQ(*g.call("k", [] { return 1; }), 1);
  EXPECT_EQ(*g.call(std::string_view("k"), [] { return 2; }), 2);
  EXPECT_EQ(*g.call(std::string("k"), [] { return 3; }), 3);
  g.forget(std::string_view("k"));  // nothing in flight: does nothing
  g.forget("k");
}

TYPED_TEST(keys_values, a_key_converts_once_when_the_hash_is_not_transparent) {
  group_for<TypeParam, std::string, int> g;  // std::hash<std::string>: a const char* becomes a Key
  EXPECT_EQ(*g.call("literal", [] { return 4; }), 4);
  g.forget("literal");
}

TYPED_TEST(keys_values, the_caller_of_a_lone_flight_takes_a_move_only_value) {
  group_for<TypeParam, int, std::unique_ptr<int>> g;
  auto r = g.call(1, [] { return std::make_unique<int>(42); });
  std::optional<std::unique_ptr<int>> taken = std::move(r).take();
  ASSERT_TRUE(taken.has_value()) << "the only holder must be able to take the value";
  ASSERT_NE(*taken, nullptr);
  EXPECT_EQ(**taken, 42);
  EXPECT_FALSE(static_cast<bool>(r)) << "a result that gave its value away is empty";
}

TYPED_TEST(keys_values, take_refuses_while_another_result_holds_the_value_then_moves_it) {
  group_for<TypeParam, int, std::string> g;
  auto r = g.call(1, [] { return std::string(100, 'x'); });
  std::optional<singleflight::result<std::string>> copy(r);  // a second holder of the value
  std::optional<std::string> refused = std::move(r).take();
  EXPECT_FALSE(refused.has_value()) << "another result still reads the value";
  ASSERT_TRUE(static_cast<bool>(r)) << "a refused take leaves the result as it was";
  EXPECT_EQ(&*r, &**copy);
  copy.reset();
  std::optional<std::string> taken = std::move(r).take();
  ASSERT_TRUE(taken.has_value()) << "the last holder takes the value";
  EXPECT_EQ(*taken, std::string(100, 'x'));
}

TYPED_TEST(keys_values, a_result_declared_before_a_try_is_empty_until_assigned) {
  group_for<TypeParam, int, int> g;
  singleflight::result<int> r;
  EXPECT_FALSE(static_cast<bool>(r));
  try {
    r = g.call(1, [] { return 5; });
  } catch (...) {
    ADD_FAILURE() << "fn did not throw";
  }
  ASSERT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 5);
}

}  // namespace
}  // namespace sftest
