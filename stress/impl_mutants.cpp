// sf-stress: deliberately broken groups, so that no checker passes vacuously. Each is a small
// mutex-and-condition-variable singleflight (Go's design, written out here) with one mistake; the
// ctest label `stress` runs each against a workload that must catch it:
//
//   solo         never coalesces: every caller runs fn itself              -> S1 (overlapping fns)
//   stale        never removes a finished flight, so later calls join it   -> S2
//   flags        tells every caller shared() == false                      -> S4
//   eager_erase  removes whatever flight its key has when it finishes,
//                even one registered after a forget (Go issue 31420)       -> S1 (churn)
//   hang         now and then finishes a flight without waking its waiters -> S6 (watchdog)
//   leak         keeps every tenth value alive forever                     -> S10
//   deaf         ignores stop tokens and deadlines                         -> S7 (churn, deadline)
//   tardy        lets a follower leave 100 ms after its deadline           -> S7 (deadline)
//   impatient    abandons a flight as soon as its leader leaves, though
//                followers still wait for it                               -> S12 (deadline)
//   clingy       never abandons a flight: fn's token is never requested    -> S12 (deadline)
//
// Apart from its mistake, each has the library's interface and semantics, the deadline forms
// and abandonment (S12) included: a flight whose fn takes a std::stop_token and whose leader has
// a token or a deadline counts its waiting callers, and the caller that leaves last removes it
// from the map and requests fn's token (the leader leaves by a stop callback on its token, or on
// a ticket of the group's timer due at its deadline).
//
// These stand in for singleflight's result type with one of their own: the driver only uses
// value(), shared(), leader() and operator->.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "cancel_timer.hpp"

#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {
namespace {

enum class mistake { solo, stale, flags, eager_erase, hang, leak, deaf, tardy, impatient, clingy };

template <class Value>
class mutant_result {
 public:
  mutant_result(std::shared_ptr<const Value> v, bool shared, bool leader)
      : v_(std::move(v)), shared_(shared), leader_(leader) {}
  const Value& value() const noexcept { return *v_; }
  const Value& operator*() const noexcept { return *v_; }
  const Value* operator->() const noexcept { return v_.get(); }
  bool shared() const noexcept { return shared_; }
  bool leader() const noexcept { return leader_; }

 private:
  std::shared_ptr<const Value> v_;
  bool shared_, leader_;
};

// Values this group leaks on purpose (mistake::leak); never freed.
std::vector<std::shared_ptr<const tracked_value>>& leaked() {
  static auto* kept = new std::vector<std::shared_ptr<const tracked_value>>();
  return *kept;
}

template <mistake M>
class mutant_group {
  using Key = tracked_key;
  using Value = tracked_value;
  using clock = std::chrono::steady_clock;
  static constexpr clock::time_point kNever = clock::time_point::max();

  struct flight {
    explicit flight(const Key& k) : key(k) {}
    const Key key;
    std::mutex mu;
    std::condition_variable_any cv;
    bool done = false;  // guarded by mu
    std::shared_ptr<const Value> value;  // written by the leader before `done`
    std::exception_ptr error;            // likewise
    int callers = 1;                     // guarded by the group's mu_
    // S12, guarded by the group's mu_ (`abandonable` is written before the flight is shared):
    // the callers still waiting, the leader included, and whether the leader has finished or
    // the flight was abandoned. fn's token comes from fn_stop.
    bool abandonable = false;
    int waiting = 1;
    bool closed = false;
    bool abandoned = false;
    std::stop_source fn_stop;
  };

 public:
  template <class F>
  mutant_result<Value> call(const Key& key, F&& fn) {
    return call_with(key, fn, std::stop_token(), kNever);
  }
  template <class F>
  mutant_result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    return call_with(key, fn, std::move(stop), kNever);
  }
  template <class F, class Rep, class Period>
  mutant_result<Value> call_for(const Key& key, F&& fn, std::chrono::duration<Rep, Period> d) {
    return call_with(key, fn, std::stop_token(), after(d));
  }
  template <class F, class Rep, class Period>
  mutant_result<Value> call_for(const Key& key, F&& fn, std::chrono::duration<Rep, Period> d,
                                std::stop_token stop) {
    return call_with(key, fn, std::move(stop), after(d));
  }
  template <class F, class Clock, class Duration>
  mutant_result<Value> call_until(const Key& key, F&& fn,
                                  std::chrono::time_point<Clock, Duration> t) {
    return call_with(key, fn, std::stop_token(), at(t));
  }
  template <class F, class Clock, class Duration>
  mutant_result<Value> call_until(const Key& key, F&& fn, std::chrono::time_point<Clock, Duration> t,
                                  std::stop_token stop) {
    return call_with(key, fn, std::move(stop), at(t));
  }

  void forget(const Key& key) {
    std::lock_guard lock(mu_);
    map_.erase(key);
  }

 private:
  template <class Rep, class Period>
  static clock::time_point after(std::chrono::duration<Rep, Period> d) {
    const clock::time_point now = clock::now();
    if (d <= std::chrono::duration<Rep, Period>::zero()) return now;
    return now + std::chrono::ceil<clock::duration>(d);
  }
  template <class Clock, class Duration>
  static clock::time_point at(std::chrono::time_point<Clock, Duration> t) {
    if constexpr (std::is_same_v<Clock, clock>) {
      return std::chrono::ceil<clock::duration>(t);
    } else {
      return after(t - Clock::now());
    }
  }

  template <class F>
  mutant_result<Value> call_with(const Key& key, F& fn, std::stop_token stop,
                                 clock::time_point deadline) {
    if constexpr (M == mistake::deaf) {
      stop = std::stop_token();
      deadline = kNever;
    }
    if (stop.stop_requested()) throw singleflight::cancelled();
    if (deadline != kNever && clock::now() >= deadline) throw singleflight::deadline_exceeded();
    std::unique_lock lock(mu_);
    if constexpr (M != mistake::solo) {
      if (auto it = map_.find(key); it != map_.end()) {
        std::shared_ptr<flight> f = it->second;
        ++f->callers;
        ++f->waiting;
        lock.unlock();
        return follow(f, stop, deadline);
      }
    }
    auto f = std::make_shared<flight>(key);
    constexpr bool takes_token = std::is_invocable_v<F&, std::stop_token>;
    if constexpr (takes_token && M != mistake::clingy) {
      f->abandonable = stop.stop_possible() || deadline != kNever;
    }
    if constexpr (M != mistake::solo) map_.emplace(key, f);
    lock.unlock();
    try {
      if constexpr (takes_token) {
        // The leader leaves when its token is requested or its deadline passes, once.
        std::atomic<bool> gone{false};
        auto leave = [&] {
          if (!gone.exchange(true)) leave_flight(f, true);
        };
        std::optional<std::stop_callback<decltype(leave)>> on_stop, on_deadline;
        std::shared_ptr<cancel_ticket> due;
        if (f->abandonable) {
          on_stop.emplace(stop, leave);
          if (deadline != kNever) {
            due = std::make_shared<cancel_ticket>();
            due->due_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              deadline.time_since_epoch()).count();
            on_deadline.emplace(due->source.get_token(), leave);
            timer_.schedule(due);
          }
        }
        f->value.reset(new Value(fn(f->fn_stop.get_token())));
      } else {
        f->value.reset(new Value(fn()));
      }
    } catch (...) {
      f->error = std::current_exception();
    }
    lock.lock();
    f->closed = true;
    if constexpr (M == mistake::eager_erase) {
      map_.erase(key);
    } else if constexpr (M != mistake::stale) {
      if (auto it = map_.find(key); it != map_.end() && it->second == f) map_.erase(it);
    }
    const bool shared = f->callers > 1;
    const bool silent = M == mistake::hang && ++finished_ % 50 == 0;
    if constexpr (M == mistake::leak) {
      if (f->value && ++finished_ % 10 == 0) leaked().push_back(f->value);
    }
    lock.unlock();
    {
      std::lock_guard done(f->mu);
      f->done = true;
    }
    if (!silent) f->cv.notify_all();
    if (f->error) std::rethrow_exception(f->error);
    return {f->value, shared && M != mistake::flags, true};
  }

  mutant_result<Value> follow(const std::shared_ptr<flight>& f, const std::stop_token& stop,
                              clock::time_point deadline) {
    if constexpr (M == mistake::tardy) {
      if (deadline != kNever) deadline += std::chrono::milliseconds(100);
    }
    std::unique_lock wait(f->mu);
    const bool closed = deadline == kNever
                            ? f->cv.wait(wait, stop, [&] { return f->done; })
                            : f->cv.wait_until(wait, stop, deadline, [&] { return f->done; });
    wait.unlock();
    if (!closed) {
      leave_flight(f, false);
      if (stop.stop_requested()) throw singleflight::cancelled();
      throw singleflight::deadline_exceeded();
    }
    if (f->error) std::rethrow_exception(f->error);
    return {f->value, M != mistake::flags, false};
  }

  // A caller of `f` stops waiting; the last one abandons the flight (S12).
  void leave_flight(const std::shared_ptr<flight>& f, bool leader) {
    std::lock_guard lock(mu_);
    if (!f->abandonable || f->closed || f->abandoned) return;
    --f->waiting;
    if (f->waiting == 0 || (M == mistake::impatient && leader)) {
      f->abandoned = true;
      if (auto it = map_.find(f->key); it != map_.end() && it->second == f) map_.erase(it);
      f->fn_stop.request_stop();
    }
  }

  std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<flight>, key_hash, key_equal> map_;  // guarded by mu_
  unsigned long finished_ = 0;                                                 // guarded by mu_
  cancel_timer timer_;  // the leaders' deadlines
};

struct mutant_entry {
  std::string_view name;
  run_result (*run)(const spec_ptr&);
};

template <mistake M>
run_result run_as(const spec_ptr& spec) {
  return run_with<mutant_group<M>>(spec, [] {});
}

constexpr mutant_entry mutants[] = {
    {"solo", run_as<mistake::solo>},        {"stale", run_as<mistake::stale>},
    {"flags", run_as<mistake::flags>},      {"eager_erase", run_as<mistake::eager_erase>},
    {"hang", run_as<mistake::hang>},        {"leak", run_as<mistake::leak>},
    {"deaf", run_as<mistake::deaf>},        {"tardy", run_as<mistake::tardy>},
    {"impatient", run_as<mistake::impatient>}, {"clingy", run_as<mistake::clingy>},
};

}  // namespace

bool known_mutant(std::string_view name) {
  for (const auto& m : mutants) {
    if (m.name == name) return true;
  }
  return false;
}

run_result run_mutant(std::string_view name, const spec_ptr& spec) {
  for (const auto& m : mutants) {
    if (m.name == name) return m.run(spec);
  }
  throw std::invalid_argument("sf-stress: no mutant named " + std::string(name));
}

}  // namespace sfstress
