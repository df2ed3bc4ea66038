// The definitions behind instrument.hpp: a counting global operator new and a counting syscall()
// that forwards to the C library's. Both replace the default ones for sf-bench only.
#include "instrument.hpp"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdlib>
#include <new>
#include <thread>

// ---- heap allocations ---------------------------------------------------------------------------
// Only the two replaceable allocating forms that libstdc++ does not route through another: the
// array and nothrow forms call these, and the default operator delete (free) matches malloc and
// aligned_alloc alike, so no delete is replaced.

void* operator new(std::size_t size) {
  ++sfbench::tally.allocs;
  sfbench::tally.alloc_bytes += static_cast<long>(size);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* operator new(std::size_t size, std::align_val_t align) {
  ++sfbench::tally.allocs;
  sfbench::tally.alloc_bytes += static_cast<long>(size);
  const auto a = static_cast<std::size_t>(align);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = size == 0 ? a : (size + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded)) return p;
  throw std::bad_alloc();
}

// ---- futex syscalls -----------------------------------------------------------------------------

namespace {

using syscall_fn = long (*)(long, ...);

// The C library's syscall(), found once. Relaxed: every thread that races here stores the same
// value, and nothing else is published with it. (No function-local static: its guard may itself
// wait on a futex through this very function.)
std::atomic<syscall_fn> real_syscall{nullptr};

syscall_fn next_syscall() noexcept {
  syscall_fn f = real_syscall.load(std::memory_order_relaxed);
  if (f == nullptr) {
    f = reinterpret_cast<syscall_fn>(dlsym(RTLD_NEXT, "syscall"));
    real_syscall.store(f, std::memory_order_relaxed);
  }
  return f;
}

}  // namespace

// Defined in the executable, so it takes the place of the C library's for every call in this
// binary (libstdc++'s atomic wait and notify are inline, so their calls are here). Takes the
// six argument registers the kernel may use, as the C library's own syscall() does, and passes
// them on unchanged.
extern "C" long syscall(long number, ...) noexcept {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_futex) ++sfbench::tally.futex_calls;
  return next_syscall()(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

namespace sfbench {

bool count_futex_self_test() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::atomic<std::uint32_t> word{0};
    long waiter_futex_calls = -1;  // written by the waiter, read after join()
    std::thread waiter([&] {
      const long before = tally.futex_calls;
      // Acquire: pairs with the release store below; the loop absorbs spurious wake-ups.
      while (word.load(std::memory_order_acquire) == 0) word.wait(0, std::memory_order_acquire);
      waiter_futex_calls = tally.futex_calls - before;
    });
    // Long enough for the waiter to finish libstdc++'s short spin and park; longer on each try,
    // for a loaded machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
    const long before = tally.futex_calls;
    // Release: pairs with the waiter's acquire loads; the value is all there is to publish.
    word.store(1, std::memory_order_release);
    word.notify_all();
    const long wakes = tally.futex_calls - before;
    waiter.join();
    if (wakes >= 1 && waiter_futex_calls >= 1) return true;
  }
  return false;
}

}  // namespace sfbench
