// S12: abandonment. Three models; in each, fn takes the flight's stop token, and a deadline is a
// model alarm that a model thread rings.
//
// s12_stop_only_when_nobody_waits — a leader with a deadline whose fn works until its token is
// requested or it is released, a follower that may have a deadline of its own (the clock rings
// it, or not), and the clock, which rings the leader's deadline, maybe the follower's, then
// releases fn. fn answers `kAborted` if its token was requested. No follower may ever receive
// that answer: a follower that receives the outcome was waiting at the close, and fn's token
// must not be requested while a caller waits. The leader's outcome is fn's, whichever it is.
//
// s12_leader_deadline_stops_fn — a lone leader with a deadline whose fn waits for its token and
// nothing else: something must request it when the deadline passes while fn runs, or the model
// deadlocks.
//
// s12_abandoned_flight_is_left_alone — a leader whose deadline rings while fn waits for its
// token (so the flight is abandoned), a later caller that must start a new flight (it may never
// join the abandoned one) while the abandoned fn still runs, and a third caller that comes once
// the abandoned flight has ended: the newer flight must still be registered then (the abandoned
// flight's completion removes only itself), so the third caller's fn never overlaps the newer
// flight's.
#include "model.hpp"

namespace sfmodel {
namespace {

constexpr int kAborted = -1;

// fn's side: waits until its token is requested or `release` is set; kAborted if stopped.
int work_until_stopped_or(const sfd::model_stop_token& token, flag* release, int value) {
  flag woken;
  auto wake = [&woken]() noexcept { woken.set(); };
  const sfd::model_stop_callback<decltype(wake)> on_stop(token, wake);
  if (release != nullptr) {
    while (!woken.is_set() && !release->is_set()) rl::yield(1, RL_INFO);
  } else {
    woken.wait();
  }
  return token.stop_requested() ? kAborted : value;
}

struct s12_stop_only_when_nobody_waits : rl::test_suite<s12_stop_only_when_nobody_waits, 3> {
  group<int> g;
  sfd::model_alarm leader_alarm, follower_alarm;
  flag running, release;
  bool follower_has_deadline = false;

  void before() {
    sfd::model_alarm_slot(0) = &leader_alarm;
    sfd::model_alarm_slot(1) = &follower_alarm;
  }

  void thread(unsigned me) {
    if (me == 0) {  // the leader, with a deadline
      const auto r = g.call_until(0, [&](const sfd::model_stop_token& t) {
        running.set();
        return work_until_stopped_or(t, &release, 1);
      }, alarm_time(0));
      RL_ASSERT(r.leader() && (r.value() == 1 || r.value() == kAborted));
    } else if (me == 1) {  // the follower, with or without a deadline
      running.wait();
      try {
        const auto r = g.call_until(0, [](const sfd::model_stop_token&) { return 2; }, alarm_time(1));
        RL_ASSERT(r.value() != kAborted);  // fn was stopped while this caller waited
      } catch (const sf::deadline_exceeded&) {
      }
    } else {  // the clock, then the release
      running.wait();
      leader_alarm.ring();
      if (rl::rand(2) == 0) follower_alarm.ring();
      release.set();
    }
  }
};

struct s12_leader_deadline_stops_fn : rl::test_suite<s12_leader_deadline_stops_fn, 2> {
  group<int> g;
  sfd::model_alarm alarm;
  flag running;

  void before() { sfd::model_alarm_slot(0) = &alarm; }

  void thread(unsigned me) {
    if (me == 0) {
      const auto r = g.call_until(0, [&](const sfd::model_stop_token& t) {
        running.set();
        return work_until_stopped_or(t, nullptr, 1);
      }, alarm_time(0));
      RL_ASSERT(r.value() == kAborted && r.leader());
    } else {
      running.wait();
      alarm.ring();
    }
  }
};

struct s12_abandoned_flight_is_left_alone : rl::test_suite<s12_abandoned_flight_is_left_alone, 3> {
  group<int> g;
  sfd::model_alarm alarm;
  flag running, stopped, abandoned_returned, newer_running_flag, third_calling;
  rl::atomic<int> newer_running{0};

  void before() { sfd::model_alarm_slot(0) = &alarm; }

  void thread(unsigned me) {
    if (me == 0) {  // the abandoned flight: its deadline rings while fn waits for its token
      const auto r = g.call_until(0, [&](const sfd::model_stop_token& t) {
        running.set();
        const int v = work_until_stopped_or(t, nullptr, 1);
        stopped.set();             // the flight is abandoned: a new caller may come
        newer_running_flag.wait();  // and lead a newer flight before this one ends
        return v;
      }, alarm_time(0));
      RL_ASSERT(r.value() == kAborted);
      abandoned_returned.set();
    } else if (me == 1) {  // the clock, then a caller that must lead a new flight
      running.wait();
      alarm.ring();
      stopped.wait();
      const auto r = g.call(0, [&] {
        newer_running.store(1, rl::mo_relaxed, RL_INFO);  // relaxed: read by this model's asserts only
        newer_running_flag.set();
        third_calling.wait();
        newer_running.store(0, rl::mo_relaxed, RL_INFO);
        return 2;
      });
      RL_ASSERT(r.value() == 2 && r.leader());
    } else {  // comes once the abandoned flight has ended and the newer one is running
      abandoned_returned.wait();
      newer_running_flag.wait();
      third_calling.set();
      const auto r = g.call(0, [&] {
        RL_ASSERT(newer_running.load(rl::mo_relaxed, RL_INFO) == 0);  // two live flights for one key
        return 3;
      });
      RL_ASSERT(r.value() == 2 || r.value() == 3);
    }
  }
};

}  // namespace
}  // namespace sfmodel

int main(int argc, char** argv) {
  using namespace sfmodel;
  return model_main(argc, argv, random_search(), [](const search& s) {
    const bool nobody = run<s12_stop_only_when_nobody_waits>(
        "s12_stop_only_when_nobody_waits", "S12", s,
        {{"abandon_while_caller_waits", rl::test_result_user_assert_failed}});
    const bool agent = run<s12_leader_deadline_stops_fn>(
        "s12_leader_deadline_stops_fn", "S12", s,
        {{"leader_deadline_ignored", rl::test_result_deadlock}});
    const bool alone = run<s12_abandoned_flight_is_left_alone>(
        "s12_abandoned_flight_is_left_alone", "S1+S12", s,
        // A later caller that joins the abandoned flight never leads the newer one that the
        // abandoned fn waits for: a deadlock (or, joined after fn returned, a wrong value).
        {{"abandoned_accepts_joiner", rl::test_result_deadlock},
         {"abandoned_accepts_joiner", rl::test_result_user_assert_failed},
         {"erase_by_key", rl::test_result_user_assert_failed}});
    return nobody && agent && alone;
  });
}
