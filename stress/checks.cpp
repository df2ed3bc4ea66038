#include "checks.hpp"

#include <algorithm>
#include <cstdio>

#include "tracked.hpp"

namespace sfstress {

const char* name_of(invariant which) noexcept {
  static constexpr std::array<const char*, kInvariants> names{"S1", "S2", "S3", "S4", "S5",
                                                              "S6", "S7", "S10", "S12", "S13"};
  return names[static_cast<std::size_t>(which)];
}

void violations::report(invariant which, std::string_view message) noexcept {
  counts_[static_cast<std::size_t>(which)].fetch_add(1, std::memory_order_relaxed);
  try {
    std::lock_guard lock(mu_);
    if (kept_.size() >= kKeep) return;
    std::string kept = name_of(which);
    kept += ": ";
    kept += message;
    kept_.push_back(std::move(kept));
    std::fprintf(stderr, "\nsf-stress: VIOLATION %s\n", kept_.back().c_str());
  } catch (...) {
    // Out of memory while reporting: the count above still fails the run.
  }
}

std::uint64_t violations::count(invariant which) const noexcept {
  return counts_[static_cast<std::size_t>(which)].load(std::memory_order_relaxed);
}

std::uint64_t violations::total() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

std::vector<std::string> violations::messages() const {
  std::lock_guard lock(mu_);
  return kept_;
}

void run_checks::lone_shared(std::uint64_t key, std::uint64_t flight, std::int64_t leader_call_ns,
                             std::int64_t leader_return_ns) noexcept {
  if (!cancellations_) {
    found.report_described(invariant::s4, [&] {
      return flight_name(flight) + " of key " + std::to_string(key) +
             ": its only caller saw shared() == true, and no call was cancelled in this run";
    });
    return;
  }
  try {
    std::lock_guard lock(mu_);
    lone_shared_.push_back({key, flight, leader_call_ns, leader_return_ns});
  } catch (...) {
    found.report(invariant::s4, "out of memory while recording a lone shared flight");
  }
}

void run_checks::resolve_lone_shared(const std::vector<call_span>& cancelled_calls) {
  std::lock_guard lock(mu_);
  for (const lone& l : lone_shared_) {
    // A follower that joined this flight was registered with it, so its call overlapped the
    // leader's call (registration happens inside the leader's call, before its return).
    const bool explained = std::any_of(cancelled_calls.begin(), cancelled_calls.end(),
                                       [&](const call_span& c) {
                                         return c.key == l.key && c.start_ns <= l.to_ns &&
                                                c.end_ns >= l.from_ns;
                                       });
    if (!explained) {
      found.report(invariant::s4, flight_name(l.flight) + " of key " +
                                      std::to_string(l.key) +
                                      ": its only caller saw shared() == true, and no cancelled "
                                      "call on that key overlapped it");
    }
  }
  lone_shared_.clear();
}

namespace {
// Written by main() only while no worker thread exists; thread creation and joining order it with
// every read.
run_checks* the_run = nullptr;
}  // namespace

run_checks* current_run() noexcept { return the_run; }
void set_current_run(run_checks* run) noexcept { the_run = run; }

key_book::key_book(std::size_t keys, bool with_forget, bool with_abandonment, bool count_running)
    : keys_(keys),
      with_forget_(with_forget),
      with_abandonment_(with_abandonment),
      count_running_(count_running),
      plain_(std::make_unique<plain_key[]>(keys)),
      forget_(with_forget || with_abandonment ? std::make_unique<forget_key[]>(keys) : nullptr),
      counts_(std::make_unique<forget_counts[]>(keys)) {}

void key_book::enter(std::uint64_t key, std::uint64_t flight,
                     std::uint64_t forgets_finished_before_call, violations& found,
                     const std::stop_token& fn_token) {
  if (count_running_) {
    raise_peak(peak_, running_.fetch_add(1, std::memory_order_relaxed) + 1);  // see running_
  }
  if (with_abandonment_) {
    // With forget() too, the counts as below.
    const execution mine{flight, forgets_finished_before_call,
                         with_forget_ ? forgets_begun(key) : 0, fn_token};
    forget_key& k = forget_[key];
    std::lock_guard lock(k.mu);
    for (const execution& other : k.running) {
      if (with_forget_ && forget_explains(mine, other)) continue;
      // A token requested now stays requested: such an overlap is explained already.
      const bool explained = mine.fn_token.stop_requested() || other.fn_token.stop_requested();
      std::lock_guard noted(overlaps_mu_);
      if (explained) {
        ++explained_;
      } else {
        overlaps_.push_back({key, other, mine});
      }
    }
    k.running.push_back(mine);
    return;
  }
  if (!with_forget_) {
    plain_key& k = plain_[key];
    const std::uint32_t others = k.running.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t previous = k.last.exchange(flight, std::memory_order_relaxed);
    if (others != 0) {
      found.report(invariant::s1, "key " + std::to_string(key) + ": " + flight_name(flight) +
                                      " started fn while " + std::to_string(others) +
                                      " other execution(s) ran (the last to start: " +
                                      flight_name(previous) + "), and this run never calls forget()");
    }
    return;
  }
  // Read after this flight registered, so it counts every forget that could have removed a flight
  // registered before this one (see the class comment).
  const execution mine{flight, forgets_finished_before_call, forgets_begun(key), {}};
  forget_key& k = forget_[key];
  std::lock_guard lock(k.mu);
  for (const execution& other : k.running) {
    if (!forget_explains(mine, other)) {
      found.report(invariant::s1, "key " + std::to_string(key) + ": " + flight_name(flight) +
                                      " started fn while " + flight_name(other.flight) +
                                      " ran, and no forget() of the key can have removed "
                                      "either from the table");
    }
  }
  k.running.push_back(mine);
}

void key_book::leave(std::uint64_t key, std::uint64_t flight) {
  if (count_running_) running_.fetch_sub(1, std::memory_order_relaxed);  // see running_
  if (!with_forget_ && !with_abandonment_) {
    plain_[key].running.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  forget_key& k = forget_[key];
  std::lock_guard lock(k.mu);
  auto it = std::find_if(k.running.begin(), k.running.end(),
                         [flight](const execution& e) { return e.flight == flight; });
  if (it != k.running.end()) k.running.erase(it);
}

std::uint64_t key_book::resolve_overlaps(violations& found) {
  std::lock_guard lock(overlaps_mu_);
  for (const overlap& o : overlaps_) {
    if (o.first.fn_token.stop_requested() || o.second.fn_token.stop_requested()) {
      ++explained_;
      continue;
    }
    found.report(invariant::s1, "key " + std::to_string(o.key) + ": " +
                                    flight_name(o.second.flight) + " started fn while " +
                                    flight_name(o.first.flight) +
                                    " ran, and neither was abandoned (the stop token of neither "
                                    "fn was ever requested), so neither can have left the table");
  }
  overlaps_.clear();
  return explained_;
}

}  // namespace sfstress
