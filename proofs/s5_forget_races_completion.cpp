// S5: forget() racing completion (Go issue 31420). Caller A leads flight 1 for key 0. Caller B,
// once A's fn is running, forgets the key and calls again, leading flight 2. A's fn returns only
// after flight 2 is registered, so A's completion (the removal of flight 1 from the table) races
// B's flight, and B's fn checks, after A's call has returned, that flight 2 is still the one
// registered. The check is exact: a call into key 0 from inside B's fn throws reentrant_call
// exactly when B's own flight is registered (S11).
#include "model.hpp"

namespace sfmodel {
namespace {

struct s5_forget_races_completion : rl::test_suite<s5_forget_races_completion, 2> {
  group<int> g;
  flag a_running, b_registered, a_returned;

  bool flight_2_registered() {
    try {
      (void)g.call(0, [] { return -1; });  // leads a flight of its own if flight 2 is gone
      return false;
    } catch (const sf::reentrant_call&) {
      return true;
    }
  }

  void thread(unsigned me) {
    if (me == 0) {  // A
      const auto r = g.call(0, [&] {
        a_running.set();
        b_registered.wait();
        return 1;
      });
      RL_ASSERT(r.value() == 1 && r.leader() && !r.shared());  // nobody joined flight 1
      a_returned.set();
    } else {  // B
      a_running.wait();
      g.forget(0);
      const auto r = g.call(0, [&] {
        b_registered.set();
        a_returned.wait();
        RL_ASSERT(flight_2_registered());
        return 2;
      });
      RL_ASSERT(r.value() == 2 && r.leader());
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, context_bound_search(2), [](const search& s) {
    return run<s5_forget_races_completion>(
        "s5_forget_races_completion", "S5", s,
        {{"erase_by_key", rl::test_result_user_assert_failed}});
  });
}
