// singleflight::detail — internal; the flight record that every implementation shares.
//
// A flight is one execution of fn for a key. Its record holds the state word that followers park
// on, the outcome (one value or one exception), and two reference counts. Each table embeds this
// record in its own record type (adding the key and its links) and supplies the function that
// frees the memory.
//
// State machine (one word, paper/design.md §2; the numbered sites are the rows of §6):
//
//   OPEN ──follower try_join──▶ OPEN|JOINED ──follower about to park──▶ …|WAITERS or …|LISTED
//     │                                                                        │
//     ├──────────── leader close(): sets DONE, wakes WAITERS and LISTED ◀──────┘
//     │
//     └── (abandonable flights) last caller leaves before the close ──▶ ABANDONED (S12)
//
//   The leader writes the outcome, removes the record from its table by identity, then closes.
//   A follower joins only if its read-modify-write of JOINED finds DONE (and ABANDONED) clear;
//   one that finds DONE set never became a caller and retries its lookup (the record is already
//   out of the table). So the JOINED bit the leader reads at close is exactly "some follower
//   joined" (S4).
//
// Waiting. A follower without a stop token or deadline parks on the state word (WAITERS tells
// close() to notify it). A follower with either parks on a parker of its own, linked into the
// flight's list of waiters (LISTED tells close() to walk the list): its stop callback or its
// deadline wakes only that parker, so a caller that leaves wakes nobody else (S7).
//
// Abandonment (S12). When fn takes a stop token and the leader may leave (it has a token or a
// deadline), the flight counts its waiting callers in the state word's high bits: the leader
// from the start, each follower from its join. A caller that leaves before the close takes
// itself off the count; the one that takes it to zero sets ABANDONED and requests fn's stop.
// From then on joins fail, so the flight takes no new callers; whoever finds it abandoned in
// its table removes it (by identity) and looks again, registering a new flight.
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
//   - Whoever wakes waiters or leaves (the leader in close(), a stop callback or the deadline
//     agent acting for a caller) does so while that caller holds its user reference, so a
//     wake-up never lands on freed memory. A waiter's parker is on its own stack: close() is
//     done with a node once it has signalled it, and a leaving waiter unlinks its node first.
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

// A deadline that never comes: a call without one compiles no clock reading.
struct no_deadline {
  static constexpr bool finite() noexcept { return false; }
  static constexpr bool passed() noexcept { return false; }
  static constexpr no_deadline resolve() noexcept { return {}; }
};

// The callback that acts when deadline type `D` passes: for a deadline, the agent's
// (deadline_agent.hpp); none for no_deadline.
template <class D>
struct deadline_callback_for {
  template <class F>
  using type = deadline_callback<F>;
};
template <>
struct deadline_callback_for<no_deadline> {
  template <class F>
  struct type {
    template <class G>
    type(const no_deadline&, G&&) noexcept {}
  };
};
template <class D, class F>
using deadline_callback_for_t = typename deadline_callback_for<D>::template type<F>;

// A stop that never comes needs no callback (follow() registers none for it).
template <>
struct stop_callback_for<no_stop> {
  template <class F>
  struct type {
    template <class G>
    type(const no_stop&, G&&) noexcept {}
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

// What a follower's attempt to join found.
enum class join_result { joined, closed, abandoned };

// A caller waiting in the flight's list: a thread follower with a stop token or a deadline
// (protocol.hpp's thread_waiter, a parker on its stack) or a coroutine caller (async.hpp's
// coroutine_waiter, in the awaiting frame). close() detaches the whole list, then calls each
// node's `wake` once, reading `next` first: the node may be gone as soon as it is woken. A caller
// never lets its node go while close() may still reach it: it either unlinks it first (delist)
// or waits to be woken.
struct waiter {
  using wake_fn = void (*)(waiter&) noexcept;
  explicit waiter(wake_fn w) noexcept : wake(w) {}
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  const wake_fn wake;
  waiter* prev = nullptr;  // guarded by the flight's list lock
  waiter* next = nullptr;  // guarded by the flight's list lock
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

  // ---- who leads (S11), and whether the flight can be abandoned (S12) ----

  bool led_by_this_thread() const noexcept {
    published_.read();
    return leader_ == this_thread_tag();
  }

  // Leader, before the record is published: the flight counts its waiting callers, starting
  // with the leader, and owns the stop source whose token fn receives.
  void make_abandonable() {
    abandon_ = fn_stop_source();
    abandonable_ = true;
    state_.store(kCaller, std::memory_order_relaxed);  // relaxed: published with the record
    published_.write();
  }

  // Leader, before the record is published: fn is an asynchronous loader that the flight awaits,
  // so no thread is inside it, and a call for the key from this thread is no reentry (S11).
  void make_async() noexcept {
    leader_ = nullptr;
    published_.write();
  }

  bool abandonable() const noexcept {
    published_.read();
    return abandonable_;
  }

  // The token fn receives: requested when the flight is abandoned; never, if it cannot be.
  fn_stop_token fn_token() const noexcept {
    published_.read();
    return abandon_.get_token();
  }

  // ---- the protocol: join, close, wait, leave ----

  // Follower, holding a user reference. `closed` or `abandoned` means this caller did not join:
  // it is not a caller of this flight and must look the key up again.
  [[nodiscard]] join_result try_join() noexcept {
    published_.read();
    if (!abandonable_) {
      // (1) acq_rel, pairs with (2): a join is seen by the close, a failed join sees the unlink.
      const std::uint32_t prev = state_.fetch_or(kJoined, std::memory_order_acq_rel);
      return (prev & kDone) == 0 ? join_result::joined : join_result::closed;
    }
    // The same, counting the follower among the waiting callers, unless the count already
    // reached zero (then no new caller may join, S12).
    std::uint32_t s = state_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
    for (;;) {
      if ((s & kDone) != 0) return join_result::closed;
      if ((s & kAbandoned) != 0) return join_result::abandoned;
      // (1) acq_rel, pairs with (2) as above, and with (14): a join and a leave are ordered.
      if (state_.compare_exchange_weak(s, (s + kCaller) | kJoined, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {  // (1)
        return join_result::joined;
      }
    }
  }

  // Whether the flight was abandoned: a table that finds it so removes it.
  bool abandoned() const noexcept {
    // (15) acquire, pairs with (14): the abandonment is seen with what preceded it.
    return (state_.load(std::memory_order_acquire) & kAbandoned) != 0;
  }

  // Leader, after writing the outcome and removing the record from its table, holding its user
  // reference. Returns whether any follower joined (the leader's shared()).
  bool close() noexcept {
    published_.read();
    std::uint32_t prev;
    if (leader_ != nullptr) {
      // (2) acq_rel, pairs with (1), (3)-(6) and (14): publishes the outcome; sees every join,
      // WAITERS and LISTED.
      prev = state_.fetch_or(kDone, std::memory_order_relaxed);
    } else {
      // An asynchronous flight's leader is woken like a follower and reads its shared() from
      // the word: keep whether a follower had joined as DONE is set.
      prev = state_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
      while (!state_.compare_exchange_weak(prev, prev | kDone | ((prev & kJoined) << kSharedShift),
                                           std::memory_order_acq_rel,  // (2), as above
                                           std::memory_order_relaxed)) {  // relaxed: re-read
      }
    }
    if ((prev & kWaiters) != 0) notify_all(state_);
    if ((prev & kListed) != 0) wake_listed();
    return (prev & kJoined) != 0;
  }

  // Whether the flight has closed: once true, the outcome is visible (S8).
  [[nodiscard]] bool closed() const noexcept {
    // (3) acquire, pairs with (2), as in closed_after_spin().
    return (state_.load(std::memory_order_acquire) & kDone) != 0;
  }

  // For the leader of an asynchronous flight, after the close was seen: whether any follower
  // joined (its shared()). The close of such a flight copied JOINED into SHARED as it set DONE; a
  // finder's failed join may set JOINED after DONE, but nothing sets SHARED later.
  [[nodiscard]] bool had_followers() const noexcept {
    // Relaxed: the caller has seen DONE through an acquire (3), and SHARED was set with it.
    return (state_.load(std::memory_order_relaxed) & kShared) != 0;
  }

  // Follower, after a successful try_join: re-reads the state word a few times (with a CPU
  // pause between reads) in case the flight is about to close. True once it is closed.
  [[nodiscard]] bool closed_after_spin() noexcept {
    // (3) acquire, pairs with (2): once DONE is seen, the outcome is visible (S8).
    std::uint32_t s = state_.load(std::memory_order_acquire);
    for (int i = 0; (s & kDone) == 0 && i < SINGLEFLIGHT_SPIN_BEFORE_PARK; ++i) {
      spin_pause();
      s = state_.load(std::memory_order_acquire);  // (3)
    }
    return (s & kDone) != 0;
  }

  // Follower without a stop token or deadline, after a successful try_join: spins briefly, then
  // parks on the state word until the flight is closed.
  void wait_until_closed() noexcept {
    if (closed_after_spin()) return;
    // (3) acquire, pairs with (2), as above.
    std::uint32_t s = state_.load(std::memory_order_acquire);
    while ((s & kDone) == 0) {
      if ((s & kWaiters) == 0) {
        // (4) acquire, pairs with (2): a close before it is seen.
        s = state_.fetch_or(kWaiters, std::memory_order_acquire) | kWaiters;
        continue;
      }
      // (5) acquire, pairs with (2); returns once the word differs from `s`, or spuriously.
      wait(state_, s, std::memory_order_acquire);
      s = state_.load(std::memory_order_acquire);  // (3)
    }
  }

  // Follower with a stop token or deadline, after a successful try_join: links `w` into the
  // list of waiters that close() signals. False if the flight has closed already (then the
  // outcome is visible and `w` was not linked).
  [[nodiscard]] bool enlist(waiter& w) noexcept {
    lock_list();
    // (6) acquire, pairs with (2): a close before it is seen with the outcome. A close after it
    // sees LISTED, and takes the list lock after this follower has let go of it (12)-(13).
    const std::uint32_t prev = state_.fetch_or(kListed, std::memory_order_acquire);
    const bool open = (prev & kDone) == 0;
    if (open) {
      list_access_.write();
      w.next = waiters_;
      if (waiters_ != nullptr) waiters_->prev = &w;
      waiters_ = &w;
    }
    unlock_list();
    return open;
  }

  // Follower leaving (its token was requested or its deadline passed): unlinks `w`. False if
  // close() has taken the list already: then close() will wake `w`, and the
  // follower must wait for that signal and take the outcome: the close came first.
  [[nodiscard]] bool delist(waiter& w) noexcept {
    lock_list();
    list_access_.write();
    const bool linked = !detached_;
    if (linked) {
      if (w.prev != nullptr) {
        w.prev->next = w.next;
      } else {
        waiters_ = w.next;
      }
      if (w.next != nullptr) w.next->prev = w.prev;
    }
    unlock_list();
    return linked;
  }

  // A caller stops waiting before the close: a follower that left (its token or deadline), or
  // the leader (by the same, acted on by a callback while fn runs). Nothing happens unless the
  // flight counts its callers; there, the caller that takes the count to zero abandons the
  // flight: no caller can use fn's answer any more, so fn's token is requested (S12).
  void leave() noexcept {
    published_.read();
    if (!abandonable_) return;
    std::uint32_t s = state_.load(std::memory_order_relaxed);  // relaxed: the CAS decides
    std::uint32_t next;
    do {
      if ((s & kDone) != 0) return;  // closed: nothing to abandon
      next = s - kCaller;
      if ((next & kCallerMask) == 0) next |= kAbandoned;
      // (14) acq_rel, pairs with (1), (15) and itself: the count changes in one order, and the
      // leaver that abandons has seen every join and leave before it.
    } while (!state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));  // relaxed: re-read
    if ((next & kAbandoned) != 0) abandon_.request_stop();
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

  // close(), when LISTED was set: takes the whole list under the lock, so that no waiter can
  // unlink itself any more (delist() sees `detached_`), then signals each waiter outside it. A
  // node's `next` is read before its waiter is signalled, since the waiter may return at once.
  void wake_listed() noexcept {
    lock_list();
    list_access_.write();
    detached_ = true;
    waiter* w = std::exchange(waiters_, nullptr);
    unlock_list();
    while (w != nullptr) {
      waiter* const next = w->next;
      w->wake(*w);
      w = next;
    }
  }

  // The list lock: held for a few pointer writes (enlist, delist) or the detach in
  // wake_listed(), never while anybody is woken. Only callers with a token or a deadline, and
  // the close of a flight that had such callers, ever take it.
  void lock_list() noexcept {
    // (12) acquire, pairs with (13): the list as the previous holder left it.
    while (list_lock_.exchange(1, std::memory_order_acquire) != 0) {
      // Relaxed: only a hint that the lock may be free; the exchange above takes it.
      while (list_lock_.load(std::memory_order_relaxed) != 0) yield_now();
    }
  }
  void unlock_list() noexcept {
    // (13) release, pairs with (12): the next holder sees this holder's writes to the list.
    list_lock_.store(0, std::memory_order_release);
  }

  // The state word. DONE is set once, by whoever completes fn (the leader, or the flight's own
  // driver for an asynchronous loader), when the outcome is written and the record is out of the
  // table; JOINED by a follower that joined before DONE (and by a failed join after it); WAITERS
  // by a follower about to park on the word, LISTED by a caller that linked a node of its own
  // (a parker, or a coroutine's), telling close() whom it must wake; ABANDONED by the caller that
  // left last (S12); SHARED, in an asynchronous flight, with DONE if JOINED was set before it. In
  // a flight that can be abandoned, the bits from kCaller up count its waiting callers.
  static constexpr std::uint32_t kDone = 1u << 0;
  static constexpr std::uint32_t kJoined = 1u << 1;
  static constexpr std::uint32_t kWaiters = 1u << 2;
  static constexpr std::uint32_t kListed = 1u << 3;
  static constexpr std::uint32_t kAbandoned = 1u << 4;
  static constexpr int kSharedShift = 4;  // JOINED (bit 1) copied to SHARED (bit 5)
  static constexpr std::uint32_t kShared = kJoined << kSharedShift;
  static constexpr std::uint32_t kCaller = 1u << 8;
  static constexpr std::uint32_t kCallerMask = ~(kCaller - 1);

  atomic<std::uint32_t> state_{0};
  atomic<std::uint32_t> users_{1};
  atomic<std::uint32_t> holds_;
  atomic<std::uint32_t> list_lock_{0};
  const bool table_hold_;  // a table holds the record too (libcds): holds_ starts at 2

  bool detached_ = false;  // close() has taken the list of waiters; guarded by the list lock

  // Written by the leader's thread before the record is published; read-only after.
  bool abandonable_ = false;
  const void* leader_ = this_thread_tag();  // null when no thread runs fn (an async loader)
  const reclaim_fn reclaim_;
  fn_stop_source abandon_ = no_fn_stop_source();  // requested by leave() at abandonment
  [[no_unique_address]] plain_access published_;  // marks the reads of the fields above

  // The waiters with a parker of their own, guarded by the list lock (with detached_ above).
  waiter* waiters_ = nullptr;
  [[no_unique_address]] plain_access list_access_;  // marks every access to the list

  // The outcome: written by the leader before close() — exactly one of value_ (made) or error_
  // (non-null) — and read by callers only after they observed DONE through (2).
  value_slot<Value> value_;
  std::exception_ptr error_;
  [[no_unique_address]] plain_access outcome_access_;  // marks every access to the outcome
};

}  // namespace singleflight::detail
