// S4: shared() is exact when a joiner races the leader's close. Two callers of one key, in
// every interleaving with up to four preemptions (the CI tier; five in the long tier): either they were callers of one flight (one execution of fn), and then exactly
// one is the leader and both say shared(); or each led a flight of its own, and neither says
// shared(). The racy moment is a joiner that found the record just as its leader closes it: the
// JOINED bit and the DONE bit decide, in one read-modify-write each, which side it falls on.
#include "model.hpp"

namespace sfmodel {
namespace {

struct s4_shared_is_exact : rl::test_suite<s4_shared_is_exact, 2> {
  group<int> g;
  rl::atomic<int> executions{0};
  std::optional<sf::result<int>> results[2];

  void thread(unsigned me) {
    results[me].emplace(g.call(0, [&] { return executions.fetch_add(1, rl::mo_relaxed, RL_INFO); }));
  }

  void after() {
    const int flights = executions.load(rl::mo_relaxed, RL_INFO);
    const sf::result<int>& a = *results[0];
    const sf::result<int>& b = *results[1];
    if (flights == 1) {
      RL_ASSERT(a.leader() != b.leader());  // exactly one leader
      RL_ASSERT(a.shared() && b.shared());
      RL_ASSERT(&a.value() == &b.value());  // one value object (S3)
    } else {
      RL_ASSERT(a.leader() && b.leader());
      RL_ASSERT(!a.shared() && !b.shared());
    }
    results[0].reset();
    results[1].reset();
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, context_bound_search(4), [](const search& s) {
    return run<s4_shared_is_exact>(
        "s4_shared_is_exact", "S4", s,
        {{"join_after_close", rl::test_result_user_assert_failed},
         {"read_joined_before_close", rl::test_result_user_assert_failed}});
  });
}
