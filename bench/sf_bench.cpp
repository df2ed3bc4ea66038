// Google Benchmark: every implementation side by side in one binary, so ratios come from one run
// on one machine. Names are <scenario>/<implementation>[/<Google Benchmark suffixes>].
//
// Scenarios so far (the full suite — threads, zipf, wake latency, floor — is bench/'s own issue):
//   distinct_noop  a no-op fn on a key no other call uses: register, run, remove — the cost of the
//                  machinery itself.
//   hot_key        a no-op fn on one key, called again and again by one thread: every call is a
//                  lone flight on the same key (a mutex_group reuses the map's bucket; group
//                  reuses its spare record block).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <singleflight/singleflight.hpp>

namespace {

using key_type = std::uint64_t;

struct lock_free {
  using type = singleflight::group<key_type, key_type>;
};
struct lock_free_hp {
  using type = singleflight::group<key_type, key_type, std::hash<key_type>,
                                   std::equal_to<key_type>, singleflight::tables::michael_hp>;
};
struct mutex {
  using type = singleflight::mutex_group<key_type, key_type>;
};
struct sharded {
  using type = singleflight::sharded_group<key_type, key_type>;
};

template <class Impl>
void distinct_noop(benchmark::State& state) {
  typename Impl::type g;
  key_type key = 0;
  for (auto _ : state) {
    const key_type k = key++;
    auto r = g.call(k, [k] { return k; });
    benchmark::DoNotOptimize(r.value());
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Impl>
void hot_key(benchmark::State& state) {
  typename Impl::type g;
  for (auto _ : state) {
    auto r = g.call(key_type{42}, [] { return key_type{7}; });
    benchmark::DoNotOptimize(r.value());
  }
  state.SetItemsProcessed(state.iterations());
}

#define SF_BENCH_ALL(scenario)                                                   \
  BENCHMARK_TEMPLATE(scenario, lock_free)->Name(#scenario "/group");              \
  BENCHMARK_TEMPLATE(scenario, lock_free_hp)->Name(#scenario "/group_michael_hp"); \
  BENCHMARK_TEMPLATE(scenario, mutex)->Name(#scenario "/mutex_group");            \
  BENCHMARK_TEMPLATE(scenario, sharded)->Name(#scenario "/sharded_group")

SF_BENCH_ALL(distinct_noop);
SF_BENCH_ALL(hot_key);

}  // namespace

BENCHMARK_MAIN();
