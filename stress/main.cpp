// sf-stress: the stress harness. See stress/README.md and --help.
//
// Runs the chosen workloads against the chosen implementations, one run at a time, with the
// invariant checkers always on; prints a table per workload and, with --json, writes every run.
// With --soak it repeats the whole plan (a new seed each round) until the time is up, reporting
// every --report-every, and stops at the first round with a violation. A SIGINT or SIGTERM ends
// the run in progress early, starts no other, and reports what was measured (interrupt.hpp).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iterator>
#include <string>
#include <vector>

#include "clock.hpp"
#include "interrupt.hpp"
#include "options.hpp"
#include "report.hpp"
#include "run.hpp"

namespace {

using namespace sfstress;

std::string hms(double seconds) {
  const long s = static_cast<long>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) {
    if (!s.empty()) s += ',';
    s += item;
  }
  return s;
}

struct totals {
  std::uint64_t runs = 0, calls = 0, flights = 0, violations = 0;
  void add(const run_result& r) {
    ++runs;
    calls += r.calls;
    flights += r.flights;
    violations += r.violation_total();
  }
};

int run(const options& opts) {
  install_interrupt_handlers();
  const bool progress = opts.progress == progress_mode::always ||
                        (opts.progress == progress_mode::automatic && isatty(STDERR_FILENO));
  json doc = json::object();
  doc["meta"] = meta_json(opts);
  json& runs = doc["runs"] = json::array();  // doc gets no other key, so the reference holds

  const std::int64_t began = now_ns();
  std::int64_t last_report = began;
  totals all;
  unsigned round = 0;
  bool failed = false;
  int stopped_by = 0;       // the signal that ended the runs early
  std::size_t planned = 0;  // runs in a round
  std::size_t made = 0;     // of them, made in this round
  bool last_cut = false;    // the signal cut the last of them short
  for (;;) {
    ++round;
    options round_opts = opts;
    round_opts.seed = opts.seed + (round - 1);  // each soak round sees new keys and arrivals
    const auto plan = plan_runs(round_opts, progress && round == 1);
    planned = plan.size();
    made = 0;
    const bool print = round == 1;
    if (print) {
      std::printf("sf-stress: %zu runs (workloads %s; implementations %s), seed %llu%s\n",
                  plan.size(), join(opts.workloads).c_str(), join(opts.impls).c_str(),
                  static_cast<unsigned long long>(opts.seed), opts.soak_s > 0 ? ", soak" : "");
      std::fflush(stdout);
    }
    std::vector<run_result> workload_runs;
    std::vector<run_result> unprinted;  // finished workloads whose tables a soak round kept quiet
    for (std::size_t i = 0; i < plan.size() && interrupted() == 0; ++i) {
      run_result r = run_one(plan[i]);
      ++made;
      last_cut = r.interrupted;
      all.add(r);
      if (r.violation_total() != 0) failed = true;
      runs.push_back(run_json(r, round));
      workload_runs.push_back(std::move(r));
      const bool workload_done = i + 1 == plan.size() || plan[i + 1]->workload != plan[i]->workload;
      if (workload_done) {
        if (print || failed) {
          print_tables(stdout, workload_runs);
        } else {
          std::move(workload_runs.begin(), workload_runs.end(), std::back_inserter(unprinted));
        }
        workload_runs.clear();
      }
    }
    if (const int sig = interrupted(); sig != 0) {
      // What this round measured and has not shown yet, the run cut short included.
      stopped_by = sig;
      doc["meta"]["interrupted"] = true;
      std::move(workload_runs.begin(), workload_runs.end(), std::back_inserter(unprinted));
      if (!print && !unprinted.empty()) {
        std::printf("\nsoak round %u, until %s:\n", round, signal_name(sig));
      }
      print_tables(stdout, unprinted);
    }
    const std::int64_t now = now_ns();
    const double elapsed = static_cast<double>(now - began) / 1e9;
    if (opts.soak_s <= 0) break;
    const bool done = elapsed >= opts.soak_s || failed || stopped_by != 0;
    if (done || static_cast<double>(now - last_report) / 1e9 >= opts.report_every_s) {
      last_report = now;
      std::printf("soak %s of %s: round %u, %llu runs, %llu calls, %llu flights, %llu violations\n",
                  hms(elapsed).c_str(), hms(opts.soak_s).c_str(), round,
                  static_cast<unsigned long long>(all.runs),
                  static_cast<unsigned long long>(all.calls),
                  static_cast<unsigned long long>(all.flights),
                  static_cast<unsigned long long>(all.violations));
      std::fflush(stdout);
      if (!opts.json_path.empty()) write_json_file(opts.json_path, doc);
    }
    if (done) break;
  }

  doc["meta"]["load_average_after"] = load_average();
  if (!opts.json_path.empty()) {
    if (!write_json_file(opts.json_path, doc)) return 1;
    std::printf("\nsf-stress: wrote %s\n", opts.json_path.c_str());
  }
  if (failed) {
    std::printf("sf-stress: FAILED: %llu violation(s) in %llu run(s)\n",
                static_cast<unsigned long long>(all.violations),
                static_cast<unsigned long long>(all.runs));
  } else {
    std::printf("sf-stress: %llu run(s), %llu calls, no violations\n",
                static_cast<unsigned long long>(all.runs),
                static_cast<unsigned long long>(all.calls));
  }
  if (stopped_by != 0) {
    // The shell's convention for a death by signal, so that a script can tell; the line above
    // still says whether the runs that were made found a violation.
    std::printf("sf-stress: interrupted by %s%s: %zu of %zu runs made in full, %s "
                "(exit status %d)\n",
                signal_name(stopped_by),
                opts.soak_s > 0 ? (" in soak round " + std::to_string(round)).c_str() : "",
                made - (last_cut ? 1 : 0), planned, last_cut ? "1 cut short" : "none cut short",
                128 + stopped_by);
    return 128 + stopped_by;
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  std::string error;
  switch (parse_options(argc, argv, opts, error)) {
    case parse_result::help:
      std::fputs(help_text().c_str(), stdout);
      return 0;
    case parse_result::error:
      std::fprintf(stderr, "sf-stress: %s\n", error.c_str());
      return 2;
    case parse_result::run:
      break;
  }
  try {
    return run(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sf-stress: %s\n", e.what());
    return 1;
  }
}
