// sf-bench: every implementation side by side in one binary, so that ratios come from one run on
// one machine. bench/run runs it (with Go's package beside it) and writes results/bench/.
//
// Names: <scenario>/<implementation>[/<argument>:<value>]/real_time[/threads:<n>], e.g.
// `distinct_noop/group/real_time/threads:2` or `hot_key/mutex_group/fn_ns:1000/real_time/threads:8`.
// Throughput is items_per_second: calls (or operations) of all threads together per second of
// wall-clock time. Every timing is wall-clock (UseRealTime), as Go's are.
//
// Implementations: group (the project's own table, tables::slots: the default),
// group_michael_dhp and group_michael_hp (libcds's Michael set, the selectable alternative),
// mutex_group and sharded_group run every scenario but wake_latency, which runs group,
// mutex_group and sharded_group (waking is the protocol's, the same for every table). The table
// ablation, group_<table> for the other libcds containers of libcds_ablation_tables.hpp, runs
// where the table is what is exercised: distinct_noop, and zipf without work.
//
// Scenarios, and what each timing includes:
//   distinct_noop  a no-op fn on keys no other call uses (each thread its own keys): register,
//                  run, remove, return — the cost of the machinery itself. 1, 2 and 8 threads
//                  (8 oversubscribes a 2-core machine).
//   floor          the least a flight must do on the same keys: hash the key, register a record
//                  in a shared slot array (one CAS), remove it (one CAS), close it (one RMW on its
//                  state word). No allocation, reclamation, outcome or waiting. The yardstick for
//                  distinct_noop: "group costs k floors".
//   hot_key        every thread calls one key; fn busy-waits 0, 1 µs or 100 µs; 2 to 64 threads.
//                  Calls per second, leaders and followers alike.
//   zipf           keys drawn from Zipf(0.99) over 100,000 keys (precomputed draws; each thread
//                  walks them from its own offset); fn busy-waits 0 or 1 µs.
//   forget_mix     the zipf draws with fn of 1 µs, where a stated percentage of operations is
//                  forget(key) instead of call(key); items are operations of both kinds.
//   wake_latency   one leader and N parked followers: the time from the leader's publication to
//                  each follower's return (counters; the iteration time is a whole round and means
//                  nothing). Beside it atomic_wait_floor, the same rig with a bare
//                  atomic<uint32_t>::wait / notify_all: the floor for parking and waking.
//
// Counters (per call, summed over all threads of a run, then divided):
//   allocs_per_leader_call, allocs_per_follower_call   heap allocations (instrument.hpp) made
//                                                      during calls of that role
//   allocs_per_flight                                  all of them, per flight (see
//                                                      finish_thread for why the two differ)
//   alloc_bytes_per_call                               bytes requested (distinct_noop: one
//                                                      flight's record plus whatever its table
//                                                      allocates for it)
//   futex_per_call, futex_per_lone_call                futex syscalls made through syscall()
//                                                      (libstdc++'s wait/notify; not glibc's
//                                                      mutex, see instrument.hpp); a lone call is
//                                                      one no follower joined (!shared())
//   shared_fraction                                    calls whose flight had company
//   bytes_per_record                                   sizeof the implementation's flight record
//   wake_ns_mean, wake_ns_p50, wake_ns_p90, late_fraction   (wake_latency, atomic_wait_floor)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#include <singleflight/singleflight.hpp>

#include "libcds_ablation_tables.hpp"

#include "instrument.hpp"

namespace sfbench {
namespace {

using key_type = std::uint64_t;
using value_type = std::uint64_t;
using hasher = std::hash<key_type>;
using key_equal = std::equal_to<key_type>;

// ---- implementations ---------------------------------------------------------------------------

template <template <class, class, class, class> class Table>
struct lock_free {
  using type = singleflight::group<key_type, value_type, hasher, key_equal, Table>;
  // The record the table allocates per flight: flight core, key, hash and the container's links.
  static constexpr std::size_t record_bytes =
      sizeof(typename Table<key_type, value_type, hasher, key_equal>::record);
};

struct group_default : lock_free<singleflight::tables::slots> {
  static constexpr const char* name = "group";
};
struct group_michael_dhp : lock_free<singleflight::tables::michael_dhp> {
  static constexpr const char* name = "group_michael_dhp";
};
struct group_michael_hp : lock_free<singleflight::tables::michael_hp> {
  static constexpr const char* name = "group_michael_hp";
};
struct mutex_baseline {
  static constexpr const char* name = "mutex_group";
  using type = singleflight::mutex_group<key_type, value_type>;
  // Its record adds no field to the flight core; the map node (key and pointer) is a second
  // allocation, visible in alloc_bytes_per_call.
  static constexpr std::size_t record_bytes = sizeof(singleflight::detail::flight<value_type>);
};
struct sharded_baseline : mutex_baseline {
  static constexpr const char* name = "sharded_group";
  using type = singleflight::sharded_group<key_type, value_type>;
};

struct group_iterable_dhp : lock_free<ablation::iterable_dhp> {
  static constexpr const char* name = "group_iterable_dhp";
};
struct group_iterable_hp : lock_free<ablation::iterable_hp> {
  static constexpr const char* name = "group_iterable_hp";
};
struct group_splitlist_dhp : lock_free<ablation::splitlist_dhp> {
  static constexpr const char* name = "group_splitlist_dhp";
};
struct group_splitlist_hp : lock_free<ablation::splitlist_hp> {
  static constexpr const char* name = "group_splitlist_hp";
};

template <class... Impls>
struct impl_list {
  template <class F>
  static void for_each(F&& f) {
    (f.template operator()<Impls>(), ...);
  }
};

// Every scenario.
using main_impls =
    impl_list<group_default, group_michael_dhp, group_michael_hp, mutex_baseline, sharded_baseline>;
// The other libcds tables behind the same group, on the scenarios that exercise the table
// (distinct_noop, zipf without work), beside group, group_michael_dhp and group_michael_hp.
using ablation_impls = impl_list<group_iterable_dhp, group_iterable_hp, group_splitlist_dhp,
                                 group_splitlist_hp>;
// Waking is the protocol's, shared by every table; the HP variant adds nothing there.
using wake_impls = impl_list<group_default, mutex_baseline, sharded_baseline>;

// ---- keys and work -----------------------------------------------------------------------------

// A bijection on 64-bit integers (the splitmix64 finalizer): distinct inputs stay distinct, and
// neighbouring inputs land in unrelated buckets, as real keys' hashes would (std::hash of an
// integer is the identity).
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// The i-th key of thread t in distinct_noop and floor: no two threads, and no two calls, share
// one (t < 256).
constexpr key_type distinct_key(int t, std::uint64_t i) noexcept {
  return mix((i << 8) | static_cast<std::uint64_t>(t));
}

// A key no scenario uses, for one call per thread before timing: attaches the thread to libcds's
// reclamation and lets its first-call allocations fall outside the counted loop.
constexpr key_type warm_up_key(int t) noexcept { return mix(~static_cast<std::uint64_t>(t)); }

template <class G>
void warm_up(G& g, int t) {
  (void)g.call(warm_up_key(t), [] { return value_type{0}; });
}

constexpr key_type kHotKey = 42;

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// fn's work: a busy-wait, so that it occupies a core as computation would (a sleeping fn would
// measure the timer's slack instead).
void busy_for(std::uint64_t ns) noexcept {
  if (ns == 0) return;
  const std::uint64_t end = now_ns() + ns;
  while (now_ns() < end) {
  }
}

// Zipf(0.99) over 100,000 keys: kZipfDraws draws, made once before any benchmark runs, so that
// drawing costs a load in the timed loop. Rank r (1 = hottest) becomes key mix(r).
constexpr std::size_t kZipfKeys = 100'000;
constexpr double kZipfExponent = 0.99;
constexpr std::size_t kZipfDraws = std::size_t{1} << 20;

const std::vector<key_type>& zipf_draws() {
  static const std::vector<key_type> draws = [] {
    std::vector<double> cdf(kZipfKeys);
    double sum = 0;
    for (std::size_t r = 1; r <= kZipfKeys; ++r) {
      sum += 1.0 / std::pow(static_cast<double>(r), kZipfExponent);
      cdf[r - 1] = sum;
    }
    std::mt19937_64 rng(20240601);
    std::uniform_real_distribution<double> u(0.0, sum);
    std::vector<key_type> out(kZipfDraws);
    for (key_type& k : out) {
      const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin() + 1;
      k = mix(static_cast<std::uint64_t>(rank));
    }
    return out;
  }();
  return draws;
}

// Where thread t starts walking the draws: far apart, so threads do not move in lockstep.
std::size_t zipf_start(int t) noexcept {
  return (static_cast<std::size_t>(t) * 0x9E3779B9u) & (kZipfDraws - 1);
}

// forget_mix: draw i says "forget" when forget_draws()[i] < percentage; uniform over 0..99.
const std::vector<std::uint8_t>& forget_draws() {
  static const std::vector<std::uint8_t> draws = [] {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int> d(0, 99);
    std::vector<std::uint8_t> out(kZipfDraws);
    for (std::uint8_t& x : out) x = static_cast<std::uint8_t>(d(rng));
    return out;
  }();
  return draws;
}

// ---- counts of a run ---------------------------------------------------------------------------

// One thread's counts over its timed loop.
struct loop_tally {
  long calls = 0, leader_calls = 0, follower_calls = 0, lone_calls = 0;
  long leader_allocs = 0, follower_allocs = 0, alloc_bytes = 0;
  long futex = 0, lone_futex = 0;

  // One call, with its allocations and futex syscalls (this thread's, which are all a call
  // makes) charged to the caller's role. Costs six thread-local reads per call, the same for
  // every implementation.
  template <class G, class F>
  void call(G& g, key_type k, F&& fn) {
    const long a0 = tally.allocs;
    const long b0 = tally.alloc_bytes;
    const long f0 = tally.futex_calls;
    auto r = g.call(k, std::forward<F>(fn));
    const long da = tally.allocs - a0;
    const long db = tally.alloc_bytes - b0;
    const long df = tally.futex_calls - f0;
    benchmark::DoNotOptimize(r.value());
    ++calls;
    alloc_bytes += db;
    futex += df;
    if (r.leader()) {
      ++leader_calls;
      leader_allocs += da;
    } else {
      ++follower_calls;
      follower_allocs += da;
    }
    if (!r.shared()) {
      ++lone_calls;
      lone_futex += df;
    }
  }
};

// The counts of one run, summed over its threads. clear_totals (from the run's Setup) runs in
// the main thread before the run's threads are started, which orders its stores before their
// loads; each thread adds its own counts after its timed loop, and the last one to finish turns
// the sums into counters.
struct run_totals {
  std::atomic<long> calls, leader_calls, follower_calls, lone_calls;
  std::atomic<long> leader_allocs, follower_allocs, alloc_bytes, futex, lone_futex;
  std::atomic<int> finished;
};
run_totals totals;

void clear_totals(const benchmark::State&) {
  // Relaxed: see run_totals; thread creation orders these stores before every reader.
  for (std::atomic<long>* c : {&totals.calls, &totals.leader_calls, &totals.follower_calls,
                               &totals.lone_calls, &totals.leader_allocs, &totals.follower_allocs,
                               &totals.alloc_bytes, &totals.futex, &totals.lone_futex}) {
    c->store(0, std::memory_order_relaxed);
  }
  totals.finished.store(0, std::memory_order_relaxed);
}

void set_ratio(benchmark::State& state, const char* name, long num, long den) {
  if (den > 0) state.counters[name] = static_cast<double>(num) / static_cast<double>(den);
}

// Adds this thread's counts to the run's; the last thread of the run sets the counters (Google
// Benchmark sums counters over threads, and the other threads set none).
void finish_thread(benchmark::State& state, const loop_tally& t, std::size_t record_bytes) {
  const std::pair<std::atomic<long>*, long> adds[] = {
      {&totals.calls, t.calls},
      {&totals.leader_calls, t.leader_calls},
      {&totals.follower_calls, t.follower_calls},
      {&totals.lone_calls, t.lone_calls},
      {&totals.leader_allocs, t.leader_allocs},
      {&totals.follower_allocs, t.follower_allocs},
      {&totals.alloc_bytes, t.alloc_bytes},
      {&totals.futex, t.futex},
      {&totals.lone_futex, t.lone_futex}};
  // Relaxed: the acq_rel increment of `finished` below orders them before the last thread reads.
  for (const auto& [sum, n] : adds) sum->fetch_add(n, std::memory_order_relaxed);
  // acq_rel: the release half publishes this thread's additions above; the acquire half, in the
  // last thread to arrive, makes every other thread's additions visible to its reads below.
  if (totals.finished.fetch_add(1, std::memory_order_acq_rel) + 1 != state.threads()) return;

  auto get = [](const std::atomic<long>& c) { return c.load(std::memory_order_relaxed); };
  const long calls = get(totals.calls);
  set_ratio(state, "allocs_per_leader_call", get(totals.leader_allocs), get(totals.leader_calls));
  set_ratio(state, "allocs_per_follower_call", get(totals.follower_allocs),
            get(totals.follower_calls));
  // Every allocation of the run, per flight. It differs from the per-leader figure in group,
  // where a caller that lost the race to register keeps the block it allocated for its thread's
  // next flight (record_pool.hpp): that call may end as a follower, and the flight that uses the block
  // allocates nothing.
  set_ratio(state, "allocs_per_flight", get(totals.leader_allocs) + get(totals.follower_allocs),
            get(totals.leader_calls));
  set_ratio(state, "alloc_bytes_per_call", get(totals.alloc_bytes), calls);
  set_ratio(state, "futex_per_call", get(totals.futex), calls);
  set_ratio(state, "futex_per_lone_call", get(totals.lone_futex), get(totals.lone_calls));
  set_ratio(state, "shared_fraction", calls - get(totals.lone_calls), calls);
  state.counters["bytes_per_record"] = static_cast<double>(record_bytes);
}

// ---- scenarios ---------------------------------------------------------------------------------
// The group that a run's threads share. The run's Setup makes it in the main thread before the
// run's threads start, and its Teardown destroys it after they have joined, so that every run
// (each calibration step and each repetition) starts from an empty table: a table that keeps
// state across runs (IterableList's emptied nodes, a split-ordered list's grown bucket array)
// would otherwise make each measurement depend on the ones before it.
template <class Impl>
typename Impl::type* run_group = nullptr;

template <class Impl>
void make_run_group(const benchmark::State& state) {
  clear_totals(state);
  run_group<Impl> = new typename Impl::type();
}

template <class Impl>
void drop_run_group(const benchmark::State&) {
  delete std::exchange(run_group<Impl>, nullptr);
}


template <class Impl>
void distinct_noop(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const int t = state.thread_index();
  warm_up(g, t);
  std::uint64_t i = 0;
  const thread_tally before = tally;
  for (auto _ : state) {
    const key_type k = distinct_key(t, i++);
    auto r = g.call(k, [k] { return k; });
    benchmark::DoNotOptimize(r.value());
  }
  // Every call here is a lone flight's leader: nobody else ever uses its key. So the counts need
  // no per-call reads, which keeps this loop exactly what is being measured.
  loop_tally lt;
  lt.calls = lt.leader_calls = lt.lone_calls = static_cast<long>(state.iterations());
  lt.leader_allocs = tally.allocs - before.allocs;
  lt.alloc_bytes = tally.alloc_bytes - before.alloc_bytes;
  lt.futex = lt.lone_futex = tally.futex_calls - before.futex_calls;
  state.SetItemsProcessed(state.iterations());
  finish_thread(state, lt, Impl::record_bytes);
}

// distinct_string_view: distinct_noop with std::string keys of 25 characters, passed as a
// std::string_view through a transparent Hash and KeyEqual, so that each lone flight makes one
// std::string (its record's key) and nothing else. Each thread cycles through 4,096 keys of its
// own; a key is reused only long after its flight ended.
struct string_view_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <template <class, class, class, class> class Group>
using string_group = Group<std::string, value_type, string_view_hash, std::equal_to<>>;
template <class K, class V, class H, class E>
using group_on_slots = singleflight::group<K, V, H, E>;
template <class K, class V, class H, class E>
using group_on_michael_dhp = singleflight::group<K, V, H, E, singleflight::tables::michael_dhp>;

template <class G>
void distinct_string_view(benchmark::State& state) {
  static G* g = nullptr;
  if (state.thread_index() == 0) g = new G();
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "thread %03d, the key %06d", state.thread_index(), i);
    keys.emplace_back(buf);  // 25 characters: beyond any small-string buffer
  }
  // Google Benchmark starts the timed loops of all threads together, after thread 0 made the group.
  std::uint64_t i = 0;
  for (auto _ : state) {
    const std::string_view k = keys[i++ & 4095];
    auto r = g->call(k, [] { return value_type{1}; });
    benchmark::DoNotOptimize(r.value());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["calls"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    // The timed loops of every thread have ended when thread 0 leaves its own (Google Benchmark
    // joins them at the loop's end), so the group can go.
    delete std::exchange(g, nullptr);
  }
}

template <class Impl>
void hot_key(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const auto fn_ns = static_cast<std::uint64_t>(state.range(0));
  warm_up(g, state.thread_index());
  loop_tally lt;
  for (auto _ : state) {
    lt.call(g, kHotKey, [fn_ns] {
      busy_for(fn_ns);
      return value_type{7};
    });
  }
  state.SetItemsProcessed(state.iterations());
  finish_thread(state, lt, Impl::record_bytes);
}

template <class Impl>
void zipf(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const auto fn_ns = static_cast<std::uint64_t>(state.range(0));
  const std::vector<key_type>& keys = zipf_draws();
  std::size_t pos = zipf_start(state.thread_index());
  warm_up(g, state.thread_index());
  loop_tally lt;
  for (auto _ : state) {
    const key_type k = keys[pos++ & (kZipfDraws - 1)];
    lt.call(g, k, [fn_ns, k] {
      busy_for(fn_ns);
      return k;
    });
  }
  state.SetItemsProcessed(state.iterations());
  finish_thread(state, lt, Impl::record_bytes);
}

constexpr std::uint64_t kForgetMixFnNs = 1000;

template <class Impl>
void forget_mix(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const auto percent = static_cast<std::uint8_t>(state.range(0));
  const std::vector<key_type>& keys = zipf_draws();
  const std::vector<std::uint8_t>& draws = forget_draws();
  std::size_t pos = zipf_start(state.thread_index());
  warm_up(g, state.thread_index());
  loop_tally lt;
  for (auto _ : state) {
    const std::size_t at = pos++ & (kZipfDraws - 1);
    const key_type k = keys[at];
    if (draws[at] < percent) {
      g.forget(k);
    } else {
      lt.call(g, k, [k] {
        busy_for(kForgetMixFnNs);
        return k;
      });
    }
  }
  state.SetItemsProcessed(state.iterations());
  finish_thread(state, lt, Impl::record_bytes);
}

// floor: see the header comment. Slots are a fixed array like a bucket array; a slot taken by
// another thread's record sends the key to the next slot (linear probing).
struct floor_record {
  std::atomic<std::uint32_t> state{0};
  key_type key = 0;
};
constexpr std::size_t kFloorSlots = 256;
std::atomic<floor_record*> floor_slots[kFloorSlots];

void floor_atomics(benchmark::State& state) {
  const int t = state.thread_index();
  floor_record rec;  // this thread's record, reused by every flight: no allocation
  std::uint64_t i = 0;
  for (auto _ : state) {
    const key_type k = distinct_key(t, i++);
    const std::size_t h = hasher{}(k);
    rec.key = k;
    rec.state.store(0, std::memory_order_relaxed);  // relaxed: published by the register CAS
    std::size_t s = h & (kFloorSlots - 1);
    floor_record* expected = nullptr;
    // Register. Release: publishes the record's key and state to a finder's acquire load, as a
    // real registration must (nobody looks here; on x86-64 every RMW costs the same whatever
    // its order, so the orders only keep the floor honest about what a flight needs).
    while (!floor_slots[s].compare_exchange_strong(expected, &rec, std::memory_order_release,
                                                   std::memory_order_relaxed)) {
      expected = nullptr;
      s = (s + 1) & (kFloorSlots - 1);
    }
    // Remove, by identity. Relaxed: in a flight the close that follows orders it.
    floor_record* self = &rec;
    floor_slots[s].compare_exchange_strong(self, nullptr, std::memory_order_relaxed);
    // Close. Release: would publish an outcome to followers' acquire loads (none join here).
    benchmark::DoNotOptimize(rec.state.fetch_or(1, std::memory_order_release));
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- wake latency ------------------------------------------------------------------------------
//
// A round: the driver (the benchmark's thread) leads a flight whose fn releases N waiter threads,
// sleeps until all N have announced that they are about to call, sleeps a grace period more so
// that they reach the flight and park, stamps the time and returns the stamp as the flight's
// value. Each waiter's call returns that value, and the waiter takes now - stamp. So a sample
// covers: the rest of the leader's call after fn (value construction, removal from the table,
// close, the notify_all syscall), the kernel waking the waiter and scheduling it, and the
// waiter's return through the library. atomic_wait_floor runs the same rounds with a bare
// atomic<uint32_t>: stamp, store, notify_all; its waiters call wait(). Its sample covers the
// store, the notify_all syscall, the wake-up and wait()'s return: the floor for parking.
//
// A waiter that announced but was not scheduled until after the publication is not parked at
// the stamp; it is counted in late_fraction and gives no sample. (In group, it finds no flight
// and leads one of its own, whose value 0 marks it; in the floor, it finds the flag already set.)

constexpr auto kWakeGrace = std::chrono::microseconds(200);
constexpr key_type kWakeKey = 1;

class wake_rig {
 public:
  // `start(w)` is what waiter w does once, before the first round; `wait_once(w, round)` what it
  // does in each round after announcing itself.
  template <class Start, class WaitOnce>
  wake_rig(int waiters, Start start, WaitOnce wait_once) : n_(static_cast<std::uint32_t>(waiters)) {
    threads_.reserve(n_);
    for (int w = 0; w < waiters; ++w) {
      threads_.emplace_back([this, w, start, wait_once] {
        start(w);
        std::uint32_t seen = 0;
        for (;;) {
          std::uint32_t r;
          // (W1) acquire: pairs with (D1); the round's cleared counters and the stop flag are
          // visible once the new round number is.
          while ((r = round_.load(std::memory_order_acquire)) == seen) {
            round_.wait(seen, std::memory_order_acquire);  // (W1)
          }
          seen = r;
          if (stopping_.load(std::memory_order_relaxed)) return;  // relaxed: ordered by (W1)
          // Relaxed: a count the driver only waits for; nothing is published with it.
          announced_.fetch_add(1, std::memory_order_relaxed);
          wait_once(w, r);
          // (W2) release: publishes this waiter's samples of the round; pairs with (D2).
          if (done_.fetch_add(1, std::memory_order_release) + 1 == n_) done_.notify_one();
        }
      });
    }
  }

  ~wake_rig() {
    stopping_.store(true, std::memory_order_relaxed);  // relaxed: published by (D1)
    release_round();
    for (std::thread& t : threads_) t.join();
  }

  wake_rig(const wake_rig&) = delete;
  wake_rig& operator=(const wake_rig&) = delete;

  // Driver: lets the waiters start the next round. Returns its number (1, 2, ...).
  std::uint32_t release_round() {
    announced_.store(0, std::memory_order_relaxed);  // relaxed: published by (D1)
    done_.store(0, std::memory_order_relaxed);       // relaxed: published by (D1)
    // (D1) release: pairs with (W1).
    const std::uint32_t r = round_.fetch_add(1, std::memory_order_release) + 1;
    round_.notify_all();
    return r;
  }

  // Driver: returns once every waiter announced itself, plus the grace period.
  void await_announcements() const {
    while (announced_.load(std::memory_order_relaxed) < n_) {  // relaxed: see above
      std::this_thread::sleep_for(std::chrono::microseconds(5));
    }
    std::this_thread::sleep_for(kWakeGrace);
  }

  // Driver: returns once every waiter finished the round.
  void await_round_end() {
    std::uint32_t d;
    // (D2) acquire: pairs with (W2); every waiter's samples of the round are visible.
    while ((d = done_.load(std::memory_order_acquire)) < n_) {
      done_.wait(d, std::memory_order_acquire);  // (D2)
    }
  }

 private:
  const std::uint32_t n_;
  std::atomic<std::uint32_t> round_{0};
  std::atomic<std::uint32_t> announced_{0};
  std::atomic<std::uint32_t> done_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

// Per-waiter samples, each vector written only by its waiter and read by the driver after the
// waiters are joined.
struct wake_samples {
  explicit wake_samples(int waiters) : ns(waiters), late(waiters, 0), calls(waiters, 0),
                                       allocs(waiters, 0), futex(waiters, 0) {}
  std::vector<std::vector<std::uint64_t>> ns;
  std::vector<long> late, calls, allocs, futex;

  void report(benchmark::State& state) const {
    std::vector<std::uint64_t> all;
    for (const auto& v : ns) all.insert(all.end(), v.begin(), v.end());
    long n_late = 0, n_calls = 0, n_allocs = 0, n_futex = 0;
    for (std::size_t w = 0; w < ns.size(); ++w) {
      n_late += late[w];
      n_calls += calls[w];
      n_allocs += allocs[w];
      n_futex += futex[w];
    }
    if (!all.empty()) {
      std::sort(all.begin(), all.end());
      double sum = 0;
      for (std::uint64_t x : all) sum += static_cast<double>(x);
      state.counters["wake_ns_mean"] = sum / static_cast<double>(all.size());
      state.counters["wake_ns_p50"] = static_cast<double>(all[all.size() / 2]);
      state.counters["wake_ns_p90"] = static_cast<double>(all[all.size() * 9 / 10]);
    }
    const auto samples = static_cast<long>(all.size());
    set_ratio(state, "late_fraction", n_late, samples + n_late);
    set_ratio(state, "allocs_per_follower_call", n_allocs, n_calls);
    set_ratio(state, "futex_per_follower_call", n_futex, n_calls);
  }
};

template <class Impl>
void wake_latency(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  typename Impl::type g;
  wake_samples s(n);
  {
    const auto start = [&g](int w) { warm_up(g, w + 1); };  // warm-up keys apart from the driver's
    wake_rig rig(n, start, [&g, &s](int w, std::uint32_t) {
      const long a0 = tally.allocs;
      const long f0 = tally.futex_calls;
      // A waiter that finds no flight leads its own; its value 0 marks it late.
      auto r = g.call(kWakeKey, [] { return value_type{0}; });
      const std::uint64_t t = now_ns();
      const long da = tally.allocs - a0;
      const long df = tally.futex_calls - f0;
      if (r.leader() || r.value() == 0) {
        ++s.late[w];
        return;
      }
      s.ns[w].push_back(t - r.value());
      ++s.calls[w];
      s.allocs[w] += da;
      s.futex[w] += df;
    });
    warm_up(g, 0);
    for (auto _ : state) {
      auto r = g.call(kWakeKey, [&rig] {
        rig.release_round();
        rig.await_announcements();
        return now_ns();
      });
      benchmark::DoNotOptimize(r.value());
      rig.await_round_end();
    }
  }  // joins the waiters
  s.report(state);
}

void atomic_wait_floor(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::atomic<std::uint32_t> flag{0};  // the number of the last round whose stamp is published
  std::atomic<std::uint64_t> stamp{0};
  wake_samples s(n);
  {
    wake_rig rig(n, [](int) {}, [&flag, &stamp, &s](int w, std::uint32_t round) {
      // (F2) acquire: pairs with (F1); the stamp of this round is visible once the flag is.
      if (flag.load(std::memory_order_acquire) == round) {
        ++s.late[w];
        return;
      }
      while (flag.load(std::memory_order_acquire) != round) {  // (F2)
        flag.wait(round - 1, std::memory_order_acquire);       // (F2)
      }
      const std::uint64_t t = now_ns();
      s.ns[w].push_back(t - stamp.load(std::memory_order_relaxed));  // relaxed: ordered by (F2)
    });
    for (auto _ : state) {
      const std::uint32_t round = rig.release_round();
      rig.await_announcements();
      stamp.store(now_ns(), std::memory_order_relaxed);  // relaxed: published by (F1)
      // (F1) release: publishes the stamp; pairs with (F2).
      flag.store(round, std::memory_order_release);
      flag.notify_all();
      rig.await_round_end();
    }
  }
  s.report(state);
}

// ---- registration ------------------------------------------------------------------------------

benchmark::internal::Benchmark* add(const std::string& name, void (*fn)(benchmark::State&)) {
  return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime();
}

void register_all() {
  const auto threads_1_2_8 = [](benchmark::internal::Benchmark* b) {
    b->Threads(1)->Threads(2)->Threads(8);
  };
  const auto distinct = [&]<class I>() {
    add(std::string("distinct_noop/") + I::name, &distinct_noop<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->Apply(threads_1_2_8);
  };
  main_impls::for_each(distinct);
  ablation_impls::for_each(distinct);
  add("distinct_string_view/group", &distinct_string_view<string_group<group_on_slots>>)->Threads(1)->Threads(2);
  add("distinct_string_view/group_michael_dhp", &distinct_string_view<string_group<group_on_michael_dhp>>)
      ->Threads(1)->Threads(2);
  add("distinct_string_view/mutex_group", &distinct_string_view<string_group<singleflight::mutex_group>>)
      ->Threads(1)->Threads(2);
  add("distinct_string_view/sharded_group", &distinct_string_view<string_group<singleflight::sharded_group>>)
      ->Threads(1)->Threads(2);
  add("floor/atomics", &floor_atomics)->Apply(threads_1_2_8);

  main_impls::for_each([&]<class I>() {
    add(std::string("hot_key/") + I::name, &hot_key<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->ArgName("fn_ns")
        ->Arg(0)
        ->Arg(1'000)
        ->Arg(100'000)
        ->ThreadRange(2, 64);
  });

  main_impls::for_each([&]<class I>() {
    add(std::string("zipf/") + I::name, &zipf<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->ArgName("fn_ns")
        ->Arg(0)
        ->Arg(1'000)
        ->Apply(threads_1_2_8);
  });
  ablation_impls::for_each([&]<class I>() {
    add(std::string("zipf/") + I::name, &zipf<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->ArgName("fn_ns")
        ->Arg(0)
        ->Apply(threads_1_2_8);
  });

  main_impls::for_each([&]<class I>() {
    add(std::string("forget_mix/") + I::name, &forget_mix<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->ArgName("forget_pct")
        ->Arg(0)
        ->Arg(1)
        ->Arg(10)
        ->Arg(50)
        ->Threads(2)
        ->Threads(8);
  });

  const auto waiters = [](benchmark::internal::Benchmark* b) {
    b->ArgName("waiters")->RangeMultiplier(2)->Range(1, 64);
  };
  wake_impls::for_each([&]<class I>() {
    add(std::string("wake_latency/") + I::name, &wake_latency<I>)->Apply(waiters);
  });
  add("wake_latency/atomic_wait_floor", &atomic_wait_floor)->Apply(waiters);
}

}  // namespace
}  // namespace sfbench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!sfbench::count_futex_self_test()) {
    std::fputs("sf-bench: the futex counter does not see libstdc++'s atomic wait/notify "
               "(syscall() shim not in effect); futex counters would read zero. Stopping.\n",
               stderr);
    return 1;
  }
  (void)sfbench::zipf_draws();  // drawn now, outside every timing
  (void)sfbench::forget_draws();
  sfbench::register_all();
  benchmark::AddCustomContext("sf_futex_counting", "verified at start-up");
#ifdef NDEBUG
  benchmark::AddCustomContext("sf_build", "NDEBUG");
#else
  benchmark::AddCustomContext("sf_build", "assertions on: figures are not representative");
#endif
  benchmark::AddCustomContext("sf_spin_before_park", std::to_string(SINGLEFLIGHT_SPIN_BEFORE_PARK));
  benchmark::AddCustomContext("sf_check_lifetime", std::to_string(SINGLEFLIGHT_CHECK_LIFETIME));
  benchmark::AddCustomContext(
      "sf_sharded_group_shards",
      std::to_string(singleflight::sharded_group<std::uint64_t, std::uint64_t>().shard_count()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// Figures: bench/run writes them to results/bench/ (the raw JSON of every repetition, with the
// command, machine, compiler, flags and commit in meta.json) and summarizes them in
// results/bench/summary.md; none are kept here, so that none can go stale.
