// singleflight over Asio — `g.async_call(key, fn)` as an Asio asynchronous operation, for code
// that runs on standalone Asio (https://think-async.com; Debian: libasio-dev, 1.22):
//
//   singleflight::result<V> r =
//       co_await singleflight::asio::async_call(g, key, fn, asio::use_awaitable);
//
// An `asio::awaitable` coroutine cannot co_await `g.async_call(...)` itself: its promise's
// await_transform takes only Asio's own awaitables. This header makes the call an Asio
// operation instead, built on asio::async_initiate, so that it takes any completion token:
// asio::use_awaitable, a callback, asio::use_future, asio::experimental::deferred (so that
// experimental::make_parallel_group races it against a timer), asio::bind_executor(...).
// g is a group, mutex_group or sharded_group; key and fn are what g.async_call takes, and so are
// the semantics (S1-S12 of <singleflight/singleflight.hpp>): the caller joins the key's flight or
// leads a new one, and callers on threads, on other coroutines and on Asio coalesce with each
// other.
//
//   async_call(g, key, fn, token)
//   async_call(g, key, fn, stop, token)     stop: a std::stop_token; requesting it makes this
//                                           caller leave (S7), as in g.async_call(key, fn, stop)
//
// Completion signature: void(std::exception_ptr, singleflight::result<Value>). An outcome is a
// result or an exception, never both: the flight's exception with its type intact (S3),
// singleflight::cancelled when this caller left, reentrant_call (S11), or what fn threw; the
// result is then empty. It is Asio's signature for operations that end in any exception (as
// co_spawn's is), so that use_awaitable rethrows it in the coroutine and use_future stores it in
// the future. An error_code could not carry the flight's own exception.
//
// fn, in the leader only (S1), returns one of:
//   - something Value can be made from: run inline, inside the initiating function;
//   - an awaitable of any coroutine library that g.async_call accepts (an asynchronous loader);
//   - an asio::awaitable<T> whose T makes a Value: co_spawn'ed on the leader's handler's executor
//     (its associated executor; for use_awaitable the calling coroutine's), and the flight
//     awaits its completion. If fn takes a std::stop_token, that token (requested when no caller
//     waits any more, S12) also cancels the loader the Asio way: a terminal cancellation emitted
//     on a strand of that executor, where the loader then runs, so its pending operation ends
//     with asio::error::operation_aborted. A loader without a token runs to its end. The
//     cancellation and the token's own callbacks run in no fixed order, and the loader may end on
//     the cancellation while the token's callbacks are still being run: a std::stop_callback that
//     lives in the loader's frame may then go before it has run. Count or act on the stop in the
//     loader itself (where it sees operation_aborted), or in a callback that outlives it.
//
// Where the handler runs: always through its associated executor, by asio::post, never inside
// the initiating function and never on the thread that completed the flight unless that thread
// runs the executor: a coroutine on a strand resumes on its strand. (g.async_call resumes a
// follower inline on the completing thread, a leader's thread or an asynchronous loader's; the
// operation holds outstanding work on the handler's executor while it waits, so io_context::run
// does not return early.) A handler with no associated executor — a plain callback,
// asio::use_future — gets Asio's default, asio::system_executor, and so runs on a thread of
// Asio's system thread pool; bind one with asio::bind_executor to choose.
//
// Cancellation: the handler's associated cancellation slot (asio::bind_cancellation_slot; a
// parallel_group's; inside an asio::awaitable, the coroutine's own, so co_spawn with a bound slot
// reaches it) and the `stop` token are both honoured: a signal of any type (terminal,
// partial or total), or a stop request, makes this caller leave its flight, and it completes with
// singleflight::cancelled (S7). The flight and its other callers are unaffected, the leader's
// asynchronous loader included, unless nobody waits for it any more (S12). Emit the signal where
// Asio asks, on the handler's executor; the slot is cleared there, before the handler runs.
//
// Memory ordering: as g.async_call: everything fn did happens-before the handler runs.
//
// Lifetime: the operation keeps a copy of the key (decay-copied: a std::string_view or pointer
// key must point at something that lives until the handler has run) and of fn (decay-copied or
// moved). A leader's fn that returns an asio::awaitable is kept (on the heap) until that loader
// has completed, even when the leader has left: so fn may be a lambda that is itself the
// coroutine, reading its captures. The group must outlive the operation. Each call allocates one
// small coroutine frame (with the handler, key and fn in it), plus a std::stop_source's state
// when it can be cancelled; an asio::awaitable loader adds, once per flight, fn's copy on the
// heap and the frames co_spawn makes.
//
// g++ 12: a lambda with captures (or an aggregate) that owns memory, built as a temporary inside
// a co_await expression, is miscompiled (ASan: a free of memory that was never allocated; clang
// 14 is fine). So `auto load = [user] { ... }; co_await async_call(g, key, load,
// asio::use_awaitable);`, not the lambda written inside the co_await. This header builds no such
// temporary itself.
//
// Names: this namespace is singleflight::asio, so code inside namespace singleflight, or after
// `using namespace singleflight;`, must spell Asio's own as ::asio.
#pragma once

#include "singleflight.hpp"  // first: it refuses a compiler not in C++20 mode, in one line
#if __cplusplus >= 202002L

// Asio 1.22 turns its coroutine support on for g++ with <coroutine>, but for clang only with
// libc++'s <experimental/coroutine>; clang with libstdc++'s <coroutine> works once it is on. Only
// if Asio's configuration has not been read yet (this header included before any of Asio's).
#if defined(__clang__) && !defined(ASIO_DETAIL_CONFIG_HPP) && !defined(ASIO_HAS_CO_AWAIT) && \
    !defined(ASIO_DISABLE_CO_AWAIT) && defined(__cpp_impl_coroutine) && __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/system_error.hpp>

#if !defined(ASIO_HAS_CO_AWAIT)
#error "singleflight/asio.hpp needs Asio's coroutine support (ASIO_HAS_CO_AWAIT): g++ 10 or later in C++20 mode has it; with clang, include this header before any of Asio's, or define ASIO_HAS_CO_AWAIT=1"
#endif

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace singleflight::detail {

// The Key and Value of a group, mutex_group or sharded_group: each is a call_forms.
template <class Impl, class Key, class Value, class Hash, class KeyEqual>
std::type_identity<Value> value_of(const call_forms<Impl, Key, Value, Hash, KeyEqual>&);  // undefined
template <class Group>
using group_value_t = typename decltype(value_of(std::declval<const Group&>()))::type;

template <class Group>
concept asio_callable_group = requires(const Group& g) { value_of(g); };

template <class T>
struct is_asio_awaitable : std::false_type {};
template <class T, class Executor>
struct is_asio_awaitable<::asio::awaitable<T, Executor>> : std::true_type {};

// fn returns an asio::awaitable: its loader must be co_spawn'ed, not awaited.
template <class F>
concept asio_loader_fn =
    callable_loader<F> && is_asio_awaitable<std::remove_cvref_t<loader_result_t<F>>>::value;

// An asio::awaitable loader as an awaitable the flight's driver (a plain C++20 coroutine) can
// await: await_suspend co_spawns the loader on `ex_`, and the completion handler stores its
// outcome here and resumes the driver, on a thread of that executor. The driver owns this object
// (it is its `loader`) and destroys it only after that resumption.
//
// With a stop token (fn took one), the loader is spawned on a strand of `ex_`, from inside the
// strand, with a cancellation slot whose signal only the strand emits: Asio wants a slot's
// handler installed, emitted and cleared on one strand. The token's callback posts the emission
// there. A request that comes before the spawn runs is seen by `run` before it starts the loader,
// since the request happens-before the post, which the strand orders before the spawn.
template <class T, class AwaitableExecutor>
class asio_loader_awaiter {
 public:
  using loader_type = ::asio::awaitable<T, AwaitableExecutor>;

  // `fn`: what made the loader, kept alive until the loader has completed.
  asio_loader_awaiter(loader_type loader, std::shared_ptr<void> fn, AwaitableExecutor ex,
                      std::stop_token stop)
      : loader_(std::move(loader)), fn_(std::move(fn)), ex_(std::move(ex)), stop_(std::move(stop)) {}
  // Moved only before it is awaited (into the driver's frame), when on_stop_ is still empty.
  asio_loader_awaiter(asio_loader_awaiter&& other) noexcept
      : loader_(std::move(other.loader_)),
        fn_(std::move(other.fn_)),
        ex_(std::move(other.ex_)),
        stop_(std::move(other.stop_)) {}
  asio_loader_awaiter& operator=(asio_loader_awaiter&&) = delete;

  bool await_ready() const noexcept { return false; }

  // Touches nothing of `this` after the post or the spawn: the loader may complete, and the
  // driver destroy this object, on another thread before they return.
  void await_suspend(std::coroutine_handle<> driver) {
    driver_ = driver;
    if constexpr (std::is_convertible_v<::asio::strand<AwaitableExecutor>, AwaitableExecutor>) {
      if (stop_.stop_possible()) {
        auto strand = ::asio::make_strand(ex_);
        auto signal = std::make_shared<::asio::cancellation_signal>();
        on_stop_.emplace(stop_, emit_cancellation{strand, signal});
        ::asio::post(strand, [this, strand, signal, loader = std::move(loader_)]() mutable {
          ::asio::co_spawn(strand, run(std::move(loader), this, stop_),
                           ::asio::bind_cancellation_slot(signal->slot(), finished{this}));
        });
        return;
      }
    }
    // No token (or an executor type whose strand the loader cannot run on): no Asio
    // cancellation; a token is still fn's to use.
    ::asio::co_spawn(ex_, run(std::move(loader_), this, std::stop_token()), finished{this});
  }

  T await_resume() {
    if (error_) std::rethrow_exception(error_);
    return std::move(*value_);
  }

 private:
  // The token's callback: the signal is emitted on the strand, never on the requesting thread.
  struct emit_cancellation {
    ::asio::strand<AwaitableExecutor> strand;
    std::shared_ptr<::asio::cancellation_signal> signal;
    void operator()() const {
      ::asio::post(strand, [signal = signal] { signal->emit(::asio::cancellation_type::terminal); });
    }
  };

  // The spawned coroutine: awaits the loader into value_ (an exception goes to `finished`).
  static ::asio::awaitable<void, AwaitableExecutor> run(loader_type loader,
                                                        asio_loader_awaiter* self,
                                                        std::stop_token stop) {
    if (stop.stop_requested()) {  // nobody waits since before the spawn: do not start
      throw ::asio::system_error(::asio::error::operation_aborted);
    }
    self->value_.emplace(co_await std::move(loader));
  }

  // co_spawn's completion handler, on the spawn's executor: the loader's outcome is in.
  struct finished {
    asio_loader_awaiter* self;
    void operator()(std::exception_ptr error) const {
      self->error_ = std::move(error);
      self->driver_.resume();
    }
  };

  loader_type loader_;
  std::shared_ptr<void> fn_;
  AwaitableExecutor ex_;
  std::stop_token stop_;
  std::coroutine_handle<> driver_;
  // Written by the spawned coroutine and `finished`, read by the driver after its resumption.
  std::optional<T> value_;
  std::exception_ptr error_;
  std::optional<std::stop_callback<emit_cancellation>> on_stop_;
};

// fn whose loader is an asio::awaitable, as g.async_call sees it: an fn returning an
// asio_loader_awaiter, taking a stop token exactly when fn does (so S12 applies exactly when it
// would to fn itself). `ex_` is the executor the loader runs on.
template <class F, class Executor>
class asio_loader_fn_adapter {
 public:
  asio_loader_fn_adapter(F f, Executor e) : fn_(std::move(f)), ex_(std::move(e)) {}

  auto operator()()
    requires(!std::invocable<F&&, std::stop_token>)
  {
    return start();
  }
  auto operator()(std::stop_token stop)
    requires std::invocable<F&&, std::stop_token>
  {
    return start(std::move(stop));
  }

 private:
  // fn moves to the heap and stays there, at one address, until its loader has completed: a
  // lambda that is itself the coroutine reads its captures from its closure, after the leader's
  // operation (which held fn) may have ended.
  template <class... Stop>
  auto start(Stop... stop) {
    auto closure = std::make_shared<F>(std::move(fn_));
    auto loader = std::invoke(std::move(*closure), stop...);
    using awaitable_type = decltype(loader);
    using executor_type = typename awaitable_type::executor_type;
    return asio_loader_awaiter<typename awaitable_type::value_type, executor_type>(
        std::move(loader), std::move(closure), executor_type(ex_), std::stop_token(stop...));
  }

  F fn_;
  Executor ex_;
};

// The handler's cancellation slot's handler: a signal makes the caller leave.
struct leave_on_cancellation {
  explicit leave_on_cancellation(std::stop_source s) noexcept : leave(std::move(s)) {}
  std::stop_source leave;  // a copy: the slot may outlive the operation's frame
  void operator()(::asio::cancellation_type_t type) {
    constexpr auto kinds = ::asio::cancellation_type::terminal |
                           ::asio::cancellation_type::partial | ::asio::cancellation_type::total;
    if ((type & kinds) != ::asio::cancellation_type::none) leave.request_stop();
  }
};

// A fresh std::stop_source, made out of line: g++ 12 with sanitizers at -O1 wrongly warns that
// one made in run_async_call's frame may be used uninitialized when its constructor is inlined
// there (-Wmaybe-uninitialized on `_M_state(*this)` in <stop_token>), an error under -Werror.
[[gnu::noinline]] inline std::stop_source new_stop_source() { return std::stop_source(); }

// `stop` forwarded to the caller's own stop source.
struct forward_stop {
  std::stop_source* leave;
  void operator()() const noexcept { leave->request_stop(); }
};

// One asio::async_call, from initiation to the handler: a coroutine of the type that drives
// asynchronous loaders (started at once, never awaited, frame freed at its end), holding the
// handler, key and fn. It co_awaits g.async_call, then posts the handler with the outcome to the
// handler's executor. Resumed inline by whoever completes the flight or requests the caller's
// stop; the post moves the handler off that thread.
template <class Value, class Group, class Key, class F, class Handler>
flight_driver run_async_call(Group& g, Key key, F fn, std::stop_token stop, Handler handler) {
  const auto ex = ::asio::get_associated_executor(handler);
  auto work = ::asio::make_work_guard(ex);  // the executor's context runs while the caller waits
  auto slot = ::asio::get_associated_cancellation_slot(handler);

  // The caller's own stop source, made only when something can request it: the handler's slot,
  // or `stop`. Without one the flight is not made abandonable for this caller (S12).
  std::stop_source leave(std::nostopstate);
  std::optional<std::stop_callback<forward_stop>> forwarding;
  if (slot.is_connected() || stop.stop_possible()) {
    leave = new_stop_source();
    if (slot.is_connected()) slot.template emplace<leave_on_cancellation>(leave);
    if (stop.stop_possible()) forwarding.emplace(stop, forward_stop{&leave});
  }

  std::exception_ptr error;
  result<Value> outcome;
  try {
    // A token without a state when nothing can stop the caller: then it is never requested.
    const std::stop_token token = leave.get_token();
    if constexpr (asio_loader_fn<F>) {
      asio_loader_fn_adapter<F, std::remove_cv_t<decltype(ex)>> loader(std::move(fn), ex);
      outcome = co_await g.async_call(key, std::move(loader), token);
    } else {
      outcome = co_await g.async_call(key, std::move(fn), token);
    }
  } catch (...) {
    error = std::current_exception();
  }
  forwarding.reset();  // waits for a forward_stop running on another thread, which uses `leave`

  // The slot is cleared on the handler's executor, where Asio wants signals emitted, so that no
  // emission can race with it; its handler holds its own stop source, so a late one is harmless.
  ::asio::post(ex, [handler = std::move(handler), slot, error = std::move(error),
                    outcome = std::move(outcome)]() mutable {
    if (slot.is_connected()) slot.clear();
    std::move(handler)(std::move(error), std::move(outcome));
  });
}

// async_initiate's initiation: starts run_async_call with decay-copies of key and fn.
template <class Group>
struct initiate_async_call {
  Group* g;

  template <class Handler, class K, class F>
  void operator()(Handler&& handler, K&& key, F&& fn, std::stop_token stop) const {
    (void)run_async_call<group_value_t<Group>>(*g, std::decay_t<K>(std::forward<K>(key)),
                                               std::decay_t<F>(std::forward<F>(fn)),
                                               std::move(stop), std::forward<Handler>(handler));
  }
};

}  // namespace singleflight::detail

namespace singleflight::asio {

// The completion signature of async_call for a group whose Value is `Value`.
template <class Value>
using async_call_signature = void(std::exception_ptr, result<Value>);

// g.async_call(key, fn, stop) as an Asio operation: completes with (nullptr, the caller's
// result) or (the exception, an empty result). The caller leaves (completing with
// singleflight::cancelled) when `stop` is requested, from any thread, or when the handler's
// cancellation slot is signalled (S7). See the top of this header.
template <class Group, class K, class F, class CompletionToken>
  requires detail::asio_callable_group<Group>
auto async_call(Group& g, const K& key, F&& fn, std::stop_token stop, CompletionToken&& token) {
  return ::asio::async_initiate<CompletionToken,
                                async_call_signature<detail::group_value_t<Group>>>(
      detail::initiate_async_call<Group>{&g}, token, key, std::forward<F>(fn), std::move(stop));
}

// As above, with no stop token: only the handler's cancellation slot makes the caller leave.
template <class Group, class K, class F, class CompletionToken>
  requires detail::asio_callable_group<Group>
auto async_call(Group& g, const K& key, F&& fn, CompletionToken&& token) {
  return singleflight::asio::async_call(g, key, std::forward<F>(fn), std::stop_token(),
                                        std::forward<CompletionToken>(token));
}

}  // namespace singleflight::asio

#endif  // C++20
