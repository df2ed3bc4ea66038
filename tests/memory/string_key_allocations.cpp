// Allocations per lone call and per follower with 25-character std::string keys, passed as a
// const char* (a std::string made per call) and, where the headers support it, as a
// std::string_view through a transparent Hash and KeyEqual. Counts the calling thread's
// operator new. Compiles against this tree's headers and against those before heterogeneous
// lookup (commit 20bdd21), which had no <singleflight/libcds.hpp>; results/memory/ has both runs.
// Built as sf-string-key-allocations; tests/allocation_test.cpp checks the same figures.
#include <singleflight/singleflight.hpp>
#if __has_include(<singleflight/libcds.hpp>)
#include <singleflight/baselines.hpp>
#define NEW 1
#else
#define NEW 0
#endif
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
thread_local long here = 0;  // this thread's calls to operator new
// g++ 12 takes free() inside a replaced operator delete for a mismatch with operator new.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  ++here;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
struct sh { using is_transparent = void; std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); } };
template <class G, class K> void measure(const char* name, bool transparent) {
  G g;
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) { char b[32]; std::snprintf(b, sizeof b, "the key of flight %07d", i); keys.emplace_back(b); }
  for (int i = 0; i < 1000; ++i) (void)g.call(K(keys[i].c_str()), [] { return 0; });
  long before = here;
  for (int i = 1000; i < 3000; ++i) (void)g.call(K(keys[i].c_str()), [] { return 0; });
  double lone = double(here - before) / 2000;
  // follower: hold a leader, measure a follower's call on another thread
  std::atomic<bool> running{false}, release{false};
  std::string hk = "a held key, 25 characters";
  std::thread leader([&] { (void)g.call(K(hk.c_str()), [&] { running = true; running.notify_all(); release.wait(false); return 1; }); });
  running.wait(false);
  long fol = -1; bool led = true;
  std::thread follower([&] { (void)g.call(K("warm this thread up, long key"), [] { return 0; }); long b = here; led = g.call(K(hk.c_str()), [] { return 2; }).leader(); fol = here - b; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release = true; release.notify_all();
  leader.join(); follower.join();
  std::printf("%-14s key as %-16s lone call %.2f allocations, follower %ld%s\n", name, transparent ? "std::string_view" : "const char*", lone, fol, led ? " (led: not a follower)" : "");
}
int main() {
#if NEW
  measure<singleflight::group<std::string, int, sh, std::equal_to<>>, std::string_view>("group", true);
  measure<singleflight::mutex_group<std::string, int, sh, std::equal_to<>>, std::string_view>("mutex_group", true);
  measure<singleflight::sharded_group<std::string, int, sh, std::equal_to<>>, std::string_view>("sharded_group", true);
#endif
  measure<singleflight::group<std::string, int>, const char*>("group", false);
  measure<singleflight::mutex_group<std::string, int>, const char*>("mutex_group", false);
  measure<singleflight::sharded_group<std::string, int>, const char*>("sharded_group", false);
}
