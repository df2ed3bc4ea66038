// sf-stress: one run (one workload, at one λD for poisson, on one implementation) as planned, and
// what it measured.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checks.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace sfstress {

// A precomputed open-loop arrival: at `at_ns` after the run's start, a call for `key`.
struct arrival {
  std::int64_t at_ns;
  std::uint64_t key;
};

// Cumulative probabilities of a Zipf distribution over ranks 1..n; rank 1 is key 0.
class zipf_table {
 public:
  zipf_table(std::uint64_t n, double exponent);
  std::uint64_t key_for(double uniform01) const noexcept;  // uniform01 in [0, 1)
  double probability_of_top() const noexcept { return cdf_.empty() ? 0 : cdf_.front(); }

 private:
  std::vector<double> cdf_;
};

struct run_spec {
  std::string workload;  // seed, poisson, hot, zipf, churn, deadline, coro, wide
  std::string impl;
  std::string description;  // one line, for the table header

  enum class drive { requests, timed, scheduled };
  drive how = drive::timed;
  unsigned threads = 1;
  std::uint64_t keys = 1;
  fn_spec fn;
  std::uint64_t requests = 0;  // drive::requests
  double duration_s = 0;       // drive::timed; for drive::scheduled, the span of arrivals

  enum class pick { uniform, zipf };
  pick keys_by = pick::uniform;
  std::shared_ptr<const zipf_table> zipf;

  // churn (and coro: forget, fail and cancel there apply to its coroutine callers; fail to its
  // thread callers' loaders too)
  double forget = 0, fail = 0, cancel = 0, prestopped = 0;
  std::int64_t cancel_delay_ns = 0;

  // coro and wide: coroutine callers on an event loop of their own (loop.hpp), besides the
  // `threads` thread callers (coro's call as deadline's do; wide has none)
  unsigned loop_threads = 0;     // 0: no coroutine callers
  std::uint64_t coroutines = 0;  // coroutine callers (wide: both waves)
  fn_spec think;                 // coro: a caller's pause before each call, on the loop's timer
  double inline_rate = 0;        // coro: fraction of calls whose fn returns its value at once
  double stoppable_rate = 0;     // coro: of the asynchronous loaders, those taking a stop_token
  // wide: every key's flight is registered by one caller (keys in all) and joined by the
  // second wave (`joiners`), while every loader waits on one gate
  bool gated = false;
  std::uint64_t joiners = 0;

  // deadline (threads, keys, fn and duration above)
  bool deadlines = false;     // calls with deadlines and tokens, loaders that may be stopped
  deadline_params deadline;   // the mix, the spread and the bound
  std::int64_t d_ns = 0;      // D, around which deadlines are drawn: the middle of fn's range

  // poisson
  std::optional<double> lambda_d;
  double lambda_per_key_s = 0;
  std::shared_ptr<const std::vector<arrival>> arrivals;
  std::int64_t late_ns = 0;
  // The ratio the model's ideal singleflight reaches on exactly these arrivals (a flight starts at
  // an arrival that finds none and absorbs the arrivals of the next D): λD/(1+λD) without the
  // sampling noise of a finite run.
  double schedule_optimum = 0;

  std::uint64_t seed = 0;  // of this run's random choices: the same for every implementation
  std::int64_t watchdog_ns = 0;
  std::int64_t cancel_bound_ns = 0;
  bool progress = false;
};

struct run_result {
  std::shared_ptr<const run_spec> spec;

  std::uint64_t calls = 0;      // call()s made (forget()s not included)
  std::uint64_t flights = 0;    // executions of fn
  std::uint64_t followers = 0;  // calls that received a value without running fn
  std::uint64_t forgets = 0;
  std::uint64_t failed_flights = 0;   // fn threw
  std::uint64_t failure_receipts = 0;  // callers that received such an exception
  std::uint64_t stop_requests = 0;     // calls whose token got stopped (before or during the call)
  std::uint64_t cancelled = 0;         // calls that threw `cancelled`
  std::uint64_t late = 0;              // poisson: arrivals dispatched late
  // deadline: the calls by kind (with_deadline counts call_for and call_until, `until` the
  // latter; `expired` those whose deadline had passed when they began), the callers that threw
  // deadline_exceeded, and the loaders: executions of fn that took a stop token, those stopped
  // by it (abandoned), the time those ran, the time they would have run (their D), and the
  // time every execution of fn ran.
  std::uint64_t with_deadline = 0, with_token = 0, with_both = 0, with_neither = 0;
  std::uint64_t until = 0, expired = 0;
  std::uint64_t deadline_exceeded = 0;
  std::uint64_t stoppable_flights = 0, abandoned_flights = 0;
  std::int64_t abandoned_ran_ns = 0, abandoned_planned_ns = 0, loader_ns = 0;
  // deadline: times a flight's fn started while an abandoned flight's fn for the key still ran
  // (S1 allows it after abandonment, S12).
  std::uint64_t abandoned_overlaps = 0;
  // coro and wide: calls made by coroutine callers, those that led with an fn returning its
  // value at once or an asynchronous loader; the most coroutine callers inside async_call at
  // once, and the most executions of fn in progress at once (all callers'; flights in progress).
  std::uint64_t coroutine_calls = 0, inline_leads = 0, async_leads = 0;
  std::int64_t peak_in_call = 0, peak_flights = 0;
  // wide: the flights found registered and waiting at the gate before it opened, and the time to
  // register them (the first wave: from spawning its callers until all had suspended), to have
  // the second wave join them, and to complete them all once the gate opened.
  std::uint64_t flights_registered = 0;
  std::int64_t register_ns = 0, join_ns = 0, complete_ns = 0;
  double elapsed_s = 0;
  double fn_mean_ns = 0;  // measured time from fn's start to its publication
  // A signal ended the run early: the figures cover the calls made until then.
  bool interrupted = false;
  // poisson, interrupted: the schedule's optimum over the arrivals that were called.
  std::optional<double> called_optimum;

  histogram latency;         // every call, start to return
  histogram wake;            // followers: leader's publication to the follower's return
  histogram cancel_latency;  // stop request to `cancelled` reaching the caller
  histogram lateness;        // poisson: dispatch minus scheduled time
  histogram deadline_lateness;  // deadline: deadline_exceeded reaching the caller minus its deadline

  std::array<std::uint64_t, kInvariants> violations{};
  std::vector<std::string> messages;

  std::uint64_t violation_total() const noexcept {
    std::uint64_t n = 0;
    for (auto v : violations) n += v;
    return n;
  }
  double coalescing_ratio() const noexcept {
    return calls == 0 ? 0 : 1.0 - static_cast<double>(flights) / static_cast<double>(calls);
  }
  // λD/(1+λD) for poisson runs.
  std::optional<double> model_ratio() const;
  // The ideal ratio on this run's own arrivals (run_spec::schedule_optimum, or called_optimum).
  std::optional<double> schedule_optimum() const;
  // The same with D replaced by the measured mean fn time.
  std::optional<double> model_ratio_measured_d() const;
  // deadline: what abandonment saved, the planned time of the stopped loaders less the time
  // they ran; and that as a share of the loader time there would have been without it.
  std::int64_t loader_saved_ns() const noexcept { return abandoned_planned_ns - abandoned_ran_ns; }
  double loader_saved_fraction() const noexcept {
    const double without = static_cast<double>(loader_ns + loader_saved_ns());
    return without <= 0 ? 0 : static_cast<double>(loader_saved_ns()) / without;
  }
  double throughput_per_s() const noexcept {
    return elapsed_s <= 0 ? 0 : static_cast<double>(calls) / elapsed_s;
  }
};

// The CPUs this process may run on (its affinity mask, so `taskset -c 0,1` counts 2), or
// std::thread::hardware_concurrency() where the mask cannot be read.
unsigned usable_cpus();

// "poisson/group λD=10": names a run in progress bars and messages.
std::string run_label(const run_spec& spec);

// Turns the options into the list of runs, in order: per workload (per λD), per implementation.
std::vector<std::shared_ptr<const run_spec>> plan_runs(const options& opts, bool progress);

// The ideal ratio on the arrivals of a poisson run that were called: the first `taken` of its
// schedule, less `skipped` (taken, then given up on a signal).
double schedule_optimum_of(const run_spec& spec, std::uint64_t taken,
                           const std::vector<std::uint64_t>& skipped);

// Runs one; violations are in the result. Exits the process with status 3 if the watchdog trips.
run_result run_one(const std::shared_ptr<const run_spec>& spec);

}  // namespace sfstress
