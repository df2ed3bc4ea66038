// What every recipe's test uses, and nothing of the patterns themselves: a tally of acceptance
// checks, a way to start many callers at once, and `crowd`, which lets a loader wait until every
// other caller is inside call(), waiting for it. Each recipe's pattern is in its own file.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace recipe {

inline std::atomic<int> failed_checks{0};

// Prints one acceptance check; a failed one makes verdict() nonzero. Any thread may call it.
inline bool check(bool ok, const std::string& what) {
  std::printf("  [%s] %s\n", ok ? " ok " : "FAIL", what.c_str());
  if (!ok) failed_checks.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after joins
  return ok;
}

// check(actual == expected) that prints both numbers.
template <class A, class B>
bool check_eq(const A& actual, const B& expected, const std::string& what) {
  return check(actual == expected, what + ": " + std::to_string(actual) + " (expected " +
                                       std::to_string(expected) + ")");
}

// main's return value.
inline int verdict() {
  const int failed = failed_checks.load(std::memory_order_relaxed);  // relaxed: threads joined
  std::printf("%s\n", failed == 0 ? "PASS" : "FAIL");
  return failed == 0 ? 0 : 1;
}

// Runs body(0) ... body(n-1) on n threads released together; returns when all have finished.
template <class F>
void in_parallel(int n, F body) {
  std::latch start(n);
  std::vector<std::jthread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
}  // the jthreads join here

// A stampede made certain. Each caller calls arrive() right before its call(); the loader calls
// wait_for_everyone(), which returns once every caller has arrived *and* none of them is still
// on its way into the flight. "On its way" means runnable: a caller that has joined the flight
// is asleep, parked until the loader returns, while one that was preempted between arrive() and
// joining is runnable, and a fixed grace period cannot outwait a scheduler that starves it (a
// loaded 2-core machine running sanitized tests in parallel does). So the loader looks at the
// other threads of the process (Linux: /proc/self/task/*/stat) until it sees none runnable twice
// in a row; loaders waiting on the same crowd do not count. Where /proc cannot be read it falls
// back to a 100 ms grace. A caller that still came too late would start a second flight, and the
// recipe's count of loads would say so: the checks cannot pass by luck.
class crowd {
 public:
  explicit crowd(int callers) : arrived_(callers) {}

  void arrive() { arrived_.count_down(); }

  void wait_for_everyone() {
    using namespace std::chrono_literals;
    arrived_.wait();
    const pid_t self = gettid();
    {
      std::lock_guard lock(mu_);
      loaders_.insert(self);
    }
    const auto give_up = std::chrono::steady_clock::now() + 30s;  // then the counts will tell
    bool readable = true;
    for (int quiet = 0; quiet < 2 && readable && std::chrono::steady_clock::now() < give_up;) {
      std::set<pid_t> exempt;
      {
        std::lock_guard lock(mu_);
        exempt = loaders_;
      }
      const std::optional<bool> busy = others_runnable(exempt);
      readable = busy.has_value();
      quiet = busy == false ? quiet + 1 : 0;
      std::this_thread::sleep_for(2ms);
    }
    {
      std::lock_guard lock(mu_);
      loaders_.erase(self);
    }
    std::this_thread::sleep_for(readable ? 5ms : 100ms);
  }

 private:
  // Whether a thread of this process outside `exempt` is runnable now; nullopt if unknown.
  static std::optional<bool> others_runnable(const std::set<pid_t>& exempt) {
    std::error_code error;
    std::filesystem::directory_iterator tasks("/proc/self/task", error);
    if (error) return std::nullopt;
    for (const std::filesystem::directory_entry& task : tasks) {
      const pid_t tid = static_cast<pid_t>(std::atol(task.path().filename().c_str()));
      if (exempt.count(tid) != 0) continue;
      std::ifstream stat(task.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;  // the thread has exited
      // "tid (name) S ...": the state follows the last ')', since the name may contain one.
      const std::size_t paren = line.rfind(')');
      if (paren == std::string::npos || paren + 2 >= line.size()) return std::nullopt;
      if (line[paren + 2] == 'R') return true;
    }
    return false;
  }

  std::latch arrived_;
  std::mutex mu_;             // guards loaders_
  std::set<pid_t> loaders_;   // threads inside wait_for_everyone()
};

}  // namespace recipe
