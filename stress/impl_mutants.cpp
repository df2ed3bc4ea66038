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
//   deaf         ignores stop tokens                                       -> S7 (churn)
//
// These stand in for singleflight's result type with one of their own: the driver only uses
// value(), shared(), leader() and operator->.
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {
namespace {

enum class mistake { solo, stale, flags, eager_erase, hang, leak, deaf };

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

  struct flight {
    std::mutex mu;
    std::condition_variable_any cv;
    bool done = false;  // guarded by mu
    std::shared_ptr<const Value> value;  // written by the leader before `done`
    std::exception_ptr error;            // likewise
    int callers = 1;                     // guarded by the group's mu_
  };

 public:
  template <class F>
  mutant_result<Value> call(const Key& key, F&& fn) {
    return call_with(key, fn, std::stop_token());
  }
  template <class F>
  mutant_result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    if constexpr (M == mistake::deaf) {
      return call_with(key, fn, std::stop_token());
    } else {
      if (stop.stop_requested()) throw singleflight::cancelled();
      return call_with(key, fn, std::move(stop));
    }
  }

  void forget(const Key& key) {
    std::lock_guard lock(mu_);
    map_.erase(key);
  }

 private:
  template <class F>
  mutant_result<Value> call_with(const Key& key, F& fn, std::stop_token stop) {
    std::unique_lock lock(mu_);
    if constexpr (M != mistake::solo) {
      if (auto it = map_.find(key); it != map_.end()) {
        std::shared_ptr<flight> f = it->second;
        ++f->callers;
        lock.unlock();
        std::unique_lock wait(f->mu);
        if (!f->cv.wait(wait, stop, [&] { return f->done; })) throw singleflight::cancelled();
        if (f->error) std::rethrow_exception(f->error);
        return {f->value, M != mistake::flags, false};
      }
    }
    auto f = std::make_shared<flight>();
    if constexpr (M != mistake::solo) map_.emplace(key, f);
    lock.unlock();
    try {
      f->value.reset(new Value(fn()));
    } catch (...) {
      f->error = std::current_exception();
    }
    lock.lock();
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

  std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<flight>, key_hash, key_equal> map_;  // guarded by mu_
  unsigned long finished_ = 0;                                                 // guarded by mu_
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
    {"deaf", run_as<mistake::deaf>},
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
