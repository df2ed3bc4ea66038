// sf-demo: many threads ask a slow "database" for the same key at once.
//
// Each implementation serves the same stream of calls: --threads threads share --calls calls,
// all for one key, and the database takes --sleep-ms per query. Without coalescing every call is
// a query; with singleflight, a call that arrives while a query for its key is running waits for
// that query and shares its answer. The table shows how many queries the database actually ran.
//
//   sf-demo [--threads N] [--calls N] [--sleep-ms N]
#include <singleflight/baselines.hpp>
#include <singleflight/singleflight.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct options {
  int threads = 32;
  int calls = 2000;
  int sleep_ms = 20;
};

// The slow dependency: counts its queries and the most it ever ran at once.
class database {
 public:
  explicit database(std::chrono::milliseconds latency) : latency_(latency) {}

  int query(const std::string& /*key*/) {
    queries_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    const int now = running_.fetch_add(1, std::memory_order_relaxed) + 1;
    int peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    std::this_thread::sleep_for(latency_);
    running_.fetch_sub(1, std::memory_order_relaxed);
    return 42;
  }

  int queries() const { return queries_.load(std::memory_order_relaxed); }
  int peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  std::chrono::milliseconds latency_;
  std::atomic<int> queries_{0}, running_{0}, peak_{0};
};

// The "no coalescing" row: the same call() shape, but every call goes to the database.
// std::optional has the operator* that a singleflight::result has.
struct no_coalescing {
  template <class F>
  std::optional<int> call(const std::string& /*key*/, F&& fn) {
    return fn();
  }
};

struct row {
  int executions, peak, wrong;
  double seconds;
};

// Runs opt.calls calls for one key through a fresh Group, from opt.threads threads.
template <class Group>
row run(const char* name, const options& opt) {
  Group group;
  database db(std::chrono::milliseconds(opt.sleep_ms));
  const std::string key = "user:42";
  std::atomic<int> next{0}, done{0}, wrong{0};

  const auto start = clock_type::now();
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < opt.threads; ++t) {
      threads.emplace_back([&] {
        while (next.fetch_add(1, std::memory_order_relaxed) < opt.calls) {
          if (*group.call(key, [&] { return db.query(key); }) != 42) {
            wrong.fetch_add(1, std::memory_order_relaxed);
          }
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // Progress on stderr, once a second, for runs long enough to need it.
    auto next_report = start + 1s;
    while (done.load(std::memory_order_relaxed) < opt.calls) {
      std::this_thread::sleep_for(20ms);
      if (clock_type::now() >= next_report) {
        std::fprintf(stderr, "  %s: %d/%d calls\n", name, done.load(std::memory_order_relaxed),
                     opt.calls);
        next_report += 1s;
      }
    }
  }  // the jthreads join here
  const std::chrono::duration<double> elapsed = clock_type::now() - start;
  return {db.queries(), db.peak(), wrong.load(), elapsed.count()};
}

template <class Group>
bool report(const char* name, const options& opt) {
  const row r = run<Group>(name, opt);
  std::printf("%-16s %7d %10d %10.3f %9d %9.3f\n", name, opt.calls, r.executions,
              1.0 - static_cast<double>(r.executions) / opt.calls, r.peak, r.seconds);
  if (r.wrong != 0) std::fprintf(stderr, "%s: %d calls returned a wrong value\n", name, r.wrong);
  return r.wrong == 0;
}

// Parses "--flag value" pairs; false on anything else.
bool parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    int* target = flag == "--threads" ? &opt.threads
                  : flag == "--calls"  ? &opt.calls
                  : flag == "--sleep-ms" ? &opt.sleep_ms
                                         : nullptr;
    if (target == nullptr || i + 1 >= argc) return false;
    const std::string_view text = argv[i + 1];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *target);
    if (error != std::errc{} || end != text.data() + text.size()) return false;
  }
  return opt.threads >= 1 && opt.threads <= 4096 && opt.calls >= 1 && opt.sleep_ms >= 0 &&
         opt.sleep_ms <= 60'000;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  const bool help = argc == 2 && std::string_view(argv[1]) == "--help";
  if (help || !parse(argc, argv, opt)) {
    std::fprintf(help ? stdout : stderr,
                 "usage: sf-demo [--threads 1..4096] [--calls N>=1] [--sleep-ms 0..60000]\n"
                 "defaults: --threads 32 --calls 2000 --sleep-ms 20\n");
    return help ? 0 : 2;
  }

  std::printf("%d threads, %d calls for one key, the database takes %d ms per query\n\n",
              opt.threads, opt.calls, opt.sleep_ms);
  std::printf("%-16s %7s %10s %10s %9s %9s\n", "implementation", "calls", "executions",
              "coalescing", "peak load", "seconds");
  using key = std::string;
  bool ok = report<no_coalescing>("no coalescing", opt);
  ok &= report<singleflight::group<key, int>>("group", opt);
  ok &= report<singleflight::mutex_group<key, int>>("mutex_group", opt);
  ok &= report<singleflight::sharded_group<key, int>>("sharded_group", opt);
  std::printf("\nexecutions: database queries (runs of fn); coalescing: 1 - executions/calls;\n"
              "peak load: the most queries running at once. The seconds hardly differ: every call\n"
              "still waits for one query. What coalescing saves is the database's work.\n");
  return ok ? 0 : 1;
}
