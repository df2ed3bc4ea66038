// singleflight::detail — internal; the leader's and the follower's halves of a call, shared by
// every implementation. Tables differ only in how a caller finds or registers a record and how
// the leader removes it; what happens once a caller knows its role is written once, here.
#pragma once

#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "atomic.hpp"
#include "config.hpp"
#include "flight.hpp"

namespace singleflight::detail {

// One user reference to a flight, released when the handle dies unless it is handed on to a
// result. Move-only.
template <class Value>
class flight_ref {
 public:
  flight_ref() noexcept = default;
  // Takes over a reference the caller already owns.
  static flight_ref adopt(flight<Value>* f) noexcept { return flight_ref(f); }

  flight_ref(flight_ref&& other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
  flight_ref& operator=(flight_ref&& other) noexcept {
    flight_ref dropped(std::move(*this));  // releases the reference held so far, if any
    f_ = std::exchange(other.f_, nullptr);
    return *this;
  }
  ~flight_ref() {
    if (f_ != nullptr) f_->release_user();
  }

  flight<Value>* operator->() const noexcept { return f_; }
  flight<Value>& operator*() const noexcept { return *f_; }

  // Gives up ownership of the reference without releasing it.
  flight<Value>* release() noexcept { return std::exchange(f_, nullptr); }

 private:
  explicit flight_ref(flight<Value>* f) noexcept : f_(f) {}
  flight<Value>* f_ = nullptr;
};

// What a lookup found for a key.
enum class lookup {
  absent,     // no record is registered: try to register one
  closed,     // a record was found but had closed: it is out of the table, look again
  abandoned,  // a record was found abandoned (S12): the table removes it, then looks again
  reentrant,  // the registered record is led by the calling thread (S11)
  joined,     // the caller joined the registered flight and holds a user reference to it
};

// A table's answer to find(): what it found and, when that is `joined`, the follower's reference.
template <class Value>
struct found {
  lookup what;
  flight_ref<Value> joined;
};

// What a caller became once its table lookup settled (a table's `enter`): a follower that
// joined the flight `f`, or the leader of the flight `f` it registered, which `unregister`
// removes from the table by identity.
template <class Value, class Unregister>
struct entered {
  flight_ref<Value> f;
  bool leads;
  Unregister unregister;  // for the leader only
};

// A finder's step on a record it found, taken while the table still guards the record: a user
// reference alone does not keep a closed record alive (its last user may have let go by the load
// at flight::release_user's (8), leaving the count at 1), but a join that succeeds does, because
// it happens before the close. A reference taken for a join that fails is released here, still
// under the guard; that release may be the record's last.
template <class Value>
found<Value> join_guarded(flight<Value>& f) noexcept {
  if (f.led_by_this_thread()) return {lookup::reentrant, {}};
  if (!f.try_add_user()) return {lookup::closed, {}};
  flight_ref<Value> ref = flight_ref<Value>::adopt(&f);
  switch (f.try_join()) {  // `ref` lets go on a failed join, under the guard
    case join_result::joined: return {lookup::joined, std::move(ref)};
    case join_result::closed: return {lookup::closed, {}};
    case join_result::abandoned: return {lookup::abandoned, {}};
  }
  return {lookup::closed, {}};
}

// Whether fn takes the flight's stop token (S12). An fn that can be called either way gets it.
template <class F>
concept takes_stop_token = std::invocable<F, fn_stop_token>;

// Whether a leader with `stop` and `d` may leave its flight, so that a flight whose fn takes a
// token must count its callers (flight::make_abandonable) before it is published.
template <class F, class Stop, class Deadline>
bool may_be_abandoned(const Stop& stop, const Deadline& d) noexcept {
  if constexpr (!takes_stop_token<F> || (std::is_same_v<Stop, no_stop> &&
                                         std::is_same_v<Deadline, no_deadline>)) {
    return false;
  } else {
    return stop.stop_possible() || d.finite();
  }
}

// Runs `body` (fn) for the leader of `f`; in an abandonable flight, with the leader's departure
// armed on its stop token and on its deadline. The departure happens at most once.
template <class F, class Value, class Stop, class Deadline, class Body>
void run_leader(flight<Value>& f, const Stop& stop, const Deadline& d, Body&& body) {
  if constexpr (std::is_same_v<Stop, no_stop> && std::is_same_v<Deadline, no_deadline>) {
    body();
  } else {
    if (!f.abandonable()) return body();
    struct departure {
      flight<Value>& f;
      // Relaxed: only picks the one callback that leaves; leave() orders itself (14).
      atomic<bool> gone{false};
      void operator()() noexcept {
        if (!gone.exchange(true, std::memory_order_relaxed)) f.leave();
      }
    } leaving{f};
    auto depart = [&leaving]() noexcept { leaving(); };
    const stop_callback_for_t<Stop, decltype(depart)> on_stop(stop, depart);
    const auto at = d.resolve();  // reads the clock only now, and only for a finite deadline
    using at_type = std::remove_const_t<decltype(at)>;
    const deadline_callback_for_t<at_type, decltype(depart)> on_deadline(at, depart);
    body();
    // fn has returned: a stop or deadline from now on would abandon a flight whose outcome is
    // about to be published. Relaxed, as above.
    leaving.gone.store(true, std::memory_order_relaxed);
  }
}

// The leader's half: runs fn into the record `f` it has just registered, removes the record from
// its table (`unregister`, by identity: it does nothing if forget() or a finder of the abandoned
// flight removed it first; it must not throw, since a flight that cannot be removed cannot be
// closed), and closes the flight. Returns whether any follower joined; rethrows fn's exception,
// the object every follower rethrows (S3).
//
// In an abandonable flight, the leader leaves while fn runs when its token is requested (a stop
// callback, in the requesting thread) or its deadline passes (a deadline callback, on the
// deadline agent's thread), whichever comes first; both are deregistered before fn's outcome is
// published. The leader's own outcome is fn's, whatever happened meanwhile.
//
// fn's exception is captured in the handler and everything else happens after it: the handler
// does nothing that synchronizes. (Under the model checker all model threads share one OS thread,
// and with it C++'s stack of caught exceptions; a switch inside a handler would let another
// thread's exception be rethrown here.) The exception std::current_exception cannot capture —
// the forced unwinding of a cancelled thread, or a foreign exception — must leave through its
// handler, so only that case closes the flight inside the handler and rethrows with `throw;`.
template <class Value, class F, class Stop, class Deadline, class Unregister>
bool lead(flight<Value>& f, F&& fn, const Stop& stop, const Deadline& d, Unregister&& unregister) {
  static_assert(std::is_nothrow_invocable_v<Unregister&>);
  auto fail_and_close = [&](std::exception_ptr e) noexcept {
    f.fail(std::move(e));  // an empty e becomes a std::runtime_error saying what happened
    unregister();
    f.close();
  };
  std::exception_ptr error;
  try {
    if constexpr (takes_stop_token<F>) {
      run_leader<F>(f, stop, d, [&] {
        f.produce([&]() -> decltype(auto) { return std::invoke(std::forward<F>(fn), f.fn_token()); });
      });
    } else {
      f.produce(std::forward<F>(fn));
    }
  } catch (...) {
    error = std::current_exception();
    if (!error) {
      fail_and_close(nullptr);
      throw;
    }
  }
  if (error) {
    fail_and_close(error);
    std::rethrow_exception(std::move(error));
  }
  unregister();
  return f.close();
}

// How a follower's wait ended.
enum class waited { closed, stopped, timed_out };

// follow() (below) for a caller with a stop token or a deadline, after the spin found the
// flight open.
// A thread follower with a stop token or a deadline, waiting in the flight's list: a parker on
// its stack, which only the close (kClosed), its own stop callback (kStopped) and its own
// deadline wake.
struct thread_waiter : waiter {
  static constexpr unsigned kClosed = 1;   // close() has finished with this node
  static constexpr unsigned kStopped = 2;  // the follower's stop token was requested

  thread_waiter() noexcept : waiter(&closed) {}
  static void closed(waiter& w) noexcept { static_cast<thread_waiter&>(w).park.signal(kClosed); }

  parker park;
};

template <class Value, class Stop, class Deadline>
waited wait_listed(flight<Value>& f, const Stop& stop, const Deadline& d) {
  thread_waiter w;
  if (!f.enlist(w)) return waited::closed;
  auto on_stop = [&w]() noexcept { w.park.signal(thread_waiter::kStopped); };
  const stop_callback_for_t<Stop, decltype(on_stop)> registration(stop, on_stop);
  const unsigned mask = thread_waiter::kClosed | thread_waiter::kStopped;
  unsigned seen;
  if constexpr (std::is_same_v<Deadline, no_deadline>) {
    seen = w.park.wait(mask);
  } else {
    seen = d.finite() ? w.park.wait_until(mask, d.resolve()) : w.park.wait(mask);
  }
  if ((seen & thread_waiter::kClosed) != 0) return waited::closed;
  if (!f.delist(w)) {  // the close came first and is signalling this node: take its outcome
    (void)w.park.wait(thread_waiter::kClosed);
    return waited::closed;
  }
  f.leave();
  return (seen & thread_waiter::kStopped) != 0 ? waited::stopped : waited::timed_out;
}

// The follower's half, after a successful join: waits for the flight to close and rethrows its
// exception if it failed, or leaves when `stop` is requested or `d` passes (S7). A follower with
// neither parks on the flight's state word. One with either parks on a parker of its own, which
// only the close, its own stop callback and its own deadline wake: leaving wakes nobody else.
// The stop callback is deregistered (waiting for it if it is running on another thread) before
// this returns, so it never touches a parker that is gone.
template <class Value, class Stop, class Deadline>
waited follow(flight<Value>& f, const Stop& stop, const Deadline& d) {
  waited how = waited::closed;
  if constexpr (std::is_same_v<Stop, no_stop> && std::is_same_v<Deadline, no_deadline>) {
    f.wait_until_closed();
  } else if (!stop.stop_possible() && !d.finite()) {
    f.wait_until_closed();
  } else if (!f.closed_after_spin()) {
    how = wait_listed(f, stop, d);
  }
  if (how == waited::closed) f.rethrow_if_failed();
  return how;
}

// Counts a group's flights in progress when SINGLEFLIGHT_CHECK_LIFETIME is on, and reports a
// group destroyed with flights in progress (S10) instead of letting their leaders touch freed
// memory later. Compiles to nothing otherwise.
#if SINGLEFLIGHT_CHECK_LIFETIME
class lifetime_check {
 public:
  // `what` names the group in the report, e.g. "singleflight::group".
  explicit lifetime_check(const char* what) noexcept : what_(what) {}

  // Relaxed: a counter read only by the destructor, which must already be ordered after every
  // call on the group (destroying a group that is still in use is the error being reported).
  void started() noexcept { in_progress_.fetch_add(1, std::memory_order_relaxed); }
  void finished() noexcept { in_progress_.fetch_sub(1, std::memory_order_relaxed); }

  ~lifetime_check() {
    const long n = in_progress_.load(std::memory_order_relaxed);
    if (n != 0) {
      std::fprintf(stderr,
                   "singleflight: %s destroyed with %ld flight(s) in progress; every call must "
                   "return before its group is destroyed (S10)\n",
                   what_, n);
      std::abort();
    }
  }

 private:
  const char* what_;
  atomic<long> in_progress_{0};
};
#else
struct lifetime_check {
  explicit constexpr lifetime_check(const char*) noexcept {}
  void started() noexcept {}
  void finished() noexcept {}
};
#endif

}  // namespace singleflight::detail
