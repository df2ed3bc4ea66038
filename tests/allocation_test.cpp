// Heap allocations: a flight costs its record (plus, for the baselines, the map node) and a
// follower costs nothing, however many join. Counted by replacing the global operator new for
// this test binary only, with a per-thread counter, so each thread sees just its own allocations.
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "test_support.hpp"

namespace {
thread_local long allocations_here = 0;  // this thread's calls to operator new
}

// g++ 12 takes free() inside a replaced operator delete for a mismatch with operator new.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  ++allocations_here;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace sftest {
namespace {

template <class Impl>
class allocation : public ::testing::Test {};
TYPED_TEST_SUITE(allocation, implementations);

// The most allocations a lone flight may need: group allocates its record at most (a thread
// reuses the record blocks its own reclamation frees, so it usually allocates nothing); the mutex
// baselines allocate a record and a std::unordered_map node, every time.
template <class Impl>
constexpr long allocations_per_flight = 1;
template <>
constexpr long allocations_per_flight<impl::mutex_group> = 2;
template <>
constexpr long allocations_per_flight<impl::sharded_group> = 2;
template <class Impl>
constexpr bool reuses_records = allocations_per_flight<Impl> == 1;

// Counts the calling thread's allocations while `body` runs.
template <class Body>
long allocations_during(Body body) {
  const long before = allocations_here;
  body();
  return allocations_here - before;
}

TYPED_TEST(allocation, a_lone_flight_allocates_at_most_its_record) {
  constexpr int kFlights = 20'000;
  group_for<TypeParam, int, int> g;
  (void)g.call(-1, [] { return 0; });  // first use: attaches this thread to the reclamation
  const long n = allocations_during([&] {
    for (int i = 0; i < kFlights; ++i) (void)g.call(i, [i] { return i; });
  });
  // libcds's DHP reclamation allocates a small scan buffer about once per 256 records it
  // reclaims; allow for that and nothing else.
  const long most = allocations_per_flight<TypeParam> * kFlights;
  EXPECT_LE(n, most + kFlights / 100) << "per flight: " << static_cast<double>(n) / kFlights;
  if constexpr (!reuses_records<TypeParam>) {
    EXPECT_GE(n, most);
  }
}

TYPED_TEST(allocation, followers_allocate_nothing) {
  constexpr int kFollowers = 16;
  group_for<TypeParam, int, int> g;
  gate release, leader_running;
  std::atomic<int> joined{0};

  std::vector<std::jthread> followers;
  std::atomic<int> allocating_followers{0};
  arrivals arrived;
  for (int t = 0; t < kFollowers; ++t) {
    followers.emplace_back([&, t] {
      (void)g.call(1000 + t, [] { return 0; });  // attach this thread before counting
      leader_running.wait();
      arrived.arrive();
      long n = 0;
      bool led = false;
      n = allocations_during([&] {
        const auto r = g.call(1, [] { return 2; });
        led = r.leader();
      });
      if (led) return;  // came after the held flight ended and led one of its own
      ++joined;
      if (n != 0) ++allocating_followers;
    });
  }
  {
    held_leader<int> leader(g, 1, release, [] { return 1; });
    leader_running.open();
    arrived.wait_for(kFollowers);
    grace_period();
    leader.finish();
  }
  followers.clear();
  ASSERT_GT(joined.load(), 0) << "no follower joined: nothing was measured";
  EXPECT_EQ(allocating_followers.load(), 0) << "of " << joined.load() << " followers";
}

}  // namespace
}  // namespace sftest
