// S7: a follower's deadline, which races the leader's close. Two models.
//
// s7_deadline_races_close — a leader whose fn returns once the follower is on its way, a
// follower with a deadline (a model alarm), and a thread that may ring that alarm or may not
// (the model checker tries both). The follower either receives the flight's value (or leads a
// flight of its own) or throws `deadline_exceeded`, and only if the alarm rang. If its alarm
// never rings, only the close can wake it: a close that misses a listed follower (a lost
// wake-up) leaves it parked for ever, which Relacy reports as a deadlock. A follower that leaves
// must not return while the close may still signal its parker, which lives on its stack: Relacy
// reports the parker destroyed while the close holds its mutex, or the close's use of it after.
//
// s7_deadline_leaves_alone — a leader held until its follower has returned, and a follower with
// a deadline that rings: the follower must leave on its own (nothing else can end the flight).
#include "model.hpp"

namespace sfmodel {
namespace {

struct s7_deadline_races_close : rl::test_suite<s7_deadline_races_close, 3> {
  group<int> g;
  sfd::model_alarm alarm;
  flag follower_calling;
  rl::atomic<int> rang{0};

  void before() { sfd::model_alarm_slot(0) = &alarm; }

  void thread(unsigned me) {
    if (me == 0) {  // the leader
      const auto r = g.call(0, [&] {
        follower_calling.wait();
        return 1;
      });
      RL_ASSERT(r.value() == 1 || r.value() == 2);  // it may have joined the follower's flight
    } else if (me == 1) {  // the follower, with a deadline
      follower_calling.set();
      try {
        const auto r = g.call_until(0, [] { return 2; }, alarm_time(0));
        RL_ASSERT(r.value() == 1 || r.value() == 2);
      } catch (const sf::deadline_exceeded&) {
        RL_ASSERT(rang.load(rl::mo_relaxed, RL_INFO) == 1);  // relaxed: the alarm's own (M2) orders it
      }
    } else {  // the clock: the deadline passes during the call, or never
      follower_calling.wait();
      if (rl::rand(2) == 0) {
        rang.store(1, rl::mo_relaxed, RL_INFO);
        alarm.ring();
      }
    }
  }
};

struct s7_deadline_leaves_alone : rl::test_suite<s7_deadline_leaves_alone, 3> {
  group<int> g;
  sfd::model_alarm alarm;
  flag leader_running, follower_calling, follower_returned;

  void before() { sfd::model_alarm_slot(0) = &alarm; }

  void thread(unsigned me) {
    if (me == 0) {  // the leader cannot finish before the follower has returned
      const auto r = g.call(0, [&] {
        leader_running.set();
        follower_returned.wait();
        return 1;
      });
      RL_ASSERT(r.value() == 1 && r.leader());
    } else if (me == 1) {
      leader_running.wait();
      follower_calling.set();
      bool exceeded = false;
      try {
        (void)g.call_until(0, [] { return 2; }, alarm_time(0));
      } catch (const sf::deadline_exceeded&) {
        exceeded = true;
      }
      RL_ASSERT(exceeded);
      follower_returned.set();
    } else {  // the deadline passes while the follower is on its way to parking, or parked
      follower_calling.wait();
      alarm.ring();
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool races = run<s7_deadline_races_close>(
        "s7_deadline_races_close", "S6+S7+S10", s,
        {{"enlist_checks_done_first", rl::test_result_deadlock},
         {"leave_despite_close", rl::test_result_access_to_freed_memory},
         {"leave_despite_close", rl::test_result_destroying_owned_mutex}});
    const bool alone = run<s7_deadline_leaves_alone>("s7_deadline_leaves_alone", "S7", s, {});
    return races && alone;
  });
}
