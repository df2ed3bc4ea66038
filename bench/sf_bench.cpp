// sf-bench: every implementation side by side in one binary, so that ratios come from one run on
// one machine. bench/run runs it (with Go's package beside it) and writes results/bench/.
//
// Names: <scenario>/<implementation>[/<argument>:<value>]/real_time[/threads:<n>] (manual_time
// where the scenario times part of each iteration itself), e.g.
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
// Deadlines and leaving (S7), issue 13:
//   distinct_noop_call_for, hot_key_call_for, wake_latency_call_for   distinct_noop, hot_key and
//                  wake_latency with every call (wake_latency: every waiter's) a
//                  call_for(key, fn, 1 s) whose deadline never passes: what a deadline costs a
//                  lone leader (reading the clock) and a follower (a parker of its own: a mutex
//                  and a condition variable, linked in the flight's list, signalled one by one by
//                  the close). Same shapes, so each configuration has its call() twin.
//                  hot_key_call_for reports deadline_fired (calls whose deadline did pass; 0, or
//                  the run is not what it claims to be).
//   deadline_late  a follower calls call_for(key, fn, T) (T = 200 µs, 1 ms) on a flight whose
//                  leader is held inside fn for the whole run, and catches deadline_exceeded; a
//                  sample is how late control came back: the time of the catch minus (the time
//                  read just before the call + T). Each iteration also takes one sample of the
//                  floor, a bare std::condition_variable::wait_until(now + T) on a mutex of its
//                  own, measured the same way right after, so both share the machine's load.
//                  Counters late_ns_* and floor_late_ns_* (p50, p90, p99, p999, max). A fixed
//                  number of samples in one repetition (--sf_sample_scale scales it); the
//                  iteration time is a library sample plus a floor sample and means little.
//   leave_wakeups  64 followers parked on one flight (leader held inside fn), all without a stop
//                  token (they park on the state word) or all with one never requested (since
//                  issue 13 they park on parkers of their own, in the flight's list); then, per
//                  iteration, one more caller joins with a stop token that is requested once it
//                  has parked (leaver:stop_token), or with call_for's 5 ms deadline
//                  (leaver:deadline, only where the headers have deadlines), and leaves. Counted
//                  from outside: each follower's voluntary context switches
//                  (/proc/self/task/<tid>/status) before the leaver starts and after it has
//                  left and every follower is asleep again with a count that stays put for 1 ms.
//                  woken_per_leave is the mean number of the 64 whose count moved,
//                  switches_per_leave the mean sum of the moves; control_woken_per_round the same
//                  over a window of about the same length without a leaver (the noise);
//                  leave_ns_* the time from request_stop() to the leaver's catch. The
//                  iteration time is a whole round and means nothing. This scenario also compiles
//                  against the headers before issue 13, for scripts/bench_leave_ab.sh.
//
// Coroutine callers (async_call), issue 14; the loops and the coroutine type are coro_loop.hpp's:
//   hot_key_async  N coroutine callers (N = 64, 1,024, 16,384), half at home on each of two
//                  threads' event loops, each calling the hot key with co_await g.async_call in
//                  a loop. fn_ns 0: fn returns the value (the leader runs it inline); fn_ns D > 0:
//                  fn returns a loader that completes after D on the leader's loop's timer, so a
//                  flight holds no thread while it waits (Go's side sleeps D in time.Sleep, which
//                  parks the goroutine: the same). The close resumes the followers inline, on the
//                  thread whose timer fired; each caller then goes home (schedule()) before its
//                  next call. Items: completed calls (a co_await that returned, leader's or
//                  follower's), all callers', over the wall-clock time from letting the loops'
//                  threads go to the last caller's last call. The group, the callers (the same
//                  number of calls each) and the threads are made before the timing, afresh for
//                  each run (calibration step or repetition). Counters calls_per_flight and, for
//                  D > 0, loader_ns_mean (a timer's arming to its firing: the kernel's wake-up and
//                  a busy loop make it longer than D). hot_key_async/loop_only: the same callers on
//                  the same loops without the call, only the trip home: the harness's own cost.
//   resume_cost    F coroutine callers of one flight (F = 1, 64, 1,024, 10,000), all suspended,
//                  its loader waiting on a gate: the time from opening the gate to the last
//                  caller's resumption (the loader's completion, the record's removal, the close,
//                  and per caller its wake-up, resumption and await_resume; each resumed caller
//                  parks at once on a plain list and drops its result only at its next call), per
//                  caller: ns_per_resume. A round is ceil(1,024 / F) such flights, so the clock is
//                  read about once per 1,024 resumptions; the callers' joining is the round's
//                  untimed setup (manual time, hence /manual_time). A fixed number of rounds, about
//                  1,000,000 resumptions per repetition (--sf_sample_scale scales it; the name
//                  carries iterations:<rounds>). resume_cost/floor: as many bare coroutines
//                  suspended on a plain list and resumed by a loop of
//                  std::coroutine_handle<>::resume(), each parking the same way.
//   distinct_noop_in_flight   distinct_noop at 1 thread while M flights of other keys are in
//                  progress in the same group (M = 10, 100,000), registered before the timing by
//                  coroutine callers whose loaders wait on a gate, which opens after it.
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
// The futex counts miss what std::mutex and std::condition_variable do inside glibc, so a
// follower that waits with a deadline or a stop token (its parker) shows none of its parking.
//
// Flags of sf-bench's own, before Google Benchmark's:
//   --sf_sample_scale=F   multiplies the fixed sample counts of deadline_late and leave_wakeups
//                         and the fixed rounds of resume_cost (default 1; bench/run --quick uses
//                         0.1, the ctest smoke run less)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#include <singleflight/singleflight.hpp>

#include "libcds_ablation_tables.hpp"

#include "instrument.hpp"

// Deadlines (call_for, call_until, deadline_exceeded) came with issue 13. leave_wakeups is also
// built against the headers from before it (scripts/bench_leave_ab.sh), which have call(key, fn,
// stop_token) but no deadlines, so whatever names them is compiled only where they exist. The
// header this looks for is the deadlines' own; the static_assert below checks that the guess
// agrees with what the group offers.
#if __has_include(<singleflight/detail/deadline_agent.hpp>)
#define SFBENCH_HAS_DEADLINES 1
#else
#define SFBENCH_HAS_DEADLINES 0
#endif
// Coroutine callers (async_call) came with issue 14; the same reason, the same kind of guess.
#if __has_include(<singleflight/detail/async.hpp>)
#define SFBENCH_HAS_ASYNC 1
#include "coro_loop.hpp"
#else
#define SFBENCH_HAS_ASYNC 0
#endif

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

// ---- how a scenario calls ----------------------------------------------------------------------

// fn for a caller that is meant to follow: it runs only if the caller leads after all.
struct zero_fn {
  value_type operator()() const noexcept { return 0; }
};

// Whether a group has deadlines (issue 13): see SFBENCH_HAS_DEADLINES.
template <class G>
concept has_deadlines = requires(G& g, const key_type& k) {
  g.call_for(k, zero_fn{}, std::chrono::seconds(1));
};
static_assert(has_deadlines<group_default::type> == (SFBENCH_HAS_DEADLINES != 0),
              "SFBENCH_HAS_DEADLINES guesses wrong for these headers: look at its test");

// Whether a group has coroutine callers (issue 14): see SFBENCH_HAS_ASYNC.
template <class G>
concept has_async_call = requires(G& g, const key_type& k) { g.async_call(k, zero_fn{}); };
static_assert(has_async_call<group_default::type> == (SFBENCH_HAS_ASYNC != 0),
              "SFBENCH_HAS_ASYNC guesses wrong for these headers: look at its test");

// The plain call(key, fn).
struct plain_call {
  static constexpr bool may_time_out = false;
  template <class G, class F>
  static auto call(G& g, key_type k, F&& fn) {
    return g.call(k, std::forward<F>(fn));
  }
};

#if SFBENCH_HAS_DEADLINES
// A timeout that no call of the *_call_for scenarios comes near.
constexpr auto kNeverFires = std::chrono::seconds(1);

// call_for(key, fn, kNeverFires): a deadline that is armed and never passes.
struct call_for_never {
  static constexpr bool may_time_out = true;
  template <class G, class F>
  static auto call(G& g, key_type k, F&& fn) {
    return g.call_for(k, std::forward<F>(fn), kNeverFires);
  }
};
#endif

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
  long timeouts = 0;  // calls of a form with a deadline whose deadline passed (not counted above)

  // One call, made the way `Form` says, with its allocations and futex syscalls (this thread's,
  // which are all a call makes) charged to the caller's role. Costs six thread-local reads per
  // call, the same for every implementation.
  template <class Form = plain_call, class G, class F>
  void call(G& g, key_type k, F&& fn) {
    const long a0 = tally.allocs;
    const long b0 = tally.alloc_bytes;
    const long f0 = tally.futex_calls;
    if constexpr (Form::may_time_out) {
      // A deadline that passes throws deadline_exceeded, a kind of cancelled (caught as that:
      // the headers before issue 13, which this file also builds against, do not have it).
      try {
        const auto r = Form::call(g, k, std::forward<F>(fn));
        count(r, a0, b0, f0);
      } catch (const singleflight::cancelled&) {
        ++timeouts;
      }
    } else {
      const auto r = Form::call(g, k, std::forward<F>(fn));
      count(r, a0, b0, f0);
    }
  }

 private:
  template <class R>
  void count(const R& r, long a0, long b0, long f0) {
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
  std::atomic<long> timeouts;
  std::atomic<int> finished;
};
run_totals totals;

void clear_totals(const benchmark::State&) {
  // Relaxed: see run_totals; thread creation orders these stores before every reader.
  for (std::atomic<long>* c : {&totals.calls, &totals.leader_calls, &totals.follower_calls,
                               &totals.lone_calls, &totals.leader_allocs, &totals.follower_allocs,
                               &totals.alloc_bytes, &totals.futex, &totals.lone_futex,
                               &totals.timeouts}) {
    c->store(0, std::memory_order_relaxed);
  }
  totals.finished.store(0, std::memory_order_relaxed);
}

void set_ratio(benchmark::State& state, const char* name, long num, long den) {
  if (den > 0) state.counters[name] = static_cast<double>(num) / static_cast<double>(den);
}

// Adds this thread's counts to the run's; the last thread of the run sets the counters (Google
// Benchmark sums counters over threads, and the other threads set none). `Form` says how the
// calls were made: a form with a deadline adds deadline_fired, the number of calls whose
// deadline passed.
template <class Form = plain_call>
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
      {&totals.lone_futex, t.lone_futex},
      {&totals.timeouts, t.timeouts}};
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
  if constexpr (Form::may_time_out) {
    state.counters["deadline_fired"] = static_cast<double>(get(totals.timeouts));
  }
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


// distinct_noop_call_for: the same with Form = call_for_never (a lone leader's deadline never
// passes: fn takes no stop token, so the leader registers nothing for it either).
template <class Impl, class Form = plain_call>
void distinct_noop(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const int t = state.thread_index();
  warm_up(g, t);
  std::uint64_t i = 0;
  const thread_tally before = tally;
  for (auto _ : state) {
    const key_type k = distinct_key(t, i++);
    auto r = Form::call(g, k, [k] { return k; });
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

// hot_key_call_for: the same with Form = call_for_never, so that every follower waits with a
// deadline (on a parker of its own, listed in the flight) that never passes.
template <class Impl, class Form = plain_call>
void hot_key(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const auto fn_ns = static_cast<std::uint64_t>(state.range(0));
  warm_up(g, state.thread_index());
  loop_tally lt;
  for (auto _ : state) {
    lt.call<Form>(g, kHotKey, [fn_ns] {
      busy_for(fn_ns);
      return value_type{7};
    });
  }
  state.SetItemsProcessed(state.iterations());
  finish_thread<Form>(state, lt, Impl::record_bytes);
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

// wake_latency_call_for: the same with Form = call_for_never for the waiters (the driver leads
// with call()), so that each follower waits on a parker of its own that the close signals.
template <class Impl, class Form = plain_call>
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
      auto r = Form::call(g, kWakeKey, [] { return value_type{0}; });
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

// ---- deadlines and leaving -----------------------------------------------------------------------

// --sf_sample_scale: multiplies the fixed sample counts below (main() reads it).
double sample_scale = 1.0;

long scaled(long n) {
  return std::max(1L, static_cast<long>(static_cast<double>(n) * sample_scale));
}

constexpr value_type kHeldValue = 1;  // what a held flight's fn returns; zero_fn returns 0

// A thread that leads `key` in `g` and stays inside fn until this object is destroyed: a flight
// that does not close while a scenario measures the callers that join it. The constructor
// returns once fn has been entered, so the flight is registered.
template <class G>
class held_flight {
 public:
  held_flight(G& g, key_type key)
      : thread_([this, &g, key] {
          (void)g.call(key, [this] {
            // (H1) release: pairs with (H2); only says that fn has been entered.
            entered_.store(1, std::memory_order_release);
            entered_.notify_all();
            // (H3) acquire: pairs with (H4); nothing is published with the release but itself.
            while (release_.load(std::memory_order_acquire) == 0) {
              release_.wait(0, std::memory_order_acquire);  // (H3)
            }
            return kHeldValue;
          });
        }) {
    // (H2) acquire: pairs with (H1).
    while (entered_.load(std::memory_order_acquire) == 0) {
      entered_.wait(0, std::memory_order_acquire);  // (H2)
    }
  }
  held_flight(const held_flight&) = delete;
  held_flight& operator=(const held_flight&) = delete;

  // Lets fn return, so the flight closes; returns once the leader's call has returned.
  ~held_flight() {
    // (H4) release: pairs with (H3).
    release_.store(1, std::memory_order_release);
    release_.notify_all();
    thread_.join();
  }

 private:
  std::atomic<std::uint32_t> entered_{0};
  std::atomic<std::uint32_t> release_{0};
  std::thread thread_;  // last: started once the members above exist
};

// Percentiles of a sample, as counters named <prefix>_p50, _p90, _p99, _p999 and _max (nearest
// rank; with n samples, p999 is the ceil(0.999 n)-th smallest).
void report_percentiles(benchmark::State& state, const std::string& prefix,
                        std::vector<std::int64_t> v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  const auto at = [&v](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1]);
  };
  state.counters[prefix + "_p50"] = at(0.50);
  state.counters[prefix + "_p90"] = at(0.90);
  state.counters[prefix + "_p99"] = at(0.99);
  state.counters[prefix + "_p999"] = at(0.999);
  state.counters[prefix + "_max"] = static_cast<double>(v.back());
}

#if SFBENCH_HAS_DEADLINES

// deadline_late: see the header comment. The benchmark's thread is the follower; a held_flight
// is the leader, for the whole run.
constexpr key_type kLateKey = 3;

template <class Impl>
void deadline_late(benchmark::State& state) {
  using clock = std::chrono::steady_clock;
  const auto timeout = std::chrono::microseconds(state.range(0));
  typename Impl::type g;
  std::vector<std::int64_t> late, floor;
  late.reserve(static_cast<std::size_t>(state.max_iterations));
  floor.reserve(static_cast<std::size_t>(state.max_iterations));
  std::mutex m;
  std::condition_variable cv;
  long not_timed_out = 0;
  {
    held_flight<typename Impl::type> leader(g, kLateKey);
    for (auto _ : state) {
      clock::time_point t0 = clock::now();
      try {
        // Returns only if this caller led a flight of its own (the held one was not found) or
        // the held flight closed: neither may happen here.
        benchmark::DoNotOptimize(g.call_for(kLateKey, zero_fn{}, timeout).value());
        ++not_timed_out;
      } catch (const singleflight::deadline_exceeded&) {
        const clock::time_point t1 = clock::now();
        late.push_back((t1 - (t0 + timeout)).count());
      }
      // The floor: the parker's own timed wait, bare.
      t0 = clock::now();
      const clock::time_point d = t0 + timeout;
      {
        std::unique_lock lock(m);
        while (cv.wait_until(lock, d) != std::cv_status::timeout) {
        }
      }
      const clock::time_point t1 = clock::now();
      floor.push_back((t1 - d).count());
    }
  }  // the leader returns
  if (not_timed_out != 0) {
    state.SkipWithError("deadline_late: a call_for returned instead of throwing deadline_exceeded");
    return;
  }
  static_assert(std::is_same_v<clock::duration, std::chrono::nanoseconds>);
  report_percentiles(state, "late_ns", std::move(late));
  report_percentiles(state, "floor_late_ns", std::move(floor));
  state.counters["samples"] = static_cast<double>(state.iterations());
}

#endif  // SFBENCH_HAS_DEADLINES

// leave_wakeups: see the header comment.
constexpr key_type kLeaveKey = 5;
constexpr int kLeaveFollowers = 64;
#if SFBENCH_HAS_DEADLINES
constexpr auto kLeaveDeadline = std::chrono::milliseconds(5);  // ample to be seen asleep first
#endif
constexpr auto kQuiet = std::chrono::milliseconds(1);

enum class followers_with { no_token, stop_token };
enum class leaving_by { stop_token, deadline };

// What /proc says of one thread of this process.
struct task_status {
  char state = '?';     // R, S, D, ...; '?' if unreadable
  long voluntary = -1;  // voluntary_ctxt_switches
};

task_status read_task_status(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  task_status out;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[8192];
  std::size_t len = 0;
  for (ssize_t n; len + 1 < sizeof buf && (n = ::read(fd, buf + len, sizeof buf - 1 - len)) > 0;) {
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf[len] = '\0';
  if (const char* p = std::strstr(buf, "\nState:")) {
    p += 7;
    while (*p == ' ' || *p == '\t') ++p;
    out.state = *p;
  }
  // At the start of a line: "nonvoluntary_ctxt_switches" contains the name too.
  if (const char* p = std::strstr(buf, "\nvoluntary_ctxt_switches:")) {
    out.voluntary = std::strtol(p + 25, nullptr, 10);
  }
  return out;
}

// Every thread's voluntary switches; false if a thread is not asleep (or not readable).
bool read_switches(const std::vector<pid_t>& tids, std::vector<long>& out) {
  bool asleep = true;
  out.resize(tids.size());
  for (std::size_t i = 0; i < tids.size(); ++i) {
    const task_status st = read_task_status(tids[i]);
    out[i] = st.voluntary;
    asleep = asleep && st.state == 'S' && st.voluntary >= 0;
  }
  return asleep;
}

// Returns once every thread is asleep and has stayed so, with no voluntary switch, for kQuiet;
// `out` holds their counts then. False after 10 s.
bool await_quiet(const std::vector<pid_t>& tids, std::vector<long>& out) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<long> again;
  while (std::chrono::steady_clock::now() < give_up) {
    if (read_switches(tids, out)) {
      std::this_thread::sleep_for(kQuiet);
      if (read_switches(tids, again) && again == out) return true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return false;
}

template <class Impl, followers_with Followers, leaving_by Leaving>
void leave_wakeups(benchmark::State& state) {
  using G = typename Impl::type;
  using clock = std::chrono::steady_clock;
  G g;
  std::vector<std::stop_source> sources(kLeaveFollowers);  // never requested
  std::vector<pid_t> tids(kLeaveFollowers);
  std::vector<char> joined(kLeaveFollowers, 0);  // each written by its follower, read after join
  std::atomic<int> started{0};
  std::optional<held_flight<G>> leader;
  leader.emplace(g, kLeaveKey);
  std::vector<std::thread> followers;
  for (int i = 0; i < kLeaveFollowers; ++i) {
    followers.emplace_back([&, i] {
      tids[i] = ::gettid();
      // Release: publishes tids[i]; pairs with the driver's acquire load below.
      started.fetch_add(1, std::memory_order_release);
      try {
        auto r = [&] {
          if constexpr (Followers == followers_with::no_token) {
            return g.call(kLeaveKey, zero_fn{});
          } else {
            return g.call(kLeaveKey, zero_fn{}, sources[i].get_token());
          }
        }();
        joined[i] = r.value() == kHeldValue && r.shared() && !r.leader();
      } catch (...) {
        joined[i] = 0;
      }
    });
  }
  while (started.load(std::memory_order_acquire) < kLeaveFollowers) {  // acquire: see above
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

  std::vector<long> c0, c1, l1;
  long rounds = 0, woken = 0, switches = 0, control_woken = 0, control_switches = 0;
  long bad_leaves = 0, unconfirmed = 0;
  const char* error = nullptr;
  std::vector<std::int64_t> leave_ns;
  const auto moved = [](const std::vector<long>& a, const std::vector<long>& b, long& threads,
                        long& total) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      threads += b[i] != a[i];
      total += b[i] - a[i];
    }
  };
  if (!await_quiet(tids, c0)) error = "leave_wakeups: the followers did not all park";
  for (auto _ : state) {
    if (error != nullptr) break;
    // The control: a window without a leaver, about as long as a round's.
    std::this_thread::sleep_for(kQuiet);
    if (!await_quiet(tids, c1)) {
      error = "leave_wakeups: the followers did not settle (control)";
      break;
    }
    moved(c0, c1, control_woken, control_switches);

    // The leaver: joins, parks, leaves.
    std::stop_source stop;
    std::atomic<pid_t> leaver_tid{0};
    std::atomic<int> leaver_done{0};
    clock::time_point caught{};
    bool left_right = false;
    std::thread leaver([&] {
      // Release: publishes nothing but the tid itself; pairs with the acquire loads below.
      leaver_tid.store(::gettid(), std::memory_order_release);
      try {
        if constexpr (Leaving == leaving_by::stop_token) {
          (void)g.call(kLeaveKey, zero_fn{}, stop.get_token());
        } else {
#if SFBENCH_HAS_DEADLINES
          (void)g.call_for(kLeaveKey, zero_fn{}, kLeaveDeadline);
#endif
        }
      } catch (const singleflight::cancelled& e) {
        caught = clock::now();
#if SFBENCH_HAS_DEADLINES
        const bool by_deadline = dynamic_cast<const singleflight::deadline_exceeded*>(&e) != nullptr;
#else
        const bool by_deadline = false;
#endif
        left_right = by_deadline == (Leaving == leaving_by::deadline);
      } catch (...) {
      }
      leaver_done.store(1, std::memory_order_release);  // pairs with the acquire load below
    });
    pid_t lt;
    while ((lt = leaver_tid.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
    // Parked: asleep (the only place it can sleep), for a while.
    bool parked = false;
    while (!parked && leaver_done.load(std::memory_order_acquire) == 0) {
      if (read_task_status(lt).state == 'S') {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        parked = read_task_status(lt).state == 'S';
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    const clock::time_point requested = clock::now();
    if constexpr (Leaving == leaving_by::stop_token) stop.request_stop();
    leaver.join();
    // A stop leaver is stopped only once seen asleep. A deadline leaver that was not seen asleep
    // before its deadline (a driver held off the CPU for 5 ms) may have left before it parked:
    // its round is counted apart, not in the figures.
    if (!left_right || (Leaving == leaving_by::stop_token && !parked)) ++bad_leaves;
    if constexpr (Leaving == leaving_by::stop_token) leave_ns.push_back((caught - requested).count());
    if (!await_quiet(tids, l1)) {
      error = "leave_wakeups: the followers did not settle after a leave";
      break;
    }
    if (parked) {
      moved(c1, l1, woken, switches);
      ++rounds;
    } else {
      ++unconfirmed;
    }
    c0.swap(l1);
  }

  leader.reset();  // the flight closes: every follower returns
  for (std::thread& t : followers) t.join();
  const long strays = static_cast<long>(std::count(joined.begin(), joined.end(), 0));
  if (error == nullptr && strays != 0) error = "leave_wakeups: a follower did not follow the held flight";
  if (error == nullptr && bad_leaves != 0) {
    error = "leave_wakeups: a leaver did not park, or did not leave the way it was meant to";
  }
  if (error != nullptr) {
    state.SkipWithError(error);
    return;
  }
  const auto per_round = [rounds](long x) {
    return static_cast<double>(x) / static_cast<double>(std::max(rounds, 1L));
  };
  state.counters["followers"] = kLeaveFollowers;
  state.counters["leaves"] = static_cast<double>(rounds);
  state.counters["unconfirmed_leaves"] = static_cast<double>(unconfirmed);
  state.counters["woken_per_leave"] = per_round(woken);
  state.counters["switches_per_leave"] = per_round(switches);
  state.counters["control_woken_per_round"] = per_round(control_woken);
  state.counters["control_switches_per_round"] = per_round(control_switches);
  report_percentiles(state, "leave_ns", std::move(leave_ns));
}

// ---- coroutine callers (issue 14) ----------------------------------------------------------------
#if SFBENCH_HAS_ASYNC

// hot_key_async: see the header comment. One run: the group, two loops and their threads, and the
// callers (each made suspended and queued on its home loop) are made first; the timing starts
// when the threads are let go and ends when the last caller has made its last call.
struct async_run {
  explicit async_run(long callers) : live(callers) {}
  std::array<coro::event_loop, 2> loops;
  std::atomic<long> live;           // callers that have not finished
  std::atomic<std::uint32_t> go{0}, done{0};

  // The last caller to finish stops the loops and wakes the benchmark's thread.
  void finished_one() {
    // acq_rel: the last caller sees every other caller's writes (their flight counts) before it
    // publishes `done`.
    if (live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (coro::event_loop& l : loops) l.stop();
    done.store(1, std::memory_order_release);  // (A1) release: pairs with (A2)
    done.notify_one();
  }
};

// fn of hot_key_async: the value at once (fn_ns = 0), or a loader that completes after fn_ns on
// the leader's loop's timer.
constexpr value_type kAsyncValue = 7;
struct inline_fn {
  value_type operator()() const noexcept { return kAsyncValue; }
};
struct timer_fn {
  std::uint64_t ns;
  coro::after_ns<value_type> operator()() const noexcept { return {ns, kAsyncValue}; }
};

// One caller: `calls` calls of the hot key, each counted once its co_await has returned (leader
// and followers alike); then back to its home loop before the next call. `flights_led` is
// written once, at the end (the callers' counts share cache lines).
template <class G, class Fn>
coro::detached hot_key_caller(G& g, coro::event_loop& home, long calls, Fn fn, long& flights_led,
                              async_run& run) {
  long led = 0;
  for (long i = 0; i < calls; ++i) {
    {
      const auto r = co_await g.async_call(kHotKey, fn);
      benchmark::DoNotOptimize(r.value());
      led += r.leader();
    }
    co_await home.schedule();
  }
  flights_led = led;
  run.finished_one();
}

// hot_key_async/loop_only: the same callers on the same loops with no library call: each "call"
// is the trip home through schedule() alone, which every hot_key_async call also makes.
coro::detached loop_only_caller(coro::event_loop& home, long calls, async_run& run) {
  for (long i = 0; i < calls; ++i) co_await home.schedule();
  run.finished_one();
}

// Runs `callers` callers, caller c made by spawn(c, home, calls) (suspended) and queued on loop
// c % 2, each making `calls` calls: enough that all of them make at least the batch Google
// Benchmark asks for. Untimed: making the callers and starting the loops' threads (which wait to
// be let go) and, after, joining them. Timed: from letting the threads go to the last caller's
// end. Returns the calls made, which are the items.
template <class Spawn>
long run_on_loops(benchmark::State& state, async_run& run, long callers, Spawn spawn) {
  const long calls =
      std::max<long>(1, (static_cast<long>(state.max_iterations) + callers - 1) / callers);
  for (long c = 0; c < callers; ++c) {
    coro::event_loop& home = run.loops[static_cast<std::size_t>(c % 2)];
    home.post(spawn(c, home, calls).handle);
  }
  std::vector<std::thread> threads;
  for (coro::event_loop& l : run.loops) {
    threads.emplace_back([&run, &l] {
      // Acquire: pairs with the release store below; nothing is published with it but itself.
      while (run.go.load(std::memory_order_acquire) == 0) run.go.wait(0, std::memory_order_acquire);
      l.run();
    });
  }
  while (state.KeepRunningBatch(callers * calls)) {
    run.go.store(1, std::memory_order_release);
    run.go.notify_all();
    // (A2) acquire: pairs with (A1).
    while (run.done.load(std::memory_order_acquire) == 0) run.done.wait(0, std::memory_order_acquire);
  }
  for (std::thread& t : threads) t.join();  // the flights' drivers have ended too
  state.SetItemsProcessed(callers * calls);
  return callers * calls;
}

template <class Impl>
void hot_key_async(benchmark::State& state) {
  const auto fn_ns = static_cast<std::uint64_t>(state.range(0));
  const long callers = static_cast<long>(state.range(1));
  typename Impl::type g;  // outlives the loops' threads
  async_run run(callers);
  std::vector<long> led(static_cast<std::size_t>(callers), 0);  // each written by its caller only
  const long calls = run_on_loops(state, run, callers, [&](long c, coro::event_loop& home, long n) {
    long& mine = led[static_cast<std::size_t>(c)];
    return fn_ns == 0 ? hot_key_caller(g, home, n, inline_fn{}, mine, run)
                      : hot_key_caller(g, home, n, timer_fn{fn_ns}, mine, run);
  });
  long flights = 0;
  for (long n : led) flights += n;
  long fired = 0;
  std::uint64_t timer_ns = 0;
  for (const coro::event_loop& l : run.loops) {
    fired += l.timers_fired();
    timer_ns += l.timer_elapsed_ns();
  }
  set_ratio(state, "calls_per_flight", calls, flights);
  if (fired > 0) {
    state.counters["loader_ns_mean"] = static_cast<double>(timer_ns) / static_cast<double>(fired);
  }
}

void hot_key_async_loop_only(benchmark::State& state) {
  const long callers = static_cast<long>(state.range(1));
  async_run run(callers);
  run_on_loops(state, run, callers, [&run](long, coro::event_loop& home, long n) {
    return loop_only_caller(home, n, run);
  });
}

// resume_cost and its floor: see the header comment. A round is K flights of F callers each, all
// suspended; the timed part opens the K loaders' gate, which completes the K flights one after
// the other on this thread, each resuming its F callers, each of which parks again.
constexpr std::size_t kResumesPerRound = 1024;
constexpr long kResumesPerRepetition = 1'000'000;  // times --sf_sample_scale
constexpr key_type kResumeKeyBase = 1000;

// A caller keeps its result until its next call, so that dropping it (a reference count's
// decrement) falls in the untimed setup: the timing is the close's and the resumption's alone.
template <class G>
coro::detached resume_caller(G& g, key_type k, coro::suspended_list& gate,
                             coro::suspended_list& parked, const bool& stop, long& wrong) {
  std::optional<singleflight::result<value_type>> r;
  for (;;) {
    co_await parked.wait();
    r.reset();
    if (stop) break;
    r.emplace(
        co_await g.async_call(k, [&gate, k] { return coro::value_after<value_type>{&gate, k}; }));
    benchmark::DoNotOptimize(r->value());
    wrong += r->value() != k;
  }
}

coro::detached floor_caller(coro::suspended_list& list, coro::suspended_list& parked, const bool& stop) {
  for (;;) {
    co_await parked.wait();
    if (stop) break;
    co_await list.wait();
    benchmark::DoNotOptimize(&list);
  }
}

// One round after another: `setup` readies a round untimed, `timed` runs it; items are the
// callers resumed. Manual time, so that the untimed setup stays out.
template <class Setup, class Timed>
void resume_rounds(benchmark::State& state, std::size_t callers, Setup setup, Timed timed) {
  for (auto _ : state) {
    setup();
    const std::uint64_t t0 = now_ns();
    timed();
    const std::uint64_t t1 = now_ns();
    state.SetIterationTime(static_cast<double>(t1 - t0) * 1e-9);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(callers));
  state.counters["flight_callers"] = static_cast<double>(state.range(0));
  state.counters["ns_per_resume"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(callers),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

std::size_t flights_per_round(std::size_t followers) {
  return (kResumesPerRound + followers - 1) / followers;
}

template <class Impl>
void resume_cost(benchmark::State& state) {
  const auto f = static_cast<std::size_t>(state.range(0));
  const std::size_t k = flights_per_round(f);
  typename Impl::type g;
  coro::suspended_list gate, parked;
  gate.reserve(k);
  parked.reserve(k * f);
  bool stop = false;
  long wrong = 0;
  for (std::size_t i = 0; i < k; ++i) {
    for (std::size_t j = 0; j < f; ++j) {
      resume_caller(g, kResumeKeyBase + i, gate, parked, stop, wrong).handle.resume();  // parks
    }
  }
  const char* error = nullptr;
  resume_rounds(state, k * f,
                [&] {
                  parked.resume_all();  // each calls: one per key leads, the others join
                  if (gate.size() != k && error == nullptr) error = "resume_cost: a round did not make one flight per key";
                },
                [&] { gate.resume_all(); });
  if (parked.size() != k * f && error == nullptr) error = "resume_cost: a caller was not resumed";
  stop = true;
  parked.resume_all();  // the callers end
  if (wrong != 0 && error == nullptr) error = "resume_cost: a caller got another flight's value";
  if (error != nullptr) state.SkipWithError(error);
}

void resume_floor(benchmark::State& state) {
  const auto f = static_cast<std::size_t>(state.range(0));
  const std::size_t n = flights_per_round(f) * f;
  coro::suspended_list list, parked;
  list.reserve(n);
  parked.reserve(n);
  bool stop = false;
  for (std::size_t i = 0; i < n; ++i) floor_caller(list, parked, stop).handle.resume();  // parks
  resume_rounds(state, n, [&] { parked.resume_all(); }, [&] { list.resume_all(); });
  stop = true;
  parked.resume_all();
}

// distinct_noop_in_flight: distinct_noop while `flights` flights of other keys are in progress in
// the same group, each registered by a coroutine caller whose loader waits on a gate that opens
// after the timing. Their keys are those of a thread number distinct_noop never uses.
constexpr int kHeldKeysThread = 255;

template <class G>
coro::detached held_async_caller(G& g, key_type k, coro::suspended_list& gate, long& wrong) {
  const auto r = co_await g.async_call(k, [&gate, k] { return coro::value_after<value_type>{&gate, k}; });
  wrong += r.value() != k || !r.leader();
}

template <class Impl>
void distinct_noop_in_flight(benchmark::State& state) {
  typename Impl::type& g = *run_group<Impl>;
  const auto flights = static_cast<std::uint64_t>(state.range(0));
  coro::suspended_list gate;
  gate.reserve(flights);
  long wrong = 0;
  for (std::uint64_t i = 0; i < flights; ++i) {
    held_async_caller(g, distinct_key(kHeldKeysThread, i), gate, wrong).handle.resume();
  }
  const bool all_held = gate.size() == flights;
  distinct_noop<Impl>(state);
  gate.resume_all();  // every held flight closes, and its caller ends
  if (!all_held || wrong != 0) {
    state.SkipWithError("distinct_noop_in_flight: a held flight did not wait on its gate, or its "
                        "caller got a wrong outcome");
  }
  state.counters["flights_in_flight"] = static_cast<double>(flights);
}

// hot_key_async's shapes: each fn_ns given, with 64, 1,024 and 16,384 callers.
void async_callers(benchmark::internal::Benchmark* b, std::initializer_list<long> fns) {
  b->ArgNames({"fn_ns", "callers"});
  for (const long fn_ns : fns) {
    for (const long callers : {64L, 1'024L, 16'384L}) b->Args({fn_ns, callers});
  }
}

#endif  // SFBENCH_HAS_ASYNC

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

  // hot_key's shapes, for call and for call_for alike.
  const auto hot_key_shapes = [](benchmark::internal::Benchmark* b) {
    b->ArgName("fn_ns")->Arg(0)->Arg(1'000)->Arg(100'000)->ThreadRange(2, 64);
  };
  main_impls::for_each([&]<class I>() {
    add(std::string("hot_key/") + I::name, &hot_key<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->Apply(hot_key_shapes);
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

  // Deadlines and leaving (issue 13). The call_for twins of distinct_noop, hot_key and
  // wake_latency, shape for shape; then the fixed-sample scenarios, each in one repetition of its own whatever
  // --benchmark_repetitions says (their counters are distributions over the samples of that
  // repetition).
#if SFBENCH_HAS_DEADLINES
  main_impls::for_each([&]<class I>() {
    add(std::string("distinct_noop_call_for/") + I::name, &distinct_noop<I, call_for_never>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->Apply(threads_1_2_8);
  });
  main_impls::for_each([&]<class I>() {
    add(std::string("hot_key_call_for/") + I::name, &hot_key<I, call_for_never>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->Apply(hot_key_shapes);
  });
  wake_impls::for_each([&]<class I>() {
    add(std::string("wake_latency_call_for/") + I::name, &wake_latency<I, call_for_never>)
        ->Apply(waiters);
  });
  // Samples per timeout: about 2.6 s at 200 µs and 3.2 s at 1 ms per implementation.
  wake_impls::for_each([&]<class I>() {
    for (const auto& [us, samples] : {std::pair{200L, 5'000L}, std::pair{1'000L, 1'500L}}) {
      add(std::string("deadline_late/") + I::name, &deadline_late<I>)
          ->ArgName("timeout_us")
          ->Arg(us)
          ->Iterations(scaled(samples))
          ->Repetitions(1);
    }
  });
#endif
  // 100 leaves per configuration, about 2 s each.
  wake_impls::for_each([&]<class I>() {
    const std::string base = std::string("leave_wakeups/") + I::name;
    const auto rounds = [](benchmark::internal::Benchmark* b) {
      b->Iterations(scaled(100))->Repetitions(1);
    };
    add(base + "/followers:no_token/leaver:stop_token",
        &leave_wakeups<I, followers_with::no_token, leaving_by::stop_token>)->Apply(rounds);
    add(base + "/followers:stop_token/leaver:stop_token",
        &leave_wakeups<I, followers_with::stop_token, leaving_by::stop_token>)->Apply(rounds);
#if SFBENCH_HAS_DEADLINES
    add(base + "/followers:no_token/leaver:deadline",
        &leave_wakeups<I, followers_with::no_token, leaving_by::deadline>)->Apply(rounds);
    add(base + "/followers:stop_token/leaver:deadline",
        &leave_wakeups<I, followers_with::stop_token, leaving_by::deadline>)->Apply(rounds);
#endif
  });

  // Coroutine callers (issue 14).
#if SFBENCH_HAS_ASYNC
  const auto async_shapes = [](benchmark::internal::Benchmark* b) {
    async_callers(b, {0, 1'000, 100'000});
  };
  const auto async_fn_0 = [](benchmark::internal::Benchmark* b) { async_callers(b, {0}); };
  // The libcds tables only where the table is exercised: with fn 0 nearly every call is a
  // flight of its own.
  wake_impls::for_each([&]<class I>() {
    add(std::string("hot_key_async/") + I::name, &hot_key_async<I>)->Apply(async_shapes);
  });
  impl_list<group_michael_dhp, group_michael_hp>::for_each([&]<class I>() {
    add(std::string("hot_key_async/") + I::name, &hot_key_async<I>)
        ->Apply(async_fn_0);
  });
  add("hot_key_async/loop_only", &hot_key_async_loop_only)->Apply(async_fn_0);
  // Manual time, so that a round's setup (the callers joining) stays out, and a fixed number of
  // rounds: about kResumesPerRepetition resumptions in each repetition. Calibrating on the
  // timed part alone would make each repetition several times min_time of setup.
  for (const long f : {1L, 64L, 1'024L, 10'000L}) {
    const long callers = static_cast<long>(flights_per_round(static_cast<std::size_t>(f))) * f;
    const long rounds = scaled((kResumesPerRepetition + callers - 1) / callers);
    const auto shape = [f, rounds](benchmark::internal::Benchmark* b) {
      b->ArgName("followers")->Arg(f)->Iterations(rounds)->UseManualTime();
    };
    wake_impls::for_each([&]<class I>() {
      shape(benchmark::RegisterBenchmark((std::string("resume_cost/") + I::name).c_str(),
                                         &resume_cost<I>));
    });
    shape(benchmark::RegisterBenchmark("resume_cost/floor", &resume_floor));
  }
  // Not the libcds tables: their bucket count is fixed, so holding 100,000 flights makes each
  // lookup walk a list of hundreds, and each run's setup takes seconds.
  wake_impls::for_each([&]<class I>() {
    add(std::string("distinct_noop_in_flight/") + I::name, &distinct_noop_in_flight<I>)
        ->Setup(make_run_group<I>)
        ->Teardown(drop_run_group<I>)
        ->ArgName("flights")
        ->Arg(10)
        ->Arg(100'000);
  });
#endif
}

}  // namespace
}  // namespace sfbench

int main(int argc, char** argv) {
  // sf-bench's own flags come out of argv before Google Benchmark sees it.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    constexpr std::string_view scale_flag = "--sf_sample_scale=";
    const std::string_view arg = argv[i];
    if (arg.starts_with(scale_flag)) {
      char* end = nullptr;
      sfbench::sample_scale = std::strtod(argv[i] + scale_flag.size(), &end);
      if (end == argv[i] + scale_flag.size() || *end != '\0' || !(sfbench::sample_scale > 0)) {
        std::fprintf(stderr, "sf-bench: --sf_sample_scale wants a positive number, not '%s'\n",
                     argv[i] + scale_flag.size());
        return 1;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argv[kept] = nullptr;
  argc = kept;
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
  benchmark::AddCustomContext("sf_sample_scale", std::to_string(sfbench::sample_scale));
  benchmark::AddCustomContext("sf_headers_have_deadlines", SFBENCH_HAS_DEADLINES ? "yes" : "no");
  benchmark::AddCustomContext("sf_headers_have_async_call", SFBENCH_HAS_ASYNC ? "yes" : "no");
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
