#include "run.hpp"

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <thread>

namespace sfstress {

zipf_table::zipf_table(std::uint64_t n, double exponent) {
  cdf_.resize(n);
  double sum = 0;
  for (std::uint64_t k = 0; k < n; ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k + 1), exponent);
    cdf_[k] = sum;
  }
  for (double& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

std::uint64_t zipf_table::key_for(double uniform01) const noexcept {
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), uniform01);
  return static_cast<std::uint64_t>(std::min<std::ptrdiff_t>(it - cdf_.begin(),
                                                             static_cast<std::ptrdiff_t>(cdf_.size()) - 1));
}

std::optional<double> run_result::model_ratio() const {
  if (!spec || !spec->lambda_d) return std::nullopt;
  const double x = *spec->lambda_d;
  return x / (1 + x);
}

std::optional<double> run_result::schedule_optimum() const {
  if (!spec || !spec->lambda_d) return std::nullopt;
  return called_optimum ? *called_optimum : spec->schedule_optimum;
}

std::optional<double> run_result::model_ratio_measured_d() const {
  if (!spec || !spec->lambda_d || flights == 0) return std::nullopt;
  const double x = spec->lambda_per_key_s * fn_mean_ns / 1e9;
  return x / (1 + x);
}

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Mixes the user's seed with the run's place in the plan (not with the implementation, so that
// every implementation sees the same keys, fn times and arrivals).
std::uint64_t seed_for(std::uint64_t seed, std::uint64_t workload, std::uint64_t point) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (workload * 1000 + point + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}


std::shared_ptr<const std::vector<arrival>> poisson_arrivals(double total_rate_s, double span_s,
                                                             std::uint64_t keys,
                                                             std::uint64_t seed) {
  // The superposition of `keys` independent Poisson processes of rate λ is one Poisson process of
  // rate keys·λ whose arrivals pick their key uniformly: generated that way, in time order.
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(total_rate_s);
  std::uniform_int_distribution<std::uint64_t> key(0, keys - 1);
  auto out = std::make_shared<std::vector<arrival>>();
  out->reserve(static_cast<std::size_t>(total_rate_s * span_s * 1.1) + 16);
  for (double t = gap(rng); t < span_s; t += gap(rng)) {
    out->push_back({static_cast<std::int64_t>(t * 1e9), key(rng)});
  }
  return out;
}

// Replays the model on `arrivals`: per key, a flight starts at an arrival that finds no flight and
// lasts exactly d_ns; every arrival while it lasts joins it.
double ideal_ratio(const std::vector<arrival>& arrivals, std::uint64_t keys, std::int64_t d_ns) {
  if (arrivals.empty()) return 0;
  std::vector<std::int64_t> ends(keys, std::numeric_limits<std::int64_t>::min());
  std::uint64_t joined = 0;
  for (const arrival& a : arrivals) {
    if (a.at_ns < ends[a.key]) {
      ++joined;
    } else {
      ends[a.key] = a.at_ns + d_ns;
    }
  }
  return static_cast<double>(joined) / static_cast<double>(arrivals.size());
}

}  // namespace

double schedule_optimum_of(const run_spec& spec, std::uint64_t taken,
                           const std::vector<std::uint64_t>& skipped) {
  std::vector<bool> given_up(taken);
  for (const std::uint64_t i : skipped) {
    if (i < taken) given_up[i] = true;
  }
  std::vector<arrival> called;
  called.reserve(taken);
  for (std::uint64_t i = 0; i < taken; ++i) {
    if (!given_up[i]) called.push_back((*spec.arrivals)[i]);
  }
  return ideal_ratio(called, spec.keys, spec.fn.min_ns);
}

unsigned usable_cpus() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    return static_cast<unsigned>(CPU_COUNT(&set));
  }
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string run_label(const run_spec& spec) {
  std::string label = spec.workload + "/" + spec.impl;
  if (spec.lambda_d) label += " λD=" + number(*spec.lambda_d);
  return label;
}

std::vector<std::shared_ptr<const run_spec>> plan_runs(const options& opts, bool progress) {
  std::vector<std::shared_ptr<const run_spec>> plan;
  const auto& names = workload_names();
  std::shared_ptr<const zipf_table> zipf;

  for (const std::string& workload : opts.workloads) {
    const auto workload_index =
        static_cast<std::uint64_t>(std::find(names.begin(), names.end(), workload) - names.begin());
    // One entry per point (λD for poisson, a single one otherwise), shared by every impl.
    std::vector<run_spec> points;
    run_spec base;
    base.workload = workload;
    base.watchdog_ns = static_cast<std::int64_t>(opts.watchdog_s * 1e9);
    base.cancel_bound_ns = static_cast<std::int64_t>(opts.cancel_bound_s * 1e9);
    base.progress = progress;
    base.seed = seed_for(opts.seed, workload_index, 0);

    if (workload == "seed") {
      const seed_params& p = opts.seed_load;
      base.how = run_spec::drive::requests;
      base.threads = p.workers;
      base.keys = p.keys;
      base.fn = p.fn;
      base.requests = p.requests;
      base.description = std::to_string(p.requests) + " requests over " + std::to_string(p.keys) +
                         " keys, fn " + p.fn.describe() + ", " + std::to_string(p.workers) +
                         " worker threads, arrivals as fast as possible";
      points.push_back(base);
    } else if (workload == "poisson") {
      const poisson_params& p = opts.poisson;
      const double d_s = static_cast<double>(p.d_ns) / 1e9;
      std::uint64_t point = 0;
      for (const double lambda_d : p.lambda_d) {
        run_spec s = base;
        s.seed = seed_for(opts.seed, workload_index, ++point);
        s.how = run_spec::drive::scheduled;
        s.lambda_d = lambda_d;
        s.lambda_per_key_s = lambda_d / d_s;
        s.keys = p.keys != 0 ? p.keys
                             : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(
                                                              std::llround(p.rate * d_s / lambda_d)));
        const double total_rate = s.lambda_per_key_s * static_cast<double>(s.keys);
        // Little's law: calls in progress = arrival rate × time in the call, and no call lasts
        // much longer than D. Half as many again, plus a few standard deviations of a Poisson
        // count, so that a busy moment does not find every worker taken.
        const double concurrent = total_rate * d_s;
        s.threads = p.workers != 0
                        ? p.workers
                        : std::min(8192u, static_cast<unsigned>(std::ceil(
                                              1.5 * concurrent + 4 * std::sqrt(concurrent) + 16)));
        s.fn = {fn_spec::kind::sleep, p.d_ns, p.d_ns};
        s.duration_s = p.duration_s;
        s.late_ns = p.late_ns;
        s.arrivals = poisson_arrivals(total_rate, p.duration_s, s.keys, s.seed);
        s.schedule_optimum = ideal_ratio(*s.arrivals, s.keys, p.d_ns);
        s.description = "λD=" + number(lambda_d) + ": λ=" + number(s.lambda_per_key_s) +
                        "/s per key, D=" + format_ns(static_cast<double>(p.d_ns)) + " (fn sleeps), " +
                        std::to_string(s.keys) + " keys, " + number(total_rate) + " arrivals/s for " +
                        number(p.duration_s) + "s (" + std::to_string(s.arrivals->size()) +
                        " scheduled), " + std::to_string(s.threads) + " workers";
        points.push_back(s);
      }
    } else if (workload == "hot") {
      const hot_params& p = opts.hot;
      base.how = run_spec::drive::timed;
      base.threads = p.threads != 0 ? p.threads : std::max(16u, 8 * usable_cpus());
      base.keys = 1;
      base.fn = p.fn;
      base.duration_s = p.duration_s;
      base.description = std::to_string(base.threads) + " threads on one key (" +
                         std::to_string(usable_cpus()) + " CPUs), fn " +
                         p.fn.describe() + ", " + number(p.duration_s) + "s";
      points.push_back(base);
    } else if (workload == "zipf") {
      const zipf_params& p = opts.zipf;
      if (!zipf) zipf = std::make_shared<const zipf_table>(p.keys, p.exponent);
      base.how = run_spec::drive::timed;
      base.threads = p.threads;
      base.keys = p.keys;
      base.keys_by = run_spec::pick::zipf;
      base.zipf = zipf;
      base.fn = p.fn;
      base.duration_s = p.duration_s;
      base.description = "Zipf(" + number(p.exponent) + ") over " + std::to_string(p.keys) +
                         " keys (top key " + number(100 * zipf->probability_of_top()) +
                         "% of calls), " + std::to_string(p.threads) + " threads, fn " +
                         p.fn.describe() + ", " + number(p.duration_s) + "s";
      points.push_back(base);
    } else if (workload == "churn") {
      const churn_params& p = opts.churn;
      base.how = run_spec::drive::timed;
      base.threads = p.threads;
      base.keys = p.keys;
      base.fn = p.fn;
      base.duration_s = p.duration_s;
      base.forget = p.forget;
      base.fail = p.fail;
      base.cancel = p.cancel;
      base.prestopped = p.prestopped;
      base.cancel_delay_ns = p.cancel_delay_ns;
      base.description = std::to_string(p.threads) + " threads over " + std::to_string(p.keys) +
                         " keys, fn " + p.fn.describe() + ", " + number(p.duration_s) +
                         "s; forget " + number(100 * p.forget) + "% of operations, fn throws in " +
                         number(100 * p.fail) + "% of flights, " + number(100 * p.cancel) +
                         "% of calls cancelled (" + number(100 * p.prestopped) +
                         "% of those before calling, the rest within " +
                         format_ns(static_cast<double>(p.cancel_delay_ns)) + ")";
      points.push_back(base);
    } else if (workload == "deadline") {
      const deadline_params& p = opts.deadline;
      base.how = run_spec::drive::timed;
      base.threads = p.threads;
      base.keys = p.keys;
      base.fn = p.fn;
      base.duration_s = p.duration_s;
      base.deadlines = true;
      base.deadline = p;
      base.d_ns = (p.fn.min_ns + p.fn.max_ns) / 2;
      const double calls_with_deadline = 1 - p.none - p.token;
      base.description =
          std::to_string(p.threads) + " threads over " + std::to_string(p.keys) + " keys, fn " +
          p.fn.describe() + ", " + number(p.duration_s) + "s; deadlines " +
          (p.how == deadline_params::spread::uniform ? "uniform" : "lognormal") + " in [" +
          number(p.min_d) + "D, " + number(p.max_d) + "D] for " +
          number(100 * calls_with_deadline) + "% of calls (" + number(100 * p.both) +
          "% with a token too, " + number(100 * p.until) + "% of them by call_until, " +
          number(100 * p.expired) + "% already passed), a timed stop for " +
          number(100 * p.token) + "% (and the " + number(100 * p.both) + "%), neither for " +
          number(100 * p.none) + "%; " + number(100 * p.stoppable) +
          "% of loaders take a stop_token (poll " +
          format_ns(static_cast<double>(p.poll_ns)) + ", stopped ones " +
          (p.abort_throws ? "throw" : "return") + " aborted); bound " +
          format_ns(static_cast<double>(p.bound_ns));
      points.push_back(base);
    } else if (workload == "coro") {
      const coro_params& p = opts.coro;
      base.how = run_spec::drive::timed;
      base.threads = p.threads;
      base.keys = p.keys;
      base.fn = p.fn;
      base.duration_s = p.duration_s;
      base.loop_threads = p.loop_threads;
      base.coroutines = p.callers;
      base.think = p.think;
      base.inline_rate = p.inline_rate;
      base.stoppable_rate = p.stoppable;
      base.forget = p.forget;
      base.fail = p.fail;
      base.cancel = p.leave;
      base.prestopped = p.prestopped;
      base.cancel_delay_ns = p.leave_delay_ns;
      // The thread callers call as deadline's do, with its default mix, around the same D.
      base.deadlines = p.threads > 0;
      base.deadline.threads = p.threads;
      base.deadline.keys = p.keys;
      base.deadline.fn = p.fn;
      base.deadline.duration_s = p.duration_s;
      base.deadline.bound_ns = opts.deadline.bound_ns;  // --deadline-bound checks them too
      base.d_ns = (p.fn.min_ns + p.fn.max_ns) / 2;
      base.description =
          std::to_string(p.callers) + " coroutine callers on " + std::to_string(p.loop_threads) +
          " loop threads and " + std::to_string(p.threads) + " thread callers over " +
          std::to_string(p.keys) + " keys, " + number(p.duration_s) + "s; coroutines think " +
          p.think.describe() + " and call: " + number(100 * p.inline_rate) +
          "% with an fn returning at once, the rest an asynchronous loader (" +
          p.fn.describe() + " on the loop's timer; " + number(100 * p.stoppable) +
          "% take a stop_token), " + number(100 * p.leave) + "% with a stop token stopped (" +
          number(100 * p.prestopped) + "% before calling, the rest within " +
          format_ns(static_cast<double>(p.leave_delay_ns)) + "), forget " +
          number(100 * p.forget) + "% of operations; fn throws in " + number(100 * p.fail) +
          "% of flights; threads call as in deadline";
      points.push_back(base);
    } else if (workload == "wide") {
      const wide_params& p = opts.wide;
      base.how = run_spec::drive::requests;
      base.threads = 0;
      base.keys = p.flights;
      base.requests = p.flights + p.joiners;
      base.loop_threads = p.loop_threads;
      base.coroutines = p.flights + p.joiners;
      base.gated = true;
      base.joiners = p.joiners;
      base.description = std::to_string(p.flights) + " flights in progress at once: one coroutine "
                         "caller per key registers a flight whose asynchronous loader waits on "
                         "one gate, then " + std::to_string(p.joiners) + " more join them, then "
                         "the gate opens; " + std::to_string(p.loop_threads) + " loop threads";
      points.push_back(base);
    }

    for (const run_spec& point : points) {
      for (const std::string& impl : opts.impls) {
        auto s = std::make_shared<run_spec>(point);
        s->impl = impl;
        plan.push_back(std::move(s));
      }
    }
  }
  return plan;
}

}  // namespace sfstress
