// S10: a record's lifetime. A leader and a follower on one key; a third thread forgets the key
// while the flight may be anywhere in its life, so the table's hold is dropped by forget() or by
// the leader's removal, whichever comes first. Each caller copies its result and hands the copy
// to the forgetting thread, which reads it last. The outcome is a value with an rl::var inside,
// so a read of it after its destruction is a data race, and the record's memory is freed by
// Relacy's allocator, so any access after the last release is reported, as is a record never
// freed. Three threads: random search. Suite s10_take checks result::take() against a reader.
#include <cstddef>
#include <optional>

#include "model.hpp"

namespace sfmodel {
namespace {

// A value whose reads and destruction Relacy can see. With Padding above the inline limit
// (SINGLEFLIGHT_INLINE_VALUE_BYTES), the flight keeps it in an allocation of its own, which
// Relacy's allocator tracks like the record.
template <std::size_t Padding>
struct sized_probe {
  explicit sized_probe(int v) { value($) = v; }
  sized_probe(sized_probe&& other) { value($) = other.get(); }
  ~sized_probe() { value($) = 0; }
  int get() const { return value($); }
  rl::var<int> value;
  char padding[Padding] = {};
};
using probe = sized_probe<1>;
using large_probe = sized_probe<SINGLEFLIGHT_INLINE_VALUE_BYTES + 1>;
static_assert(sizeof(large_probe) > SINGLEFLIGHT_INLINE_VALUE_BYTES);

template <class Probe>
struct s10_lifetime : rl::test_suite<s10_lifetime<Probe>, 3> {
  group<Probe> g;
  flag running, leader_handed_over, follower_handed_over;
  std::optional<sf::result<Probe>> from_leader, from_follower;  // handed to the third thread

  void thread(unsigned me) {
    if (me == 0) {  // the leader
      auto r = g.call(0, [&] {
        running.set();
        return 7;
      });
      RL_ASSERT(r.value().get() == 7);
      from_leader.emplace(r);
      leader_handed_over.set();
    } else if (me == 1) {  // a follower, or the leader of a second flight
      running.wait();
      auto r = g.call(0, [] { return 7; });
      RL_ASSERT(r.value().get() == 7);
      from_follower.emplace(r);
      follower_handed_over.set();
    } else {  // forgets the key, then holds the last copies of both results
      running.wait();
      g.forget(0);
      leader_handed_over.wait();
      follower_handed_over.wait();
      RL_ASSERT(from_leader->value().get() == 7 && from_follower->value().get() == 7);
      from_leader.reset();
      from_follower.reset();
    }
  }
};

// take(): a leader hands a copy of its result to a second thread, which reads the value and lets
// go, while the leader tries to take the value. A take may succeed only once the copy is gone,
// and then its move must come after the other thread's read (else a data race on the outcome).
struct s10_take : rl::test_suite<s10_take, 2> {
  group<probe> g;
  flag handed_over;
  std::optional<sf::result<probe>> copy;  // handed to thread 1

  void thread(unsigned me) {
    if (me == 0) {
      auto r = g.call(0, [] { return 7; });
      copy.emplace(r);
      handed_over.set();
      std::optional<probe> taken = std::move(r).take();
      if (taken) {
        RL_ASSERT(taken->get() == 7 && !r);
      } else {
        RL_ASSERT(r.value().get() == 7);
      }
    } else {
      handed_over.wait();
      RL_ASSERT(copy->value().get() == 7);
      copy.reset();
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool lifetime = run<s10_lifetime<probe>>(
        "s10_lifetime", "S10", s,
        {{"release_hold_first", rl::test_result_access_to_freed_memory}});
    // The same with a value too large for the record (its own allocation, freed by the last user).
    const bool boxed = run<s10_lifetime<large_probe>>(
        "s10_lifetime_large_value", "S10", s,
        {{"release_hold_first", rl::test_result_access_to_freed_memory},
         {"large_value_never_freed", rl::test_result_memory_leak}});
    const bool take = run<s10_take>(
        "s10_take", "S10", s,
        {{"take_ignores_holders", rl::test_result_data_race},
         {"take_relaxed", rl::test_result_data_race}});
    return lifetime && boxed && take;
  });
}
