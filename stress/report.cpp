#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include <singleflight/singleflight.hpp>

#ifndef SF_STRESS_SOURCE_DIR
#define SF_STRESS_SOURCE_DIR ""
#endif
#ifndef SF_STRESS_BUILD_TYPE
#define SF_STRESS_BUILD_TYPE ""
#endif
#ifndef SF_STRESS_CXX_FLAGS
#define SF_STRESS_CXX_FLAGS ""
#endif
#ifndef SF_STRESS_SANITIZE
#define SF_STRESS_SANITIZE ""
#endif

namespace sfstress {

namespace {

std::string fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string si(double v) {  // 1234567 -> "1.23M"
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.3gG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

std::string lat(std::int64_t ns) { return format_ns(static_cast<double>(ns)); }

std::string violations_cell(const run_result& r) {
  if (r.violation_total() == 0) return "0";
  std::string s;
  for (std::size_t i = 0; i < kInvariants; ++i) {
    if (r.violations[i] == 0) continue;
    if (!s.empty()) s += ',';
    s += name_of(static_cast<invariant>(i));
    s += ':';
    s += std::to_string(r.violations[i]);
  }
  return s;
}

json percentiles(const histogram& h, bool with_p999) {
  json o = json::object();
  o["p50"] = h.percentile(0.50);
  o["p99"] = h.percentile(0.99);
  if (with_p999) o["p999"] = h.percentile(0.999);
  o["max"] = h.max();
  o["mean"] = h.mean();
  o["samples"] = h.count();
  return o;
}

std::string run_command(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return "";
  std::string out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe.get()) != nullptr) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "";
}

// A run that a signal cut short: how far it got. Its calls all ran to their end, so every check
// still holds for them; only the schedule's optimum needs the arrivals that were called.
std::string interruption_note(const run_result& r) {
  const run_spec& s = *r.spec;
  std::string got;
  if (s.how == run_spec::drive::requests) {
    got = std::to_string(r.calls) + " of " + std::to_string(s.requests) + " requests, in " +
          format_ns(r.elapsed_s * 1e9);
  } else {
    got = format_ns(r.elapsed_s * 1e9) + " of " + format_ns(s.duration_s * 1e9);
    if (s.arrivals) {
      got += " (" + std::to_string(r.calls) + " of " + std::to_string(s.arrivals->size()) +
             " scheduled arrivals; the optimum for these very arrivals counts only those)";
    }
  }
  return "INTERRUPTED after " + got + ": the row covers the calls made until then; each of them "
         "ran to its end, so every check applies";
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? "-" : fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1) + "%";
}

// coro and wide: the coroutine callers, what they did, and how many waited at once.
std::string coroutine_note(const run_result& r) {
  const run_spec& s = *r.spec;
  std::string note = std::to_string(r.coroutine_calls) + " calls by " +
                     std::to_string(s.coroutines) + " coroutine callers on " +
                     std::to_string(s.loop_threads) + " loop threads (" +
                     (s.inline_rate > 0 ? percent(r.inline_leads, r.coroutine_calls) +
                                              " led an fn returning at once, "
                                        : std::string()) +
                     percent(r.async_leads, r.coroutine_calls) +
                     " led an asynchronous loader), " + std::to_string(r.calls - r.coroutine_calls) +
                     " by threads; at once, up to " + std::to_string(r.peak_in_call) +
                     " coroutines in async_call and " + std::to_string(r.peak_flights) +
                     " flights in progress";
  if (s.gated) {
    const auto rate = [](std::uint64_t n, std::int64_t ns) {
      return ns <= 0 ? std::string("-") : si(static_cast<double>(n) * 1e9 / static_cast<double>(ns));
    };
    note += "; " + std::to_string(r.flights_registered) + " flights registered and waiting at "
            "the gate in " + lat(r.register_ns) + " (" + rate(s.keys, r.register_ns) + "/s), " +
            std::to_string(s.joiners) + " callers joined them in " + lat(r.join_ns) + " (" +
            rate(s.joiners, r.join_ns) + "/s), all completed " + lat(r.complete_ns) +
            " after the gate opened";
  } else {
    note += "; " + std::to_string(r.forgets) + " forgets, " + std::to_string(r.failed_flights) +
            " failed flights (" + std::to_string(r.failure_receipts) + " callers rethrew), " +
            std::to_string(r.stop_requests) + " stops requested, " + std::to_string(r.cancelled) +
            " cancelled (stop to return p99 " + lat(r.cancel_latency.percentile(0.99)) + ", max " +
            lat(r.cancel_latency.max()) + ")";
    if (!s.deadlines) {
      note += "; " + std::to_string(r.stoppable_flights) + " loaders took a stop_token, " +
              std::to_string(r.abandoned_flights) + " were abandoned and stopped by it";
    }
  }
  return note;
}

void print_one_table(std::FILE* out, std::span<const run_result> runs) {
  const run_spec& first = *runs.front().spec;
  const bool poisson = first.lambda_d.has_value();
  std::fprintf(out, "\n== %s: %s\n", first.workload.c_str(),
               poisson ? "open-loop Poisson arrivals, measured vs analytic λD/(1+λD)"
                       : first.description.c_str());
  if (poisson) {
    std::string last;
    for (const run_result& r : runs) {
      if (r.spec->description != last) std::fprintf(out, "   %s\n", r.spec->description.c_str());
      last = r.spec->description;
    }
  }
  std::fprintf(out, "%-14s %6s %10s %10s %7s %7s %8s %10s %8s %8s %8s %8s %8s  %s\n", "impl",
               poisson ? "λD" : "", "calls", "flights", "ratio", "optimum", "meas/opt", "calls/s",
               "p50", "p99", "p99.9", "wake p50", "wake p99", "violations");
  // Arrivals dispatched late weaken the comparison with the open-loop model: marked with a '*'.
  constexpr double kLateMark = 0.01;
  bool marked = false;
  for (const run_result& r : runs) {
    const auto model = r.model_ratio();
    const std::string impl = r.spec->impl + (r.interrupted ? "!" : "");  // explained below
    std::string lambda = poisson ? fixed(*r.spec->lambda_d, *r.spec->lambda_d < 1 ? 1 : 0) : "";
    std::string over_model = model && *model > 0 ? fixed(r.coalescing_ratio() / *model, 3) : "-";
    if (poisson && r.calls > 0 &&
        static_cast<double>(r.late) > kLateMark * static_cast<double>(r.calls)) {
      over_model += "*";
      marked = true;
    }
    std::fprintf(out, "%-14s %6s %10llu %10llu %7.4f %7s %8s %10s %8s %8s %8s %8s %8s  %s\n",
                 impl.c_str(), lambda.c_str(), static_cast<unsigned long long>(r.calls),
                 static_cast<unsigned long long>(r.flights), r.coalescing_ratio(),
                 model ? fixed(*model, 4).c_str() : "-", over_model.c_str(),
                 si(r.throughput_per_s()).c_str(), lat(r.latency.percentile(0.5)).c_str(),
                 lat(r.latency.percentile(0.99)).c_str(), lat(r.latency.percentile(0.999)).c_str(),
                 r.wake.count() ? lat(r.wake.percentile(0.5)).c_str() : "-",
                 r.wake.count() ? lat(r.wake.percentile(0.99)).c_str() : "-",
                 violations_cell(r).c_str());
  }
  if (marked) {
    std::fprintf(out, "   * more than 1%% of the arrivals were dispatched late (see below): the "
                      "comparison with the open-loop model is weakened\n");
  }
  // What the columns cannot hold, a line or two per run where there is something to say.
  for (const run_result& r : runs) {
    std::string note, more, coroutines;
    if (r.spec->loop_threads > 0) coroutines = coroutine_note(r);
    if (r.spec->deadlines) {
      const auto bound = static_cast<double>(r.spec->deadline.bound_ns);
      note = std::to_string(r.with_deadline + r.with_both) + " calls with a deadline (" +
             std::to_string(r.until) + " by call_until, " + std::to_string(r.expired) +
             " already passed, " + std::to_string(r.with_both) + " with a stop token too), " +
             std::to_string(r.with_token) + " with a timed stop only, " +
             std::to_string(r.with_neither) + " with neither; " +
             std::to_string(r.deadline_exceeded) + " deadline_exceeded, after the deadline p50 " +
             lat(r.deadline_lateness.percentile(0.5)) + ", p99 " +
             lat(r.deadline_lateness.percentile(0.99)) + ", max " +
             lat(r.deadline_lateness.max()) + " (bound " + format_ns(bound) + "); " +
             std::to_string(r.cancelled) + " cancelled by their token (stop to return p99 " +
             lat(r.cancel_latency.percentile(0.99)) + ", max " + lat(r.cancel_latency.max()) +
             ")";
      more = std::to_string(r.flights) + " loaders ran, " + std::to_string(r.stoppable_flights) +
             " took a stop_token, " + std::to_string(r.abandoned_flights) +
             " were abandoned and stopped by it: they ran " +
             format_ns(static_cast<double>(r.abandoned_ran_ns)) + " of their " +
             format_ns(static_cast<double>(r.abandoned_planned_ns)) + ", saving " +
             format_ns(static_cast<double>(r.loader_saved_ns())) + ", " +
             fixed(100 * r.loader_saved_fraction(), 1) + "% of the loader time (" +
             format_ns(static_cast<double>(r.loader_ns + r.loader_saved_ns())) +
             " without abandonment, " + format_ns(static_cast<double>(r.loader_ns)) +
             " with it); " + std::to_string(r.abandoned_overlaps) +
             " times a new flight's fn started while an abandoned one still ran";
    } else if (poisson) {
      const double late_pct =
          r.calls ? 100.0 * static_cast<double>(r.late) / static_cast<double>(r.calls) : 0;
      note = "late arrivals " + std::to_string(r.late) + " (" + fixed(late_pct, 2) +
             "%, lateness p99 " + lat(r.lateness.percentile(0.99)) + "), fn took " +
             format_ns(r.fn_mean_ns) + " on average; optimum for these very arrivals " +
             fixed(*r.schedule_optimum(), 4) + " (measured/that " +
             (*r.schedule_optimum() > 0 ? fixed(r.coalescing_ratio() / *r.schedule_optimum(), 3)
                                        : std::string("-")) +
             "), for the measured D " +
             (r.model_ratio_measured_d() ? fixed(*r.model_ratio_measured_d(), 4) : "-");
    } else if (r.spec->gated) {
      // wide: its coroutine line says it all.
    } else if (r.spec->forget > 0 || r.spec->fail > 0 || r.spec->cancel > 0) {
      note = std::to_string(r.forgets) + " forgets, " + std::to_string(r.failed_flights) +
             " failed flights (" + std::to_string(r.failure_receipts) + " callers rethrew), " +
             std::to_string(r.stop_requests) + " stops requested, " + std::to_string(r.cancelled) +
             " cancelled (stop to return p99 " + lat(r.cancel_latency.percentile(0.99)) +
             ", max " + lat(r.cancel_latency.max()) + ")";
    }
    std::string who = r.spec->impl + (r.interrupted ? "!" : "");
    if (poisson) {
      who += " λD=";
      who += fixed(*r.spec->lambda_d, *r.spec->lambda_d < 1 ? 1 : 0);
    }
    if (!coroutines.empty()) std::fprintf(out, "   %s: %s\n", who.c_str(), coroutines.c_str());
    if (!note.empty()) std::fprintf(out, "   %s: %s\n", who.c_str(), note.c_str());
    if (!more.empty()) std::fprintf(out, "   %s: %s\n", who.c_str(), more.c_str());
    if (r.interrupted) std::fprintf(out, "   %s: %s\n", who.c_str(), interruption_note(r).c_str());
  }
  for (const run_result& r : runs) {
    for (const std::string& m : r.messages) {
      std::fprintf(out, "   VIOLATION %s: %s\n", run_label(*r.spec).c_str(), m.c_str());
    }
  }
  std::fflush(out);
}

}  // namespace

void print_tables(std::FILE* out, std::span<const run_result> runs) {
  std::size_t from = 0;
  for (std::size_t i = 1; i <= runs.size(); ++i) {
    if (i == runs.size() || runs[i].spec->workload != runs[from].spec->workload) {
      print_one_table(out, runs.subspan(from, i - from));
      from = i;
    }
  }
}

json run_json(const run_result& r, unsigned round) {
  const run_spec& s = *r.spec;
  json o = json::object();
  o["workload"] = s.workload;
  o["implementation"] = s.impl;
  o["lambda_d"] = s.lambda_d ? json(*s.lambda_d) : json();
  o["round"] = round;
  o["description"] = s.description;
  o["calls"] = r.calls;
  o["flights"] = r.flights;
  o["followers"] = r.followers;
  o["coalescing_ratio"] = r.coalescing_ratio();
  const auto model = r.model_ratio();
  o["model_ratio"] = model ? json(*model) : json();
  o["measured_over_model"] = model && *model > 0 ? json(r.coalescing_ratio() / *model) : json();
  const auto schedule = r.schedule_optimum();
  o["schedule_optimum"] = schedule ? json(*schedule) : json();
  o["measured_over_schedule_optimum"] =
      schedule && *schedule > 0 ? json(r.coalescing_ratio() / *schedule) : json();
  const auto model_d = r.model_ratio_measured_d();
  o["model_ratio_measured_d"] = model_d ? json(*model_d) : json();
  o["throughput_per_s"] = r.throughput_per_s();
  o["elapsed_s"] = r.elapsed_s;
  o["latency_ns"] = percentiles(r.latency, true);
  o["wake_ns"] = percentiles(r.wake, false);
  o["violations"] = r.violation_total();
  json by = json::object();
  for (std::size_t i = 0; i < kInvariants; ++i) {
    by[name_of(static_cast<invariant>(i))] = r.violations[i];
  }
  o["violations_by_invariant"] = by;
  json messages = json::array();
  for (const auto& m : r.messages) messages.push_back(m);
  o["violation_messages"] = messages;

  json p = json::object();
  p["threads"] = s.threads;
  p["keys"] = s.keys;
  p["fn"] = s.gated ? std::string("gate") : s.fn.describe();
  p["seed"] = s.seed;
  if (s.how == run_spec::drive::requests) p["requests"] = s.requests;
  if (s.how != run_spec::drive::requests) p["duration_s"] = s.duration_s;
  if (s.keys_by == run_spec::pick::zipf) p["zipf_top_key_probability"] = s.zipf->probability_of_top();
  if (s.lambda_d) {
    p["lambda_per_key_s"] = s.lambda_per_key_s;
    p["d_ns"] = s.fn.min_ns;
    p["arrivals_scheduled"] = s.arrivals->size();
    p["late_threshold_ns"] = s.late_ns;
  }
  if (s.forget > 0 || s.fail > 0 || s.cancel > 0) {
    p["forget_rate"] = s.forget;
    p["fail_rate"] = s.fail;
    p["cancel_rate"] = s.cancel;
    p["prestopped_rate"] = s.prestopped;
    p["cancel_delay_ns"] = s.cancel_delay_ns;
  }
  if (s.deadlines) {
    const deadline_params& d = s.deadline;
    p["d_ns"] = s.d_ns;
    p["deadline_spread"] = d.how == deadline_params::spread::uniform ? "uniform" : "lognormal";
    p["deadline_min_d"] = d.min_d;
    p["deadline_max_d"] = d.max_d;
    p["none_rate"] = d.none;
    p["token_rate"] = d.token;
    p["both_rate"] = d.both;
    p["until_rate"] = d.until;
    p["expired_rate"] = d.expired;
    p["stoppable_rate"] = d.stoppable;
    p["aborted"] = d.abort_throws ? "throw" : "value";
    p["poll_ns"] = d.poll_ns;
    p["deadline_bound_ns"] = d.bound_ns;
    p["cancel_bound_ns"] = s.cancel_bound_ns;
  }
  if (s.loop_threads > 0) {
    p["coroutines"] = s.coroutines;
    p["loop_threads"] = s.loop_threads;
    if (s.gated) {
      p["flights"] = s.keys;
      p["joiners"] = s.joiners;
    } else {
      p["think"] = s.think.describe();
      p["inline_rate"] = s.inline_rate;
      p["stoppable_rate"] = s.stoppable_rate;
    }
  }
  o["params"] = p;

  if (s.lambda_d) {
    o["late_arrivals"] = r.late;
    o["late_fraction"] = r.calls ? static_cast<double>(r.late) / static_cast<double>(r.calls) : 0.0;
    o["lateness_ns"] = percentiles(r.lateness, true);
    o["fn_mean_ns"] = r.fn_mean_ns;
  }
  if (s.forget > 0 || s.fail > 0 || s.cancel > 0) {
    o["forgets"] = r.forgets;
    o["failed_flights"] = r.failed_flights;
    o["failure_receipts"] = r.failure_receipts;
    o["stop_requests"] = r.stop_requests;
    o["cancelled"] = r.cancelled;
    o["cancel_latency_ns"] = percentiles(r.cancel_latency, false);
  }
  if (s.deadlines) {
    json calls = json::object();
    calls["deadline"] = r.with_deadline;
    calls["token"] = r.with_token;
    calls["both"] = r.with_both;
    calls["neither"] = r.with_neither;
    calls["call_until"] = r.until;
    calls["expired"] = r.expired;
    o["calls_by_kind"] = calls;
    o["deadline_exceeded"] = r.deadline_exceeded;
    o["deadline_lateness_ns"] = percentiles(r.deadline_lateness, false);
    o["deadline_bound_ns"] = s.deadline.bound_ns;
    o["stop_requests"] = r.stop_requests;
    o["cancelled"] = r.cancelled;
    o["cancel_latency_ns"] = percentiles(r.cancel_latency, false);
    o["failure_receipts"] = r.failure_receipts;
    o["stoppable_flights"] = r.stoppable_flights;
    o["abandoned_flights"] = r.abandoned_flights;
    o["abandoned_ran_ns"] = r.abandoned_ran_ns;
    o["abandoned_planned_ns"] = r.abandoned_planned_ns;
    o["loader_ns"] = r.loader_ns;
    o["loader_saved_ns"] = r.loader_saved_ns();
    o["loader_saved_fraction"] = r.loader_saved_fraction();
    o["abandoned_overlaps"] = r.abandoned_overlaps;
    o["fn_mean_ns"] = r.fn_mean_ns;
  }
  if (s.loop_threads > 0) {
    o["coroutine_calls"] = r.coroutine_calls;
    o["thread_calls"] = r.calls - r.coroutine_calls;
    o["inline_leads"] = r.inline_leads;
    o["async_leads"] = r.async_leads;
    o["peak_coroutines_in_call"] = r.peak_in_call;
    o["peak_flights_in_progress"] = r.peak_flights;
    if (!s.deadlines) {  // else written above, with the thread callers' figures
      o["stoppable_flights"] = r.stoppable_flights;
      o["abandoned_flights"] = r.abandoned_flights;
      o["abandoned_overlaps"] = r.abandoned_overlaps;
    }
    if (s.gated) {
      o["flights_registered"] = r.flights_registered;
      o["register_ns"] = r.register_ns;
      o["join_ns"] = r.join_ns;
      o["complete_ns"] = r.complete_ns;
    }
  }
  o["interrupted"] = r.interrupted;
  return o;
}

json load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  if (in >> one) return json(one);
  return json();
}

json meta_json(const options& opts) {
  json m = json::object();
  std::string cmd;
  json argv = json::array();
  for (const auto& a : opts.command_line) {
    cmd += (cmd.empty() ? "" : " ") + a;
    argv.push_back(a);
  }
  m["command"] = cmd;
  m["argv"] = argv;

  json machine = json::object();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  machine["hostname"] = std::string(host);
  utsname u{};
  if (uname(&u) == 0) {
    machine["os"] = std::string(u.sysname) + " " + u.release;
    machine["arch"] = std::string(u.machine);
  }
  machine["cpu"] = cpu_model();
  machine["hardware_threads"] = std::thread::hardware_concurrency();
  machine["usable_cpus"] = usable_cpus();  // fewer under taskset or a cgroup's cpuset
  machine["load_average_before"] = load_average();
  m["machine"] = machine;

#if defined(__clang__)
  m["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  m["compiler"] = std::string("g++ ") + __VERSION__;
#else
  m["compiler"] = "unknown";
#endif
  json flags = json::object();
  flags["build_type"] = SF_STRESS_BUILD_TYPE;
  flags["cxx_flags"] = SF_STRESS_CXX_FLAGS;
  flags["sanitize"] = SF_STRESS_SANITIZE;
#ifdef NDEBUG
  flags["ndebug"] = true;
#else
  flags["ndebug"] = false;
#endif
  flags["spin_before_park"] = SINGLEFLIGHT_SPIN_BEFORE_PARK;
  m["flags"] = flags;

  // SF_STRESS_COMMIT names the commit for a binary run away from its checkout (copied to another
  // machine); otherwise git is asked in the source directory the binary was built from.
  const std::string src = SF_STRESS_SOURCE_DIR;
  const char* given = std::getenv("SF_STRESS_COMMIT");
  const std::string commit =
      given != nullptr ? std::string(given)
      : src.empty()    ? std::string()
                       : run_command("git -C '" + src + "' rev-parse HEAD 2>/dev/null");
  m["commit"] = commit.empty() ? json() : json(commit);
  if (given != nullptr) {
    m["commit_from"] = "SF_STRESS_COMMIT";
  } else if (!commit.empty()) {
    // Uncommitted changes to tracked files mean the commit alone does not name the code.
    const std::string dirty =
        run_command("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null");
    m["dirty"] = !dirty.empty();
  }
  m["seed"] = opts.seed;
  char when[32] = {};
  const std::time_t t = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  m["started_at"] = std::string(when);
  if (opts.soak_s > 0) m["soak_s"] = opts.soak_s;
  m["short_tier"] = opts.short_tier;
  m["interrupted"] = false;  // main() sets it when a signal cut the runs short
  return m;
}

bool write_json_file(const std::string& path, const json& doc) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const fs::path tmp = target.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    // Bytes that are not UTF-8 (argv, a hostname) are written as U+FFFD instead of throwing.
    out << doc.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    if (!out) {
      std::fprintf(stderr, "sf-stress: cannot write %s: %s\n", tmp.c_str(), std::strerror(errno));
      return false;
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::fprintf(stderr, "sf-stress: cannot write %s: %s\n", path.c_str(), ec.message().c_str());
    return false;
  }
  return true;
}

}  // namespace sfstress
