// singleflight::detail — internal; per-thread clean-up that runs after every C++ thread_local
// destructor of the exiting thread.
//
// The library keeps a little per-thread state (its libcds attachment, its pool of record blocks).
// Releasing it from a thread_local destructor would be too early: a thread_local group, or any
// thread_local object whose destructor calls into a group, may be destroyed later in the same
// thread exit. glibc runs pthread key destructors after all thread_local destructors, so clean-up
// registered here sees every earlier use. Nodes are trivially destructible thread_locals, so
// reaching them never goes through a TLS initialisation wrapper. The main thread's nodes never
// run (key destructors do not run at exit()); what they would release dies with the process.
#pragma once

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

namespace singleflight::detail {

struct thread_exit_node {
  void (*run)(thread_exit_node*) noexcept = nullptr;
  thread_exit_node* next = nullptr;
  bool registered = false;
};

class thread_exit {
 public:
  // Runs `node.run(&node)` when the calling thread exits. Registering a node twice is harmless.
  static void at_exit(thread_exit_node& node) {
    if (node.registered) return;
    const pthread_key_t key = the_key();
    node.registered = true;
    node.next = head_;
    head_ = &node;
    // Any non-null value makes glibc call run_all when the thread ends (and again, up to
    // PTHREAD_DESTRUCTOR_ITERATIONS times, if a clean-up registers new work).
    pthread_setspecific(key, &head_);
  }

 private:
  static pthread_key_t the_key() {
    static const pthread_key_t key = [] {
      pthread_key_t k{};
      if (pthread_key_create(&k, &run_all) != 0) {
        std::fputs("singleflight: pthread_key_create failed\n", stderr);
        std::abort();
      }
      return k;
    }();
    return key;
  }

  static void run_all(void*) noexcept {
    while (thread_exit_node* n = head_) {
      head_ = n->next;
      n->registered = false;
      n->run(n);
    }
  }

  static inline thread_local thread_exit_node* head_ = nullptr;
};

}  // namespace singleflight::detail
