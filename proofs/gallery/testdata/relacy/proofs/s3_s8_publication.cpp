// S3 and S8: the outcome, and everything fn did, reach every caller with no data race. Two
// callers of one key; fn writes plain data (Relacy vars, checked for races) and then returns or
// throws. Every caller reads what the flight's leader wrote. If both callers were callers of one
// flight, they hold the same value object, or rethrew the same exception object.
#include <exception>

#include "model.hpp"

namespace sfmodel {
namespace {

struct model_error : std::exception {
  explicit model_error(int l) : leader(l) {}
  int leader;
};

struct s3_s8_value : rl::test_suite<s3_s8_value, 2> {
  group<int> g;
  rl::var<int> written_by_fn[2];  // each execution of fn writes its leader's slot
  rl::atomic<int> executions{0};
  std::optional<sf::result<int>> results[2];

  void thread(unsigned me) {
    const int self = static_cast<int>(me);
    results[me].emplace(g.call(0, [&] {
      executions.fetch_add(1, rl::mo_relaxed, RL_INFO);
      written_by_fn[me](RL_INFO) = 100 + self;
      return self;
    }));
    const int leader = results[me]->value();  // a checked read of the outcome
    RL_ASSERT(written_by_fn[leader](RL_INFO) == 100 + leader);  // S8
  }

  void after() {
    if (executions.load(rl::mo_relaxed, RL_INFO) == 1) {
      RL_ASSERT(&results[0]->value() == &results[1]->value());  // S3: one value object
    }
    results[0].reset();
    results[1].reset();
  }
};

struct s3_s8_exception : rl::test_suite<s3_s8_exception, 2> {
  group<int> g;
  rl::var<int> written_by_fn[2];
  rl::atomic<int> executions{0};
  std::exception_ptr caught[2];

  // Handlers here only capture: all model threads share one OS thread, and with it C++'s stack of
  // caught exceptions, so a handler must not contain a point where the model switches threads.
  void thread(unsigned me) {
    const int self = static_cast<int>(me);
    try {
      (void)g.call(0, [&]() -> int {
        executions.fetch_add(1, rl::mo_relaxed, RL_INFO);
        written_by_fn[me](RL_INFO) = 100 + self;
        throw model_error(self);
      });
    } catch (...) {
      caught[me] = std::current_exception();
    }
    RL_ASSERT(caught[me] != nullptr);  // every caller, the leader included, sees the exception
    int leader = -1;
    try {
      std::rethrow_exception(caught[me]);
    } catch (const model_error& e) {
      leader = e.leader;
    }
    RL_ASSERT(written_by_fn[leader](RL_INFO) == 100 + leader);  // S8
  }

  void after() {
    if (executions.load(rl::mo_relaxed, RL_INFO) == 1) {
      RL_ASSERT(caught[0] == caught[1]);  // S3: one exception object, rethrown in both
    }
    caught[0] = nullptr;
    caught[1] = nullptr;
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, context_bound_search(4), [](const search& s) {
    const bool value = run<s3_s8_value>(
        "s3_s8_value", "S3+S8", s, {{"relaxed_publish", rl::test_result_data_race}});
    const bool exception = run<s3_s8_exception>(
        "s3_s8_exception", "S3+S8", s, {{"relaxed_publish", rl::test_result_data_race}});
    return value && exception;
  });
}
