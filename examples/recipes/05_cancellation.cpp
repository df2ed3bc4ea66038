// Recipe 5 — give up waiting with a std::stop_token; the load runs on.
//
// Pattern: a request handler that must not wait longer than its client does. Go selects on
// DoChan's channel and ctx.Done(); here the caller passes a stop_token, and call() throws
// singleflight::cancelled as soon as stop is requested (S7). Only that caller leaves: the leader
// is never cancelled and runs its loader to the end, and every other caller still gets the
// value. A std::jthread hands its body a token that its destructor requests, so a handler thread
// torn down mid-wait leaves cleanly.
//
// Acceptance: a follower whose stop is requested while the loader is still running throws
// cancelled, and returns before the loader finishes (the test holds the loader until then, so
// "promptly" is checked without a clock); the loader then runs to completion exactly once; the
// leader and an uncancelled follower get its value.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <latch>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "recipe.hpp"

namespace {

using namespace std::chrono_literals;

struct user {
  int id;
  std::string name;
};

// Go's GetUserCtx(ctx, id): the value, or singleflight::cancelled once `stop` is requested.
template <class Load>
singleflight::result<user> get_user(singleflight::group<int, user>& users, int id, Load&& load,
                                    std::stop_token stop) {
  return users.call(id, std::forward<Load>(load), std::move(stop));
}

}  // namespace

int main() {
  singleflight::group<int, user> users;
  std::latch loader_started(1), release_loader(1);
  std::atomic<int> loads_finished{0}, follower_loads{0};
  auto slow_load = [&] {
    loader_started.count_down();
    release_loader.wait();  // the slow query: runs until the test lets it finish
    loads_finished.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after joins
    return user{42, "user-42"};
  };
  // A follower's loader never runs: the flight it joins has a leader already.
  auto unused_load = [&] {
    follower_loads.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after joins
    return user{-1, "never"};
  };

  std::optional<singleflight::result<user>> leader_got, patient_got;
  std::jthread leader([&] { leader_got = get_user(users, 42, slow_load, {}); });
  loader_started.wait();  // the flight for 42 is registered and its loader is running

  recipe::crowd patient_crowd(1);  // so that the test releases the loader only once it joined
  std::jthread patient([&] {
    patient_crowd.arrive();
    patient_got = get_user(users, 42, unused_load, {});
  });

  // The impatient follower: its stop_token comes from the jthread that runs it.
  std::atomic<bool> was_cancelled{false};
  std::jthread impatient([&](std::stop_token stop) {
    try {
      get_user(users, 42, unused_load, stop);
    } catch (const singleflight::cancelled&) {
      was_cancelled.store(true, std::memory_order_relaxed);  // relaxed: read after the join
    }
  });
  std::this_thread::sleep_for(20ms);  // not needed for the checks: lets it park first, as in life
  impatient.request_stop();
  impatient.join();
  recipe::check(was_cancelled.load(std::memory_order_relaxed),
                "the impatient follower threw singleflight::cancelled");
  recipe::check_eq(loads_finished.load(std::memory_order_relaxed), 0,
                   "loads finished when it returned (it did not wait for the load)");

  patient_crowd.wait_for_everyone();
  release_loader.count_down();
  leader.join();
  patient.join();
  recipe::check_eq(loads_finished.load(std::memory_order_relaxed), 1,
                   "loads finished in the end (the loader ran on)");
  recipe::check_eq(follower_loads.load(std::memory_order_relaxed), 0, "followers' loaders run");
  recipe::check(leader_got && leader_got->leader() && (*leader_got)->name == "user-42",
                "the leader got user-42");
  recipe::check(patient_got && !patient_got->leader() && (*patient_got)->name == "user-42",
                "the patient follower got user-42");
  return recipe::verdict();
}
