// S6: no lost wake-up. Callers of one key (two: every interleaving with up to four preemptions;
// three: at random); whichever of them follow may park on the flight's state word, and when fn
// returns every one of them must return without help from anyone else. A follower parks only
// after its fetch_or of WAITERS, and the leader reads WAITERS with the same read-modify-write
// that sets DONE, so one of the two always sees the other; if the follower came first, the
// leader's notify_all wakes it. A lost wake-up shows as a deadlock: the follower parked for
// ever, and no thread left to wake it. Relacy's futex also wakes spuriously, so the followers'
// re-check loop is exercised too.
#include "model.hpp"

namespace sfmodel {
namespace {

template <unsigned Callers>
struct s6_no_lost_wakeup : rl::test_suite<s6_no_lost_wakeup<Callers>, Callers> {
  group<int> g;
  rl::atomic<int> executions{0};

  void thread(unsigned) {
    const auto r = g.call(0, [&] { return executions.fetch_add(1, rl::mo_relaxed, RL_INFO); });
    RL_ASSERT(r.value() >= 0);
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, context_bound_search(4), [](const search& s) {
    // Two callers with the search asked for; three callers (two may park at once) at random.
    const std::initializer_list<catches> mutants = {
        {"skip_waiters_bit", rl::test_result_deadlock},
        {"notify_before_done", rl::test_result_deadlock}};
    const bool two = run<s6_no_lost_wakeup<2>>("s6_no_lost_wakeup_2", "S6", s, mutants);
    const bool many = run<s6_no_lost_wakeup<3>>("s6_no_lost_wakeup_3", "S6",
                                                random_search(s.random_iterations), mutants);
    return two && many;
  });
}
