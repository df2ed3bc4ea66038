// Recipe 5 — a request handler with a time budget: call_for, and a loader that stops once nobody
// is waiting for it.
//
// Pattern: each request has a budget, and its handler answers within it, with the value or with a
// timeout (HTTP 504, gRPC DEADLINE_EXCEEDED). In Go the handler selects on DoChan's channel and
// ctx.Done(): it leaves, but the load runs on for nobody, and a load that uses the first caller's
// ctx fails for every caller when that one caller gives up. Here the handler calls
// `call_for(key, load, budget)`:
//   - A follower whose budget runs out throws singleflight::deadline_exceeded at once (S7). The
//     load and the other callers carry on, and no other caller is even woken.
//   - The leader runs the load on its own thread, so its outcome is always the load's, never
//     deadline_exceeded. A load that takes a std::stop_token is told when no caller is waiting
//     any more (S12): every follower has left, and the leader's budget has passed or its own stop
//     token (here: the client hung up) was requested. The load then stops early and returns or
//     throws what it likes, and the leader gets that. Until then the load runs, so it stops at
//     the latest budget of the callers still waiting.
//   - From that moment the flight takes no new callers: the next request starts a new load, even
//     while the abandoned one is still winding down.
// call_until(key, load, deadline) is the same with an absolute deadline on any clock (the
// request's arrival plus its budget, say). A load that takes no stop token runs to the end, as
// in every other recipe.
//
// Acceptance, with the loads held by the test, so nothing depends on how fast this machine is:
//   1. A follower whose budget runs out gets a 504 while the load is still held ("promptly",
//      checked without a clock); the load's token is not requested, since the leader still
//      waits; when the load is let go, the leader and a patient follower get its value, from one
//      load.
//   2. Followers whose budgets run out leave the load alone while the leader waits; when the
//      leader's client hangs up, nobody waits, the load's token is requested, and the leader gets
//      the load's own answer (load_abandoned), not `cancelled`. While that load is still winding
//      down, a new request for the key starts a new load and gets its value.
//   3. A lone handler whose budget runs out stops its load: the token is requested (no earlier
//      than the budget: a lower bound, which slowness cannot break), and the handler answers 504.
#include <singleflight/singleflight.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

#include "recipe.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct user {
  int id;
  std::string name;
};

// What a load throws when it stopped because nobody was waiting for it any more.
struct load_abandoned : std::runtime_error {
  load_abandoned() : std::runtime_error("the load was stopped: no request was waiting for it") {}
};

// The slow profile service, held by the test: a load runs until the test lets it answer, or
// until its stop token is requested. A stopped load then winds down (closing a connection,
// say) until the test lets it finish, and throws load_abandoned.
class profile_service {
 public:
  user load(int id, std::stop_token stop) {
    std::unique_lock lock(m_);
    ++started_;
    changed_.notify_all();
    // Returns early, false, when `stop` is requested. The 30 s are a safety net for a broken
    // library, after which the checks fail instead of the recipe hanging.
    if (!answer_.wait_for(lock, stop, 30s, [&] { return answering_; })) {
      if (stop.stop_requested()) {
        ++stopped_;
        stopped_at_ = steady::now();
      }
      changed_.notify_all();
      changed_.wait(lock, [&] { return wound_down_; });
      throw load_abandoned();
    }
    ++answered_;
    return user{id, "user-" + std::to_string(id)};
  }

  // The test's side.
  void wait_until_started(int loads) {
    std::unique_lock lock(m_);
    changed_.wait_for(lock, 30s, [&] { return started_ >= loads; });
  }
  void wait_until_stopped(int loads) {
    std::unique_lock lock(m_);
    changed_.wait_for(lock, 30s, [&] { return stopped_ >= loads; });
  }
  void let_loads_answer() {
    std::lock_guard lock(m_);
    answering_ = true;
    answer_.notify_all();
  }
  void let_stopped_loads_finish() {
    std::lock_guard lock(m_);
    wound_down_ = true;
    changed_.notify_all();
  }
  int started() {
    std::lock_guard lock(m_);
    return started_;
  }
  int stopped() {
    std::lock_guard lock(m_);
    return stopped_;
  }
  int answered() {
    std::lock_guard lock(m_);
    return answered_;
  }
  std::optional<steady::time_point> stopped_at() {
    std::lock_guard lock(m_);
    return stopped_at_;
  }

 private:
  std::mutex m_;
  std::condition_variable_any answer_;   // the loads wait here, with their stop tokens
  std::condition_variable_any changed_;  // everything else
  bool answering_ = false, wound_down_ = false;
  int started_ = 0, stopped_ = 0, answered_ = 0;
  std::optional<steady::time_point> stopped_at_;
};

struct response {
  int status = 0;  // 200, or 504 when the budget ran out
  std::string body;
  bool led = false;  // this request ran the load (for the checks; a real handler has no use for it)
};

// The handler: GET /users/<id>, answered within `budget`. `client` is requested when the client
// hangs up (a request with no such signal passes a default std::stop_token, which never stops).
response get_user(singleflight::group<int, user>& users, int id, profile_service& service,
                  std::chrono::milliseconds budget, std::stop_token client = {}) {
  try {
    const singleflight::result<user> r = users.call_for(
        id, [&](std::stop_token stop) { return service.load(id, std::move(stop)); }, budget,
        std::move(client));
    return {200, r->name, r.leader()};
  } catch (const singleflight::deadline_exceeded&) {  // a follower whose budget ran out
    return {504, "budget spent waiting for the load"};
  } catch (const singleflight::cancelled&) {  // a follower whose client hung up
    return {499, "client closed the request"};
  } catch (const load_abandoned&) {  // the leader: nobody waited any more, the load stopped
    return {504, "the load was stopped: nobody was waiting for it", true};
  }
}

// 1. A follower whose budget runs out leaves at once; the load runs on for the others.
void a_follower_leaves() {
  std::printf("1. a follower's budget runs out:\n");
  singleflight::group<int, user> users;
  profile_service service;
  response leader_got, patient_got;
  std::jthread leader([&] { leader_got = get_user(users, 1, service, 1min); });
  service.wait_until_started(1);  // the flight for 1 is registered and its load is running

  recipe::crowd patient_crowd(1);  // so that the test lets the load answer only once it joined
  std::jthread patient([&] {
    patient_crowd.arrive();
    patient_got = get_user(users, 1, service, 1min);
  });

  // The impatient request, on this thread: it returns only by its budget, since the load is held.
  const response impatient = get_user(users, 1, service, 20ms);
  recipe::check_eq(impatient.status, 504, "the impatient follower's status");
  recipe::check_eq(service.answered(), 0, "loads answered when it returned (it did not wait)");
  recipe::check_eq(service.stopped(), 0, "loads stopped (the leader and the patient one wait)");

  patient_crowd.wait_for_everyone();
  service.let_loads_answer();
  leader.join();
  patient.join();
  recipe::check_eq(service.started(), 1, "loads started");
  recipe::check_eq(service.answered(), 1, "loads answered (the load ran on)");
  recipe::check(leader_got.status == 200 && leader_got.led && leader_got.body == "user-1",
                "the leader: 200, user-1");
  recipe::check(patient_got.status == 200 && !patient_got.led && patient_got.body == "user-1",
                "the patient follower: 200, user-1");
}

// 2. The load is stopped when, and only when, nobody waits for it any more; the next request
// starts a new one.
void everybody_gives_up() {
  std::printf("2. every caller gives up, the last one when its client hangs up:\n");
  singleflight::group<int, user> users;
  profile_service service;
  std::stop_source client;  // the leader's connection
  std::optional<response> leader_got;
  std::jthread leader([&] { leader_got = get_user(users, 2, service, 1min, client.get_token()); });
  service.wait_until_started(1);

  int timed_out = 0;
  for (int i = 0; i < 3; ++i) timed_out += get_user(users, 2, service, 10ms).status == 504;
  recipe::check_eq(timed_out, 3, "followers answered 504 when their budgets ran out");
  recipe::check_eq(service.stopped(), 0, "loads stopped while the leader still waits");

  client.request_stop();  // the last caller gives up: nobody waits for the load any more
  service.wait_until_stopped(1);
  recipe::check_eq(service.stopped(), 1, "loads stopped once the leader's client hung up");

  // The abandoned load is still winding down, and its leader still inside call_for; a new
  // request does not join that flight: it starts a new load.
  response next;
  std::jthread next_request([&] { next = get_user(users, 2, service, 1min); });
  service.wait_until_started(2);
  recipe::check_eq(service.started(), 2, "loads started, the new request's included");
  recipe::check(!leader_got.has_value(), "the first leader is still waiting for its load");
  service.let_loads_answer();
  next_request.join();
  recipe::check(next.status == 200 && next.led && next.body == "user-2",
                "the new request led a new flight: 200, user-2");

  service.let_stopped_loads_finish();
  leader.join();
  recipe::check(leader_got && leader_got->status == 504 && leader_got->led,
                "the first leader got its load's own answer, load_abandoned (a 504)");
}

// 3. A lone request whose budget runs out: its load is stopped at the budget.
void a_budget_runs_out() {
  std::printf("3. a lone request's budget runs out:\n");
  singleflight::group<int, user> users;
  profile_service service;
  service.let_stopped_loads_finish();  // nothing to wind down here
  const auto start = steady::now();
  const response got = get_user(users, 3, service, 30ms);
  recipe::check_eq(got.status, 504, "the request's status");
  recipe::check(got.led, "it was the leader, and got its load's answer");
  recipe::check_eq(service.stopped(), 1, "loads stopped");
  recipe::check_eq(service.answered(), 0, "loads answered");
  const std::optional<steady::time_point> at = service.stopped_at();
  recipe::check(at && *at - start >= 30ms, "the load was stopped no earlier than the budget");
}

}  // namespace

int main() {
  a_follower_leaves();
  everybody_gives_up();
  a_budget_runs_out();
  return recipe::verdict();
}
