// singleflight — duplicate call suppression for C++20.
//
// When several threads call `g.call(key, fn)` with the same key at once, one of them (the
// leader) runs fn and the others (followers) wait for that one execution and receive its
// outcome. A *flight* is one execution of fn for a key, from the moment its record is registered
// in the group's table to the moment the record is removed (by completion or by forget()).
//
// This header holds the library: `group`, `result`, the exceptions and the default table
// (`tables::slots`), and needs nothing but the standard library. <singleflight/baselines.hpp>
// adds the mutex baselines; <singleflight/libcds.hpp> adds libcds's tables (link libcds).
//
// Contract (S1-S11 of the design brief; paper/design.md §4 states them as invariants; every line
// is tested, the protocol lines are model-checked in proofs/):
//   S1  At most one flight per key is registered; fn runs only in the leader of a registered
//       flight, so executions for a key never overlap, except after forget(key).
//   S2  A caller joins a flight only while it is registered: no caller receives the outcome of a
//       flight that ended before its call began. Nothing is cached.
//   S3  Every caller of a flight receives the same value object, or the same exception object
//       rethrown with its type intact, the leader included.
//   S4  shared() is true for every caller of a flight that had more than one caller and false
//       for a lone caller; leader() is true for exactly one caller per flight.
//   S5  After forget(key), later calls start a new flight; callers already joined still get the
//       old outcome, and the old flight's completion never removes the new one. forget() of an
//       absent key does nothing.
//   S6  When fn returns or throws, every caller returns without help from another thread, and
//       the key is free again.
//   S7  A caller whose stop_token is requested while it waits throws `cancelled` promptly; one
//       whose deadline (call_for, call_until) passes while it waits throws `deadline_exceeded`
//       promptly. The flight and its other callers are unaffected, and no other caller is even
//       woken. A token already stopped or a deadline already passed throws before joining or
//       starting anything. The leader runs fn in its own thread, so once fn has started the
//       leader's outcome is fn's outcome: it never throws `cancelled` or `deadline_exceeded`.
//   S8  Memory ordering: everything fn did happens-before every caller's return from call().
//   S9  A slow flight for one key never delays a call for another key.
//   S10 A flight's record (and its value) is freed when its last holder — caller or result —
//       lets go. Destroying a group while a call on it is in progress is a precondition
//       violation; builds without NDEBUG report it and abort.
//   S11 Calling into the same key from inside its own fn on the same thread throws
//       `reentrant_call` instead of deadlocking.
//   S12 An fn that accepts a std::stop_token receives one that is requested when, and only when,
//       no caller of its flight is waiting any more: every follower has left by S7, and so has
//       the leader, which counts as waiting until its own token is requested or its own
//       deadline passes (acted on while it is inside fn; a leader with neither always waits).
//       From then on the flight takes no new callers: a later call starts a new flight, and the
//       abandoned flight's completion never removes it. fn's answer (a value, or an exception of
//       its own) is the leader's outcome. With deadlines, fn's token is requested at the latest
//       deadline of the callers still waiting.
//
// Progress: in `group`, finding, registering and removing a flight are lock-free (by default
// the project's own table: one compare-and-swap per registration and per removal, hazard
// pointers for readers; any table meeting detail::flight_table can be chosen, see `tables`);
// followers block, parked on a futex, until the leader finishes — blocking is the point.
//
// Memory ordering: the leader's writes, including everything fn did and the construction of the
// value, happen-before the return of every caller of the flight. A result copied to another
// thread carries no ordering of its own: use the synchronization that passed it along.
//
// Lifetime: a result keeps the flight's value alive; copies share it. The value is destroyed when
// the last result (or waiting caller) lets go, in whichever thread that is, or moved out by the
// last holder's take(). A value larger than SINGLEFLIGHT_INLINE_VALUE_BYTES (256) has an
// allocation of its own, freed then too; a smaller one lives in the record. In `group`, the key
// (and the record) is freed when the table's reclamation frees the record (a later scan by the
// thread that let go last, or libcds's collector), possibly after the group itself is gone. What
// a thread may keep meanwhile is bounded: README, "Memory".
//
// Requirements: Key is copy-constructible, hashable by Hash and comparable by KeyEqual (neither
// may throw for a key that is in flight); Value is move-constructible from what fn returns (not
// necessarily default-constructible or copyable). fn is invoked at most once per call, with no
// arguments, and only in the leader. Groups are default-constructible, not copyable, not movable.
// A call that breaks a requirement is refused at compile time with one sentence saying which
// (detail/requirements.hpp).
//
// Keys: a call takes a Key, or anything a Key can be made from (made once per call). When Hash
// and KeyEqual are both transparent (declare is_transparent, as C++20's unordered containers ask),
// it takes any type they hash and compare with a Key, as it is: a follower then makes no Key, and
// a leader makes one, in its record.
#pragma once

#if __cplusplus < 202002L
#error "singleflight needs C++20 (compile with -std=c++20): it uses concepts, std::stop_token and std::atomic::wait"
#else

#include <cassert>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <utility>

#include "detail/flight.hpp"
#include "detail/flight_table.hpp"
#include "detail/protocol.hpp"
#include "detail/requirements.hpp"
#include "detail/slots_table.hpp"

namespace singleflight {

// Thrown to a caller that stopped waiting because its stop_token was requested (S7).
struct cancelled : std::exception {
  const char* what() const noexcept override {
    return "singleflight: the caller's stop_token was requested while it waited for a flight";
  }
};

// Thrown to a caller whose deadline passed while it waited for a flight (S7).
struct deadline_exceeded : cancelled {
  const char* what() const noexcept override {
    return "singleflight: the caller's deadline passed while it waited for a flight";
  }
};

// Thrown when fn calls back into its own key on the same thread, which would wait for itself
// forever (S11).
struct reentrant_call : std::logic_error {
  reentrant_call()
      : std::logic_error(
            "singleflight: fn called into its own key on the same thread; this call would "
            "wait for itself forever") {}
};

namespace detail {
struct calls;
}

// One flight's outcome, as one caller holds it. Copies share the flight's single value object
// and keep it alive. A default-constructed or moved-from result is empty: it holds no outcome and
// may only be tested, assigned to or destroyed.
template <class Value>
class result {
 public:
  // Empty, to be assigned a call's result later (declared before a `try`, say).
  result() noexcept : flight_(nullptr), shared_(false), leader_(false) {}
  result(const result& other) noexcept
      : flight_(other.flight_), shared_(other.shared_), leader_(other.leader_) {
    if (flight_ != nullptr) flight_->add_user();
  }
  result(result&& other) noexcept
      : flight_(std::exchange(other.flight_, nullptr)), shared_(other.shared_), leader_(other.leader_) {}
  result& operator=(result other) noexcept {
    swap_with(other);
    return *this;
  }
  ~result() {
    if (flight_ != nullptr) flight_->release_user();
  }

  // The flight's value: the same object for every caller of the flight (S3).
  const Value& value() const noexcept {
    assert(flight_ != nullptr && "singleflight: value() of a moved-from result");
    return flight_->value();
  }
  const Value& operator*() const noexcept { return value(); }
  const Value* operator->() const noexcept { return std::addressof(value()); }

  // Moves the value out of the flight when this result is the value's last holder: no other
  // result or caller of the flight holds it any more (a lone flight's caller always is). Then the
  // returned optional holds the value and this result is empty. Otherwise it returns an empty
  // optional and this result is unchanged: the value stays shared, and value() still reads it.
  std::optional<Value> take() && {
    assert(flight_ != nullptr && "singleflight: take() of an empty result");
    Value* v = flight_->value_to_take();
    if (v == nullptr) return std::nullopt;
    std::optional<Value> taken(std::move(*v));
    result().swap_with(*this);  // lets go of the moved-from value
    return taken;
  }

  // Holds a flight's outcome (false once default-constructed, moved from or taken from).
  explicit operator bool() const noexcept { return flight_ != nullptr; }

  // The flight had more than one caller (Go's `shared`).
  bool shared() const noexcept { return shared_; }
  // This caller ran fn.
  bool leader() const noexcept { return leader_; }

 private:
  friend struct detail::calls;
  void swap_with(result& other) noexcept {
    std::swap(flight_, other.flight_);
    std::swap(shared_, other.shared_);
    std::swap(leader_, other.leader_);
  }

  result(detail::flight_ref<Value> f, bool shared, bool leader) noexcept
      : flight_(f.release()), shared_(shared), leader_(leader) {}

  detail::flight<Value>* flight_;  // owns one user reference
  bool shared_;
  bool leader_;
};

namespace detail {

// A call's two halves (protocol.hpp) in the public terms of results and exceptions, for every
// implementation.
struct calls {
  // The leader of the flight `f` it has just registered.
  template <class Value, class F, class Stop, class Deadline, class Unregister>
  static result<Value> lead(flight_ref<Value> f, F&& fn, const Stop& stop, const Deadline& d,
                            Unregister&& unregister) {
    const bool shared =
        detail::lead(*f, std::forward<F>(fn), stop, d, std::forward<Unregister>(unregister));
    return result<Value>(std::move(f), shared, /*leader=*/true);
  }

  // A follower that has joined `f`.
  template <class Value, class Stop, class Deadline>
  static result<Value> follow(flight_ref<Value> f, const Stop& stop, const Deadline& d) {
    switch (detail::follow(*f, stop, d)) {
      case waited::closed: break;
      case waited::stopped: throw cancelled();
      case waited::timed_out: throw deadline_exceeded();
    }
    return result<Value>(std::move(f), /*shared=*/true, /*leader=*/false);
  }

  // A caller that has seen its flight close: its outcome (rethrows the flight's exception).
  template <class Value>
  static result<Value> outcome(flight_ref<Value> f, bool shared, bool leader) {
    f->rethrow_if_failed();
    return result<Value>(std::move(f), shared, leader);
  }

  // A call's checks before it joins or starts anything (S7).
  template <class Stop, class Deadline>
  static void check_not_over(const Stop& stop, const Deadline& d) {
    if (stop.stop_requested()) throw cancelled();
    if (d.passed()) throw deadline_exceeded();
  }
};

}  // namespace detail
}  // namespace singleflight

#include "detail/async.hpp"  // the coroutine form, which needs result and calls above

namespace singleflight {
namespace detail {

// Stands in for a call that breaks a requirement: its static_assert (requirements.hpp) has
// already fired, so this is never defined and the protocol is never instantiated.
template <class T>
T unusable() noexcept;

// The key a lookup uses: the caller's own when the group can look up by it, else a Key made from
// it once, before the lookup.
template <class Key, class Hash, class KeyEqual, class K>
decltype(auto) lookup_key_from(const K& key) {
  if constexpr (lookup_key<K, Key, Hash, KeyEqual>) {
    return (key);
  } else {
    return Key(key);
  }
}

// The public forms of a call, written once for every implementation (`group` and the
// baselines): each checks the call's requirements, makes the lookup key and the deadline, and
// hands them to the implementation's call_with(key, fn, stop, deadline).
template <class Impl, class Key, class Value, class Hash, class KeyEqual>
class call_forms {
 public:
  // Go: Do. Runs fn as the leader of a new flight for key, or waits for the flight in progress.
  // `key` is a Key, or, when Hash and KeyEqual are transparent, anything they hash and compare
  // with a Key (a std::string_view for a std::string Key, say): then a follower makes no Key and
  // a leader makes one, in its record.
  template <class K = Key, class F>
  result<Value> call(const K& key, F&& fn) {
    return call_checked<K>(key, std::forward<F>(fn), no_stop{}, no_deadline{});
  }

  // As above; a follower stops waiting and throws `cancelled` when `stop` is requested (S7).
  // `stop` is a std::stop_token (or another token type with its interface, see
  // stoppable_token).
  template <class K = Key, class F, stoppable_token StopToken = std::stop_token>
  result<Value> call(const K& key, F&& fn, StopToken stop) {
    return call_checked<K>(key, std::forward<F>(fn), stop, no_deadline{});
  }

  // As call(); a follower stops waiting and throws `deadline_exceeded` when `timeout` has passed
  // (S7), and, if fn takes a std::stop_token, the leader leaves at that time too (S12). A timeout
  // that is not positive throws at once; one too long for the steady clock is no deadline.
  template <class K = Key, class F, class Rep, class Period>
  result<Value> call_for(const K& key, F&& fn, std::chrono::duration<Rep, Period> timeout) {
    return call_checked<K>(key, std::forward<F>(fn), no_stop{},
                           deadline_after(timeout));
  }
  template <class K = Key, class F, class Rep, class Period,
            stoppable_token StopToken = std::stop_token>
  result<Value> call_for(const K& key, F&& fn, std::chrono::duration<Rep, Period> timeout,
                         StopToken stop) {
    return call_checked<K>(key, std::forward<F>(fn), stop, deadline_after(timeout));
  }

  // As call_for(), with a deadline on any clock, read once (time_point::max() is no deadline).
  template <class K = Key, class F, class Clock, class Duration>
  result<Value> call_until(const K& key, F&& fn, std::chrono::time_point<Clock, Duration> deadline) {
    return call_checked<K>(key, std::forward<F>(fn), no_stop{},
                           deadline_at(deadline));
  }
  template <class K = Key, class F, class Clock, class Duration,
            stoppable_token StopToken = std::stop_token>
  result<Value> call_until(const K& key, F&& fn, std::chrono::time_point<Clock, Duration> deadline,
                           StopToken stop) {
    return call_checked<K>(key, std::forward<F>(fn), stop, deadline_at(deadline));
  }

  // C++20 coroutines (Go: DoChan): `co_await g.async_call(key, fn)` yields the result<Value>
  // that call() returns, from any coroutine type, without blocking the thread. A follower's wait
  // costs its frame a node and nothing else; it is resumed on the thread that completes the
  // flight. fn returns something Value can be made from (run inline by a leader, which does not
  // suspend) or an awaitable whose result Value can be made from (an asynchronous loader, which
  // the flight awaits: a leader that leaves does not stop it for the others). Await the result
  // in the expression that makes it: it refers to `key` and `fn`.
  template <class K = Key, class F>
  auto async_call(const K& key, F&& fn) {
    return async_checked<K>(key, std::forward<F>(fn), no_stop{});
  }

  // As above; the caller stops waiting and the co_await throws `cancelled` when `stop` is
  // requested (S7).
  template <class K = Key, class F, stoppable_token StopToken = std::stop_token>
  auto async_call(const K& key, F&& fn, StopToken stop) {
    return async_checked<K>(key, std::forward<F>(fn), std::move(stop));
  }

 private:
  Impl& impl() noexcept { return static_cast<Impl&>(*this); }

  template <class K, class F, class Stop, class Deadline>
  result<Value> call_checked(const K& key, F&& fn, const Stop& stop, const Deadline& d) {
    if constexpr (call_is_usable<K, F, Key, Value, Hash, KeyEqual>()) {
      return call_with(lookup_key_from<Key, Hash, KeyEqual>(key), std::forward<F>(fn), stop, d);
    } else {
      return unusable<result<Value>>();
    }
  }

  // A thread caller: looks the key up (the implementation's `enter`, with a key that lives
  // until this returns), then leads or follows.
  template <class K, class F, class Stop, class Deadline>
  result<Value> call_with(const K& key, F&& fn, const Stop& stop, const Deadline& d) {
    calls::check_not_over(stop, d);  // before joining or starting anything (S7)
    auto e = impl().template enter</*OwnKey=*/false>(key, [&](flight<Value>& f) {
      if (may_be_abandoned<F>(stop, d)) f.make_abandonable();
    });
    if (!e.leads) return calls::follow(std::move(e.f), stop, d);
    return calls::lead(std::move(e.f), std::forward<F>(fn), stop, d, e.unregister);
  }

  template <class K, class F, class Stop>
  auto async_checked(const K& key, F&& fn, Stop stop) {
    if constexpr (call_is_usable<K, F, Key, Value, Hash, KeyEqual, /*Async=*/true>()) {
      // The lookup key is made (if it must be) inside the step, and the step's `unregister`
      // owns what it needs: a driver may run it after the call's expression has ended.
      auto enter = [impl = &impl()](const K& k, auto& prepare) {
        return impl->template enter</*OwnKey=*/true>(lookup_key_from<Key, Hash, KeyEqual>(k),
                                                     prepare);
      };
      return async_call_op<Value, decltype(enter), K, F, Stop>(enter, key, std::forward<F>(fn),
                                                                std::move(stop));
    } else {
      return unusable<async_call_op<Value, int, K, F, Stop>>();
    }
  }
};

}  // namespace detail

// Where `group` keeps its flight records: a table is an alias template Table<Key, Value, Hash,
// KeyEqual> meeting detail::flight_table (detail/flight_table.hpp). The protocol is the same
// over every table; <singleflight/libcds.hpp> adds libcds's, and bench/ compares them.
namespace tables {
// The project's own: one word per slot, insert and erase one CAS each, hazard pointers published
// only when a slot holds a record or bucket; crowded slots split into child arrays of slots, so it
// holds any number of flights (detail/slots_table.hpp).
template <class Key, class Value, class Hash, class KeyEqual>
using slots = detail::slots_table<Key, Value, Hash, KeyEqual>;
}  // namespace tables

// The lock-free implementation, the subject of this project.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          template <class, class, class, class> class Table = tables::slots>
  requires detail::flight_table<Table<Key, Value, Hash, KeyEqual>, Key, Value>
class group : public detail::call_forms<group<Key, Value, Hash, KeyEqual, Table>, Key, Value, Hash,
                                        KeyEqual> {
  using table = Table<Key, Value, Hash, KeyEqual>;
  using record = typename table::record;
  static_assert(detail::check_group_types<Key, Value, Hash, KeyEqual>());

 public:
  group() = default;
  // `expected_flights`: about how many flights may be in progress at once, a hint (default 256):
  // the own table sizes its top array by it and grows past it by splitting crowded slots, keeping
  // what it grew until the group is destroyed; libcds's tables size their bucket arrays by it and
  // never grow. The own table takes at most 2^30 and throws std::length_error beyond.
  explicit group(std::size_t expected_flights) : table_(expected_flights) {}
  group(const group&) = delete;
  group& operator=(const group&) = delete;

  // call(key, fn[, stop]), call_for(key, fn, timeout[, stop]), call_until(key, fn, deadline[,
  // stop]), async_call(key, fn[, stop]): detail::call_forms above.

  // Go: Forget. Later calls for key start a new flight; callers of the current one are unaffected.
  template <class K = Key>
    requires detail::call_key<K, Key, Hash, KeyEqual>
  void forget(const K& key) {
    const auto& k = detail::lookup_key_from<Key, Hash, KeyEqual>(key);
    table_.forget(hash_(k), k);
  }

 private:
  friend class detail::call_forms<group, Key, Value, Hash, KeyEqual>;

  // Removes the leader's record from the table by identity.
  struct unregistration {
    group* g;
    record* r;
    void operator()() const noexcept {
      g->table_.erase(*r);
      g->lifetime_.finished();
    }
  };

  // Finds the key's flight and joins it, or registers a new one (`prepare` readies the record
  // before it is published). The record holds the key, so `unregister` never needs the caller's.
  template <bool OwnKey, class K, class Prepare>
  detail::entered<Value, unregistration> enter(const K& key, Prepare&& prepare) {
    const std::size_t h = hash_(key);
    for (;;) {
      detail::found<Value> found = table_.find(h, key);
      switch (found.what) {
        case detail::lookup::reentrant: throw reentrant_call();
        case detail::lookup::joined: return {std::move(found.joined), false, {this, nullptr}};
        case detail::lookup::closed:     // it is out of the table: look again
        case detail::lookup::abandoned:  // the table has removed it: look again
          continue;
        case detail::lookup::absent: break;
      }
      record* r = table_.make(h, key);
      bool registered;
      try {
        prepare(*r);
        registered = table_.insert(*r);
      } catch (...) {  // out of memory in the table: nothing was registered
        table::discard(r);
        throw;
      }
      if (!registered) {  // another caller registered the key first: join it instead
        table::discard(r);
        continue;
      }
      lifetime_.started();
      return {detail::flight_ref<Value>::adopt(r), true, {this, r}};
    }
  }

  [[no_unique_address]] Hash hash_;
  table table_;
  // Last, so destroyed first: a group destroyed mid-flight is reported before its table goes.
  [[no_unique_address]] detail::lifetime_check lifetime_{"singleflight::group"};
};

}  // namespace singleflight

#endif  // C++20
