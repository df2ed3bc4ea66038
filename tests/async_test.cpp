// Coroutine callers (async_call): they coalesce with each other and with thread callers in both
// directions, an asynchronous loader is awaited by the flight, a coroutine that leaves wakes
// nobody and does not stop the loader for the others, the loader is stopped when every caller
// left (S12), and ten thousand followers of one flight are resumed one after the other.
#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

// ---- a minimal coroutine toolkit: the library ships none, on purpose --------------------------

// A coroutine that starts at once and is never awaited. Its frame is freed by the test once the
// body has finished; one still suspended when the test ends (a failure) is leaked, not destroyed,
// since its frame may still be linked into a flight.
class spawned {
 public:
  struct promise_type {
    spawned get_return_object() {
      return spawned(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  spawned(spawned&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  spawned& operator=(spawned&&) = delete;
  ~spawned() {
    if (h_ && h_.done()) h_.destroy();
  }

 private:
  explicit spawned(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// A one-shot event that coroutines await; set() resumes them on the setting thread.
class event {
 public:
  bool await_ready() {
    std::lock_guard lock(mu_);
    return set_;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    std::lock_guard lock(mu_);
    if (set_) return false;
    waiting_.push_back(h);
    return true;
  }
  void await_resume() noexcept {}

  void set() {
    std::vector<std::coroutine_handle<>> resume;
    {
      std::lock_guard lock(mu_);
      set_ = true;
      resume.swap(waiting_);
    }
    for (auto h : resume) h.resume();
  }

 private:
  std::mutex mu_;
  bool set_ = false;
  std::vector<std::coroutine_handle<>> waiting_;
};

// An asynchronous loader: awaits `ready`, then yields `value` (or throws, if `fails`).
struct later {
  event* ready;
  int value;
  bool fails = false;

  bool await_ready() { return ready->await_ready(); }
  bool await_suspend(std::coroutine_handle<> h) { return ready->await_suspend(h); }
  int await_resume() {
    if (fails) throw std::runtime_error("origin down");
    return value;
  }
};

// A lazy coroutine that yields a T: the task type an asynchronous loader is often written in.
template <class T>
class lazy {
 public:
  struct promise_type {
    std::optional<T> value;
    std::exception_ptr error;
    std::coroutine_handle<> continuation;

    lazy get_return_object() { return lazy(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        return h.promise().continuation;
      }
      void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_value(T v) { value.emplace(std::move(v)); }
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  lazy(lazy&& other) noexcept : h_(std::exchange(other.h_, nullptr)) {}
  lazy& operator=(lazy&&) = delete;
  ~lazy() {
    if (h_) h_.destroy();
  }

  bool await_ready() noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    h_.promise().continuation = caller;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return std::move(*h_.promise().value);
  }

 private:
  explicit lazy(std::coroutine_handle<promise_type> h) : h_(h) {}
  std::coroutine_handle<promise_type> h_;
};

// What one coroutine caller saw.
struct seen {
  std::atomic<bool> finished{false};
  std::optional<singleflight::result<int>> r;
  std::exception_ptr error;
  std::thread::id resumed_on;

  // Waits until the caller's coroutine has finished (at most `patience`).
  [[nodiscard]] bool wait_patiently() {
    const auto give_up = std::chrono::steady_clock::now() + patience;
    while (!finished.load()) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::yield();
    }
    return true;
  }
  int value() const { return **r; }
};

template <class Group, class F>
spawned async_caller(Group& g, int key, F fn, seen& out) {
  try {
    out.r.emplace(co_await g.async_call(key, std::move(fn)));
  } catch (...) {
    out.error = std::current_exception();
  }
  out.resumed_on = std::this_thread::get_id();
  out.finished.store(true);
}

template <class Group, class F>
spawned async_caller(Group& g, int key, F fn, std::stop_token stop, seen& out) {
  try {
    out.r.emplace(co_await g.async_call(key, std::move(fn), std::move(stop)));
  } catch (...) {
    out.error = std::current_exception();
  }
  out.resumed_on = std::this_thread::get_id();
  out.finished.store(true);
}

template <class E>
bool threw(const seen& s) {
  if (!s.error) return false;
  try {
    std::rethrow_exception(s.error);
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

template <class Impl>
class async_call : public ::testing::Test {};
TYPED_TEST_SUITE(async_call, implementations);

using singleflight::cancelled;

TYPED_TEST(async_call, lone_coroutine_caller_runs_fn_inline_and_is_the_unshared_leader) {
  group_for<TypeParam, int, int> g;
  seen s;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [] { return 7; }, s));
  ASSERT_TRUE(s.finished.load()) << "a leader with an fn that returns a value suspended";
  EXPECT_EQ(s.value(), 7);
  EXPECT_TRUE(s.r->leader());
  EXPECT_FALSE(s.r->shared());
}

TYPED_TEST(async_call, coroutine_callers_of_one_key_share_one_asynchronous_loader) {
  constexpr int kCallers = 16;
  group_for<TypeParam, int, int> g;
  event ready;
  std::atomic<int> loads{0};
  auto fn = [&] {
    ++loads;
    return later{&ready, 42};
  };
  std::vector<seen> s(kCallers);
  std::vector<spawned> callers;
  for (auto& one : s) callers.push_back(async_caller(g, 1, fn, one));
  for (auto& one : s) EXPECT_FALSE(one.finished.load()) << "a caller did not wait for the loader";
  ready.set();
  EXPECT_EQ(loads.load(), 1);
  int leaders = 0;
  for (auto& one : s) {
    ASSERT_TRUE(one.finished.load());
    ASSERT_TRUE(one.r) << "a caller failed";
    EXPECT_EQ(&one.r->value(), &s[0].r->value()) << "callers got different value objects (S3)";
    EXPECT_TRUE(one.r->shared());
    leaders += one.r->leader();
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(*g.call(1, [] { return 5; }), 5) << "the key stayed registered after the loader";
}

TYPED_TEST(async_call, coroutine_followers_of_a_thread_leader_resume_on_its_thread) {
  group_for<TypeParam, int, int> g;
  gate release;
  held_leader<int> leader(g, 1, release, [] { return 9; });
  seen a, b;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [] { return -1; }, a));
  callers.push_back(async_caller(g, 1, [] { return -1; }, b));
  EXPECT_FALSE(a.finished.load());
  EXPECT_FALSE(b.finished.load());
  const auto& led = leader.finish();
  ASSERT_TRUE(a.wait_patiently() && b.wait_patiently());
  for (seen* one : {&a, &b}) {
    ASSERT_TRUE(one->r);
    EXPECT_EQ(one->value(), 9);
    EXPECT_EQ(&one->r->value(), &led.value());
    EXPECT_FALSE(one->r->leader());
    EXPECT_NE(one->resumed_on, std::this_thread::get_id())
        << "a follower was resumed elsewhere than on the completing thread";
  }
  EXPECT_TRUE(led.shared());
}

TYPED_TEST(async_call, thread_followers_wait_for_a_coroutine_leaders_asynchronous_loader) {
  constexpr int kThreads = 3;
  group_for<TypeParam, int, int> g;
  event ready;
  seen lead;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [&] { return later{&ready, 11}; }, lead));
  arrivals arrived;
  std::vector<std::optional<singleflight::result<int>>> got(kThreads);
  {
    std::vector<std::jthread> threads;
    for (auto& r : got) {
      threads.emplace_back([&] {
        arrived.arrive();
        r.emplace(g.call(1, [] { return -1; }));
      });
    }
    arrived.wait_for(kThreads);
    grace_period();
    std::jthread completer([&] { ready.set(); });  // the loader completes on another thread
  }
  ASSERT_TRUE(lead.wait_patiently());
  ASSERT_TRUE(lead.r);
  EXPECT_TRUE(lead.r->leader());
  for (auto& r : got) {
    EXPECT_EQ(**r, 11);
    EXPECT_EQ(&r->value(), &lead.r->value()) << "a thread caller led a flight of its own";
  }
  EXPECT_TRUE(lead.r->shared());
}

TYPED_TEST(async_call, exception_of_an_asynchronous_loader_reaches_every_caller_and_frees_the_key) {
  group_for<TypeParam, int, int> g;
  event ready;
  seen a, b;
  std::vector<spawned> callers;
  auto fn = [&] { return later{&ready, 0, /*fails=*/true}; };
  callers.push_back(async_caller(g, 1, fn, a));
  callers.push_back(async_caller(g, 1, fn, b));
  ready.set();
  ASSERT_TRUE(a.finished.load() && b.finished.load());
  EXPECT_TRUE(threw<std::runtime_error>(a));
  EXPECT_TRUE(threw<std::runtime_error>(b));
  EXPECT_EQ(*g.call(1, [] { return 3; }), 3) << "the key stayed wedged after the exception (S6)";
}

TYPED_TEST(async_call, fn_that_throws_before_returning_a_loader_fails_the_flight_for_its_callers) {
  group_for<TypeParam, int, int> g;
  seen s;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, []() -> later { throw std::logic_error("no loader"); }, s));
  ASSERT_TRUE(s.finished.load());
  EXPECT_TRUE(threw<std::logic_error>(s));
  EXPECT_EQ(*g.call(1, [] { return 4; }), 4);
}

TYPED_TEST(async_call, stopped_coroutine_follower_leaves_at_once_and_the_flight_goes_on) {
  group_for<TypeParam, int, int> g;
  event ready;
  std::atomic<int> loads{0};
  auto fn = [&] {
    ++loads;
    return later{&ready, 8};
  };
  seen lead, leaver, stayer;
  std::stop_source stop = new_stop_source();
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, fn, lead));
  callers.push_back(async_caller(g, 1, fn, stop.get_token(), leaver));
  callers.push_back(async_caller(g, 1, fn, stayer));
  stop.request_stop();  // resumes the leaver here, in the requesting thread
  ASSERT_TRUE(leaver.finished.load()) << "a stopped coroutine kept waiting";
  EXPECT_TRUE(threw<cancelled>(leaver));
  EXPECT_FALSE(lead.finished.load() || stayer.finished.load()) << "leaving woke another caller";
  ready.set();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(lead.value(), 8);
  EXPECT_EQ(stayer.value(), 8);
}

TYPED_TEST(async_call, stopped_coroutine_leader_leaves_and_its_loader_goes_on_for_the_others) {
  group_for<TypeParam, int, int> g;
  event ready;
  std::atomic<int> loads{0};
  std::atomic<bool> loader_stopped{false};
  auto fn = [&](std::stop_token token) {
    ++loads;
    loader_stopped = token.stop_requested();
    return later{&ready, 6};
  };
  seen lead, follower;
  std::stop_source stop = new_stop_source();
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, fn, stop.get_token(), lead));
  callers.push_back(async_caller(g, 1, fn, follower));
  stop.request_stop();
  ASSERT_TRUE(lead.finished.load());
  EXPECT_TRUE(threw<cancelled>(lead)) << "a coroutine leader that left must leave like a follower";
  EXPECT_FALSE(follower.finished.load());
  ready.set();
  ASSERT_TRUE(follower.finished.load());
  EXPECT_EQ(follower.value(), 6);
  EXPECT_FALSE(follower.r->leader());
  EXPECT_EQ(loads.load(), 1);
}

TYPED_TEST(async_call, coroutine_lambda_loader_keeps_its_captures_after_its_leader_left) {
  struct canary {  // what the loader captures; poisoned when destroyed
    int v = 40;
    canary() = default;
    canary(const canary&) = default;
    ~canary() { v = -1; }
  };
  group_for<TypeParam, int, int> g;
  event ready;
  seen lead, follower;
  std::stop_source stop = new_stop_source();
  std::optional<spawned> leader;
  {
    auto loader = [c = canary(), r = &ready]() -> lazy<int> {
      const int zero = co_await later{r, 0};
      co_return c.v + 2 + zero;  // reads the lambda's capture after the leader's frame is gone
    };
    leader.emplace(async_caller(g, 1, loader, stop.get_token(), lead));
  }
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [&] { return later{&ready, -1}; }, follower));
  stop.request_stop();
  ASSERT_TRUE(lead.finished.load());
  EXPECT_TRUE(threw<cancelled>(lead));
  leader.reset();  // frees the leader's frame, and its copy of the loader's lambda
  ready.set();
  ASSERT_TRUE(follower.finished.load());
  ASSERT_TRUE(follower.r);
  EXPECT_EQ(follower.value(), 42) << "the loader read a capture of a lambda that was gone";
}

TYPED_TEST(async_call, loader_is_stopped_when_every_coroutine_caller_left_and_the_key_starts_anew) {
  group_for<TypeParam, int, int> g;
  event ready;
  std::stop_token loader_token;
  auto fn = [&](std::stop_token token) {
    loader_token = token;
    return later{&ready, 1};
  };
  seen a, b;
  std::stop_source stop_a = new_stop_source(), stop_b = new_stop_source();
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, fn, stop_a.get_token(), a));
  callers.push_back(async_caller(g, 1, fn, stop_b.get_token(), b));
  stop_a.request_stop();
  EXPECT_FALSE(loader_token.stop_requested()) << "the loader was stopped while a caller waited";
  stop_b.request_stop();
  EXPECT_TRUE(loader_token.stop_requested()) << "nobody waits, yet the loader was not stopped";
  EXPECT_TRUE(threw<cancelled>(a) && threw<cancelled>(b));
  // The abandoned flight takes no new caller: this one leads a new flight, inline.
  seen c;
  callers.push_back(async_caller(g, 1, [] { return 2; }, c));
  ASSERT_TRUE(c.finished.load());
  EXPECT_EQ(c.value(), 2);
  EXPECT_TRUE(c.r->leader());
  ready.set();  // the abandoned loader completes; its flight must not remove anything
  EXPECT_EQ(*g.call(1, [] { return 3; }), 3);
}

TYPED_TEST(async_call, token_stopped_before_the_call_throws_before_joining_or_starting_anything) {
  group_for<TypeParam, int, int> g;
  std::stop_source stop = new_stop_source();
  stop.request_stop();
  std::atomic<int> loads{0};
  seen s;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [&] { return ++loads; }, stop.get_token(), s));
  EXPECT_TRUE(threw<cancelled>(s));
  EXPECT_EQ(loads.load(), 0);
}

TYPED_TEST(async_call, another_coroutine_on_the_leaders_thread_joins_an_asynchronous_flight) {
  group_for<TypeParam, int, int> g;
  event ready;
  seen a, b;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [&] { return later{&ready, 5}; }, a));
  // Same thread, while the loader is suspended: not a reentry (S11), an ordinary follower.
  callers.push_back(async_caller(g, 1, [] { return -1; }, b));
  EXPECT_FALSE(b.error) << "a second coroutine on the leader's thread was refused";
  ready.set();
  EXPECT_EQ(a.value(), 5);
  EXPECT_EQ(b.value(), 5);
}

TYPED_TEST(async_call, fn_run_inline_by_a_coroutine_leader_that_calls_its_own_key_is_refused) {
  group_for<TypeParam, int, int> g;
  seen s;
  std::vector<spawned> callers;
  callers.push_back(async_caller(g, 1, [&] { return *g.call(1, [] { return 0; }); }, s));
  EXPECT_TRUE(threw<singleflight::reentrant_call>(s));
}

TYPED_TEST(async_call, ten_thousand_followers_of_one_flight_are_all_resumed_once) {
  constexpr int kCallers = 10'000;
  group_for<TypeParam, int, int> g;
  event ready;
  std::vector<seen> s(kCallers);
  std::vector<spawned> callers;
  callers.reserve(kCallers);
  for (auto& one : s) callers.push_back(async_caller(g, 1, [&] { return later{&ready, 3}; }, one));
  std::jthread completer([&] { ready.set(); });
  completer.join();
  int leaders = 0;
  for (auto& one : s) {
    ASSERT_TRUE(one.finished.load());
    ASSERT_EQ(one.value(), 3);
    leaders += one.r->leader();
  }
  EXPECT_EQ(leaders, 1);
}

TYPED_TEST(async_call, ten_thousand_flights_in_progress_at_once_each_end_with_their_own_value) {
  constexpr int kFlights = 10'000;  // sf-stress's many_flights workload holds 100,000 (S13)
  group_for<TypeParam, int, int> g;
  event ready;
  std::atomic<int> loads{0};
  std::vector<seen> s(2 * kFlights);
  std::vector<spawned> callers;
  callers.reserve(2 * kFlights);
  for (int key = 0; key < kFlights; ++key) {  // every flight registered and waiting
    callers.push_back(async_caller(g, key, [&, key] {
      ++loads;
      return later{&ready, key};
    }, s[key]));
  }
  for (int key = 0; key < kFlights; ++key) {  // a second caller joins each of them
    callers.push_back(async_caller(g, key, [&] { return later{&ready, -1}; }, s[kFlights + key]));
  }
  EXPECT_EQ(loads.load(), kFlights);
  ready.set();
  for (int i = 0; i < 2 * kFlights; ++i) {
    ASSERT_TRUE(s[i].finished.load());
    ASSERT_TRUE(s[i].r) << "caller " << i << " failed";
    ASSERT_EQ(s[i].value(), i % kFlights);
    ASSERT_TRUE(s[i].r->shared());
  }
}

}  // namespace
}  // namespace sftest
