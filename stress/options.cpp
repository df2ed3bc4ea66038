#include "options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <system_error>
#include <type_traits>

namespace sfstress {

const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names{"seed",  "poisson",  "hot",  "zipf",
                                              "churn", "deadline", "coro", "wide"};
  return names;
}

// ---- small parsers --------------------------------------------------------------------------

namespace {

bool parse_double(std::string_view text, double& out) {
  if (text.empty()) return false;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(out);
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t at = text.find(sep);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

bool parse_duration_ns(std::string_view text, std::int64_t& ns) {
  static constexpr std::pair<std::string_view, double> units[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"min", 60e9}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) ||
                                  text[digits] == '.')) {
    ++digits;
  }
  double value = 0;
  if (!parse_double(text.substr(0, digits), value) || value < 0) return false;
  const std::string_view unit = text.substr(digits);
  double scale = 0;
  if (unit.empty()) {
    scale = 1e9;  // a bare number is seconds
  } else {
    for (const auto& [name, s] : units) {
      if (unit == name) scale = s;
    }
  }
  if (scale == 0) return false;
  const double total = value * scale;
  if (total > 1e18) return false;
  ns = static_cast<std::int64_t>(std::llround(total));
  return true;
}

bool parse_fn_spec(std::string_view text, fn_spec& spec) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view how = text.substr(0, colon);
  fn_spec parsed;
  if (how == "sleep") {
    parsed.how = fn_spec::kind::sleep;
  } else if (how == "spin") {
    parsed.how = fn_spec::kind::spin;
  } else {
    return false;
  }
  const auto range = split(text.substr(colon + 1), '-');
  if (range.size() > 2) return false;
  if (!parse_duration_ns(range[0], parsed.min_ns)) return false;
  parsed.max_ns = parsed.min_ns;
  if (range.size() == 2 && !parse_duration_ns(range[1], parsed.max_ns)) return false;
  if (parsed.max_ns < parsed.min_ns) return false;
  spec = parsed;
  return true;
}

std::string format_ns(double ns) {
  char buf[32];
  if (ns < 1e3) {
    std::snprintf(buf, sizeof buf, "%.0fns", ns);
  } else if (ns < 1e6) {
    std::snprintf(buf, sizeof buf, "%.3gus", ns / 1e3);
  } else if (ns < 1e9) {
    std::snprintf(buf, sizeof buf, "%.3gms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.3gs", ns / 1e9);
  }
  return buf;
}

std::string fn_spec::describe() const {
  std::string s = how == kind::sleep ? "sleep:" : "spin:";
  s += format_ns(static_cast<double>(min_ns));
  if (max_ns != min_ns) s += "-" + format_ns(static_cast<double>(max_ns));
  return s;
}

// ---- the flags --------------------------------------------------------------------------

namespace {

// How a flag's value is read: its metavar in --help (empty for a switch), the default shown there,
// and `set`, which stores a value, or returns what is wrong with it (the message after "--NAME: ").
struct value_kind {
  std::string metavar;
  std::string shown;
  std::function<std::string(const std::string&)> set;
};

std::string got(const std::string& v) { return ", got '" + v + "'"; }

// An integer of type T (unsigned for thread counts, std::uint64_t for counts and seeds), accepted
// only within [min, max].
template <class T>
value_kind integer(T& field, std::type_identity_t<T> min, std::type_identity_t<T> max) {
  return {"N", std::to_string(field), [&field, min, max](const std::string& v) -> std::string {
            std::uint64_t n = 0;
            if (!parse_u64(v, n) || n < min || n > max) {
              return "expected an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + got(v);
            }
            field = static_cast<T>(n);
            return {};
          }};
}

value_kind real(double& field, double min, double max, std::string metavar) {
  return {std::move(metavar), format_number(field),
          [&field, min, max](const std::string& v) -> std::string {
            double d = 0;
            if (!parse_double(v, d) || d < min || d > max) {
              return "expected a number from " + format_number(min) + " to " +
                     format_number(max) + got(v);
            }
            field = d;
            return {};
          }};
}

// A duration kept in nanoseconds; `positive` rejects zero.
value_kind nanoseconds(std::int64_t& field, bool positive) {
  return {"DURATION", format_ns(static_cast<double>(field)),
          [&field, positive](const std::string& v) -> std::string {
            std::int64_t ns = 0;
            if (!parse_duration_ns(v, ns) || (positive && ns <= 0)) {
              return std::string("expected a ") + (positive ? "positive " : "") +
                     "duration such as 500us, 2ms, 1.5s or 2h" + got(v);
            }
            field = ns;
            return {};
          }};
}

// A duration kept in seconds.
value_kind seconds(double& field, bool positive) {
  return {"DURATION", format_ns(field * 1e9),
          [&field, positive](const std::string& v) -> std::string {
            std::int64_t ns = 0;
            if (!parse_duration_ns(v, ns) || (positive && ns <= 0)) {
              return std::string("expected a ") + (positive ? "positive " : "") +
                     "duration such as 500ms, 1.5s, 30m or 2h" + got(v);
            }
            field = static_cast<double>(ns) / 1e9;
            return {};
          }};
}

value_kind fn(fn_spec& field) {
  return {"SPEC", field.describe(), [&field](const std::string& v) -> std::string {
            fn_spec spec;
            if (!parse_fn_spec(v, spec) || spec.max_ns <= 0) {
              return "expected sleep:DURATION, spin:DURATION or sleep:MIN-MAX (e.g. sleep:2ms, "
                     "spin:1us, sleep:10ms-50ms)" + got(v);
            }
            field = spec;
            return {};
          }};
}

// A sleep on the event loop's timer (coro): sleep:DURATION or sleep:MIN-MAX, never a spin, which
// would hold a loop thread; `zero_ok` accepts sleep:0.
value_kind loop_sleep(fn_spec& field, bool zero_ok) {
  return {"SPEC", field.describe(), [&field, zero_ok](const std::string& v) -> std::string {
            fn_spec spec;
            if (!parse_fn_spec(v, spec) || spec.how != fn_spec::kind::sleep ||
                (!zero_ok && spec.max_ns <= 0)) {
              return std::string("expected sleep:DURATION or sleep:MIN-MAX (e.g. sleep:20ms, "
                                 "sleep:0-100ms), a sleep on the event loop's timer") + got(v);
            }
            field = spec;
            return {};
          }};
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

// A comma-separated list of names that `known` accepts, or `all`, meaning `all_of`; a wrong name
// is reported with `also` after the list of the known ones.
value_kind names(std::vector<std::string>& field, const std::vector<std::string>& all_of,
                 std::function<bool(std::string_view)> known, std::string also = "") {
  return {"LIST", join(field),
          [&field, all_of, known, also](const std::string& v) -> std::string {
            std::vector<std::string> given;
            for (std::string_view part : split(v, ',')) {
              if (part == "all") {
                given.insert(given.end(), all_of.begin(), all_of.end());
              } else if (known(part)) {
                given.emplace_back(part);
              } else {
                return "unknown name '" + std::string(part) + "' (known: " + join(all_of) +
                       ", all)" + also;
              }
            }
            field.clear();
            for (const std::string& n : given) {
              if (std::find(field.begin(), field.end(), n) == field.end()) field.push_back(n);
            }
            return {};
          }};
}

value_kind progress_when(progress_mode& field) {
  static const std::pair<std::string, progress_mode> modes[] = {
      {"auto", progress_mode::automatic}, {"always", progress_mode::always},
      {"never", progress_mode::never}};
  std::string shown;
  for (const auto& [name, mode] : modes) {
    if (mode == field) shown = name;
  }
  return {"WHEN", shown, [&field](const std::string& v) -> std::string {
            for (const auto& [name, mode] : modes) {
              if (v == name) {
                field = mode;
                return {};
              }
            }
            return "expected auto, always or never" + got(v);
          }};
}

// One of a few words, each standing for a value of `field`; `choices` lists them in the order
// --help and the message give them.
template <class T>
value_kind one_of(T& field, std::vector<std::pair<std::string, T>> choices) {
  std::string shown, listed;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].second == field) shown = choices[i].first;
    listed += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i].first;
  }
  return {"WORD", shown, [&field, choices, listed](const std::string& v) -> std::string {
            for (const auto& [name, value] : choices) {
              if (v == name) {
                field = value;
                return {};
              }
            }
            return "expected " + listed + got(v);
          }};
}

// Adds --NAME. Its value is stored where the flag stands on the command line
// (trigger_on_parse), so that the later of two flags wins: a repeated flag, or --duration and
// the durations it sets.
void add(CLI::App& app, const std::string& name, const std::string& help, value_kind kind) {
  const std::string flag = "--" + name;
  const bool takes_value = !kind.metavar.empty();
  app.add_option(
         flag,
         [flag, takes_value, set = std::move(kind.set)](const CLI::results_t& values) {
           const std::string& v = values.front();  // a bare switch's is "true"
           if (!takes_value && v != "true") throw CLI::ValidationError(flag + " takes no value");
           if (std::string wrong = set(v); !wrong.empty()) {
             throw CLI::ValidationError(flag, wrong);  // "--NAME: ..."
           }
           return true;
         },
         help + (kind.shown.empty() ? "" : " [" + kind.shown + "]"))
      ->type_name(kind.metavar)
      ->expected(takes_value ? 1 : 0)
      ->trigger_on_parse();
}

void add_flags(CLI::App& app, options& o) {
  app.name("sf-stress");
  app.description(
      "Runs duplicate-call workloads against singleflight's implementations, checks the\n"
      "semantics S1-S7, S10 and S12 on every call (and S13 in wide), and prints a table per\n"
      "workload. With no flags it runs the default comparison: every workload, briefly, for group,\n"
      "mutex_group and sharded_group.\n");
  app.footer(
      "Exit status: 0 all runs clean, 1 a violation was found, 2 bad flags,\n"
      "3 the watchdog found a stuck call, 130 (SIGINT, Ctrl-C) or 143 (SIGTERM) interrupted:\n"
      "the run in progress stops early and what was measured is printed (and written);\n"
      "a second signal exits at once.\n\n"
      "Durations: a number with ns, us, ms, s, m (or min) or h; a bare number is seconds.\n"
      "fn SPEC: sleep:DURATION, spin:DURATION, or sleep:MIN-MAX (uniform per flight).");
  app.set_help_flag();  // no -h: --help is added last, as a flag of its own
  app.get_formatter()->column_width(32);
  app.get_formatter()->label("Usage", "usage");
  app.get_formatter()->label("OPTIONS", "--FLAG VALUE | --FLAG=VALUE ...");
  app.option_defaults()->group("Flags (default in brackets)");
  app.allow_extras();  // reported by parse_options, in sf-stress's words

  add(app, "workload",
      "workloads to run, comma-separated: seed, poisson, hot, zipf, churn, deadline, coro, wide, "
      "or all",
      names(o.workloads, workload_names(), [](std::string_view n) {
        const auto& w = workload_names();
        return std::find(w.begin(), w.end(), n) != w.end();
      }));
  add(app, "impl",
      "implementations, comma-separated: group, mutex_group, sharded_group, or all (those three); "
      "also group_michael_dhp and group_michael_hp (group on libcds's tables) and, to check the "
      "checkers, mutant:solo|stale|flags|eager_erase|hang|leak|deaf|tardy|impatient|clingy",
      names(o.impls, {"group", "mutex_group", "sharded_group"}, known_impl,
            "; also group_michael_dhp, group_michael_hp and "
            "mutant:solo|stale|flags|eager_erase|hang|leak|deaf|tardy|impatient|clingy"));
  add(app, "seed", "seed of every random choice (keys, fn times, schedules)",
      integer(o.seed, 0, UINT64_MAX));
  add(app, "json", "also write the results as JSON to PATH",
      {"PATH", "none", [&o](const std::string& v) -> std::string {
         if (v.empty()) return "expected a path";
         o.json_path = v;
         return {};
       }});
  add(app, "duration",
      "shorthand: sets --poisson-duration, --hot-duration, --zipf-duration, --churn-duration, "
      "--deadline-duration and --coro-duration",
      {"DURATION", "unset", [&o](const std::string& v) -> std::string {
         std::int64_t ns = 0;
         if (!parse_duration_ns(v, ns) || ns <= 0) {
           return "expected a positive duration such as 500ms or 2s" + got(v);
         }
         o.poisson.duration_s = o.hot.duration_s = o.zipf.duration_s = o.churn.duration_s =
             o.deadline.duration_s = o.coro.duration_s = static_cast<double>(ns) / 1e9;
         return {};
       }});
  value_kind soak = seconds(o.soak_s, false);
  soak.shown = "0, off";
  add(app, "soak",
      "repeat the chosen runs until this much time has passed (0: run once), reporting every "
      "--report-every",
      std::move(soak));
  add(app, "report-every", "interval of the soak reports", seconds(o.report_every_s, true));
  add(app, "watchdog",
      "a call outstanding this long is reported as stuck (S6) and the run exits with status 3",
      seconds(o.watchdog_s, true));
  add(app, "cancel-bound",
      "a cancelled caller must return within this after its stop was requested (S7)",
      seconds(o.cancel_bound_s, true));
  add(app, "progress",
      "progress bar on stderr for runs over a second: auto (when stderr is a terminal), always "
      "or never",
      progress_when(o.progress));
  add(app, "short",
      "the short tier (CI, sanitizers): every workload scaled down to a fraction of a second; "
      "flags given explicitly still win",
      {"", "off", [&o](const std::string&) {
         o.short_tier = true;
         return std::string();
       }});

  add(app, "seed-requests", "seed: requests in all",
      integer(o.seed_load.requests, 1, 1'000'000'000));
  add(app, "seed-keys", "seed: keys, chosen uniformly", integer(o.seed_load.keys, 1, 10'000'000));
  add(app, "seed-workers", "seed: worker threads serving the requests",
      integer(o.seed_load.workers, 1, 4096));
  add(app, "seed-fn", "seed: what fn does", fn(o.seed_load.fn));

  std::string lambdas;
  for (double v : o.poisson.lambda_d) lambdas += (lambdas.empty() ? "" : ",") + format_number(v);
  add(app, "poisson-lambda-d", "poisson: the λD values to sweep, comma-separated",
      {"LIST", lambdas, [&o](const std::string& v) -> std::string {
         std::vector<double> values;
         for (std::string_view part : split(v, ',')) {
           double d = 0;
           if (!parse_double(part, d) || d <= 0 || d > 1e6) {
             return "expected positive numbers separated by commas" + got(v);
           }
           values.push_back(d);
         }
         o.poisson.lambda_d = values;
         return {};
       }});
  add(app, "poisson-d", "poisson: D, how long fn sleeps", nanoseconds(o.poisson.d_ns, true));
  add(app, "poisson-rate",
      "poisson: total arrivals per second (over all keys) that sets the key count, keys = "
      "rate·D/λD (at least 1)",
      real(o.poisson.rate, 1, 1e7, "PER_S"));
  add(app, "poisson-keys", "poisson: keys, overriding the rate (0: from the rate)",
      integer(o.poisson.keys, 0, 10'000'000));
  add(app, "poisson-workers",
      "poisson: worker threads (0: 1.5 × the expected concurrent calls plus a margin)",
      integer(o.poisson.workers, 0, 8192));
  add(app, "poisson-duration", "poisson: span of arrivals per λD",
      seconds(o.poisson.duration_s, true));
  add(app, "poisson-late",
      "poisson: an arrival dispatched later than this after its scheduled time counts as late",
      nanoseconds(o.poisson.late_ns, true));

  add(app, "hot-threads", "hot: threads, all on one key (0: max(16, 8 × usable CPUs))",
      integer(o.hot.threads, 0, 4096));
  add(app, "hot-fn", "hot: what fn does", fn(o.hot.fn));
  add(app, "hot-duration", "hot: how long it runs", seconds(o.hot.duration_s, true));

  add(app, "zipf-exponent", "zipf: the exponent s of P(rank k) ∝ 1/k^s",
      real(o.zipf.exponent, 0.01, 10, "S"));
  add(app, "zipf-keys", "zipf: keys", integer(o.zipf.keys, 1, 10'000'000));
  add(app, "zipf-threads", "zipf: threads", integer(o.zipf.threads, 1, 4096));
  add(app, "zipf-fn", "zipf: what fn does", fn(o.zipf.fn));
  add(app, "zipf-duration", "zipf: how long it runs", seconds(o.zipf.duration_s, true));

  add(app, "churn-threads", "churn: threads", integer(o.churn.threads, 1, 4096));
  add(app, "churn-keys", "churn: keys, chosen uniformly", integer(o.churn.keys, 1, 1'000'000));
  add(app, "churn-fn", "churn: what fn does", fn(o.churn.fn));
  add(app, "churn-duration", "churn: how long it runs", seconds(o.churn.duration_s, true));
  add(app, "churn-forget", "churn: fraction of operations that are forget(key)",
      real(o.churn.forget, 0, 1, "P"));
  add(app, "churn-fail", "churn: fraction of flights whose fn throws",
      real(o.churn.fail, 0, 1, "P"));
  add(app, "churn-cancel", "churn: fraction of calls whose stop_token gets stopped",
      real(o.churn.cancel, 0, 1, "P"));
  add(app, "churn-prestopped", "churn: of the cancelled calls, the fraction stopped before calling",
      real(o.churn.prestopped, 0, 1, "P"));
  add(app, "churn-cancel-delay",
      "churn: a stop is requested uniformly within this after the call begins",
      nanoseconds(o.churn.cancel_delay_ns, false));

  deadline_params& d = o.deadline;
  add(app, "deadline-threads", "deadline: threads", integer(d.threads, 1, 4096));
  add(app, "deadline-keys", "deadline: keys, chosen uniformly", integer(d.keys, 1, 1'000'000));
  add(app, "deadline-fn",
      "deadline: what fn does; D, around which deadlines are drawn, is the middle of its range",
      fn(d.fn));
  add(app, "deadline-duration", "deadline: how long it runs", seconds(d.duration_s, true));
  add(app, "deadline-spread",
      "deadline: how deadlines and timed stops are drawn from [min·D, max·D]: uniform, or "
      "lognormal (median sqrt(min·max)·D, clipped to the range)",
      one_of(d.how, {{"uniform", deadline_params::spread::uniform},
                     {"lognormal", deadline_params::spread::lognormal}}));
  add(app, "deadline-min", "deadline: the earliest deadline or timed stop, in multiples of D",
      real(d.min_d, 0.001, 1000, "X"));
  add(app, "deadline-max", "deadline: the latest deadline or timed stop, in multiples of D",
      real(d.max_d, 0.001, 1000, "X"));
  add(app, "deadline-none", "deadline: fraction of calls with neither deadline nor stop token",
      real(d.none, 0, 1, "P"));
  add(app, "deadline-token",
      "deadline: fraction of calls with a stop token (stopped by a timer) and no deadline",
      real(d.token, 0, 1, "P"));
  add(app, "deadline-both", "deadline: fraction of calls with a deadline and a stop token",
      real(d.both, 0, 1, "P"));
  add(app, "deadline-until",
      "deadline: of the calls with a deadline, the fraction made with call_until (the rest "
      "call_for)",
      real(d.until, 0, 1, "P"));
  add(app, "deadline-expired",
      "deadline: of the calls with a deadline, the fraction whose deadline has already passed",
      real(d.expired, 0, 1, "P"));
  add(app, "deadline-stoppable",
      "deadline: fraction of calls whose fn takes a std::stop_token and stops early when it is "
      "requested (S12)",
      real(d.stoppable, 0, 1, "P"));
  add(app, "deadline-aborted",
      "deadline: what a stopped fn does: value (returns a value marked aborted) or throw (throws "
      "an exception marked aborted)",
      one_of(d.abort_throws, {{"value", false}, {"throw", true}}));
  add(app, "deadline-poll", "deadline: how often a stoppable fn looks at its token",
      nanoseconds(d.poll_ns, true));
  add(app, "deadline-bound",
      "deadline and coro's thread callers: a caller must return within this after its "
      "deadline, and a lone leader's stoppable fn must stop within this after the leader left "
      "(S7, S12)",
      nanoseconds(d.bound_ns, true));
  coro_params& c = o.coro;
  add(app, "coro-callers", "coro: coroutine callers, all at once, each calling in a loop",
      integer(c.callers, 1, 10'000'000));
  add(app, "coro-loop-threads", "coro: threads of the event loop the coroutine callers run on",
      integer(c.loop_threads, 1, 256));
  add(app, "coro-threads",
      "coro: thread callers on the same keys (call, call_for and call_until, with tokens and "
      "stoppable loaders, as in deadline)",
      integer(c.threads, 0, 4096));
  add(app, "coro-keys", "coro: keys, chosen uniformly", integer(c.keys, 1, 10'000'000));
  add(app, "coro-fn",
      "coro: D, how long an asynchronous loader sleeps on the loop's timer (a thread caller's fn "
      "sleeps as long in its thread)",
      loop_sleep(c.fn, false));
  add(app, "coro-think", "coro: a coroutine caller's pause before each call, on the loop's timer",
      loop_sleep(c.think, true));
  add(app, "coro-duration", "coro: how long it runs", seconds(c.duration_s, true));
  add(app, "coro-inline",
      "coro: fraction of coroutine calls whose fn returns its value at once (run inline by a "
      "leader, which does not suspend); the rest return an asynchronous loader",
      real(c.inline_rate, 0, 1, "P"));
  add(app, "coro-stoppable",
      "coro: of the asynchronous loaders, the fraction that take a std::stop_token and stop "
      "early when their flight is abandoned (S12)",
      real(c.stoppable, 0, 1, "P"));
  add(app, "coro-forget", "coro: fraction of coroutine operations that are forget(key)",
      real(c.forget, 0, 1, "P"));
  add(app, "coro-fail", "coro: fraction of flights whose fn throws (coroutine and thread callers')",
      real(c.fail, 0, 1, "P"));
  add(app, "coro-leave",
      "coro: fraction of coroutine calls made with a stop token that is then stopped (S7)",
      real(c.leave, 0, 1, "P"));
  add(app, "coro-prestopped", "coro: of those, the fraction stopped before calling",
      real(c.prestopped, 0, 1, "P"));
  add(app, "coro-leave-delay", "coro: the rest are stopped uniformly within this after the call",
      nanoseconds(c.leave_delay_ns, false));

  add(app, "wide-flights",
      "wide: flights in progress at once, one per key, each registered by a coroutine caller "
      "whose asynchronous loader waits on one gate",
      integer(o.wide.flights, 1, 100'000'000));
  add(app, "wide-joiners",
      "wide: the second wave, coroutine callers that join the registered flights (key i mod "
      "flights) before the gate opens",
      integer(o.wide.joiners, 0, 100'000'000));
  add(app, "wide-loop-threads", "wide: threads of the event loop", integer(o.wide.loop_threads, 1, 256));
  // Not CLI11's help flag, which waits for the end of the line: --help is answered where it stands.
  add(app, "help", "print this help and exit",
      {"", "", [](const std::string&) -> std::string { throw CLI::CallForHelp(); }});
}

// The short tier: enough calls for every checker to see every path, in a fraction of a second per
// run, so that the whole workload list runs in seconds even under ThreadSanitizer.
void apply_short_tier(options& o) {
  o.seed_load.requests = 1'000;
  o.seed_load.workers = 64;
  o.seed_load.fn = {fn_spec::kind::sleep, 1'000'000, 5'000'000};
  o.poisson.duration_s = 0.3;
  o.poisson.rate = 4'000;
  o.hot.duration_s = 0.3;
  o.hot.threads = 8;
  o.zipf.duration_s = 0.3;
  o.zipf.threads = 16;
  o.churn.duration_s = 0.5;
  o.churn.threads = 16;
  o.deadline.duration_s = 0.5;
  o.deadline.threads = 12;
  o.coro.callers = 2'000;
  o.coro.keys = 1'000;
  o.coro.fn = {fn_spec::kind::sleep, 50'000'000, 50'000'000};
  o.coro.think = {fn_spec::kind::sleep, 0, 200'000'000};
  o.coro.leave_delay_ns = 100'000'000;
  o.coro.duration_s = 0.5;
  o.wide.flights = 5'000;
  o.wide.joiners = 5'000;
}

}  // namespace

std::string help_text() {
  options defaults;
  CLI::App app;
  add_flags(app, defaults);
  return app.help();
}

parse_result parse_options(int argc, char** argv, options& opts, std::string& error) {
  // --short sets defaults, not flags: when it is given, the line is parsed again over the short
  // tier's values, so that flags given explicitly win wherever --short stands.
  for (const bool short_tier : {false, true}) {
    opts = options{};
    if (short_tier) apply_short_tier(opts);
    CLI::App app;
    add_flags(app, opts);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      return parse_result::help;
    } catch (const CLI::ArgumentMismatch& e) {
      // Arguments run out only at the end of the line: the last one is a flag without its value.
      const std::string last = argv[argc - 1];
      const CLI::Option* f = app.get_option_no_throw(last.substr(0, last.find('=')));
      error = f != nullptr ? f->get_name() + " needs a value (" + f->get_type_name() + ")"
                           : std::string(e.what());
      return parse_result::error;
    } catch (const CLI::ParseError& e) {
      error = e.what();
      return parse_result::error;
    }
    if (const std::vector<std::string> rest = app.remaining(); !rest.empty()) {
      const std::string& arg = rest.front();
      error = arg.size() < 3 || !arg.starts_with("--")
                  ? "unexpected argument '" + arg + "' (flags start with --; see --help)"
                  : "unknown flag " + arg.substr(0, arg.find('=')) + " (see --help)";
      return parse_result::error;
    }
    if (!opts.short_tier) break;
  }
  opts.command_line.assign(argv, argv + argc);
  if (opts.workloads.empty()) {
    error = "--workload: no workload given";
    return parse_result::error;
  }
  if (opts.impls.empty()) {
    error = "--impl: no implementation given";
    return parse_result::error;
  }
  const deadline_params& d = opts.deadline;
  if (d.none + d.token + d.both > 1 + 1e-9) {
    error = "--deadline-none, --deadline-token and --deadline-both add up to more than 1";
    return parse_result::error;
  }
  if (d.min_d > d.max_d) {
    error = "--deadline-min is above --deadline-max";
    return parse_result::error;
  }
  return parse_result::run;
}

}  // namespace sfstress
