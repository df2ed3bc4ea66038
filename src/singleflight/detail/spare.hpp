// singleflight::detail — internal; a small per-thread pool of record blocks for each record type.
//
// Two things return record memory to a thread: a caller that lost the race to register its key
// (it allocated a record before it knew whether it would lead, and becomes a follower holding a
// block it never published), and the own table's hazard-pointer scan, which frees the records
// its thread retired (a batch at a time). Both keep the blocks here for the thread's next
// registrations instead of handing them to the allocator, so a follower pays no allocation
// however often callers race, and a thread that leads flight after flight reuses its own blocks
// (P5). (Records that libcds's collector reclaims go back to the allocator: libcds_table.hpp.) The pool keeps at most
// kCapacity blocks; the rest go back to the allocator, and the pool is emptied at thread exit.
#pragma once

#include <cstddef>
#include <memory>

#include "thread_exit.hpp"

namespace singleflight::detail {

template <class T>
class spare {
 public:
  // The largest batch of records a hazard-pointer scan frees at once (hazard.hpp's
  // kMaxScanBatch).
  static constexpr std::size_t kCapacity = 256;

  // Raw memory for one T: a pooled block if this thread has one, else a new allocation.
  static T* take() {
#ifndef SINGLEFLIGHT_RELACY
    if (block* b = pool_.head) {
      pool_.head = b->next;
      --pool_.count;
      return reinterpret_cast<T*>(b);
    }
#endif
    return std::allocator<T>().allocate(1);
  }

  // Keeps raw memory for one T (from take()) for this thread's next take(), or frees it when the
  // pool is full. (Under the model checker it always frees: memory must not outlive a model run.)
  static void give_back(T* p) noexcept {
#ifndef SINGLEFLIGHT_RELACY
    if (pool_.count < kCapacity) {
      if (!pool_.node.registered) {
        pool_.node.run = &free_all;
        try {
          thread_exit::at_exit(pool_.node);
        } catch (...) {  // cannot arrange the clean-up: keep nothing
          std::allocator<T>().deallocate(p, 1);
          return;
        }
      }
      pool_.head = ::new (static_cast<void*>(p)) block{pool_.head};
      ++pool_.count;
      return;
    }
#endif
    std::allocator<T>().deallocate(p, 1);
  }

  // Frees memory for one T (from take()) without keeping it.
  static void free(T* p) noexcept { std::allocator<T>().deallocate(p, 1); }

 private:
  struct block {
    block* next;
  };
  static_assert(sizeof(T) >= sizeof(block) && alignof(T) >= alignof(block));

  struct pool {
    thread_exit_node node;
    block* head = nullptr;
    std::size_t count = 0;
  };

  // Runs in the exiting thread, so pool_ is that thread's pool.
  static void free_all(thread_exit_node*) noexcept {
    while (block* b = pool_.head) {
      pool_.head = b->next;
      std::allocator<T>().deallocate(reinterpret_cast<T*>(b), 1);
    }
    pool_.count = 0;
  }

  static inline thread_local pool pool_{};
};

}  // namespace singleflight::detail
