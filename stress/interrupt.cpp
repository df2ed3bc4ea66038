#include "interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>

#include "clock.hpp"

namespace sfstress {

namespace {

// The first signal. Lock-free, so that the handler may set it. Relaxed: it only says "stop"; what
// the run's threads did reaches the main thread through join.
std::atomic<int> first_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

// write(2) is async-signal-safe; printf is not.
template <std::size_t N>
void say(const char (&text)[N]) noexcept {
  [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, text, N - 1);
}

void on_signal(int sig) {
  const int saved_errno = errno;  // write() may change it under the interrupted code's feet
  int none = 0;
  if (first_signal.compare_exchange_strong(none, sig, std::memory_order_relaxed)) {
    if (sig == SIGINT) {
      say("\nsf-stress: SIGINT: letting the calls in flight finish, then reporting "
          "(Ctrl-C again to quit at once)\n");
    } else {
      say("\nsf-stress: SIGTERM: letting the calls in flight finish, then reporting "
          "(signal again to quit at once)\n");
    }
  } else {
    say("\nsf-stress: interrupted again: exiting at once, without a report\n");
    // Dies of the signal (status 128 + sig), as with no handler. Not _exit(): the sanitizers'
    // runtimes intercept it, and TSan then reports the unjoined workers and exits with 66.
    signal(sig, SIG_DFL);
    raise(sig);  // delivered when the handler returns, if not at once
  }
  errno = saved_errno;
}

}  // namespace

void install_interrupt_handlers() {
  for (const int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // other system calls carry on; the waits poll first_signal
    sigaction(sig, &sa, nullptr);
  }
}

int interrupted() noexcept { return first_signal.load(std::memory_order_relaxed); }

const char* signal_name(int sig) noexcept {
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

bool sleep_unless_interrupted(std::int64_t deadline) noexcept {
  constexpr std::int64_t kPoll = 50'000'000;
  for (;;) {
    const std::int64_t now = now_ns();
    if (now >= deadline) return true;  // a run that reached its end is whole, signal or not
    if (interrupted() != 0) return false;
    // Absolute, and the last slice ends at the deadline itself: no drift from the polling.
    sleep_until_ns(std::min(deadline, now + kPoll));
  }
}

}  // namespace sfstress
