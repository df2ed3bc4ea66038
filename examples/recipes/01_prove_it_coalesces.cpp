// Recipe 1 — prove it coalesces.
//
// Pattern: a hundred threads ask for the same key at once and the loader counts its runs. This
// is the smallest complete use of the library: one group, one key, one loader.
//
// Acceptance: the loader ran once; every caller received its value; exactly one caller was the
// leader (it ran the loader) and every caller saw shared() == true. The same function template
// runs against group, mutex_group and sharded_group unchanged: the three share one interface.
//
// Go's version of this task sleeps 100 ms in the loader and hopes that the other goroutines
// start in time. Here the loader does not return until every other caller is inside call(),
// waiting for it (recipe::crowd), so a count above 1 would mean a real failure to coalesce, not
// a slow start.
#include <singleflight/baselines.hpp>
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "recipe.hpp"

namespace {

template <class Group>
void prove_it_coalesces(const char* name) {
  constexpr int callers = 100;
  Group group;
  std::atomic<int> loads{0};
  recipe::crowd crowd(callers);
  // One slot per thread; result has no default constructor, hence optional.
  std::vector<std::optional<singleflight::result<std::string>>> results(callers);

  recipe::in_parallel(callers, [&](int i) {
    crowd.arrive();
    results[i] = group.call("k", [&] {
      loads.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
      crowd.wait_for_everyone();
      return std::string("value");
    });
  });

  const int ran = loads.load(std::memory_order_relaxed);  // relaxed: the threads have joined
  std::printf("%s: loader ran %d times (expected 1)\n", name, ran);
  int leaders = 0, shared = 0, right_value = 0;
  for (const auto& r : results) {
    leaders += r->leader();
    shared += r->shared();
    right_value += r->value() == "value";
  }
  recipe::check_eq(ran, 1, "loader runs");
  recipe::check_eq(right_value, callers, "callers that received \"value\"");
  recipe::check_eq(leaders, 1, "callers that were the leader");
  recipe::check_eq(shared, callers, "callers that saw shared()");
}

}  // namespace

int main() {
  prove_it_coalesces<singleflight::group<std::string, std::string>>("group");
  prove_it_coalesces<singleflight::mutex_group<std::string, std::string>>("mutex_group");
  prove_it_coalesces<singleflight::sharded_group<std::string, std::string>>("sharded_group");
  return recipe::verdict();
}
