// S10: a record's lifetime. A leader and a follower on one key; a third thread forgets the key
// while the flight may be anywhere in its life, so the table's hold is dropped by forget() or by
// the leader's removal, whichever comes first. Each caller copies its result and hands the copy
// to the forgetting thread, which reads it last. The outcome is a value with an rl::var inside,
// so a read of it after its destruction is a data race, and the record's memory is freed by
// Relacy's allocator, so any access after the last release is reported, as is a record never
// freed. Three threads: random search.
#include <optional>

#include "model.hpp"

namespace sfmodel {
namespace {

// A value whose reads and destruction Relacy can see.
struct probe {
  explicit probe(int v) { value($) = v; }
  probe(probe&& other) { value($) = other.get(); }
  ~probe() { value($) = 0; }
  int get() const { return value($); }
  rl::var<int> value;
};

struct s10_lifetime : rl::test_suite<s10_lifetime, 3> {
  group<probe> g;
  flag running, leader_handed_over, follower_handed_over;
  std::optional<sf::result<probe>> from_leader, from_follower;  // handed to the third thread

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

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    return run<s10_lifetime>(
        "s10_lifetime", "S10", s,
        {{"release_hold_first", rl::test_result_access_to_freed_memory}});
  });
}
