// singleflight::detail — internal; coroutine callers: the awaitable that `co_await
// g.async_call(key, fn)` runs, the waiter node it keeps in the awaiting frame, and the flight's
// driver for an asynchronous loader.
//
// A coroutine caller does what a thread caller does (find or register the flight, in its
// table's `enter`), but instead of parking it links a node into the flight's list of waiters
// (flight::enlist, the list that thread followers with a token or deadline use) and suspends.
// The node is a member of the awaiter, so it lives in the awaiting coroutine's frame: no
// allocation per waiter. close() detaches the list and resumes each node's coroutine inline, on
// the thread that completes the flight, one after the other in a loop: the stack never holds more
// than one follower's resumption at a time, however many followers there are.
//
// Suspending and being resumed race: once the node is in the list, close() may resume the
// coroutine before await_suspend() has returned. So await_suspend() and whoever resumes (the
// close, or the caller's own stop callback) both "arrive" at the node's gate (16); the second to
// arrive continues the coroutine: the waker by resuming it, await_suspend() by returning false
// (do not suspend). Neither touches the node after its arrival unless it arrived second.
//
// A coroutine that leaves (its stop token requested) unlinks its node under the list lock
// (flight::delist), exactly as a thread follower does, and wakes nobody else. If the close took
// the list first, the close resumes it with the outcome. So a node is resumed exactly once, and
// never after its frame is gone.
//
// Loaders. An fn that returns something Value can be made from runs inline in the leader's
// await_ready(), as in call(): the leader does not suspend. An fn that returns an awaitable (an
// asynchronous loader) is handed to a small coroutine the flight owns (flight_driver: one
// allocation per flight, besides the loader's own frame), which keeps its own copy of fn, calls
// it, awaits the loader, writes the outcome, removes the record and closes the flight. The
// leader then waits like a follower: it may leave (S7) and the loader goes on for the others,
// or, when no caller waits any more and fn took a token, is stopped (S12).
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "atomic.hpp"
#include "flight.hpp"
#include "protocol.hpp"
#include "requirements.hpp"

namespace singleflight::detail {

// A coroutine caller waiting in a flight's list: its handle, the gate that decides who resumes
// it, and whether it left. A member of the awaiter, so it lives in the awaiting frame.
struct coroutine_waiter : waiter {
  coroutine_waiter() noexcept : waiter(&closed) {}

  // Both await_suspend() and the one waker arrive here once; true for the second.
  bool arrive() noexcept {
    // (16) acq_rel, pairs with itself: the second to arrive sees what the first did before it
    // (the outcome and the close, or the departure; the handle written before the node was
    // linked is seen through the list lock (12)-(13)).
    return gate.exchange(true, std::memory_order_acq_rel);
  }

  // close(): the list is detached, so this node is the close's alone to wake. Usually the
  // coroutine suspended long ago: a load that sees its arrival saves the read-modify-write.
  static void closed(waiter& w) noexcept {
    auto& self = static_cast<coroutine_waiter&>(w);
    // (17) acquire, pairs with await_suspend's (16): the frame as await_suspend left it.
    if (self.gate.load(std::memory_order_acquire) || self.arrive()) self.handle.resume();
  }

  std::coroutine_handle<> handle;  // written before the node is linked
  atomic<bool> gate{false};
  bool stopped = false;  // written by the caller's stop callback after it unlinked the node
};

// The coroutine a flight owns while it awaits an asynchronous loader. Started at once, never
// awaited: its frame is freed when its body ends (after the close).
struct flight_driver {
  struct promise_type {
    flight_driver get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // the body catches everything
  };
};

// fn as the leader calls it: with the flight's stop token if fn takes one (S12).
template <class Value, class F>
decltype(auto) invoke_loader(flight<Value>& f, F&& fn) {
  if constexpr (takes_stop_token<F>) {
    return std::invoke(std::forward<F>(fn), f.fn_token());
  } else {
    return std::invoke(std::forward<F>(fn));
  }
}

// Calls `fn` for the flight `f` (holding a user reference of its own) and awaits the loader it
// returns, writes its outcome, removes the record (`unregister`, by identity) and closes the
// flight, which resumes its waiters here, on the thread that completed the loader. `fn` is the
// driver's own copy, so a loader that is a coroutine lambda keeps its captures as long as it
// runs, even after the leader has left. As in lead(), the exception is only captured in the
// handler.
template <class Value, class Fn, class Unregister>
flight_driver drive(flight_ref<Value> f, Fn fn, Unregister unregister) {
  bool failed = false;
  std::exception_ptr error;
  try {
    auto&& made = co_await invoke_loader(*f, fn);
    f->produce([&]() -> decltype(auto) { return static_cast<decltype(made)&&>(made); });
  } catch (...) {
    failed = true;
    error = std::current_exception();
  }
  if (failed) f->fail(std::move(error));
  unregister();
  (void)f->close();
}

// What `co_await g.async_call(key, fn[, stop])` awaits. `Enter` is the group's lookup-or-register
// step, `(key, prepare) -> entered`, whose `unregister` owns what it needs (it may run after the
// call's expression has ended, in the driver); the key, fn and stop token are the call's, which
// live until the end of the full expression that awaits this (await it where it is created).
template <class Value, class Enter, class K, class F, class Stop>
class async_call_op {
  static constexpr bool kAsyncLoader = async_loader<F, Value>;

 public:
  async_call_op(Enter enter, const K& key, F&& fn, Stop stop)
      : enter_(enter), key_(key), fn_(std::forward<F>(fn)), stop_(std::move(stop)) {}
  async_call_op(const async_call_op&) = delete;
  async_call_op& operator=(const async_call_op&) = delete;

  // Finds or registers the flight. A leader with an fn that returns a value runs it here and
  // does not suspend; so does a caller that finds its flight closed already.
  bool await_ready() {
    calls::check_not_over(stop_, no_deadline{});  // before joining or starting anything (S7)
    auto prepare = [this](flight<Value>& f) {
      if constexpr (kAsyncLoader) f.make_async();
      if (may_be_abandoned<F>(stop_, no_deadline{})) f.make_abandonable();
    };
    auto e = enter_(key_, prepare);
    leads_ = e.leads;
    if (!e.leads) {
      flight_ = std::move(e.f);
      return flight_->closed();
    }
    if constexpr (!kAsyncLoader) {
      outcome_ = calls::lead(std::move(e.f), std::forward<F>(fn_), stop_, no_deadline{},
                             e.unregister);
      return true;
    } else {
      flight_ = std::move(e.f);
      start_loader(std::move(e.unregister));
      return flight_->closed();
    }
  }

  // Links this caller's node into the flight's list and suspends, unless the flight closed
  // meanwhile. The caller's stop callback is registered after the node is linked (so that it
  // finds it there) and before the gate (so that a stop already requested is seen at once).
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    node_.handle = h;
    if (!flight_->enlist(node_)) return false;  // closed: the outcome is visible
    frame_access_.write();  // from here on, a waker may be resuming this frame elsewhere
    on_stop_.emplace(stop_, departure{this});
    return !node_.arrive();  // arrived second: a waker came first, so continue now
  }

  result<Value> await_resume() {
    if (leads_ && !kAsyncLoader) return std::move(outcome_);
    frame_access_.write();
    on_stop_.reset();  // waits for the callback if it is running on another thread
    if (node_.stopped) throw cancelled();
    const bool shared = leads_ ? flight_->had_followers() : true;
    return calls::outcome(std::move(flight_), shared, leads_);
  }

 private:
  // The caller's stop callback: leaves, unless the close has taken the list (then the close
  // resumes the caller with the outcome).
  struct departure {
    async_call_op* self;
    void operator()() const noexcept {
      flight<Value>& f = *self->flight_;
      coroutine_waiter& node = self->node_;
      if (!f.delist(node)) return;
      self->frame_access_.write();
      node.stopped = true;
      f.leave();
      if (node.arrive()) node.handle.resume();
    }
  };

  // The leader of a flight with an asynchronous loader: hands a copy of fn (moved, if the caller
  // passed an rvalue) to the flight's driver, which calls it for the loader and awaits that. If
  // fn throws, the flight fails with its exception (the leader, which then finds the flight
  // closed, rethrows it as every caller does); if the copy or the driver's frame cannot be made,
  // the flight fails here with that exception, which the leader rethrows.
  template <class Unregister>
  void start_loader(Unregister unregister) {
    flight<Value>& f = *flight_;
    std::exception_ptr error;
    try {
      f.add_user();  // the driver's
      auto driver_ref = flight_ref<Value>::adopt(&f);
      (void)drive(std::move(driver_ref), std::decay_t<F>(std::forward<F>(fn_)), unregister);
      return;
    } catch (...) {
      error = std::current_exception();
    }
    // Only a caught exception gets here.
    f.fail(std::move(error));  // an empty one becomes a std::runtime_error saying so
    unregister();
    (void)f.close();
    f.rethrow_if_failed();
  }

  using callback = stop_callback_for_t<Stop, departure>;

  Enter enter_;
  const K& key_;
  F&& fn_;
  Stop stop_;
  bool leads_ = false;
  flight_ref<Value> flight_;  // the caller's user reference while it waits
  result<Value> outcome_;     // a leader's that ran fn inline
  coroutine_waiter node_;
  std::optional<callback> on_stop_;
  // Marks the accesses to the fields above that another thread may make or follow once the node
  // is linked (on_stop_, node_.stopped): the gate (16) must order them.
  [[no_unique_address]] plain_access frame_access_;
};

}  // namespace singleflight::detail
