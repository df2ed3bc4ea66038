// sf-stress: time. One monotonic clock (CLOCK_MONOTONIC through steady_clock) for every timestamp
// the checkers compare, absolute sleeps for the schedules, and a busy wait for microsecond fns.
#pragma once

#include <chrono>
#include <cstdint>

namespace sfstress {

// Nanoseconds on the monotonic clock. The checkers compare timestamps taken on different threads;
// CLOCK_MONOTONIC is one clock for the whole machine, and Linux's vDSO reads it in an ordered way,
// so a timestamp taken before an atomic operation is not reordered after it.
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Sleeps until now_ns() >= deadline (an absolute deadline, so a late wake-up does not shift the
// next one). Returns at once if the deadline has passed.
void sleep_until_ns(std::int64_t deadline) noexcept;

// Burns the CPU until now_ns() >= deadline: a fn of a microsecond or so cannot sleep.
inline void spin_until_ns(std::int64_t deadline) noexcept {
  while (now_ns() < deadline) {
  }
}

// Asks the kernel to wake this thread's sleeps as close to their deadline as it can (Linux's
// default timer slack is 50 µs, which would stretch a 2 ms fn by 2.5%). Does nothing elsewhere.
void tighten_timer_slack() noexcept;

}  // namespace sfstress
