// S1: one flight per key. Three callers of one key; fn checks that no other execution of fn for
// the key is running. A caller can lead only by registering its record, and a key has at most
// one registered record, so executions never overlap (nobody calls forget here). Every caller
// also checks the value it got came from an execution that ran during its call.
#include "model.hpp"

namespace sfmodel {
namespace {

struct s1_one_flight : rl::test_suite<s1_one_flight, 3> {
  group<int> g;
  rl::atomic<int> running{0};     // executions of fn in progress
  rl::atomic<int> executions{0};  // executions of fn started so far

  void thread(unsigned) {
    const int started_before = executions.load(rl::mo_relaxed, RL_INFO);
    const auto r = g.call(0, [&] {
      RL_ASSERT(running.fetch_add(1, rl::mo_relaxed, RL_INFO) == 0);  // no overlap
      const int n = executions.fetch_add(1, rl::mo_relaxed, RL_INFO);
      running.fetch_sub(1, rl::mo_relaxed, RL_INFO);
      return n;
    });
    // S2 as well: executions run one after another (above), so when `started_before` executions
    // had started at this call, all but the last had ended; the caller's outcome is no older.
    RL_ASSERT(r.value() >= started_before - 1);
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    return run<s1_one_flight>(
        "s1_one_flight", "S1", s,
        {{"ignore_insert_failure", rl::test_result_user_assert_failed},
         {"ignore_insert_failure", rl::test_result_memory_leak}});
  });
}
