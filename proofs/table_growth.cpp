// The own table's growth (tables::slots, detail/slots_table.hpp) under the model checker: `group`
// exactly as shipped, on a table of one top slot whose buckets split at two flights into
// children of two slots (the switches below, set before the headers are included), so that a
// third flight in progress splits the slot while the other two are registered, erased, looked
// up and forgotten. Keys 0 and 2 have equal hashes (hash = key % 2), so they always share a slot
// (no bits tell them apart: the child puts them in one bucket); key 1 goes to the other child
// slot. A third suite, with other keys, splits twice: two levels of children, and two splits
// racing for one slot. The hazard domain scans on every retire here, so the old bucket a split
// retires is freed as early as any reader allows.
//
// To hold three flights with three threads, thread 0's fn for key 0 calls key 1 (a nested call
// for another key is no reentry): while it runs, keys 0 and 1 are both registered.
//
// What the suites check: one flight per key (S1: fn never overlaps itself for a key, and every
// caller gets its own key's value); that forget() removes the flight it saw even when a split
// moved it (S5: a call after forget() returns does not join a flight that was running before);
// no access to freed memory (a reader of the old bucket, a record left in the table after its
// flight ended), no data race on a record's key or a bucket's entries, no double free and no
// leak (a child lost by a split would be one; the table frees its children when it goes).
#define SINGLEFLIGHT_SLOT_SPLIT_AT 2
#define SINGLEFLIGHT_SLOT_CHILD_BITS 1
#include "model.hpp"

namespace sfmodel {
namespace {

struct pairing_hash {
  std::size_t operator()(int key) const noexcept { return static_cast<std::size_t>(key % 2); }
};

using slots_group = sf::group<int, int, pairing_hash, std::equal_to<int>, sf::tables::slots>;

// Counts the executions of fn in progress per key (0 to 9), and checks S1 for the keys it is
// asked to.
struct executions {
  rl::atomic<int> running[10];

  void reset() {
    for (auto& r : running) r.store(0, rl::mo_relaxed, $);
  }
  void enter(int key, bool alone = true) {
    const int before = running[key].fetch_add(1, rl::mo_relaxed, $);
    if (alone) RL_ASSERT(before == 0);  // S1: no overlap
  }
  void leave(int key) { running[key].fetch_sub(1, rl::mo_relaxed, $); }
  int run(int key) {
    enter(key);
    leave(key);
    return 10 * key;
  }
};

// Thread 0 leads key 0, and inside it key 1; thread 1 calls key 2 (the third flight: a split
// when the other two are registered), then key 1 (finding key 1's record, or a freed one if key
// 1's erase lost its record to the split); thread 2 calls key 0 (joining thread 0's flight, which
// it finds in the old bucket or the child, or leading after it).
struct table_split : rl::test_suite<table_split, 3> {
  slots_group g{/*expected_flights=*/0};  // one top slot
  executions fn;

  void before() { fn.reset(); }

  void thread(unsigned me) {
    if (me == 0) {
      const auto first = g.call(0, [&] {
        fn.enter(0);
        RL_ASSERT(g.call(1, [&] { return fn.run(1); }).value() == 10);
        fn.leave(0);
        return 0;
      });
      RL_ASSERT(first.value() == 0);
    } else if (me == 1) {
      RL_ASSERT(g.call(2, [&] { return fn.run(2); }).value() == 20);
      RL_ASSERT(g.call(1, [&] { return fn.run(1); }).value() == 10);
    } else {
      RL_ASSERT(g.call(0, [&] { return fn.run(0); }).value() == 0);
    }
  }
};

// forget() across a split: thread 0 leads key 0 (and key 1 inside it), thread 1 calls key 2,
// thread 2 forgets key 0 and then calls it. If thread 2 saw thread 0's fn running before its
// forget(), that flight was registered then, so forget() removed it (wherever a split had moved
// it) or it had ended: thread 2's call must lead a new flight, not join it (S5).
struct table_split_forget : rl::test_suite<table_split_forget, 3> {
  slots_group g{/*expected_flights=*/0};
  executions fn;
  flag running0;  // set inside thread 0's fn for key 0

  void before() { fn.reset(); }

  void thread(unsigned me) {
    if (me == 0) {
      const auto first = g.call(0, [&] {
        fn.enter(0, /*alone=*/false);  // forget() lets a second flight of key 0 overlap this one
        running0.set();
        RL_ASSERT(g.call(1, [&] { return fn.run(1); }).value() == 10);
        fn.leave(0);
        return 0;
      });
      RL_ASSERT(first.value() == 0 || first.value() == 100);  // or it joined thread 2's flight
    } else if (me == 1) {
      RL_ASSERT(g.call(2, [&] { return fn.run(2); }).value() == 20);
    } else {
      const bool was_running = running0.is_set();
      g.forget(0);
      const auto after = g.call(0, [&] {
        fn.enter(0, /*alone=*/false);
        fn.leave(0);
        return 100;
      });
      if (was_running) RL_ASSERT(after.value() == 100);  // S5: not the forgotten flight's 0
    }
  }
};

// Two levels of children, and two splits racing. Here hash = key, and keys 1, 3, 6 and 9 all have
// the mixed hash's first bit set, so a split of the top slot puts them all in one child slot;
// their second bits (1: 0, 3: 1, 6: 0, 9: 0) tell 3 from the others one level further down.
// Thread 0 leads key 1, and inside it key 3; threads 1 and 2 call keys 6 and 9: with 1 and 3
// registered, both may find the top slot's bucket full and race to split it (the loser's child
// is never published: it frees it and looks again, from the top slot, now a child), and the
// fourth flight splits the child's slot again. Then thread 1 calls key 3 and thread 2 key 1,
// finding them wherever the splits moved them, or not at all once they ended.
struct identity_hash {
  std::size_t operator()(int key) const noexcept { return static_cast<std::size_t>(key); }
};

struct table_split_twice : rl::test_suite<table_split_twice, 3> {
  sf::group<int, int, identity_hash, std::equal_to<int>, sf::tables::slots> g{0};
  executions fn;

  void before() { fn.reset(); }
  int call(int key) {
    return g.call(key, [&] { return fn.run(key); }).value();
  }

  void thread(unsigned me) {
    if (me == 0) {
      const auto first = g.call(1, [&] {
        fn.enter(1);
        RL_ASSERT(call(3) == 30);
        fn.leave(1);
        return 10;
      });
      RL_ASSERT(first.value() == 10);
    } else if (me == 1) {
      RL_ASSERT(call(6) == 60);
      RL_ASSERT(call(3) == 30);
    } else {
      RL_ASSERT(call(9) == 90);
      RL_ASSERT(call(1) == 10);
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    // What the splitting suites report for each growth mutant.
    const std::initializer_list<catches> splits = {
        // A flight left out of the child: a second leader of its key overlaps the first (S1).
        {"split_loses_flight", rl::test_result_user_assert_failed},
        // The child stored over a bucket that changed since it was read: a registration lost
        // (S1) or a removal undone, whose record is then freed while the table names it, the old
        // bucket retired twice, or a child lost under another (a leak).
        {"split_duplicates_flight", rl::test_result_user_assert_failed},
        {"split_duplicates_flight", rl::test_result_access_to_freed_memory},
        {"split_duplicates_flight", rl::test_result_double_free},
        {"split_duplicates_flight", rl::test_result_memory_leak},
        // An erase that gives up on a child leaves the ended flight's record in the table; its
        // memory is freed, and the next caller of its key reads it (or joins it, closed, forever).
        {"erase_misses_moved_record", rl::test_result_access_to_freed_memory},
        {"erase_misses_moved_record", rl::test_result_livelock}};
    const bool split = run<table_split>("table_split", "S1,S10,S13", s, splits);
    // A lost flight goes unnoticed here (thread 2's forget() and call find its key absent, as
    // they may); a forget() that gives up on a child leaves the flight it saw, and the call
    // after it joins that flight (S5).
    const bool forget = run<table_split_forget>(
        "table_split_forget", "S5,S10,S13", s,
        {{"split_duplicates_flight", rl::test_result_user_assert_failed},
         {"split_duplicates_flight", rl::test_result_access_to_freed_memory},
         {"split_duplicates_flight", rl::test_result_double_free},
         {"split_duplicates_flight", rl::test_result_memory_leak},
         {"erase_misses_moved_record", rl::test_result_user_assert_failed},
         {"erase_misses_moved_record", rl::test_result_access_to_freed_memory},
         {"erase_misses_moved_record", rl::test_result_livelock}});
    const bool twice = run<table_split_twice>("table_split_twice", "S1,S10,S13", s, splits);
    return split && forget && twice;
  });
}
