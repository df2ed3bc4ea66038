// singleflight::detail — internal; the one place the library touches atomics and parking.
//
// Every atomic the protocol uses is a detail::atomic<T>, and every park and wake goes through
// detail::wait / detail::notify_all, so that the model checker (proofs/) can substitute its own
// atomics and futex for these names and check the shipped protocol rather than a copy of it.
#pragma once

#include <atomic>
#include <cstdint>

namespace singleflight::detail {

template <class T>
using atomic = std::atomic<T>;

// Blocks while `word` holds `expected`; may return spuriously, so callers re-read and loop.
// libstdc++ 12 parks on a futex on the word itself for 4-byte types: keep the state word a
// std::uint32_t.
inline void wait(const atomic<std::uint32_t>& word, std::uint32_t expected,
                 std::memory_order order) noexcept {
  word.wait(expected, order);
}

// Wakes every thread parked on `word`. Always a futex syscall when libstdc++ sees any parked
// waiter in the same slot of its global table, so callers notify only when their own
// has-waiters bit says a waiter may be parked on this word.
inline void notify_all(atomic<std::uint32_t>& word) noexcept { word.notify_all(); }

// A hint to the CPU that this thread is spinning on a shared location.
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace singleflight::detail
