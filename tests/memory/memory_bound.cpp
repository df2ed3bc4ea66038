// The memory a group holds after a workload with a large Value, against the bound the README
// states. THREADS threads each run FLIGHTS lone flights whose Value holds 64 KiB inline
// (std::array<char, 65536>), then wait, idle, while the program reads its resident set size.
//
//   sf-memory-bound IMPL [THREADS FLIGHTS] [--check]
//
// IMPL: group, group_michael_dhp, group_michael_hp, mutex_group. Prints one line: the RSS before
// and after, their difference, and the bound. With --check it exits 1 when the difference
// exceeds the bound (ctest runs it so, label stress, in builds without sanitizers: their shadow
// memory makes RSS meaningless). Compiles against the library's headers as they were before the
// bound too (no <singleflight/libcds.hpp> then), to measure what changed.
#include <singleflight/singleflight.hpp>
#if __has_include(<singleflight/libcds.hpp>)
#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#define SF_MEASURING_THE_OLD_HEADERS 0
#else  // before the bound: one header, libcds's tables nested policies, no bound to check
#define SF_MEASURING_THE_OLD_HEADERS 1
#endif

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using big_value = std::array<char, 65536>;

std::atomic<unsigned> sink{0};  // relaxed: a total nobody orders against anything

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

struct outcome {
  std::size_t before, after, bound;
};

// The README's bound on what stays allocated once every caller has returned, for `threads`
// threads that called: per thread, its pool of record blocks (256), the records it retired that
// no scan has freed yet (`retired`), and the value blocks its allocator keeps for reuse; plus a
// fixed allowance for the allocator's own bookkeeping and the exited threads' stacks it keeps.
std::size_t bound_for(std::size_t record_bytes, std::size_t threads, std::size_t retired) {
  constexpr std::size_t kMallocOverhead = 16;  // glibc's chunk header, rounded
  constexpr std::size_t kAllowance = std::size_t{32} << 20;
  const std::size_t record = record_bytes + kMallocOverhead;
  const std::size_t per_thread = (256 + retired) * record + 2 * sizeof(big_value);
  return threads * per_thread + kAllowance;
}

#if !SF_MEASURING_THE_OLD_HEADERS
template <template <class, class, class, class> class Table>
constexpr std::size_t record_bytes =
    sizeof(typename Table<int, big_value, std::hash<int>, std::equal_to<int>>::record);
#endif

// Runs the workload and reads the RSS while every worker is still alive but idle (what a thread
// keeps is given back when it exits).
template <class Group>
outcome run(std::size_t threads, std::size_t flights) {
  Group g;
  const std::size_t before = resident_bytes();
  std::latch done(static_cast<std::ptrdiff_t>(threads));
  std::latch measured(1);
  std::vector<std::jthread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::size_t i = 0; i < flights; ++i) {
        const int key = static_cast<int>(t * flights + i);
        const auto r = g.call(key, [key] {
          big_value v;
          std::memset(v.data(), key & 0xff, v.size());  // touch it, as a real value would be
          // An opaque use of every byte: without it the compiler may keep only the byte read
          // below, and the pages would never be touched.
          asm volatile("" : : "r"(v.data()) : "memory");
          return v;
        });
        // Read it, so that no compiler may drop the value as unused.
        sink.fetch_add(static_cast<unsigned char>((*r)[i % r->size()]), std::memory_order_relaxed);
      }
      done.count_down();
      measured.wait();
    });
  }
  done.wait();
  const std::size_t after = resident_bytes();
  measured.count_down();
  workers.clear();
  return {before, after, 0};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s IMPL [THREADS FLIGHTS] [--check]\n", argv[0]);
    return 2;
  }
  const std::string_view impl = argv[1];
  std::size_t threads = 64, flights = 2000;
  bool check = false;
  std::vector<std::string_view> rest(argv + 2, argv + argc);
  if (!rest.empty() && rest.back() == "--check") {
    check = true;
    rest.pop_back();
  }
  if (rest.size() == 2) {
    threads = std::strtoul(std::string(rest[0]).c_str(), nullptr, 10);
    flights = std::strtoul(std::string(rest[1]).c_str(), nullptr, 10);
  } else if (!rest.empty() || threads == 0) {
    std::fprintf(stderr, "usage: %s IMPL [THREADS FLIGHTS] [--check]\n", argv[0]);
    return 2;
  }

  outcome o{};
  if (impl == "group") {
    o = run<singleflight::group<int, big_value>>(threads, flights);
#if !SF_MEASURING_THE_OLD_HEADERS
    // The own table scans after at most 256 retires (more only while other threads hazard them).
    o.bound = bound_for(record_bytes<singleflight::tables::slots>, threads, 256);
#endif
  } else if (impl == "group_michael_dhp") {
    o = run<singleflight::group<int, big_value, std::hash<int>, std::equal_to<int>,
                                singleflight::tables::michael_dhp>>(threads, flights);
    // libcds keeps retired records until its own scan: at most every one a thread retired here.
#if !SF_MEASURING_THE_OLD_HEADERS
    o.bound = bound_for(record_bytes<singleflight::tables::michael_dhp>, threads, flights);
#endif
  } else if (impl == "group_michael_hp") {
    o = run<singleflight::group<int, big_value, std::hash<int>, std::equal_to<int>,
                                singleflight::tables::michael_hp>>(threads, flights);
#if !SF_MEASURING_THE_OLD_HEADERS
    o.bound = bound_for(record_bytes<singleflight::tables::michael_hp>, threads, flights);
#endif
  } else if (impl == "mutex_group") {
    o = run<singleflight::mutex_group<int, big_value>>(threads, flights);
    o.bound = bound_for(sizeof(singleflight::detail::flight<big_value>), threads, 0);
  } else {
    std::fprintf(stderr, "%s: unknown IMPL '%s'\n", argv[0], std::string(impl).c_str());
    return 2;
  }
  const double grew = static_cast<double>(o.after) - static_cast<double>(o.before);
  std::printf("%s: %zu threads x %zu lone flights, Value std::array<char, 65536>: RSS %.1f MiB -> %.1f MiB "
              "(+%.1f MiB), bound %.1f MiB: %s\n",
              std::string(impl).c_str(), threads, flights, mib(static_cast<double>(o.before)),
              mib(static_cast<double>(o.after)), mib(grew), mib(static_cast<double>(o.bound)),
              grew <= static_cast<double>(o.bound) ? "within" : "EXCEEDED");
  return check && grew > static_cast<double>(o.bound) && !SF_MEASURING_THE_OLD_HEADERS ? 1 : 0;
}
