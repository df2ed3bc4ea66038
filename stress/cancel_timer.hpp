// sf-stress: requests stops at planned times, for the churn workload's cancellations (S7).
//
// A caller that is to be cancelled creates a ticket (its own stop_source), hands it to the timer
// with a due time, and calls with the ticket's token. At the due time the timer notes the time and
// requests the stop; the caller, if it was still waiting, must throw `cancelled` soon after.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <stop_token>
#include <thread>
#include <vector>

namespace sfstress {

struct cancel_ticket {
  std::stop_source source;
  // When the stop was requested (0: not yet). Release store in request(); pairs with the acquire
  // load of the cancelled caller, which needs the time of the request it reacted to.
  std::atomic<std::int64_t> requested_ns{0};
  std::int64_t due_ns = 0;

  void request() noexcept;
};

class cancel_timer {
 public:
  cancel_timer();
  ~cancel_timer();
  cancel_timer(const cancel_timer&) = delete;
  cancel_timer& operator=(const cancel_timer&) = delete;

  void schedule(std::shared_ptr<cancel_ticket> ticket);
  // Stops the timer thread; tickets not yet due are dropped.
  void stop();

 private:
  struct later {
    bool operator()(const std::shared_ptr<cancel_ticket>& a,
                    const std::shared_ptr<cancel_ticket>& b) const noexcept {
      return a->due_ns > b->due_ns;
    }
  };
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<std::shared_ptr<cancel_ticket>, std::vector<std::shared_ptr<cancel_ticket>>,
                      later>
      due_;                // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sfstress
