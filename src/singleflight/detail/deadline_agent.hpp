// singleflight::detail — internal; the machine's clock: deadlines, a timed wait for one caller,
// and the agent that acts on a leader's deadline while the leader is busy inside fn.
//
// C++20 has no timed atomic wait, and a raw futex wait with a timeout is invisible to
// libstdc++'s notify_all (DESIGN.md, known facts). So a caller that waits with a deadline or a
// stop token does not park on the flight's state word: it parks on a `parker` of its own (a
// mutex and a condition variable on its stack), which owns both its wait and its wake — the
// leader signals it when the flight closes, its stop callback when its token is requested, and
// the condition variable's own timed wait ends it at the deadline. A caller without either keeps
// parking on the state word (flight.hpp) and never touches any of this.
//
// A leader cannot wait for its deadline: it is running fn. When fn takes a stop token, something
// else must act at the leader's deadline (S12): one thread per process, started on first use,
// keeps the deadlines of such leaders in order and runs each one's callback when it passes
// (`deadline_callback`, shaped like std::stop_callback). A leader with a deadline whose fn takes
// no token registers nothing: its outcome is fn's outcome whenever fn ends.
//
// Under SINGLEFLIGHT_RELACY these names come from proofs/relacy_machine.hpp instead, where a
// deadline passes when a model thread says so.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>

namespace singleflight::detail {

// A point on the steady clock after which a caller stops waiting; `never()` is no deadline. What
// timeout_after and time_point_at below resolve to, once something must wait for it.
struct deadline {
  using clock = std::chrono::steady_clock;
  clock::time_point at;

  static constexpr deadline never() noexcept { return {clock::time_point::max()}; }
  bool finite() const noexcept { return at != clock::time_point::max(); }
};

// Durations and time points compared without overflow, whatever their representations.
using long_seconds = std::chrono::duration<long double>;
inline constexpr long_seconds kForever{100.0L * 365 * 24 * 3600};  // 100 years: no deadline

// What call_for() was given. A call reads no clock for it until something must wait for the
// deadline (a follower about to park, or a leader whose fn takes a stop token): resolve() turns
// it into a deadline from that moment, a lookup after the call began (well under a microsecond).
// A timeout that is not positive (NaN included) has passed at the call; one of 100 years or more
// (duration::max(), say) is no deadline, never an overflow into the past.
template <class Rep, class Period>
struct timeout_after {
  std::chrono::duration<Rep, Period> timeout;

  bool passed() const noexcept { return !(timeout > std::chrono::duration<Rep, Period>::zero()); }
  bool finite() const noexcept { return long_seconds(timeout) < kForever; }
  deadline resolve() const noexcept {
    if (!finite()) return deadline::never();
    const deadline::clock::time_point now = deadline::clock::now();
    if (passed()) return deadline{now};
    // Less than 100 years from a steady clock that counts from boot: no overflow.
    return deadline{now + std::chrono::ceil<deadline::clock::duration>(long_seconds(timeout))};
  }
};

// What call_until() was given: a time point on any clock. passed() reads that clock once, at the
// call. resolve() carries the time point over to the steady clock when something must wait for
// it (reading both clocks, unless it is the steady clock's own), so a clock that jumps later does
// not move it. time_point::max(), or a point 100 years or more away, is no deadline.
template <class Clock, class Duration>
struct time_point_at {
  std::chrono::time_point<Clock, Duration> t;

  bool finite() const noexcept { return t != std::chrono::time_point<Clock, Duration>::max(); }
  bool passed() const noexcept { return finite() && !(left(Clock::now()) > long_seconds::zero()); }
  deadline resolve() const noexcept {
    if (!finite()) return deadline::never();
    const auto now = Clock::now();
    const deadline::clock::time_point steady_now =
        std::is_same_v<Clock, deadline::clock> ? deadline::clock::time_point(now.time_since_epoch())
                                               : deadline::clock::now();
    const long_seconds rest = left(now);
    if (!(rest > long_seconds::zero())) return deadline{steady_now};  // NaN included
    if (rest >= kForever) return deadline::never();
    return deadline{steady_now + std::chrono::ceil<deadline::clock::duration>(rest)};
  }

 private:
  long_seconds left(typename Clock::time_point now) const noexcept {
    return long_seconds(t.time_since_epoch()) - long_seconds(now.time_since_epoch());
  }
};

template <class Rep, class Period>
timeout_after<Rep, Period> deadline_after(std::chrono::duration<Rep, Period> timeout) noexcept {
  return {timeout};
}

template <class Clock, class Duration>
time_point_at<Clock, Duration> deadline_at(std::chrono::time_point<Clock, Duration> t) noexcept {
  return {t};
}

// The wake-up channel of one waiting caller, owned by that caller. Signals are bits that stay
// set. The signaller notifies while it holds the mutex, so the owner, which reads the bits only
// under the mutex, cannot see a signal and destroy the parker while the signaller still uses it.
class parker {
 public:
  void signal(unsigned bits) noexcept {
    const std::lock_guard lock(m_);
    bits_ |= bits;
    cv_.notify_one();
  }

  // Blocks until a bit of `mask` is set; returns the bits.
  unsigned wait(unsigned mask) noexcept {
    std::unique_lock lock(m_);
    while ((bits_ & mask) == 0) cv_.wait(lock);
    return bits_;
  }

  // As wait(), or until `d` passes: then returns 0 if no bit of `mask` was set by then.
  unsigned wait_until(unsigned mask, const deadline& d) noexcept {
    std::unique_lock lock(m_);
    while ((bits_ & mask) == 0) {
      if (cv_.wait_until(lock, d.at) == std::cv_status::timeout) return bits_ & mask;
    }
    return bits_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  unsigned bits_ = 0;  // guarded by m_
};

// Runs callbacks at their deadlines, on one thread per process, started on first use and
// joined at exit. A callback must be short and must not throw: it runs on the agent's thread and
// delays the ones after it.
class deadline_agent {
 public:
  struct entry {
    void (*run)(entry*) noexcept = nullptr;
    deadline::clock::time_point at{};
    std::multimap<deadline::clock::time_point, entry*>::iterator where{};
    bool queued = false;  // guarded by the agent's mutex
  };

  static deadline_agent& get() {
    static deadline_agent agent;
    return agent;
  }

  void add(entry& e) {
    {
      const std::lock_guard lock(m_);
      e.where = queue_.emplace(e.at, &e);
      e.queued = true;
    }
    wake_.notify_one();
  }

  // After this returns, e's callback is not running and will never run.
  void remove(entry& e) noexcept {
    std::unique_lock lock(m_);
    if (e.queued) {
      queue_.erase(e.where);
      e.queued = false;
      return;
    }
    while (running_ == &e) done_.wait(lock);
  }

 private:
  deadline_agent() : thread_([this] { run(); }) {}
  ~deadline_agent() {
    {
      const std::lock_guard lock(m_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void run() {
    std::unique_lock lock(m_);
    while (!stopping_) {
      if (queue_.empty()) {
        wake_.wait(lock);
        continue;
      }
      const auto first = queue_.begin();
      // A copy: remove() may erase the entry while the agent waits for it.
      const deadline::clock::time_point at = first->first;
      if (at > deadline::clock::now()) {
        wake_.wait_until(lock, at);
        continue;
      }
      entry* e = first->second;
      queue_.erase(first);
      e->queued = false;
      running_ = e;
      lock.unlock();
      e->run(e);
      lock.lock();
      running_ = nullptr;
      done_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable wake_;  // the agent waits here for the first deadline or a new entry
  std::condition_variable done_;  // remove() waits here for a callback that is running
  std::multimap<deadline::clock::time_point, entry*> queue_;  // guarded by m_
  entry* running_ = nullptr;                                  // guarded by m_
  bool stopping_ = false;                                     // guarded by m_
  std::thread thread_;  // last: started once the members above exist
};

// Runs `f` once, on the agent's thread, when `d` passes, unless destroyed first; the destructor
// waits for `f` if it is running. A deadline that never comes registers nothing.
template <class F>
class deadline_callback : deadline_agent::entry {
 public:
  deadline_callback(const deadline& d, F f) : f_(std::move(f)) {
    if (!d.finite()) return;
    at = d.at;
    run = [](deadline_agent::entry* e) noexcept { static_cast<deadline_callback*>(e)->f_(); };
    deadline_agent::get().add(*this);
  }
  deadline_callback(const deadline_callback&) = delete;
  deadline_callback& operator=(const deadline_callback&) = delete;
  ~deadline_callback() {
    if (run != nullptr) deadline_agent::get().remove(*this);
  }

 private:
  F f_;
};

}  // namespace singleflight::detail
