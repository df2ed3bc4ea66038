// singleflight::detail — internal; a small per-thread pool of record blocks for each record type,
// and the one place where a table's records are made and destroyed.
//
// Two things return record memory to a thread: a caller that lost the race to register its key
// (it made a record before it knew whether it would lead, and becomes a follower holding a block
// it never published), and the own table's hazard-pointer scan, which frees the records its
// thread retired (a batch at a time). Both keep the blocks here for the thread's next
// registrations instead of handing them to the allocator, so a follower pays no allocation
// however often callers race, and a thread that leads flight after flight reuses its own blocks
// (P5). (Records that libcds's collector reclaims go back to the allocator: libcds_table.hpp.)
// The pool keeps at most SINGLEFLIGHT_RECORD_POOL_BLOCKS blocks per thread and record type; the
// rest go back to the allocator, and the pool is emptied at thread exit.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include "config.hpp"
#include "thread_exit.hpp"

// SINGLEFLIGHT_RECORD_POOL_BLOCKS: how many freed record blocks a thread keeps per record type
// for its next flights. 0 keeps none (every record is a fresh allocation; proofs/ builds so, so
// that no memory outlives a model run). At least the own table's scan batch (hazard.hpp's
// kMaxScanBatch, 256), so that a scan's freed records go back to the pool.
#ifndef SINGLEFLIGHT_RECORD_POOL_BLOCKS
#define SINGLEFLIGHT_RECORD_POOL_BLOCKS 256
#endif

namespace singleflight::detail {

template <class Record>
class record_pool {
 public:
  static constexpr std::size_t kCapacity = SINGLEFLIGHT_RECORD_POOL_BLOCKS;

  // A new record, built in a pooled block if this thread has one, else in a new allocation.
  template <class... Args>
  static Record* make(Args&&... args) {
    Record* mem = take();
    try {
      return ::new (static_cast<void*>(mem)) Record(std::forward<Args>(args)...);
    } catch (...) {
      give_back(mem);
      throw;
    }
  }

  // Destroys `r` and keeps its block for this thread's next make().
  static void discard(Record* r) noexcept {
    r->~Record();
    give_back(r);
  }

  // Destroys `r` and returns its block to the allocator.
  static void free(Record* r) noexcept {
    r->~Record();
    std::allocator<Record>().deallocate(r, 1);
  }

 private:
  struct block {
    block* next;
  };
  static_assert(sizeof(Record) >= sizeof(block) && alignof(Record) >= alignof(block));

  struct pool {
    thread_exit_node node;
    block* head = nullptr;
    std::size_t count = 0;
  };

  static Record* take() {
    if (block* b = pool_.head) {
      pool_.head = b->next;
      --pool_.count;
      return reinterpret_cast<Record*>(b);
    }
    return std::allocator<Record>().allocate(1);
  }

  static void give_back(Record* p) noexcept {
    if (pool_.count < kCapacity) {
      if (!pool_.node.registered) {
        pool_.node.run = &free_all;
        try {
          thread_exit::at_exit(pool_.node);
        } catch (...) {  // cannot arrange the clean-up: keep nothing
          std::allocator<Record>().deallocate(p, 1);
          return;
        }
      }
      pool_.head = ::new (static_cast<void*>(p)) block{pool_.head};
      ++pool_.count;
      return;
    }
    std::allocator<Record>().deallocate(p, 1);
  }

  // Runs in the exiting thread, so pool_ is that thread's pool.
  static void free_all(thread_exit_node*) noexcept {
    while (block* b = pool_.head) {
      pool_.head = b->next;
      std::allocator<Record>().deallocate(reinterpret_cast<Record*>(b), 1);
    }
    pool_.count = 0;
  }

  static inline thread_local pool pool_{};
};

}  // namespace singleflight::detail
