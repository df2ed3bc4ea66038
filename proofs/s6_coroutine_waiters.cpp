// S6, S7 and S12 for coroutine callers (async_call, detail/async.hpp): the waiter node in the
// awaiting frame, the gate that decides who resumes it, and the flight's driver of an
// asynchronous loader. Real C++20 coroutines run on the model's threads; a coroutine's frame is
// allocated and freed through Relacy's allocator, so a node touched after its frame is gone is
// reported as an access to freed memory, and a frame never freed as a leak.
//
// s6_coroutine_followers_resumed_once — a thread leader whose fn returns once a coroutine
// follower is on its way (so the close races the follower's enlist and suspension), and a
// second coroutine follower whose stop token its own thread requests (so its departure races
// the close too). Each coroutine must finish exactly once: resumed by the close with the
// flight's value, by its own departure with `cancelled`, or not suspended at all.
//
// s4_coroutine_leader_shared_is_exact — a coroutine leader of an asynchronous loader reads its
// shared() from the state word after the close (SHARED), and a thread caller's failed join may set
// JOINED after DONE: shared() must be true exactly when the thread joined.
//
// s12_coroutine_leader_leaves — a coroutine leader with an asynchronous loader that takes the
// flight's token, which leaves (its stop token requested by its own thread) while a coroutine
// follower waits and a third thread completes the loader. The follower must never receive the
// answer of a stopped loader (fn's token is requested only when nobody waits, S12), and both
// coroutines finish exactly once.
#include <coroutine>
#include <cstdint>

#include "model.hpp"

namespace sfmodel {
namespace {

constexpr int kAborted = -1;

// A coroutine started at once and never awaited; its frame is freed when its body ends.
struct detached {
  struct promise_type {
    detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { RL_ASSERT(!"a model coroutine let an exception out"); }
  };
};

// A one-shot event with one waiter (the flight's driver): set() resumes it on the setting thread.
class event {
 public:
  void set() {
    // acq_rel: the waiter's handle, and the setter's writes for the waiter.
    const std::uintptr_t prev = state_.exchange(kSet, rl::mo_acq_rel, RL_INFO);
    if (prev != kEmpty) std::coroutine_handle<>::from_address(reinterpret_cast<void*>(prev)).resume();
  }
  struct awaiter {
    event& e;
    int value;
    bool await_ready() { return e.state_.load(rl::mo_acquire, RL_INFO) == kSet; }
    bool await_suspend(std::coroutine_handle<> h) {
      std::uintptr_t expected = kEmpty;
      return e.state_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(h.address()),
                                              rl::mo_acq_rel, RL_INFO, rl::mo_acquire, RL_INFO);
    }
    int await_resume() const noexcept { return value; }
  };

 private:
  static constexpr std::uintptr_t kEmpty = 0;
  static constexpr std::uintptr_t kSet = 1;
  rl::atomic<std::uintptr_t> state_{kEmpty};
};

// What a coroutine caller saw, in the suite (not in its frame, which is freed when it ends).
struct outcome {
  rl::atomic<int> finished{0};
  rl::var<int> value;
  rl::var<bool> cancelled;
  rl::var<bool> shared;
};

template <class Group, class F>
detached follower(Group& g, F fn, outcome& out) {
  const auto r = co_await g.async_call(0, fn);
  out.value($) = r.value();
  out.finished.fetch_add(1, rl::mo_release, $);
}

template <class Group, class F>
detached stoppable(Group& g, F fn, sfd::model_stop_token stop, outcome& out) {
  try {
    const auto r = co_await g.async_call(0, fn, stop);
    out.value($) = r.value();
    out.shared($) = r.shared();
    out.cancelled($) = false;
  } catch (const sf::cancelled&) {
    out.cancelled($) = true;
  }
  out.finished.fetch_add(1, rl::mo_release, $);
}

struct s6_coroutine_followers_resumed_once : rl::test_suite<s6_coroutine_followers_resumed_once, 3> {
  group<int> g;
  stop_source stop;
  flag calling;
  outcome plain, leaving;

  void thread(unsigned me) {
    if (me == 0) {  // a thread leader: returns as soon as a coroutine is on its way
      const auto r = g.call(0, [&] {
        calling.wait();
        return 1;
      });
      const int v = r.value();  // it may have joined a coroutine's flight
      RL_ASSERT(v == 1 || v == 2 || v == 3);
    } else if (me == 1) {
      calling.set();
      follower(g, [] { return 2; }, plain);
    } else {
      stoppable(g, [] { return 3; }, stop.get_token(), leaving);
      stop.request_stop();  // the departure runs here, racing the close
    }
  }

  void after() {
    RL_ASSERT(plain.finished.load(rl::mo_acquire, $) == 1);
    RL_ASSERT(leaving.finished.load(rl::mo_acquire, $) == 1);
    const int v = plain.value($);
    RL_ASSERT(v == 1 || v == 2 || v == 3);
  }
};

struct s12_coroutine_leader_leaves : rl::test_suite<s12_coroutine_leader_leaves, 3> {
  group<int> g;
  stop_source stop;
  event loaded;
  flag led;
  outcome leader, other;

  void thread(unsigned me) {
    if (me == 0) {  // leads with an asynchronous loader that answers kAborted once stopped
      auto loader = [this](const sfd::model_stop_token& token) {
        led.set();
        return stopped_or(token);
      };
      stoppable(g, loader, stop.get_token(), leader);
      stop.request_stop();
    } else if (me == 1) {
      led.wait();
      follower(g, [] { return 2; }, other);
    } else {  // completes the loader
      led.wait();
      loaded.set();
    }
  }

  // The loader: awaits `loaded`, then answers kAborted if its token was requested meanwhile.
  struct stopped_or_awaiter {
    event::awaiter inner;
    sfd::model_stop_token token;
    bool await_ready() { return inner.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return inner.await_suspend(h); }
    int await_resume() const { return token.stop_requested() ? kAborted : 1; }
  };
  stopped_or_awaiter stopped_or(const sfd::model_stop_token& token) {
    return {event::awaiter{loaded, 1}, token};
  }

  void after() {
    RL_ASSERT(leader.finished.load(rl::mo_acquire, $) == 1);
    RL_ASSERT(other.finished.load(rl::mo_acquire, $) == 1);
    // The follower either joined the flight (then it waited, and the loader was not stopped at
    // its completion... unless it completed after the follower had its answer: impossible, the
    // answer is the loader's) or led a flight of its own (2).
    const int v = other.value($);
    RL_ASSERT(v == 1 || v == 2);
  }
};

// A coroutine leader of an asynchronous loader alone or with one thread caller, which may join,
// or find the record just as it closes and lead a flight of its own. The leader is woken, not
// closing, so it reads its shared() from the word: it must be true exactly when the thread
// joined (S4), though a failed join may still set JOINED after DONE.
struct s4_coroutine_leader_shared_is_exact
    : rl::test_suite<s4_coroutine_leader_shared_is_exact, 3> {
  group<int> g;
  stop_source never;  // a token that is never stopped: the leader cannot leave
  event loaded;
  flag led;
  outcome leader;
  rl::var<int> thread_value;

  void thread(unsigned me) {
    if (me == 0) {
      stoppable(g, [this] {
        led.set();
        return event::awaiter{loaded, 1};
      }, never.get_token(), leader);
    } else if (me == 1) {
      led.wait();
      thread_value($) = g.call(0, [] { return 2; }).value();
    } else {
      led.wait();
      loaded.set();
    }
  }

  void after() {
    RL_ASSERT(leader.finished.load(rl::mo_acquire, $) == 1);
    RL_ASSERT(leader.shared($) == (thread_value($) == 1));
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool once = run<s6_coroutine_followers_resumed_once>(
        "s6_coroutine_followers_resumed_once", "S6+S7+S10", s,
        {{"suspend_despite_close", rl::test_result_user_assert_failed},
         {"suspend_despite_close", rl::test_result_memory_leak},
         {"resume_without_gate", rl::test_result_data_race},
         {"gate_peek_relaxed", rl::test_result_data_race},
         {"stop_resumes_listed_node", rl::test_result_access_to_freed_memory},
         {"stop_resumes_listed_node", rl::test_result_data_race},
         {"stop_resumes_listed_node", rl::test_result_user_assert_failed}});
    const bool leaves = run<s12_coroutine_leader_leaves>(
        "s12_coroutine_leader_leaves", "S7+S12", s,
        {{"abandon_while_caller_waits", rl::test_result_user_assert_failed},
         {"suspend_despite_close", rl::test_result_user_assert_failed},
         {"suspend_despite_close", rl::test_result_memory_leak}});
    const bool shared = run<s4_coroutine_leader_shared_is_exact>(
        "s4_coroutine_leader_shared_is_exact", "S4", s,
        {{"shared_from_joined", rl::test_result_user_assert_failed}});
    return once && leaves && shared;
  });
}
