// The own table (tables::slots, detail/slots_table.hpp and detail/hazard.hpp) under the model
// checker: `group` exactly as shipped, on a table of one slot, so that every key shares it and
// every registration and removal goes through the collision buckets, copied on write, with hazard
// pointers guarding the readers. Keys 0 and 2 have equal hashes (hash = key % 2), so lookups also
// compare keys. The hazard domain scans on every retire here, so every free the table does is
// checked against every reader.
//
// What the suites check: one flight per key (S1: fn never overlaps itself for a key, and every
// caller gets its own key's value), no access to freed memory (a reader that lost its record or
// bucket), no data race on a record's key or a bucket's entries (each is marked as plain data
// written before publication), and no leak (Relacy counts every allocation).
#include "model.hpp"

namespace sfmodel {
namespace {

struct pairing_hash {
  std::size_t operator()(int key) const noexcept { return static_cast<std::size_t>(key % 2); }
};

using slots_group = sf::group<int, int, pairing_hash, std::equal_to<int>, sf::tables::slots>;

// Three callers; two share key 0, one has key 2 (same hash, same slot); each then calls key 1,
// so that records are retired and buckets grow and shrink while others read them.
struct table_collisions : rl::test_suite<table_collisions, 3> {
  slots_group g{/*expected_flights=*/0};  // one slot
  rl::atomic<int> running[3];             // executions of fn in progress, per key

  void before() {
    for (auto& r : running) r.store(0, rl::mo_relaxed, $);
  }

  int run(int key) {
    RL_ASSERT(running[key].fetch_add(1, rl::mo_relaxed, $) == 0);  // S1: no overlap
    running[key].fetch_sub(1, rl::mo_relaxed, $);
    return 10 * key;
  }

  void thread(unsigned me) {
    const int key = me == 2 ? 2 : 0;
    const auto first = g.call(key, [&] { return run(key); });
    RL_ASSERT(first.value() == 10 * key);
    const auto second = g.call(1, [&] { return run(1); });
    RL_ASSERT(second.value() == 10);
  }
};

// forget() while the same slot changes: thread 0 leads key 0, thread 1 forgets key 0 and then
// calls key 2, thread 2 calls key 0 (joining flight 1 or leading a newer one). Values must match
// keys; the memory checks do the rest.
struct table_forget : rl::test_suite<table_forget, 3> {
  slots_group g{/*expected_flights=*/0};

  void thread(unsigned me) {
    if (me == 0) {
      RL_ASSERT(g.call(0, [] { return 0; }).value() == 0);
    } else if (me == 1) {
      g.forget(0);
      RL_ASSERT(g.call(2, [] { return 20; }).value() == 20);
    } else {
      RL_ASSERT(g.call(0, [] { return 0; }).value() == 0);
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool collisions = run<table_collisions>(
        "table_collisions", "S1,S10", s,
        {{"insert_by_store", rl::test_result_user_assert_failed},
         {"insert_by_store", rl::test_result_memory_leak},
         {"hazard_without_recheck", rl::test_result_access_to_freed_memory},
         {"scan_loads_acquire", rl::test_result_access_to_freed_memory},
         {"free_bucket_at_once", rl::test_result_access_to_freed_memory},
         // or, when the freed bucket's memory comes back as a new bucket at once, an erase
         // fooled by the same address (ABA) leaves a closed record registered: callers of its
         // key find it closed forever
         {"free_bucket_at_once", rl::test_result_livelock},
         {"join_acquire_only", rl::test_result_data_race},
         {"join_acquire_only", rl::test_result_access_to_freed_memory}});
    const bool forget = run<table_forget>(
        "table_forget", "S5,S10", s,
        {{"hazard_without_recheck", rl::test_result_access_to_freed_memory},
         {"scan_loads_acquire", rl::test_result_access_to_freed_memory},
         {"join_acquire_only", rl::test_result_data_race},
         {"join_acquire_only", rl::test_result_access_to_freed_memory}});
    return collisions && forget;
  });
}
