// sf-stress: the thread that watches a run. Every 50 ms it looks at every worker's progress slot:
// an operation outstanding longer than the watchdog limit means a caller that was never woken or a
// key that stays wedged (S6), so it prints who is stuck on which key and ends the process with
// status 3 instead of hanging. On a terminal (or with --progress always) it also draws a progress
// bar on stderr once the run has taken more than a second. Coroutine callers (coro, wide) have a
// progress slot each, watched the same way.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "worker.hpp"

namespace sfstress {

class monitor {
 public:
  // `fraction` says how far the run is (0..1); called on the monitor thread. `coroutines`: the
  // coroutine callers' slots, which outlive the monitor.
  monitor(std::string label, std::vector<worker*> workers, std::int64_t watchdog_ns, bool progress,
          std::function<double()> fraction, std::span<const progress_slot> coroutines = {});
  ~monitor();
  monitor(const monitor&) = delete;
  monitor& operator=(const monitor&) = delete;

  void stop();

 private:
  void loop();
  void check_stuck(std::int64_t now);
  void draw(std::int64_t now);

  const std::string label_;
  const std::vector<worker*> workers_;
  const std::span<const progress_slot> coroutines_;
  const std::int64_t watchdog_ns_;
  const bool progress_;
  const std::function<double()> fraction_;
  const std::int64_t start_ns_;
  bool drawn_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sfstress
