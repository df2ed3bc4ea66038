#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>
#include <system_error>
#include <type_traits>

namespace sfstress {

const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names{"seed", "poisson", "hot", "zipf", "churn"};
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

// ---- the flag table -------------------------------------------------------------------------

namespace {

using setter = std::function<bool(std::string_view, options&, std::string&)>;
using shower = std::function<std::string(const options&)>;

struct flag {
  std::string name;     // without the leading --
  std::string metavar;  // empty for a switch
  std::string help;
  shower show;          // the current value, for --help's defaults
  setter set;
};

template <class T>
using field = std::function<T&(options&)>;

template <class T>
T read(const options& o, const field<T>& f) {
  options copy = o;
  return f(copy);
}

// An integer flag of type T (unsigned for thread counts, std::uint64_t for counts and seeds),
// accepted only within [min, max].
template <class T>
flag integer_flag(std::string name, std::string help, field<T> f, std::type_identity_t<T> min,
                  std::type_identity_t<T> max) {
  return {name, "N", std::move(help),
          [f](const options& o) { return std::to_string(read(o, f)); },
          [f, min, max, name](std::string_view v, options& o, std::string& err) {
            std::uint64_t n = 0;
            if (!parse_u64(v, n) || n < min || n > max) {
              err = "--" + name + ": expected an integer from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", got '" + std::string(v) + "'";
              return false;
            }
            f(o) = static_cast<T>(n);
            return true;
          }};
}
constexpr auto unsigned_flag = &integer_flag<unsigned>;     // thread and worker counts
constexpr auto count_flag = &integer_flag<std::uint64_t>;  // counts and seeds

flag real_flag(std::string name, std::string metavar, std::string help, field<double> f,
               double min, double max) {
  return {name, std::move(metavar), std::move(help),
          [f](const options& o) { return format_number(read(o, f)); },
          [f, min, max, name](std::string_view v, options& o, std::string& err) {
            double d = 0;
            if (!parse_double(v, d) || d < min || d > max) {
              err = "--" + name + ": expected a number from " + format_number(min) + " to " +
                    format_number(max) + ", got '" + std::string(v) + "'";
              return false;
            }
            f(o) = d;
            return true;
          }};
}

// A duration kept in nanoseconds; `positive` rejects zero.
flag ns_flag(std::string name, std::string help, field<std::int64_t> f, bool positive) {
  return {name, "DURATION", std::move(help),
          [f](const options& o) { return format_ns(static_cast<double>(read(o, f))); },
          [f, positive, name](std::string_view v, options& o, std::string& err) {
            std::int64_t ns = 0;
            if (!parse_duration_ns(v, ns) || (positive && ns <= 0)) {
              err = "--" + name + ": expected a " + (positive ? "positive " : "") +
                    "duration such as 500us, 2ms, 1.5s or 2h, got '" + std::string(v) + "'";
              return false;
            }
            f(o) = ns;
            return true;
          }};
}

// A duration kept in seconds.
flag seconds_flag(std::string name, std::string help, field<double> f, bool positive) {
  return {name, "DURATION", std::move(help),
          [f](const options& o) { return format_ns(read(o, f) * 1e9); },
          [f, positive, name](std::string_view v, options& o, std::string& err) {
            std::int64_t ns = 0;
            if (!parse_duration_ns(v, ns) || (positive && ns <= 0)) {
              err = "--" + name + ": expected a " + (positive ? "positive " : "") +
                    "duration such as 500ms, 1.5s, 30m or 2h, got '" + std::string(v) + "'";
              return false;
            }
            f(o) = static_cast<double>(ns) / 1e9;
            return true;
          }};
}

flag fn_flag(std::string name, std::string help, field<fn_spec> f) {
  return {name, "SPEC", std::move(help), [f](const options& o) { return read(o, f).describe(); },
          [f, name](std::string_view v, options& o, std::string& err) {
            fn_spec spec;
            if (!parse_fn_spec(v, spec) || spec.max_ns <= 0) {
              err = "--" + name + ": expected sleep:DURATION, spin:DURATION or sleep:MIN-MAX "
                    "(e.g. sleep:2ms, spin:1us, sleep:10ms-50ms), got '" + std::string(v) + "'";
              return false;
            }
            f(o) = spec;
            return true;
          }};
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

// A comma-separated list of names from `known` (or `all`, meaning `all_of`).
bool parse_names(std::string_view v, std::vector<std::string>& out,
                 const std::vector<std::string>& all_of, const std::function<bool(std::string_view)>& known,
                 const std::string& flag_name, std::string& err) {
  std::vector<std::string> names;
  for (std::string_view part : split(v, ',')) {
    if (part == "all") {
      names.insert(names.end(), all_of.begin(), all_of.end());
    } else if (known(part)) {
      names.emplace_back(part);
    } else {
      err = "--" + flag_name + ": unknown name '" + std::string(part) + "' (known: " +
            join(all_of) + ", all)";
      return false;
    }
  }
  std::vector<std::string> unique;
  for (auto& n : names) {
    if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
  }
  out = unique;
  return true;
}

const std::vector<flag>& flags() {
  static const std::vector<flag> table = [] {
    std::vector<flag> t;
    const std::vector<std::string> all_impls{"group", "mutex_group", "sharded_group"};

    t.push_back({"workload", "LIST",
                 "workloads to run, comma-separated: seed, poisson, hot, zipf, churn, or all",
                 [](const options& o) { return join(o.workloads); },
                 [](std::string_view v, options& o, std::string& err) {
                   return parse_names(
                       v, o.workloads, workload_names(),
                       [](std::string_view n) {
                         const auto& w = workload_names();
                         return std::find(w.begin(), w.end(), n) != w.end();
                       },
                       "workload", err);
                 }});
    t.push_back({"impl", "LIST",
                 "implementations, comma-separated: group, mutex_group, sharded_group, or all "
                 "(those three); also group_michael_dhp and group_michael_hp (group on libcds's "
                 "tables) and, to check the "
                 "checkers, mutant:solo|stale|flags|eager_erase|hang|leak|deaf",
                 [](const options& o) { return join(o.impls); },
                 [all_impls](std::string_view v, options& o, std::string& err) {
                   if (parse_names(v, o.impls, all_impls, known_impl, "impl", err)) return true;
                   err += "; also group_michael_dhp, group_michael_hp and mutant:solo|stale|flags|eager_erase|hang|leak|deaf";
                   return false;
                 }});
    t.push_back(count_flag("seed", "seed of every random choice (keys, fn times, schedules)",
                           [](options& o) -> std::uint64_t& { return o.seed; }, 0, UINT64_MAX));
    t.push_back({"json", "PATH", "also write the results as JSON to PATH",
                 [](const options& o) { return o.json_path.empty() ? "none" : o.json_path; },
                 [](std::string_view v, options& o, std::string& err) {
                   if (v.empty()) {
                     err = "--json: expected a path";
                     return false;
                   }
                   o.json_path = std::string(v);
                   return true;
                 }});
    t.push_back({"duration", "DURATION",
                 "shorthand: sets --poisson-duration, --hot-duration, --zipf-duration and "
                 "--churn-duration",
                 [](const options&) { return std::string("unset"); },
                 [](std::string_view v, options& o, std::string& err) {
                   std::int64_t ns = 0;
                   if (!parse_duration_ns(v, ns) || ns <= 0) {
                     err = "--duration: expected a positive duration such as 500ms or 2s, got '" +
                           std::string(v) + "'";
                     return false;
                   }
                   const double s = static_cast<double>(ns) / 1e9;
                   o.poisson.duration_s = o.hot.duration_s = o.zipf.duration_s =
                       o.churn.duration_s = s;
                   return true;
                 }});
    {
      flag soak = seconds_flag("soak", "repeat the chosen runs until this much time has passed "
                               "(0: run once), reporting every --report-every",
                               [](options& o) -> double& { return o.soak_s; }, false);
      soak.show = [](const options& o) {
        return o.soak_s > 0 ? format_ns(o.soak_s * 1e9) : std::string("0, off");
      };
      t.push_back(std::move(soak));
    }
    t.push_back(seconds_flag("report-every", "interval of the soak reports",
                             [](options& o) -> double& { return o.report_every_s; }, true));
    t.push_back(seconds_flag("watchdog", "a call outstanding this long is reported as stuck (S6) "
                             "and the run exits with status 3",
                             [](options& o) -> double& { return o.watchdog_s; }, true));
    t.push_back(seconds_flag("cancel-bound", "a cancelled caller must return within this after "
                             "its stop was requested (S7)",
                             [](options& o) -> double& { return o.cancel_bound_s; }, true));
    t.push_back({"progress", "WHEN",
                 "progress bar on stderr for runs over a second: auto (when stderr is a "
                 "terminal), always or never",
                 [](const options& o) {
                   return std::string(o.progress == progress_mode::automatic ? "auto"
                                      : o.progress == progress_mode::always  ? "always"
                                                                             : "never");
                 },
                 [](std::string_view v, options& o, std::string& err) {
                   if (v == "auto") {
                     o.progress = progress_mode::automatic;
                   } else if (v == "always") {
                     o.progress = progress_mode::always;
                   } else if (v == "never") {
                     o.progress = progress_mode::never;
                   } else {
                     err = "--progress: expected auto, always or never, got '" + std::string(v) +
                           "'";
                     return false;
                   }
                   return true;
                 }});
    t.push_back({"short", "",
                 "the short tier (CI, sanitizers): every workload scaled down to a fraction of a "
                 "second; flags given explicitly still win",
                 [](const options& o) { return std::string(o.short_tier ? "on" : "off"); },
                 [](std::string_view, options& o, std::string&) {
                   o.short_tier = true;
                   return true;
                 }});

    // seed
    t.push_back(count_flag("seed-requests", "seed: requests in all",
                           [](options& o) -> std::uint64_t& { return o.seed_load.requests; }, 1,
                           1'000'000'000));
    t.push_back(count_flag("seed-keys", "seed: keys, chosen uniformly",
                           [](options& o) -> std::uint64_t& { return o.seed_load.keys; }, 1,
                           10'000'000));
    t.push_back(unsigned_flag("seed-workers", "seed: worker threads serving the requests",
                              [](options& o) -> unsigned& { return o.seed_load.workers; }, 1,
                              4096));
    t.push_back(fn_flag("seed-fn", "seed: what fn does",
                        [](options& o) -> fn_spec& { return o.seed_load.fn; }));

    // poisson
    t.push_back({"poisson-lambda-d", "LIST",
                 "poisson: the λD values to sweep, comma-separated",
                 [](const options& o) {
                   std::string s;
                   for (double v : o.poisson.lambda_d) {
                     if (!s.empty()) s += ',';
                     s += format_number(v);
                   }
                   return s;
                 },
                 [](std::string_view v, options& o, std::string& err) {
                   std::vector<double> values;
                   for (std::string_view part : split(v, ',')) {
                     double d = 0;
                     if (!parse_double(part, d) || d <= 0 || d > 1e6) {
                       err = "--poisson-lambda-d: expected positive numbers separated by commas, "
                             "got '" + std::string(v) + "'";
                       return false;
                     }
                     values.push_back(d);
                   }
                   o.poisson.lambda_d = values;
                   return true;
                 }});
    t.push_back(ns_flag("poisson-d", "poisson: D, how long fn sleeps",
                        [](options& o) -> std::int64_t& { return o.poisson.d_ns; }, true));
    t.push_back(real_flag("poisson-rate", "PER_S",
                          "poisson: total arrivals per second (over all keys) that sets the key "
                          "count, keys = rate·D/λD (at least 1)",
                          [](options& o) -> double& { return o.poisson.rate; }, 1, 1e7));
    t.push_back(count_flag("poisson-keys", "poisson: keys, overriding the rate (0: from the rate)",
                           [](options& o) -> std::uint64_t& { return o.poisson.keys; }, 0,
                           10'000'000));
    t.push_back(unsigned_flag("poisson-workers",
                              "poisson: worker threads (0: 1.5 × the expected concurrent calls "
                              "plus a margin)",
                              [](options& o) -> unsigned& { return o.poisson.workers; }, 0, 8192));
    t.push_back(seconds_flag("poisson-duration", "poisson: span of arrivals per λD",
                             [](options& o) -> double& { return o.poisson.duration_s; }, true));
    t.push_back(ns_flag("poisson-late", "poisson: an arrival dispatched later than this after its "
                        "scheduled time counts as late",
                        [](options& o) -> std::int64_t& { return o.poisson.late_ns; }, true));

    // hot
    t.push_back(unsigned_flag("hot-threads", "hot: threads, all on one key (0: max(16, 8 × "
                              "usable CPUs))",
                              [](options& o) -> unsigned& { return o.hot.threads; }, 0, 4096));
    t.push_back(fn_flag("hot-fn", "hot: what fn does",
                        [](options& o) -> fn_spec& { return o.hot.fn; }));
    t.push_back(seconds_flag("hot-duration", "hot: how long it runs",
                             [](options& o) -> double& { return o.hot.duration_s; }, true));

    // zipf
    t.push_back(real_flag("zipf-exponent", "S", "zipf: the exponent s of P(rank k) ∝ 1/k^s",
                          [](options& o) -> double& { return o.zipf.exponent; }, 0.01, 10));
    t.push_back(count_flag("zipf-keys", "zipf: keys",
                           [](options& o) -> std::uint64_t& { return o.zipf.keys; }, 1,
                           10'000'000));
    t.push_back(unsigned_flag("zipf-threads", "zipf: threads",
                              [](options& o) -> unsigned& { return o.zipf.threads; }, 1, 4096));
    t.push_back(fn_flag("zipf-fn", "zipf: what fn does",
                        [](options& o) -> fn_spec& { return o.zipf.fn; }));
    t.push_back(seconds_flag("zipf-duration", "zipf: how long it runs",
                             [](options& o) -> double& { return o.zipf.duration_s; }, true));

    // churn
    t.push_back(unsigned_flag("churn-threads", "churn: threads",
                              [](options& o) -> unsigned& { return o.churn.threads; }, 1, 4096));
    t.push_back(count_flag("churn-keys", "churn: keys, chosen uniformly",
                           [](options& o) -> std::uint64_t& { return o.churn.keys; }, 1,
                           1'000'000));
    t.push_back(fn_flag("churn-fn", "churn: what fn does",
                        [](options& o) -> fn_spec& { return o.churn.fn; }));
    t.push_back(seconds_flag("churn-duration", "churn: how long it runs",
                             [](options& o) -> double& { return o.churn.duration_s; }, true));
    t.push_back(real_flag("churn-forget", "P", "churn: fraction of operations that are forget(key)",
                          [](options& o) -> double& { return o.churn.forget; }, 0, 1));
    t.push_back(real_flag("churn-fail", "P", "churn: fraction of flights whose fn throws",
                          [](options& o) -> double& { return o.churn.fail; }, 0, 1));
    t.push_back(real_flag("churn-cancel", "P",
                          "churn: fraction of calls whose stop_token gets stopped",
                          [](options& o) -> double& { return o.churn.cancel; }, 0, 1));
    t.push_back(real_flag("churn-prestopped", "P",
                          "churn: of the cancelled calls, the fraction stopped before calling",
                          [](options& o) -> double& { return o.churn.prestopped; }, 0, 1));
    t.push_back(ns_flag("churn-cancel-delay",
                        "churn: a stop is requested uniformly within this after the call begins",
                        [](options& o) -> std::int64_t& { return o.churn.cancel_delay_ns; },
                        false));
    t.push_back({"help", "", "print this help and exit", [](const options&) { return std::string(); },
                 [](std::string_view, options&, std::string&) { return true; }});
    return t;
  }();
  return table;
}

const flag* find_flag(std::string_view name) {
  for (const flag& f : flags()) {
    if (f.name == name) return &f;
  }
  return nullptr;
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
}

}  // namespace

std::string help_text() {
  const options defaults;
  std::ostringstream out;
  out << "usage: sf-stress [FLAG VALUE | FLAG=VALUE]...\n\n"
         "Runs duplicate-call workloads against singleflight's implementations, checks the\n"
         "semantics S1-S7 and S10 on every call, and prints a table per workload. With no\n"
         "flags it runs the default comparison: every workload, briefly, for group,\n"
         "mutex_group and sharded_group.\n\n"
         "Exit status: 0 all runs clean, 1 a violation was found, 2 bad flags,\n"
         "3 the watchdog found a stuck call.\n\n"
         "Durations: a number with ns, us, ms, s, m (or min) or h; a bare number is seconds.\n"
         "fn SPEC: sleep:DURATION, spin:DURATION, or sleep:MIN-MAX (uniform per flight).\n\n"
         "Flags (default in brackets):\n";
  for (const flag& f : flags()) {
    std::string head = "  --" + f.name + (f.metavar.empty() ? "" : " " + f.metavar);
    if (head.size() < 30) head.resize(30, ' ');
    out << head << ' ' << f.help;
    const std::string shown = f.show(defaults);
    if (!shown.empty()) out << " [" << shown << "]";
    out << '\n';
  }
  return out.str();
}

parse_result parse_options(int argc, char** argv, options& opts, std::string& error) {
  opts = options{};
  for (int i = 0; i < argc; ++i) opts.command_line.emplace_back(argv[i]);

  // Split into (name, value) pairs first, so that --short applies before any explicit flag,
  // wherever it stands.
  std::vector<std::pair<const flag*, std::string>> given;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      error = "unexpected argument '" + std::string(arg) + "' (flags start with --; see --help)";
      return parse_result::error;
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::optional<std::string> value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    const flag* f = find_flag(name);
    if (f == nullptr) {
      error = "unknown flag --" + std::string(name) + " (see --help)";
      return parse_result::error;
    }
    if (f->name == "help") return parse_result::help;
    if (f->metavar.empty()) {
      if (value) {
        error = "--" + f->name + " takes no value";
        return parse_result::error;
      }
      value = "";
    } else if (!value) {
      if (i + 1 >= argc) {
        error = "--" + f->name + " needs a value (" + f->metavar + ")";
        return parse_result::error;
      }
      value = argv[++i];
    }
    given.emplace_back(f, *value);
  }

  for (const auto& [f, value] : given) {
    if (f->name == "short") apply_short_tier(opts);
  }
  for (const auto& [f, value] : given) {
    if (!f->set(value, opts, error)) return parse_result::error;
  }
  if (opts.workloads.empty()) {
    error = "--workload: no workload given";
    return parse_result::error;
  }
  if (opts.impls.empty()) {
    error = "--impl: no implementation given";
    return parse_result::error;
  }
  return parse_result::run;
}

}  // namespace sfstress
