// sf-stress: what a run is asked to do. Every workload parameter has a flag (see --help, which
// CLI11 writes from the same definitions the parser uses, so it lists every flag with its default).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sfstress {

// What fn does: sleep (an I/O-bound loader) or spin (a CPU-bound one), for a fixed time or a time
// drawn uniformly from [min, max] per flight. Written like "sleep:2ms", "spin:1us",
// "sleep:10ms-50ms".
struct fn_spec {
  enum class kind { sleep, spin };
  kind how = kind::sleep;
  std::int64_t min_ns = 0;
  std::int64_t max_ns = 0;

  std::string describe() const;
};

struct seed_params {  // the seeds' task 10
  std::uint64_t requests = 10'000;
  std::uint64_t keys = 100;
  unsigned workers = 256;
  fn_spec fn{fn_spec::kind::sleep, 10'000'000, 50'000'000};
};

struct poisson_params {  // open-loop arrivals, the λD sweep
  std::vector<double> lambda_d{0.1, 1, 10, 100};
  // fn sleeps exactly D. 5 ms keeps λ = 100/D = 20,000 arrivals/s on the one key of λD = 100,
  // which two cores can dispatch on time, and a sleep's overshoot (tens of µs) under 1% of D.
  std::int64_t d_ns = 5'000'000;
  double rate = 10'000;           // total arrivals per second; keys = rate·D/λD unless --poisson-keys
  std::uint64_t keys = 0;         // 0: from the rate
  unsigned workers = 0;           // 0: from the expected number of concurrent calls
  double duration_s = 1.5;        // of arrivals, per λD
  std::int64_t late_ns = 500'000;  // an arrival dispatched later than this is counted late
};

struct hot_params {  // every thread on one key
  unsigned threads = 0;  // 0: max(16, 8 × usable CPUs)
  fn_spec fn{fn_spec::kind::spin, 1'000, 1'000};
  double duration_s = 1.5;
};

struct zipf_params {  // a skewed key popularity, like a cache's
  double exponent = 0.99;
  std::uint64_t keys = 100'000;
  unsigned threads = 64;
  fn_spec fn{fn_spec::kind::sleep, 50'000, 50'000};
  double duration_s = 1.5;
};

struct churn_params {  // forget(), exceptions and cancellations mixed in
  unsigned threads = 32;
  std::uint64_t keys = 32;
  fn_spec fn{fn_spec::kind::sleep, 200'000, 200'000};
  double duration_s = 1.5;
  double forget = 0.02;      // fraction of operations that are forget(key) instead of a call
  double fail = 0.1;         // fraction of flights whose fn throws
  double cancel = 0.1;       // fraction of calls made with a stop_token that is then stopped
  double prestopped = 0.1;   // of those, the fraction whose token is stopped before the call
  std::int64_t cancel_delay_ns = 400'000;  // a stop is requested uniformly within this after the call
};

// deadline: call_for/call_until with deadlines around fn's duration D, stop tokens requested by a
// timer, and loaders that take a std::stop_token and stop when their flight is abandoned (S7, S12).
struct deadline_params {
  unsigned threads = 16;
  std::uint64_t keys = 8;
  fn_spec fn{fn_spec::kind::sleep, 2'000'000, 2'000'000};  // D: the middle of its range
  double duration_s = 1.5;
  // How far from the call a deadline (or a timed stop) lies, in multiples of D: drawn uniformly
  // from [min, max], or log-normally (median sqrt(min·max), σ = ln(max/min)/4) and clipped to it.
  enum class spread { uniform, lognormal };
  spread how = spread::uniform;
  double min_d = 0.2;
  double max_d = 3;
  // Of the calls: the fraction with neither deadline nor stop token, with a stop token only
  // (stopped by the timer), and with both; the rest have a deadline only.
  double none = 0.1;
  double token = 0.1;
  double both = 0.1;
  double until = 0.25;    // of the calls with a deadline, the fraction made with call_until
  double expired = 0.02;  // of the calls with a deadline, the fraction whose deadline has passed
  double stoppable = 0.5;  // fraction of calls whose fn takes a std::stop_token and honours it
  bool abort_throws = false;  // a stopped loader throws (flight_failure, aborted) or returns one
  std::int64_t poll_ns = 100'000;  // a stoppable loader looks at its token this often
  // A caller that throws deadline_exceeded must return within this after its deadline; a
  // follower with a deadline must not keep waiting longer than this past it; a lone leader's
  // loader must stop within this after its leader left (S7, S12).
  std::int64_t bound_ns = 50'000'000;
};

// coro: coroutine callers of async_call on a small event loop (N loop threads), with thread
// callers on the same keys, leaving, abandonment, forget and exceptions.
struct coro_params {
  std::uint64_t callers = 20'000;  // coroutine callers, all at once
  unsigned loop_threads = 2;
  unsigned threads = 8;            // thread callers: call, call_for, call_until as in deadline
  std::uint64_t keys = 10'000;
  // An asynchronous loader sleeps D on the loop's timer; a thread caller's fn sleeps D too. A
  // long D keeps many callers waiting at once (about calls/s × D/2) for little CPU: the loop
  // stays well below saturation on two shared cores, and its timers nearly on time.
  fn_spec fn{fn_spec::kind::sleep, 200'000'000, 200'000'000};
  // A coroutine caller's pause before each call, on the loop's timer, drawn uniformly.
  fn_spec think{fn_spec::kind::sleep, 0, 400'000'000};
  double duration_s = 1.5;
  double inline_rate = 0.1;  // fraction of coroutine calls whose fn returns its value at once
  double stoppable = 0.5;    // of the asynchronous loaders, the fraction taking a std::stop_token
  double forget = 0.01;      // fraction of coroutine operations that are forget(key)
  double fail = 0.05;        // fraction of flights whose fn throws (coroutine and thread callers')
  double leave = 0.1;        // fraction of coroutine calls with a stop token that gets stopped
  double prestopped = 0.1;   // of those, the fraction stopped before calling
  std::int64_t leave_delay_ns = 400'000'000;  // the rest, uniformly within this after the call
};

// wide: a hundred thousand flights in progress at once: one coroutine caller per key registers
// a flight whose asynchronous loader waits on one gate; a second wave joins them; then the gate
// opens.
struct wide_params {
  std::uint64_t flights = 100'000;  // keys, each with a flight registered by one caller
  std::uint64_t joiners = 100'000;  // the second wave: callers for key i mod flights
  unsigned loop_threads = 2;
};

enum class progress_mode { automatic, always, never };

struct options {
  std::vector<std::string> workloads{"seed",  "poisson",  "hot",  "zipf",
                                     "churn", "deadline", "coro", "wide"};
  std::vector<std::string> impls{"group", "mutex_group", "sharded_group"};
  std::uint64_t seed = 1;
  std::string json_path;
  double soak_s = 0;          // 0: one round
  double report_every_s = 60;  // soak reports
  double watchdog_s = 10;     // a call outstanding this long trips the watchdog (S6)
  double cancel_bound_s = 1;  // a stopped caller must be gone within this (S7)
  progress_mode progress = progress_mode::automatic;
  bool short_tier = false;

  seed_params seed_load;
  poisson_params poisson;
  hot_params hot;
  zipf_params zipf;
  churn_params churn;
  deadline_params deadline;
  coro_params coro;
  wide_params wide;

  std::vector<std::string> command_line;
};

// The workloads and implementations that may be named.
const std::vector<std::string>& workload_names();
bool known_impl(std::string_view name);  // defined with the implementations

enum class parse_result { run, help, error };
// Fills `opts` from argv. On error, `error` says what was wrong in one line.
parse_result parse_options(int argc, char** argv, options& opts, std::string& error);
std::string help_text();

// Parsers shared with the tests of the parser itself; each returns false on malformed input.
bool parse_duration_ns(std::string_view text, std::int64_t& ns);  // "250us", "2s", "1.5h"
bool parse_fn_spec(std::string_view text, fn_spec& spec);

std::string format_ns(double ns);  // "12.3us", "1.50ms"

}  // namespace sfstress
