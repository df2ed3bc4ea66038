// Shared by the unit tests: the implementations every typed test runs against, and a few small
// tools for starting threads together (run_together, pile_up_callers), holding a leader inside
// fn (held_leader), instrumenting values (census, tracked), and checking what the callers of each
// flight saw (flight_log).
//
// How the tests synchronize. Whether a caller has *joined* a flight is invisible from outside the
// library, so no test assumes it. A test that wants followers holds its leader inside fn until
// every caller has announced that it is about to call, and a short grace period more
// (pile_up_callers); every assertion must still hold if a caller came late and led a flight of
// its own. That is why callers report what they saw to a `flight_log`, which checks the
// invariants flight by flight instead of assuming a single flight. Sleeps never decide
// correctness: the grace period only makes the interesting interleaving likely, and `patience`
// only turns a hang into a failure message.
#pragma once

#include <gtest/gtest.h>
#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#include <singleflight/singleflight.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sftest {

// ---- the implementations under test ---------------------------------------------------------

// One tag per implementation, named after it, so that test names read
// `call.lone_caller_is_leader_and_not_shared<sftest::impl::mutex_group>` in ctest and
// "TypeParam = sftest::impl::mutex_group" in gtest's own output. (A gtest name generator would
// read better in gtest, but CMake 3.25's test discovery only parses numbered typed suites.)
namespace impl {

struct group {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
  using type = singleflight::group<K, V, H, E>;
  static constexpr const char* reported_as = "singleflight::group";  // in lifetime reports
};

struct group_michael_dhp {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
  using type = singleflight::group<K, V, H, E, singleflight::tables::michael_dhp>;
  static constexpr const char* reported_as = "singleflight::group";  // in lifetime reports
};

struct group_michael_hp {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
  using type = singleflight::group<K, V, H, E, singleflight::tables::michael_hp>;
  static constexpr const char* reported_as = "singleflight::group";  // in lifetime reports
};

struct mutex_group {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
  using type = singleflight::mutex_group<K, V, H, E>;
  static constexpr const char* reported_as = "singleflight::mutex_group";  // in lifetime reports
};

struct sharded_group {
  template <class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
  using type = singleflight::sharded_group<K, V, H, E>;
  static constexpr const char* reported_as = "singleflight::sharded_group";  // in lifetime reports
};

}  // namespace impl

// Every implementation, or with SFTEST_ONE_LIBCDS_GC (CMake's SINGLEFLIGHT_TEST_ONE_LIBCDS_GC, set
// by the sanitizer stages of scripts/test.sh) group on libcds's table with one of its two
// garbage collectors: michael_hp and michael_dhp share every line of the adapter and differ only
// inside libcds; leaving one out drops a fifth of the typed tests from each sanitizer build.
#if defined(SFTEST_ONE_LIBCDS_GC)
using implementations =
    ::testing::Types<impl::group, impl::group_michael_dhp, impl::mutex_group, impl::sharded_group>;
#else
using implementations =
    ::testing::Types<impl::group, impl::group_michael_dhp, impl::group_michael_hp, impl::mutex_group,
                     impl::sharded_group>;
#endif

// The group type of implementation `Impl` for the given key and value.
template <class Impl, class K, class V, class H = std::hash<K>, class E = std::equal_to<K>>
using group_for = typename Impl::template type<K, V, H, E>;

// A hash that takes any string-like key, so that a group of std::string keys (with
// std::equal_to<>) looks up by std::string_view or a literal without making a std::string.
struct transparent_string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// ---- time bounds ------------------------------------------------------------------------------

// Lets threads that announced an imminent call reach the group. Only makes the interesting
// interleaving likely; no assertion depends on it.
inline void grace_period() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

// How long a test waits for something that must happen before it calls it a hang. A liveness
// bound, not a performance expectation: it only turns a deadlock into a failure message.
inline constexpr std::chrono::seconds patience{10};

// ---- synchronization --------------------------------------------------------------------------

// A one-shot signal. A leader's fn waits on a gate the test opens; a thread opens a gate to say it
// got somewhere. Opening twice is harmless.
class gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

  // Waits at most `patience`; false if the gate is still closed.
  [[nodiscard]] bool wait_patiently() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, patience, [this] { return open_; });
  }

  bool is_open() {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts threads that are about to call into a group, so that a test can wait until all of them
// are on their way.
class arrivals {
 public:
  void arrive() {
    n_.fetch_add(1);
    n_.notify_all();
  }

  void wait_for(int n) {
    for (int seen = n_.load(); seen < n; seen = n_.load()) n_.wait(seen);
  }

 private:
  std::atomic<int> n_{0};
};

// Runs body(0) … body(n-1) on n threads released at the same moment; returns once all finished.
template <class Body>
void run_together(int n, Body body) {
  std::latch start(n);
  std::vector<std::jthread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
}

// The usual way to get followers: runs caller(i) on n threads at once, each announcing itself
// just before it calls, and opens `release` (what the leader's fn waits on) once all n have
// announced and a grace period has passed. Returns when every caller has returned.
template <class Caller>
void pile_up_callers(int n, gate& release, Caller caller) {
  arrivals arrived;
  std::jthread opener([&] {
    arrived.wait_for(n);
    grace_period();
    release.open();
  });
  run_together(n, [&](int i) {
    arrived.arrive();
    caller(i);
  });
}

// A leader on a thread of its own, held inside fn until `release` opens; fn then returns then().
// The constructor returns once fn is running, so the flight is registered from then on. The
// destructor opens `release`, so that a failing test cannot hang on a held leader.
template <class Value>
class held_leader {
 public:
  template <class Group, class Key, class Then>
  held_leader(Group& g, Key key, gate& release, Then then)
      : release_(release), thread_([this, &g, key, then] {
          result_.emplace(g.call(key, [&] {
            running_.open();
            release_.wait();
            return then();
          }));
        }) {
    running_.wait();
  }
  held_leader(const held_leader&) = delete;
  held_leader& operator=(const held_leader&) = delete;
  ~held_leader() { release_.open(); }

  // Releases the leader, if the test has not yet, and returns its result once its call returned.
  const singleflight::result<Value>& finish() {
    release_.open();
    if (thread_.joinable()) thread_.join();
    return *result_;
  }

 private:
  gate& release_;
  gate running_;
  std::optional<singleflight::result<Value>> result_;
  std::jthread thread_;  // last: starts after the members above exist, and is joined before they go
};

// A fresh std::stop_source, built out of line: g++ 12 with sanitizers at -O1 wrongly warns that
// a stop_source may be used uninitialized when its constructor is inlined into a test body
// (-Wmaybe-uninitialized on `_M_state(*this)` in <stop_token>).
[[gnu::noinline]] inline std::stop_source new_stop_source() { return std::stop_source(); }

// ---- instrumentation --------------------------------------------------------------------------

// Counts the live objects of an instrumented type. Each test owns its census, so counts never leak
// from one test into another.
struct census {
  std::atomic<int> objects{0};  // every live instance, moved-from ones included
  std::atomic<int> values{0};   // live instances that hold a value (not moved-from)
};

// A Value that is move-only and not default-constructible, reporting to a census.
class tracked {
 public:
  tracked(census& c, int n) : census_(&c), n_(n) {
    ++census_->objects;
    ++census_->values;
  }
  tracked(tracked&& other) noexcept
      : census_(other.census_),
        n_(other.n_),
        holds_value_(std::exchange(other.holds_value_, false)) {
    ++census_->objects;  // the value itself moved along: `values` is unchanged
  }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  tracked& operator=(tracked&&) = delete;
  ~tracked() {
    --census_->objects;
    if (holds_value_) --census_->values;
  }

  int get() const { return n_; }
  census& owner() const { return *census_; }

 private:
  census* census_;
  int n_;
  bool holds_value_ = true;
};

// Detects overlapping executions of fn (S1): fn holds an `inside` for its whole run.
class overlap_detector {
 public:
  class inside {
   public:
    explicit inside(overlap_detector& d) : d_(d) {
      if (d_.running_.fetch_add(1) != 0) d_.overlapped_ = true;
    }
    ~inside() { d_.running_.fetch_sub(1); }
    inside(const inside&) = delete;
    inside& operator=(const inside&) = delete;

   private:
    overlap_detector& d_;
  };

  [[nodiscard]] inside enter() { return inside(*this); }
  bool overlapped() const { return overlapped_; }

 private:
  std::atomic<int> running_{0};
  std::atomic<bool> overlapped_{false};
};

// ---- per-flight checks (S3, S4) ---------------------------------------------------------------

// What one caller saw.
struct sighting {
  long flight;                 // an id the flight's fn produced; equal ids mean the same flight
  bool leader;                 // this caller ran fn
  std::optional<bool> shared;  // result::shared(); unknown when the call threw
  const void* object;          // the value or exception object this caller received
};

template <class Value>
sighting sighting_of(const singleflight::result<Value>& r, long flight) {
  return {flight, r.leader(), r.shared(), &r.value()};
}

// Collects sightings from many threads, then checks the contract flight by flight.
class flight_log {
 public:
  void add(const sighting& s) {
    std::lock_guard lock(mu_);
    sightings_.push_back(s);
  }

  // For every flight: exactly one leader (S4); every caller received the same object (S3);
  // shared() is true exactly when the flight had more than one caller (S4).
  void expect_consistent() const {
    std::lock_guard lock(mu_);
    for (const auto& [flight, seen] : by_flight()) {
      int leaders = 0;
      for (const sighting* s : seen) {
        leaders += s->leader ? 1 : 0;
        EXPECT_EQ(s->object, seen.front()->object)
            << "flight " << flight << ": callers received different objects";
        if (s->shared) {
          EXPECT_EQ(*s->shared, seen.size() > 1)
              << "flight " << flight << " had " << seen.size() << " caller(s)";
        }
      }
      EXPECT_EQ(leaders, 1) << "flight " << flight << " had " << seen.size() << " caller(s)";
    }
  }

  // Distinct flights received distinct objects. Holds only while every caller still holds its
  // result, since a freed value's memory may be reused.
  void expect_distinct_objects() const {
    std::lock_guard lock(mu_);
    std::map<const void*, long> owner;
    for (const auto& [flight, seen] : by_flight()) {
      const auto [it, fresh] = owner.emplace(seen.front()->object, flight);
      EXPECT_TRUE(fresh) << "flights " << it->second << " and " << flight << " share an object";
    }
  }

  std::size_t callers() const {
    std::lock_guard lock(mu_);
    return sightings_.size();
  }

  std::size_t flights() const {
    std::lock_guard lock(mu_);
    return by_flight().size();
  }

 private:
  std::map<long, std::vector<const sighting*>> by_flight() const {
    std::map<long, std::vector<const sighting*>> flights;
    for (const sighting& s : sightings_) flights[s.flight].push_back(&s);
    return flights;
  }

  mutable std::mutex mu_;
  std::vector<sighting> sightings_;
};

// ---- a stress body shared by the coalescing and independence tests ---------------------------

// What fn returns in hammer_keys(): which flight it was, and for which key.
struct flight_value {
  long flight;
  int key;
};

// Raises `latest` to at least `v`.
inline void raise_to(std::atomic<long>& latest, long v) {
  long seen = latest.load();
  while (seen < v && !latest.compare_exchange_weak(seen, v)) {
  }
}

// 64 threads call keys 0 … kKeys-1 in turn with no pacing at all, and every caller keeps its
// result so that value objects stay distinct. Checked exactly, whatever the interleaving:
//   S1  fn never overlaps itself for one key, and each caller gets a flight of its own key (which
//       matters most when Hash makes keys collide).
//   S2  a caller never gets a flight whose leader had returned before the call began. For one
//       key, flights follow each other (S1) and flight ids grow with time, so the flight a caller
//       gets must be newer than every flight already over when it called.
//   S3, S4 flight by flight, through flight_log.
template <class Impl, int kKeys, class Hash = std::hash<int>>
void hammer_keys() {
  constexpr int kThreads = 64;
  constexpr int kCallsPerThread = 100;
  group_for<Impl, int, flight_value, Hash> g;
  std::atomic<long> flights{0};
  std::array<overlap_detector, kKeys> fn_running;
  std::array<std::atomic<long>, kKeys> latest_over{};  // per key: newest flight whose leader ended
  flight_log log;
  std::mutex kept_mu;
  std::vector<singleflight::result<flight_value>> kept;

  run_together(kThreads, [&](int t) {
    std::vector<singleflight::result<flight_value>> mine;
    for (int i = 0; i < kCallsPerThread; ++i) {
      const int key = (t + i) % kKeys;
      const long over_before_call = latest_over[key].load();
      auto r = g.call(key, [&] {
        const auto inside = fn_running[key].enter();
        std::this_thread::yield();  // give other callers a chance to join
        return flight_value{++flights, key};
      });
      EXPECT_EQ(r->key, key) << "S1: a caller got another key's flight";
      EXPECT_GT(r->flight, over_before_call) << "S2: got a flight that had ended before the call";
      if (r.leader()) raise_to(latest_over[key], r->flight);
      log.add(sighting_of(r, r->flight));
      mine.push_back(std::move(r));
    }
    std::lock_guard lock(kept_mu);
    for (auto& r : mine) kept.push_back(std::move(r));
  });

  for (int key = 0; key < kKeys; ++key) {
    EXPECT_FALSE(fn_running[key].overlapped()) << "S1: fn overlapped itself for key " << key;
  }
  log.expect_consistent();
  log.expect_distinct_objects();
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(kThreads * kCallsPerThread));
  EXPECT_EQ(log.flights(), static_cast<std::size_t>(flights.load()))
      << "every execution of fn served exactly one flight";
}

}  // namespace sftest
