// singleflight::detail — internal; the one seam between the protocol and the machine.
//
// Everything the protocol does that a model checker must see goes through the names below:
// atomics (detail::atomic<T>), parking and waking (detail::wait, detail::notify_all, and a
// caller's own `parker`), the calling thread's identity (this_thread_tag), accesses to plain data
// that crosses threads (plain_access), stop tokens (stop_callback_for, and the source and token
// that fn receives: fn_stop_source, fn_stop_token), and time (deadline, deadline_callback, in
// deadline_agent.hpp). Normal builds get the standard library here. proofs/ defines
// SINGLEFLIGHT_RELACY and puts its own directory on the include path, and gets the Relacy model
// checker's versions (proofs/relacy_machine.hpp) under the same names, so the models check the
// shipped protocol, not a copy.
#pragma once

#include <concepts>

#include "config.hpp"

namespace singleflight::detail {
// The stop-callback type that goes with a stop-token type: `type<F>`, constructed from a token
// and a callable, runs the callable once a stop is requested and deregisters it on destruction
// (waiting for it if it runs on another thread), as std::stop_callback does.
template <class Token>
struct stop_callback_for {};
}  // namespace singleflight::detail

#ifdef SINGLEFLIGHT_RELACY
#include <relacy_machine.hpp>
#else

#include <atomic>
#include <cstdint>
#include <stop_token>
#include <thread>

#include "deadline_agent.hpp"

namespace singleflight::detail {

template <class T>
using atomic = std::atomic<T>;

// Blocks while `word` holds `expected`; may return spuriously, so callers re-read and loop.
// libstdc++ 12 parks on a futex on the word itself for 4-byte types: keep the state word a
// std::uint32_t.
inline void wait(const atomic<std::uint32_t>& word, std::uint32_t expected,
                 std::memory_order order) noexcept {
  word.wait(expected, order);
}

// Wakes every thread parked on `word`. Always a futex syscall when libstdc++ sees any parked
// waiter in the same slot of its global table, so callers notify only when their own
// has-waiters bit says a waiter may be parked on this word.
inline void notify_all(atomic<std::uint32_t>& word) noexcept { word.notify_all(); }

// A hint to the CPU that this thread is spinning on a shared location.
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Lets another thread run: a waiter for a lock held only for a few pointer writes.
inline void yield_now() noexcept { std::this_thread::yield(); }

// The address of a thread-local object: unique among live threads, and cheap to read. A flight
// records its leader's tag so that a call from inside fn into the same key can be refused (S11).
inline const void* this_thread_tag() noexcept {
  static thread_local const char tag = 0;
  return &tag;
}

// Marks the accesses to a piece of plain (non-atomic) data that one thread writes and others
// read: the flight's outcome, the fields a leader writes before publishing its record. Nothing in
// normal builds; under the model checker each mark is a checked access, so a missing
// happens-before between writer and reader is reported as a data race.
struct plain_access {
  void write() noexcept {}
  void read() const noexcept {}
};

template <>
struct stop_callback_for<std::stop_token> {
  template <class F>
  using type = std::stop_callback<F>;
};

// What an fn that accepts a stop token receives (S12): the token of a source that the flight
// owns and requests when its last caller has left.
using fn_stop_source = std::stop_source;
using fn_stop_token = std::stop_token;
inline fn_stop_source no_fn_stop_source() noexcept { return fn_stop_source(std::nostopstate); }

}  // namespace singleflight::detail

#endif  // SINGLEFLIGHT_RELACY

namespace singleflight::detail {

// The callback type for stop token `Token` and callable `F` (C++26: std::stop_callback_for_t).
template <class Token, class F>
using stop_callback_for_t = typename stop_callback_for<Token>::template type<F>;

// What a call accepts as its stop token: std::stop_token, and any token with its members and a
// callback type (C++26 names this concept std::stoppable_token).
template <class T>
concept stoppable_token = std::copyable<T> && requires(const T& t) {
  { t.stop_requested() } -> std::convertible_to<bool>;
  { t.stop_possible() } -> std::convertible_to<bool>;
  typename stop_callback_for_t<T, void (*)()>;
};

}  // namespace singleflight::detail
