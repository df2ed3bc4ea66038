// sf-bench's instruments: per-thread counts of heap allocations and futex syscalls, kept by a
// replaced global operator new and by a syscall() shim, both defined in instrument.cpp for this
// binary only.
//
// What is counted:
//   allocs, alloc_bytes  every call of the replaceable global operator new (plain and aligned;
//                        the array and nothrow forms go through them in libstdc++), in the
//                        calling thread. That covers the library, libcds (its allocator is
//                        std::allocator) and the standard containers.
//   futex_calls          every syscall(SYS_futex, ...) made through the C library's syscall()
//                        in the calling thread. libstdc++ 12 parks and wakes atomic::wait and
//                        notify_all that way, from inline header code compiled into this binary,
//                        so each wait and each wake the library makes is counted.
// What is not counted: malloc called directly (glibc's own, libcds.so's none), and futexes that
// glibc issues internally without going through syscall() — std::mutex and
// std::condition_variable contention among them, so mutex_group's lock waits are invisible here.
// count_futex_self_test() checks the shim at start-up: a notify with a parked waiter must count.
#pragma once

#include <cstdint>

namespace sfbench {

struct thread_tally {
  long allocs = 0;
  long alloc_bytes = 0;
  long futex_calls = 0;
};

// This thread's counts since it started. Constant-initialized, so reading it is one TLS access.
inline thread_local thread_tally tally{};

// Parks a thread on an atomic, notifies it and checks that both the wait and the wake were
// counted; tries a few times (a waiter not yet parked makes notify_all skip its syscall).
// Returns false if the shim does not see libstdc++'s futex calls.
bool count_futex_self_test();

}  // namespace sfbench
