// singleflight::detail — internal; one spare record block per thread and record type.
//
// A caller that misses the lookup allocates a record before it knows whether it will lead: if
// another caller registers the key first, this caller becomes a follower holding a block it
// never published. Freeing that block would make such a follower pay for an allocation; instead
// the block waits here for this thread's next registration. So a flight costs one allocation and
// a follower none, however often callers race (P5). The block is freed at thread exit.
#pragma once

#include <memory>

#include "thread_exit.hpp"

namespace singleflight::detail {

template <class T>
class spare {
 public:
  // Raw memory for one T: the spare block if this thread has one, else a new allocation.
  static T* take() {
    if (T* p = slot_.block) {
      slot_.block = nullptr;
      return p;
    }
    return std::allocator<T>().allocate(1);
  }

  // Keeps raw memory for one T (from take()) for this thread's next take().
  static void give_back(T* p) noexcept {
    if (slot_.block != nullptr) {
      std::allocator<T>().deallocate(p, 1);
      return;
    }
    slot_.block = p;
    if (!slot_.node.registered) {
      slot_.node.run = &free_block;
      try {
        thread_exit::at_exit(slot_.node);
      } catch (...) {  // cannot arrange the clean-up: keep nothing
        slot_.block = nullptr;
        std::allocator<T>().deallocate(p, 1);
      }
    }
  }

  static void free(T* p) noexcept { std::allocator<T>().deallocate(p, 1); }

 private:
  struct slot {
    thread_exit_node node;
    T* block = nullptr;
  };

  // Runs in the exiting thread, so slot_ is that thread's slot.
  static void free_block(thread_exit_node*) noexcept {
    if (slot_.block != nullptr) std::allocator<T>().deallocate(slot_.block, 1);
    slot_.block = nullptr;
  }

  static inline thread_local slot slot_{};
};

}  // namespace singleflight::detail
