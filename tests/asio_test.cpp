// The Asio adapter (<singleflight/asio.hpp>): singleflight::asio::async_call with use_awaitable,
// callbacks and use_future coalesces like g.call, an asio::awaitable loader is shared by every
// caller, exceptions reach every caller with their type, a cancellation signal or stop token
// makes one caller leave without touching the others, a loader that takes a stop token is
// cancelled the Asio way once nobody waits, and the handler always runs on its own executor,
// never inside the initiating function.
#include <singleflight/asio.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <system_error>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

using namespace std::chrono_literals;
using singleflight::cancelled;
using singleflight::result;

// The adapter does not depend on the table: the lock-free group and the two baselines suffice.
using asio_implementations = ::testing::Types<impl::group, impl::mutex_group, impl::sharded_group>;

template <class Impl>
class asio_async_call : public ::testing::Test {};
TYPED_TEST_SUITE(asio_async_call, asio_implementations);

// One caller's completion: what its handler received, and where it ran.
struct completion {
  bool done = false;
  std::exception_ptr error;
  result<int> r;
  std::thread::id thread;

  void set(std::exception_ptr e, result<int> got) {
    error = std::move(e);
    r = std::move(got);
    thread = std::this_thread::get_id();
    done = true;
  }

  // The exception the caller received is an E.
  template <class E>
  bool failed_with() const {
    if (!error) return false;
    try {
      std::rethrow_exception(error);
    } catch (const E&) {
      return true;
    } catch (...) {
      return false;
    }
  }
};

// A callback that records its completion in `c`, bound to run on `io`.
auto recorded_on(asio::io_context& io, completion& c) {
  return asio::bind_executor(io, [&c](std::exception_ptr e, result<int> r) {
    c.set(std::move(e), std::move(r));
  });
}

// A coroutine on Asio that calls through the adapter with use_awaitable.
template <class Group, class F>
asio::awaitable<void> awaiting_caller(Group& g, int key, F fn, completion& out) {
  try {
    out.set(nullptr, co_await singleflight::asio::async_call(g, key, std::move(fn),
                                                                asio::use_awaitable));
  } catch (...) {
    out.set(std::current_exception(), {});
  }
}

// A loader on Asio: waits `delay` on a timer, then yields `value` (or throws, if `fails`).
asio::awaitable<int> timed_load(std::chrono::milliseconds delay, int value, bool fails = false) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  co_await timer.async_wait(asio::use_awaitable);
  if (fails) throw std::runtime_error("origin down");
  co_return value;
}

// Every caller of one flight: the same value object, shared, exactly one leader.
void expect_one_flight(const std::vector<completion>& callers, const int* leaders_value,
                       int expected_leaders) {
  int leaders = 0;
  for (const completion& c : callers) {
    ASSERT_TRUE(c.done) << "a caller's handler never ran";
    ASSERT_FALSE(c.error) << "a caller failed";
    EXPECT_EQ(&c.r.value(), leaders_value) << "callers got different value objects (S3)";
    EXPECT_TRUE(c.r.shared());
    leaders += c.r.leader();
  }
  EXPECT_EQ(leaders, expected_leaders);
}

// `leaver` has left its flight, completing with cancelled, and that reached nobody else:
// `stayer` still waits.
void expect_only_the_leaver_left(const completion& leaver, const completion& stayer) {
  ASSERT_TRUE(leaver.done) << "a cancelled caller kept waiting";
  EXPECT_TRUE(leaver.failed_with<cancelled>());
  EXPECT_FALSE(stayer.done) << "one caller's leaving reached another";
}

// Lets the held leader finish and runs `io`: `stayer` gets the leader's value object.
void expect_the_stayer_gets_the_leaders_value(held_leader<int>& leader, asio::io_context& io,
                                              const completion& stayer) {
  const result<int>& led = leader.finish();
  io.run();
  ASSERT_TRUE(stayer.r);
  EXPECT_EQ(&stayer.r.value(), &led.value());
}

TYPED_TEST(asio_async_call, awaitable_coroutines_on_one_io_context_join_a_thread_leaders_flight) {
  constexpr int kCallers = 8;
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  gate release;
  std::atomic<int> runs{0};
  held_leader<int> leader(g, 1, release, [&] { return ++runs, 42; });
  std::vector<completion> callers(kCallers);
  for (completion& c : callers) {
    asio::co_spawn(io, awaiting_caller(g, 1, [&] { return ++runs, -1; }, c), asio::detached);
  }
  io.poll();  // every coroutine runs until it waits in the flight: it has joined (no sleep needed)
  for (const completion& c : callers) ASSERT_FALSE(c.done) << "a caller did not wait for fn";
  const result<int>& led = leader.finish();
  io.run();  // returns once every handler ran: each held work on the io_context until then
  EXPECT_EQ(runs.load(), 1);
  expect_one_flight(callers, &led.value(), 0);
  EXPECT_TRUE(led.leader() && led.shared());
  for (const completion& c : callers) {
    EXPECT_EQ(c.thread, std::this_thread::get_id()) << "resumed off the io_context's thread";
  }
}

TYPED_TEST(asio_async_call, callback_handlers_share_the_flight_and_run_on_their_bound_executor) {
  constexpr int kCallers = 4;
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  gate release;
  held_leader<int> leader(g, 2, release, [] { return 7; });
  std::vector<completion> callers(kCallers);
  for (completion& c : callers) {
    singleflight::asio::async_call(
        g, 2, [] { return -1; },
        recorded_on(io, c));
  }
  const result<int>& led = leader.finish();  // completes the flight on the leader's thread
  for (const completion& c : callers) {
    EXPECT_FALSE(c.done) << "a handler ran on the completing thread, not on its executor";
  }
  io.run();
  expect_one_flight(callers, &led.value(), 0);
  for (const completion& c : callers) EXPECT_EQ(c.thread, std::this_thread::get_id());
}

TYPED_TEST(asio_async_call, use_future_from_plain_threads_shares_the_flight) {
  constexpr int kThreads = 4;
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 3, release, [] { return 5; });
  std::vector<std::future<result<int>>> futures;
  for (int i = 0; i < kThreads; ++i) {
    futures.push_back(
        singleflight::asio::async_call(g, 3, [] { return -1; }, asio::use_future));
  }
  // A future is set on Asio's system executor: with the leader held, none can be ready.
  for (auto& f : futures) EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  const result<int>& led = leader.finish();
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(patience), std::future_status::ready);
    const result<int> r = f.get();
    EXPECT_EQ(&r.value(), &led.value());
    EXPECT_FALSE(r.leader());
    EXPECT_TRUE(r.shared());
  }
}

TYPED_TEST(asio_async_call, asio_awaitable_loader_on_a_timer_is_shared_by_every_caller) {
  constexpr int kCallers = 16;
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  std::atomic<int> loads{0};
  auto fn = [&] {
    ++loads;
    return timed_load(20ms, 11);
  };
  std::vector<completion> callers(kCallers);
  for (completion& c : callers) asio::co_spawn(io, awaiting_caller(g, 4, fn, c), asio::detached);
  io.run();
  EXPECT_EQ(loads.load(), 1);
  ASSERT_TRUE(callers[0].done && callers[0].r);
  expect_one_flight(callers, &callers[0].r.value(), 1);
  EXPECT_EQ(*callers[0].r, 11);
  EXPECT_TRUE(callers[0].r.leader()) << "the first coroutine to call should have led";
  EXPECT_EQ(*g.call(4, [] { return 3; }), 3) << "the key stayed registered after the loader";
}

TYPED_TEST(asio_async_call, exception_of_an_asio_loader_reaches_every_caller_and_frees_the_key) {
  constexpr int kCallers = 4;
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  auto fn = [] { return timed_load(5ms, 0, /*fails=*/true); };
  std::vector<completion> callers(kCallers);
  for (completion& c : callers) asio::co_spawn(io, awaiting_caller(g, 5, fn, c), asio::detached);
  io.run();
  for (const completion& c : callers) {
    ASSERT_TRUE(c.done);
    EXPECT_TRUE(c.failed_with<std::runtime_error>());
    EXPECT_FALSE(c.r) << "a failed call's result must be empty";
  }
  EXPECT_EQ(*g.call(5, [] { return 6; }), 6) << "the key stayed wedged after the exception (S6)";
}

TYPED_TEST(asio_async_call, exception_of_an_inline_fn_reaches_a_callback_as_its_exception_ptr) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  completion c;
  singleflight::asio::async_call(
      g, 6, []() -> int { throw std::logic_error("bad key"); },
      recorded_on(io, c));
  io.run();
  ASSERT_TRUE(c.done);
  EXPECT_TRUE(c.failed_with<std::logic_error>());
}

TYPED_TEST(asio_async_call, handler_is_never_run_inside_the_initiating_function) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  completion c;
  bool ran_inside = true;
  // From a handler on the io_context, where a dispatch to it would run at once; a lone caller
  // with an fn that returns a value: the flight is over before async_call returns.
  asio::post(io, [&] {
    singleflight::asio::async_call(g, 7, [] { return 1; }, recorded_on(io, c));
    ran_inside = c.done;
  });
  io.run();
  EXPECT_FALSE(ran_inside) << "the handler ran inside async_call";
  ASSERT_TRUE(c.done && c.r);
  EXPECT_EQ(*c.r, 1);
  EXPECT_TRUE(c.r.leader());
  EXPECT_FALSE(c.r.shared());
}

TYPED_TEST(asio_async_call, handler_runs_on_its_strand_when_the_flight_completes_elsewhere) {
  constexpr int kCallers = 8;
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  auto strand = asio::make_strand(io);
  gate release;
  held_leader<int> leader(g, 8, release, [] { return 2; });
  std::atomic<int> on_strand{0}, ran{0};
  for (int i = 0; i < kCallers; ++i) {
    singleflight::asio::async_call(g, 8, [] { return -1; },
                                   asio::bind_executor(strand, [&](std::exception_ptr e, result<int>) {
                                     on_strand += strand.running_in_this_thread() && !e;
                                     ++ran;
                                   }));
  }
  std::vector<std::jthread> runners;  // two threads run the io_context: only the strand serializes
  for (int i = 0; i < 2; ++i) runners.emplace_back([&] { io.run(); });
  (void)leader.finish();
  runners.clear();  // joins: run() returns once the last handler ran
  EXPECT_EQ(ran.load(), kCallers);
  EXPECT_EQ(on_strand.load(), kCallers);
}

TYPED_TEST(asio_async_call, cancellation_signal_makes_one_caller_leave_and_the_flight_goes_on) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  std::atomic<int> loads{0};
  auto fn = [&] {
    ++loads;
    return timed_load(30ms, 9);
  };
  completion lead, leaver, stayer;
  asio::co_spawn(io, awaiting_caller(g, 9, fn, lead), asio::detached);
  asio::cancellation_signal signal;
  singleflight::asio::async_call(
      g, 9, fn,
      asio::bind_cancellation_slot(signal.slot(),
                                   recorded_on(io, leaver)));
  asio::co_spawn(io, awaiting_caller(g, 9, fn, stayer), asio::detached);
  io.poll();  // all three are in the flight, and the loader waits on its timer
  ASSERT_FALSE(lead.done || leaver.done || stayer.done);
  signal.emit(asio::cancellation_type::terminal);  // on the io_context's thread, as Asio asks
  io.poll();
  expect_only_the_leaver_left(leaver, stayer);
  EXPECT_FALSE(lead.done);
  io.run();
  EXPECT_EQ(loads.load(), 1);
  ASSERT_TRUE(lead.r && stayer.r);
  EXPECT_EQ(&lead.r.value(), &stayer.r.value());
  EXPECT_EQ(*stayer.r, 9);
}

TYPED_TEST(asio_async_call, cancelling_an_awaiting_coroutine_through_co_spawn_makes_it_leave) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  gate release;
  held_leader<int> leader(g, 10, release, [] { return 4; });
  completion leaver, stayer;
  asio::cancellation_signal signal;
  asio::co_spawn(io, awaiting_caller(g, 10, [] { return -1; }, leaver),
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  asio::co_spawn(io, awaiting_caller(g, 10, [] { return -1; }, stayer), asio::detached);
  io.poll();
  signal.emit(asio::cancellation_type::terminal);  // reaches the operation through the coroutine
  io.poll();
  expect_only_the_leaver_left(leaver, stayer);
  expect_the_stayer_gets_the_leaders_value(leader, io, stayer);
}

TYPED_TEST(asio_async_call, stop_token_requested_on_another_thread_makes_one_caller_leave) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  gate release;
  held_leader<int> leader(g, 11, release, [] { return 8; });
  completion leaver, stayer;
  std::stop_source stop = new_stop_source();
  singleflight::asio::async_call(g, 11, [] { return -1; }, stop.get_token(), recorded_on(io, leaver));
  singleflight::asio::async_call(g, 11, [] { return -1; }, recorded_on(io, stayer));
  std::jthread([&] { stop.request_stop(); }).join();
  io.poll();
  expect_only_the_leaver_left(leaver, stayer);
  EXPECT_EQ(leaver.thread, std::this_thread::get_id()) << "the handler ran off its executor";
  expect_the_stayer_gets_the_leaders_value(leader, io, stayer);
}

TYPED_TEST(asio_async_call, token_stopped_before_the_call_completes_with_cancelled_and_runs_nothing) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  std::stop_source stop = new_stop_source();
  stop.request_stop();
  std::atomic<int> runs{0};
  completion c;
  singleflight::asio::async_call(g, 12, [&] { return ++runs; }, stop.get_token(),
                                 recorded_on(io, c));
  io.run();
  ASSERT_TRUE(c.done);
  EXPECT_TRUE(c.failed_with<cancelled>());
  EXPECT_EQ(runs.load(), 0);
}

TYPED_TEST(asio_async_call, loader_taking_a_stop_token_is_cancelled_once_every_caller_left) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  std::atomic<bool> aborted{false};
  auto fn = [&](std::stop_token) -> asio::awaitable<int> {
    asio::steady_timer timer(co_await asio::this_coro::executor, patience);
    try {
      co_await timer.async_wait(asio::use_awaitable);
    } catch (const std::system_error& e) {
      aborted = e.code() == asio::error::operation_aborted;
      throw;
    }
    co_return 1;
  };
  completion a, b;
  asio::cancellation_signal signal_a, signal_b;
  singleflight::asio::async_call(g, 13, fn, asio::bind_cancellation_slot(signal_a.slot(), recorded_on(io, a)));
  singleflight::asio::async_call(g, 13, fn, asio::bind_cancellation_slot(signal_b.slot(), recorded_on(io, b)));
  io.poll();
  signal_a.emit(asio::cancellation_type::terminal);
  io.poll();
  EXPECT_FALSE(aborted.load()) << "the loader was cancelled while a caller still waited";
  signal_b.emit(asio::cancellation_type::terminal);
  io.run();  // returns at once, not after `patience`: the loader's timer wait was cancelled
  EXPECT_TRUE(aborted.load()) << "nobody waits, yet the loader's wait was not cancelled";
  EXPECT_TRUE(a.failed_with<cancelled>() && b.failed_with<cancelled>());
  EXPECT_EQ(*g.call(13, [] { return 2; }), 2);
}

TYPED_TEST(asio_async_call, loader_without_a_stop_token_runs_to_its_end_after_every_caller_left) {
  group_for<TypeParam, int, int> g;
  asio::io_context io;
  std::atomic<bool> finished{false};
  auto fn = [&]() -> asio::awaitable<int> {
    const int v = co_await timed_load(20ms, 3);
    finished = true;
    co_return v;
  };
  completion a;
  asio::cancellation_signal signal;
  singleflight::asio::async_call(
      g, 14, fn,
      asio::bind_cancellation_slot(signal.slot(),
                                   recorded_on(io, a)));
  io.poll();
  signal.emit(asio::cancellation_type::terminal);
  io.run();
  EXPECT_TRUE(a.failed_with<cancelled>());
  EXPECT_TRUE(finished.load()) << "a loader that takes no token must run to its end";
}

}  // namespace
}  // namespace sftest
