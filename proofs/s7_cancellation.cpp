// S7: cancellation. Two models.
//
// s7_stop_wakes_waiter — a follower parked on a flight whose leader cannot finish until that
// follower has returned; a third thread requests the follower's stop. The stop callback must
// signal the follower's own parker so that it wakes, sees its stop and throws `cancelled`;
// otherwise nothing can ever wake it and the model deadlocks.
//
// s7_stop_races_publication — a leader whose fn returns as soon as the stop has been requested,
// a follower with a stop token, and the thread requesting the stop, in every order: the follower either receives the flight's
// value (or leads a flight of its own) or throws `cancelled`, and the stop callback, which may
// still be running on the stopping thread while the follower returns, never touches a parker or
// a record that is gone (every record is freed as soon as its last holder lets go; Relacy checks
// each access to freed memory, and leaks).
#include "model.hpp"

namespace sfmodel {
namespace {

struct s7_stop_wakes_waiter : rl::test_suite<s7_stop_wakes_waiter, 3> {
  group<int> g;
  stop_source stop;
  flag leader_running, follower_calling, follower_returned;

  void thread(unsigned me) {
    if (me == 0) {  // the leader
      const auto r = g.call(0, [&] {
        leader_running.set();
        follower_returned.wait();
        return 1;
      });
      RL_ASSERT(r.value() == 1 && r.leader());
    } else if (me == 1) {  // the follower: the flight is registered, and cannot end before it returns
      leader_running.wait();
      follower_calling.set();
      bool cancelled = false;
      try {
        (void)g.call(0, [] { return 2; }, stop.get_token());
      } catch (const sf::cancelled&) {
        cancelled = true;
      }
      RL_ASSERT(cancelled);
      follower_returned.set();
    } else {  // requests the stop while the follower is on its way to parking, or parked
      follower_calling.wait();
      stop.request_stop();
    }
  }
};

struct s7_stop_races_publication : rl::test_suite<s7_stop_races_publication, 3> {
  group<int> g;
  stop_source stop;
  flag follower_calling;

  void thread(unsigned me) {
    if (me == 0) {  // the leader: returns once the stop has been requested (its callback may
                    // not have run yet), so the flight ends while the stopper is mid-request
      const auto r = g.call(0, [&] {
        follower_calling.wait();
        while (!stop.get_token().stop_requested()) rl::yield(1, RL_INFO);
        return 1;
      });
      RL_ASSERT(r.value() == 1 || r.value() == 2);  // it may have joined the follower's flight
    } else if (me == 1) {
      follower_calling.set();
      bool cancelled = false;
      int value = 0;
      try {
        const auto r = g.call(0, [] { return 2; }, stop.get_token());
        value = r.value();
      } catch (const sf::cancelled&) {
        cancelled = true;
      }
      RL_ASSERT(cancelled || value == 1 || value == 2);
    } else {  // requests the stop while the flight ends
      follower_calling.wait();
      stop.request_stop();
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool wakes = run<s7_stop_wakes_waiter>(
        "s7_stop_wakes_waiter", "S7", s, {{"stop_wakes_nobody", rl::test_result_deadlock}});
    const bool races = run<s7_stop_races_publication>(
        "s7_stop_races_publication", "S7+S10", s,
        {{"leave_despite_close", rl::test_result_access_to_freed_memory},
         {"leave_despite_close", rl::test_result_destroying_owned_mutex}});
    return wakes && races;
  });
}
