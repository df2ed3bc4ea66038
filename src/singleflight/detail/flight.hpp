// singleflight::detail — internal; the flight record that every implementation shares.
//
// A flight is one execution of fn for a key. Its record holds the state word that followers park
// on, the outcome (one value or one exception), and two reference counts. Each table embeds this
// record in its own record type (adding the key and its links) and supplies the function that
// frees the memory.
//
// State machine (one word, paper/design.md §2; the numbered sites are the rows of §6):
//
//   OPEN ──follower try_join──▶ OPEN|JOINED ──follower about to park──▶ …|WAITERS
//     │                                                                   │
//     └──────────── leader close(): sets DONE, notifies if WAITERS ◀──────┘
//
//   The leader writes the outcome, removes the record from its table by identity, then closes.
//   A follower joins only if its fetch_or of JOINED finds DONE clear; one that finds DONE set
//   never became a caller and retries its lookup (the record is already out of the table). So
//   the JOINED bit the leader reads at close is exactly "some follower joined" (S4).
//
// Lifetime invariant (S10):
//   - users_ counts whoever may read the outcome: the leader from creation until it returns or
//     throws, each follower from its join until it returns or throws, and each result object.
//     The outcome is destroyed when users_ reaches zero.
//   - holds_ counts whoever may still touch the memory: one for all users together (dropped by
//     the last user right after it destroyed the outcome), plus one per table that can reach the
//     record after unlinking it (libcds: dropped by the reclamation's disposer once no hazard
//     pointer guards the record). When holds_ reaches zero the record goes to its table's
//     reclaim function: the mutex baselines free it; the own table (slots_table.hpp), which keeps
//     no hold, retires it to its hazard-pointer domain, which frees it once no reader guards it.
//   - Whoever wakes parked followers (the leader in close(), a stop callback in interrupt()) holds
//     a user reference for the whole notify_all, so a wake-up never lands on freed memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "atomic.hpp"
#include "config.hpp"

namespace singleflight::detail {

// Stands in for a std::stop_token when the caller passed none: the compiler removes every check.
struct no_stop {
  static constexpr bool stop_requested() noexcept { return false; }
  static constexpr bool stop_possible() noexcept { return false; }
};

// A stop that never comes needs no callback (follow() registers none for it).
template <>
struct stop_callback_for<no_stop> {
  template <class F>
  struct type {
    type(const no_stop&, F&&) noexcept {}
  };
};

// Where a flight keeps its value: in the record (small values), or in an allocation of its own
// (values larger than SINGLEFLIGHT_INLINE_VALUE_BYTES), made when fn returns and freed by the
// last user, so that a record that outlives its last user never holds a large value's memory.
template <class Value, bool Inline = sizeof(Value) <= SINGLEFLIGHT_INLINE_VALUE_BYTES>
class value_slot {
 public:
  value_slot() noexcept {}
  ~value_slot() {}
  template <class F>
  void make(F&& fn) {  // no copy when fn returns a Value prvalue
    ::new (static_cast<void*>(std::addressof(value_))) Value(std::invoke(std::forward<F>(fn)));
  }
  Value* get() noexcept { return std::addressof(value_); }
  const Value* get() const noexcept { return std::addressof(value_); }
  void destroy() noexcept { value_.~Value(); }

 private:
  union {
    Value value_;
  };
};

template <class Value>
class value_slot<Value, false> {
 public:
  template <class F>
  void make(F&& fn) {  // the allocation is freed again if fn throws
    value_ = new Value(std::invoke(std::forward<F>(fn)));
  }
  Value* get() noexcept { return value_; }
  const Value* get() const noexcept { return value_; }
  void destroy() noexcept { delete value_; }

 private:
  Value* value_ = nullptr;
};

template <class Value>
class flight {
 public:
  using reclaim_fn = void (*)(flight*) noexcept;

  // Created by the leader: one user (the leader), one hold for the users, `table_holds` for the
  // table. `reclaim` frees the enclosing record once the last hold is gone.
  flight(reclaim_fn reclaim, std::uint32_t table_holds) noexcept
      : holds_(1 + table_holds), table_hold_(table_holds != 0), reclaim_(reclaim) {
    published_.write();
  }
  flight(const flight&) = delete;
  flight& operator=(const flight&) = delete;
  ~flight() {}  // the outcome is destroyed by the last user, never here

  // ---- who leads (S11) ----

  bool led_by_this_thread() const noexcept {
    published_.read();
    return leader_ == this_thread_tag();
  }

  // ---- the protocol: join, close, wait, interrupt ----

  // Follower, holding a user reference. False means the flight closed before this caller could
  // join: it is not a caller of this flight and must look the key up again.
  [[nodiscard]] bool try_join() noexcept {
    // (1) acq_rel, pairs with (2): a join is seen by the close, a failed join sees the unlink.
    const std::uint32_t prev = state_.fetch_or(kJoined, std::memory_order_acq_rel);
    return (prev & kDone) == 0;
  }

  // Leader, after writing the outcome and removing the record from its table, holding its user
  // reference. Returns whether any follower joined (the leader's shared()).
  bool close() noexcept {
    // (2) acq_rel, pairs with (1) and (3)-(5): publishes the outcome; sees every join and WAITERS.
    const std::uint32_t prev = state_.fetch_or(kDone, std::memory_order_acq_rel);
    if ((prev & kWaiters) != 0) notify_all(state_);
    return (prev & kJoined) != 0;
  }

  // Follower, after a successful try_join. Returns true once the flight is closed, false if
  // `stop` was requested first. Spins briefly, then parks on the state word.
  template <class Stop>
  [[nodiscard]] bool wait_until_closed(const Stop& stop) noexcept {
    // (3) acquire, pairs with (2): once DONE is seen, the outcome is visible (S8).
    std::uint32_t s = state_.load(std::memory_order_acquire);
    for (int i = 0; (s & kDone) == 0 && i < SINGLEFLIGHT_SPIN_BEFORE_PARK; ++i) {
      spin_pause();
      s = state_.load(std::memory_order_acquire);  // (3)
    }
    while ((s & kDone) == 0) {
      if (stop.stop_requested()) return false;
      if ((s & kWaiters) == 0) {
        // (4) acquire, pairs with (2) and (6): a close or stop request before it is seen.
        s = state_.fetch_or(kWaiters, std::memory_order_acquire) | kWaiters;
        continue;
      }
      // (5) acquire, pairs with (2); returns once the word differs from `s`, or spuriously.
      wait(state_, s, std::memory_order_acquire);
      s = state_.load(std::memory_order_acquire);  // (3)
    }
    return true;
  }

  // Stop callback of a waiting follower, which holds a user reference until the callback has
  // been deregistered: changes the word so that parked followers wake and re-check their tokens.
  // The other followers wake too, find DONE clear and park again: a cancellation costs one wake-up
  // of every parked follower of the flight.
  void interrupt() noexcept {
    // (6) release, pairs with (3)-(5): a follower woken by the new epoch sees its stop request.
    const std::uint32_t prev = state_.fetch_add(kEpoch, std::memory_order_release);
    if ((prev & kWaiters) != 0) notify_all(state_);
  }

  // ---- the outcome: written by the leader before close(), read by callers after ----

  // Constructs the value from fn's result (in place: no copy when fn returns a Value prvalue).
  template <class F>
  void produce(F&& fn) {
    value_.make(std::forward<F>(fn));
    outcome_access_.write();
  }

  // Records fn's exception. An empty pointer (a foreign exception, or the forced unwinding of a
  // cancelled thread, which std::current_exception cannot capture) becomes a std::runtime_error
  // so that followers never mistake it for a value.
  void fail(std::exception_ptr e) noexcept {
    if (!e) {
      e = std::make_exception_ptr(std::runtime_error(
          "singleflight: fn exited by an exception that cannot be captured "
          "(a foreign exception or thread cancellation)"));
    }
    error_ = std::move(e);
    outcome_access_.write();
  }

  const Value& value() const noexcept {
    outcome_access_.read();
    return *value_.get();
  }

  void rethrow_if_failed() const {
    outcome_access_.read();
    if (error_) std::rethrow_exception(error_);
  }

  // The value, for a caller holding a user reference to a flight that produced one to move out:
  // null unless that caller is the only user left, so that no other caller or result can read
  // the value any more. (A finder that found the record before it left its table may still hold
  // a brief reference, which keeps the count above 1 and so refuses the move; it never reads.)
  Value* value_to_take() noexcept {
    // (11) acquire, pairs with the other users' (9): their reads of the value come before the move.
    if (users_.load(std::memory_order_acquire) != 1) return nullptr;
    outcome_access_.write();
    return value_.get();
  }

  // ---- references ----

  // Relaxed: the caller already holds a reference, so the count cannot reach zero meanwhile.
  void add_user() noexcept { users_.fetch_add(1, std::memory_order_relaxed); }

  // For a record reached through a table's guard: takes a user reference unless the last user
  // is known to be gone (then the flight is closed and out of the table, and the caller looks
  // again). A count of 1 left by a last user that let go at (8) may still be incremented; that
  // caller's try_join() then finds DONE, and it lets go without reading the outcome.
  [[nodiscard]] bool try_add_user() noexcept {
    // (7) acquire, pairs with the last (9): a count of zero is read with the unlink before it.
    std::uint32_t n = users_.load(std::memory_order_acquire);
    do {
      if (n == 0) return false;
    } while (!users_.compare_exchange_weak(n, n + 1, std::memory_order_acquire,  // (7)
                                           std::memory_order_acquire));
    return true;
  }

  void release_user() noexcept {
    // (8) acquire, pairs with the other users' (9): a user that reads 1 is the last and skips
    // the read-modify-write. (9) acq_rel, pairs with itself: reads of the outcome come before
    // its destruction.
    if (users_.load(std::memory_order_acquire) == 1 ||
        users_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy_outcome();
      release_hold();
    }
  }

  void release_hold() noexcept {
    // A record that no table holds (the own table, the mutex baselines) has one hold, the
    // users': its last user, which alone calls this, is its last holder.
    if (!table_hold_) {
      reclaim_(this);
      return;
    }
    // (10) acq_rel, pairs with itself: the memory is freed after every holder is done with it.
    if (holds_.fetch_sub(1, std::memory_order_acq_rel) == 1) reclaim_(this);
  }

 private:
  // Runs in the last user after close(): the outcome is exactly one of a value or an error.
  void destroy_outcome() noexcept {
    outcome_access_.write();
    if (error_) {
      error_ = nullptr;
    } else {
      value_.destroy();
    }
  }

  // The state word. DONE is set once, by the leader, when the outcome is written and the record
  // is out of the table; JOINED by a follower that joined before DONE; WAITERS by a follower
  // about to park, telling close() and interrupt() that notify_all is needed. The bits above are
  // an epoch that interrupt() bumps so that parked followers wake; it wraps around harmlessly.
  static constexpr std::uint32_t kDone = 1u << 0;
  static constexpr std::uint32_t kJoined = 1u << 1;
  static constexpr std::uint32_t kWaiters = 1u << 2;
  static constexpr std::uint32_t kEpoch = 1u << 3;

  atomic<std::uint32_t> state_{0};
  atomic<std::uint32_t> users_{1};
  atomic<std::uint32_t> holds_;
  const bool table_hold_;  // a table holds the record too (libcds): holds_ starts at 2

  // Written by the leader's thread at creation, before the record is published; read-only after.
  const void* const leader_ = this_thread_tag();
  const reclaim_fn reclaim_;
  [[no_unique_address]] plain_access published_;  // marks the reads of the fields above

  // The outcome: written by the leader before close() — exactly one of value_ (made) or error_
  // (non-null) — and read by callers only after they observed DONE through (2).
  value_slot<Value> value_;
  std::exception_ptr error_;
  [[no_unique_address]] plain_access outcome_access_;  // marks every access to the outcome
};

}  // namespace singleflight::detail
