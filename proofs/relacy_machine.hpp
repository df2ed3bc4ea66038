// proofs/: the Relacy model checker's side of src/singleflight/detail/atomic.hpp, which includes
// this file (from proofs/ on the include path) when SINGLEFLIGHT_RELACY is defined. Same names as
// the standard side, so the shipped headers compile unchanged:
//
//   atomic<T>          a Relacy atomic; every operation carries its caller's source location, so
//                      the checker's histories point into flight.hpp and protocol.hpp.
//   wait, notify_all   Relacy's futex model (which also wakes spuriously), on the state word.
//   this_thread_tag    one address per model thread (all model threads share one OS thread).
//   model_thread_index the model thread, for per-thread state (hazard.hpp).
//   plain_access       a Relacy var: each mark is a checked access to plain data.
//   model_stop_*       a stop source, token and callback with the guarantees of std's that the
//                      protocol relies on (std::stop_callback itself would block the OS thread).
//
// Relacy renames memory_order_*, new, delete, malloc and free with macros, which would break any
// standard header included after it and the library's own std::memory_order_* spellings. So the
// standard headers come first, then Relacy, then those renamings are undone. Relacy still
// replaces the global operator new and delete, so memory allocated inside a model is tracked
// (leaks, use after free).
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <ratio>
#include <cassert>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <source_location>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <relacy/relacy.hpp>

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free

namespace singleflight::detail {

using here = std::source_location;

inline rl::debug_info relacy_info(const here& at) noexcept {
  return rl::debug_info(at.function_name(), at.file_name(), at.line());
}

constexpr rl::memory_order relacy_order(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order_relaxed: return rl::mo_relaxed;
    case std::memory_order_consume: return rl::mo_consume;
    case std::memory_order_acquire: return rl::mo_acquire;
    case std::memory_order_release: return rl::mo_release;
    case std::memory_order_acq_rel: return rl::mo_acq_rel;
    case std::memory_order_seq_cst: return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

// Relacy's futex works on an atomic<int>, so a 32-bit unsigned word is kept as one.
template <class T>
using relacy_rep = std::conditional_t<std::is_same_v<T, std::uint32_t>, int, T>;

template <class T>
class relacy_atomic {
  using rep = relacy_rep<T>;

 public:
  relacy_atomic(T value = T()) : a_(static_cast<rep>(value)) {}  // NOLINT: as std::atomic
  relacy_atomic(const relacy_atomic&) = delete;
  relacy_atomic& operator=(const relacy_atomic&) = delete;

  T load(std::memory_order mo, here at = here::current()) const {
    return static_cast<T>(a_.load(relacy_order(mo), relacy_info(at)));
  }
  void store(T v, std::memory_order mo, here at = here::current()) {
    a_.store(static_cast<rep>(v), relacy_order(mo), relacy_info(at));
  }
  T exchange(T v, std::memory_order mo, here at = here::current()) {
    return static_cast<T>(a_.exchange(static_cast<rep>(v), relacy_order(mo), relacy_info(at)));
  }
  T fetch_add(T v, std::memory_order mo, here at = here::current()) {
    return static_cast<T>(a_.fetch_add(static_cast<rep>(v), relacy_order(mo), relacy_info(at)));
  }
  T fetch_sub(T v, std::memory_order mo, here at = here::current()) {
    return static_cast<T>(a_.fetch_sub(static_cast<rep>(v), relacy_order(mo), relacy_info(at)));
  }
  T fetch_or(T v, std::memory_order mo, here at = here::current()) {
    return static_cast<T>(a_.fetch_or(static_cast<rep>(v), relacy_order(mo), relacy_info(at)));
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, here at = here::current()) {
    return compare_exchange<false>(expected, desired, success, failure, at);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure, here at = here::current()) {
    return compare_exchange<true>(expected, desired, success, failure, at);
  }

  rl::atomic<rep>& relacy() const noexcept { return a_; }

 private:
  // Relacy's weak form also fails spuriously, as the standard allows.
  template <bool Strong>
  bool compare_exchange(T& expected, T desired, std::memory_order success,
                        std::memory_order failure, const here& at) {
    rep e = static_cast<rep>(expected);
    const rep d = static_cast<rep>(desired);
    bool ok;
    if constexpr (Strong) {
      ok = a_.compare_exchange_strong(e, d, relacy_order(success), relacy_info(at),
                                      relacy_order(failure), relacy_info(at));
    } else {
      ok = a_.compare_exchange_weak(e, d, relacy_order(success), relacy_info(at),
                                    relacy_order(failure), relacy_info(at));
    }
    expected = static_cast<T>(e);
    return ok;
  }

  mutable rl::atomic<rep> a_;
};

template <class T>
using atomic = relacy_atomic<T>;

// As std::atomic::wait: returns only once the word no longer holds `expected`; a wake-up (or a
// spurious return of Relacy's futex) with the value unchanged parks again.
inline void wait(const atomic<std::uint32_t>& word, std::uint32_t expected, std::memory_order order,
                 here at = here::current()) noexcept {
  while (word.load(order, at) == expected) {
    rl::rl_futex(&word.relacy(), rl::RL_FUTEX_WAIT, static_cast<int>(expected), nullptr, nullptr,
                 0, relacy_info(at));
  }
}

inline void notify_all(atomic<std::uint32_t>& word, here at = here::current()) noexcept {
  rl::rl_futex(&word.relacy(), rl::RL_FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0, relacy_info(at));
}

inline void spin_pause() noexcept {}

// All model threads share one OS thread, so per-thread state is indexed by the model thread.
inline unsigned model_thread_index() noexcept { return rl::thread_index(); }

inline const void* this_thread_tag() noexcept {
  static const char tags[64] = {};
  return &tags[rl::thread_index()];
}

class plain_access {
 public:
  void write(here at = here::current()) noexcept { v_(relacy_info(at)) = 1; }
  void read(here at = here::current()) const noexcept {
    [[maybe_unused]] const int seen = v_(relacy_info(at));
  }

 private:
  rl::var<int> v_;
};

// ---- stop tokens for the model ---------------------------------------------------------------
//
// The guarantees of std::stop_source / stop_token / stop_callback that the protocol relies on:
//   - request_stop() sets the flag, then runs every registered callback in the requesting thread;
//   - a callback registered after the request runs at once, in the registering thread;
//   - a callback's destructor deregisters it, and if the callback is running on another thread,
//     waits until it has returned; if it is running on this thread (the callback destroys its
//     own registration, as a coroutine resumed by its stop callback does), it returns at once,
//     and the requester never touches the node again (libstdc++ does the same with a flag the
//     destructor sets through `destroyed`).
// The callback list is guarded by a Relacy mutex; a destructor that must wait parks on a futex.

struct model_stop_node {
  void (*run)(model_stop_node*) noexcept = nullptr;
  model_stop_node* next = nullptr;
  bool registered = false;           // guarded by the state's mutex
  bool* destroyed = nullptr;         // while running: set if the node is destroyed in run()
  rl::atomic<int> finished{0};       // set by the requester once run() returned
};

struct model_stop_state {
  rl::atomic<int> requested{0};
  rl::mutex mu;
  model_stop_node* head = nullptr;     // guarded by mu
  model_stop_node* running = nullptr;  // guarded by mu
  unsigned running_thread = 0;         // guarded by mu
};

class model_stop_token {
 public:
  model_stop_token() = default;
  explicit model_stop_token(model_stop_state* s) noexcept : state_(s) {}
  bool stop_requested() const noexcept {
    // (M1) acquire: pairs with (M2), as std::stop_token's does: what the requester did before
    // request_stop() is visible to a thread that sees the stop. Without it a model could see the
    // stop and miss the state that caused it, which the real std::stop_token never allows.
    return state_ != nullptr && state_->requested.load(rl::mo_acquire, RL_INFO) != 0;
  }
  bool stop_possible() const noexcept { return state_ != nullptr; }
  model_stop_state* state() const noexcept { return state_; }

 private:
  model_stop_state* state_ = nullptr;
};

class model_stop_source {
 public:
  model_stop_source() : state_(new model_stop_state) {}
  // No state: its token can never be stopped (std::stop_source(std::nostopstate)).
  explicit model_stop_source(std::nullptr_t) noexcept : state_(nullptr) {}
  model_stop_source(model_stop_source&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  model_stop_source& operator=(model_stop_source&& other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~model_stop_source() { delete state_; }

  model_stop_token get_token() const noexcept { return model_stop_token(state_); }

  bool request_stop() noexcept {
    if (state_ == nullptr) return false;
    model_stop_state& s = *state_;
    // (M2) acq_rel: the release half pairs with (M1) and (M4); the acquire half orders a second
    // requester after the first, so only one runs the callbacks.
    if (s.requested.exchange(1, rl::mo_acq_rel, RL_INFO) != 0) return false;
    s.mu.lock(RL_INFO);
    while (model_stop_node* n = s.head) {
      s.head = n->next;
      n->registered = false;
      s.running = n;
      s.running_thread = rl::thread_index();
      bool destroyed = false;
      n->destroyed = &destroyed;
      s.mu.unlock(RL_INFO);
      n->run(n);
      s.mu.lock(RL_INFO);
      s.running = nullptr;
      if (destroyed) continue;  // the callback destroyed its own registration: hands off
      n->destroyed = nullptr;
      // (M3) release: pairs with (M5); the callback's effects happen-before the return of the
      // stop_callback destructor that waited for it, as the standard requires.
      n->finished.store(1, rl::mo_release, RL_INFO);
      rl::rl_futex(&n->finished, rl::RL_FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0, RL_INFO);
    }
    s.mu.unlock(RL_INFO);
    return true;
  }

 private:
  model_stop_state* state_;
};

template <class F>
class model_stop_callback : model_stop_node {
 public:
  model_stop_callback(const model_stop_token& token, F f) : state_(token.state()), f_(std::move(f)) {
    if (state_ == nullptr) return;
    run = [](model_stop_node* n) noexcept { static_cast<model_stop_callback*>(n)->f_(); };
    state_->mu.lock(RL_INFO);
    // (M4) acquire: pairs with (M2); a callback registered after the stop runs at once, here.
    if (state_->requested.load(rl::mo_acquire, RL_INFO) != 0) {
      state_->mu.unlock(RL_INFO);
      state_ = nullptr;
      f_();
      return;
    }
    next = state_->head;
    state_->head = this;
    registered = true;
    state_->mu.unlock(RL_INFO);
  }
  model_stop_callback(const model_stop_callback&) = delete;
  model_stop_callback& operator=(const model_stop_callback&) = delete;

  ~model_stop_callback() {
    if (state_ == nullptr) return;
    state_->mu.lock(RL_INFO);
    if (registered) {
      model_stop_node** link = &state_->head;
      while (*link != this) link = &(*link)->next;
      *link = next;
      state_->mu.unlock(RL_INFO);
      return;
    }
    const bool running_here =
        state_->running == this && state_->running_thread == rl::thread_index();
    if (running_here) *destroyed = true;
    const bool running_elsewhere =
        state_->running == this && state_->running_thread != rl::thread_index();
    state_->mu.unlock(RL_INFO);
    if (running_elsewhere) {
      // (M5) acquire: pairs with (M3). Without it the follower could free what the running
      // callback still touches, and the model would report our own stub, not the library.
      while (finished.load(rl::mo_acquire, RL_INFO) == 0) {
        rl::rl_futex(&finished, rl::RL_FUTEX_WAIT, 0, nullptr, nullptr, 0, RL_INFO);
      }
      state_->mu.lock(RL_INFO);  // the requester holds the mutex until it is done with this node
      state_->mu.unlock(RL_INFO);
    }
  }

 private:
  model_stop_state* state_;
  F f_;
};

template <>
struct stop_callback_for<model_stop_token> {
  template <class F>
  using type = model_stop_callback<F>;
};

inline void yield_now(here at = here::current()) noexcept { rl::yield(1, relacy_info(at)); }

// ---- fn's stop token (S12) ---------------------------------------------------------------------

using fn_stop_source = model_stop_source;
using fn_stop_token = model_stop_token;
inline fn_stop_source no_fn_stop_source() noexcept { return fn_stop_source(nullptr); }

// ---- time ------------------------------------------------------------------------------------------
//
// A model has no clock. A deadline is an alarm that a model thread rings when the model says the
// deadline has passed; everything the library does at a deadline hangs off that ring:
//   deadline::passed()     the alarm has rung;
//   deadline_callback<F>   runs F when the alarm rings (on the ringing thread), deregisters on
//                          destruction (the deadline agent's guarantees, deadline_agent.hpp);
//   parker::wait_until     returns when signalled or when the alarm rings.
// Models name deadlines as time points of `model_clock` (its count is the alarm's index), so
// that they call the public call_until() like any user.

class model_alarm {
 public:
  void ring() noexcept { source_.request_stop(); }
  model_stop_token token() const noexcept { return source_.get_token(); }

 private:
  model_stop_source source_;
};

struct deadline {
  model_alarm* alarm = nullptr;

  static deadline never() noexcept { return {}; }
  bool finite() const noexcept { return alarm != nullptr; }
  bool passed() const noexcept { return alarm != nullptr && alarm->token().stop_requested(); }
  model_stop_token token() const noexcept { return alarm != nullptr ? alarm->token() : model_stop_token(); }
  deadline resolve() const noexcept { return *this; }
};

template <class F>
class deadline_callback : model_stop_callback<F> {
 public:
  deadline_callback(const deadline& d, F f) : model_stop_callback<F>(d.token(), std::move(f)) {}
};

// A model's alarms, named by index: model_clock::time_point(model_clock::duration(i)) is alarm i.
inline constexpr int kModelAlarms = 4;
inline model_alarm*& model_alarm_slot(int i) {
  static model_alarm* alarms[kModelAlarms] = {};
  return alarms[i];
}

struct model_clock {
  using rep = int;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<int>;
  using time_point = std::chrono::time_point<model_clock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point(); }
};

// call_until's deadline for a model_clock time point: alarm i.
template <class Duration>
deadline deadline_at(std::chrono::time_point<model_clock, Duration> t) {
  return deadline{model_alarm_slot(static_cast<int>(t.time_since_epoch().count()))};
}

// call_for's: a model has no durations (it calls call_until with a model_clock time point).
template <class Rep, class Period>
deadline deadline_after(std::chrono::duration<Rep, Period>) {
  static_assert(sizeof(Rep) == 0, "a model names its deadlines with call_until and model_clock");
  return {};
}

// One waiting caller's wake-up channel (deadline_agent.hpp's parker), on Relacy's mutex and
// condition variable; a timed wait ends when the deadline's alarm rings.
class parker {
 public:
  void signal(unsigned bits, here at = here::current()) noexcept {
    m_.lock(relacy_info(at));
    bits_(relacy_info(at)) = bits_(relacy_info(at)) | bits;
    cv_.notify_one(relacy_info(at));
    m_.unlock(relacy_info(at));
  }

  unsigned wait(unsigned mask, here at = here::current()) noexcept {
    m_.lock(relacy_info(at));
    while ((bits_(relacy_info(at)) & mask) == 0) cv_.wait(m_, relacy_info(at));
    const unsigned seen = bits_(relacy_info(at));
    m_.unlock(relacy_info(at));
    return seen;
  }

  unsigned wait_until(unsigned mask, const deadline& d, here at = here::current()) noexcept {
    auto ring = [this]() noexcept { signal(kRang); };
    const model_stop_callback<decltype(ring)> on_alarm(d.token(), ring);
    const unsigned seen = wait(mask | kRang, at);
    return (seen & mask) != 0 ? seen : 0;
  }

 private:
  static constexpr unsigned kRang = 1u << 31;
  rl::mutex m_;
  rl::condition_variable cv_;
  rl::var<unsigned> bits_{0};
};

}  // namespace singleflight::detail
