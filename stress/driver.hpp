// sf-stress: how a run drives a group, written once for every implementation.
//
// A run starts its worker threads together, lets them call until the run's end (a number of
// requests, a duration, or the last scheduled arrival; or a SIGINT or SIGTERM, after which no
// call starts and the calls in flight finish), joins them, and then checks what can only be
// checked once everything is quiet: every key is free again (S6), and every key, value and
// exception object the run created is gone (S10).
//
// Each call is checked where it returns, against the stamp of the flight it received (tracked.hpp):
//   S3  the stamp is for the key asked for; a caller that ran fn received that very execution;
//       an exception arrives as the one object fn threw, its type intact.
//   S4  leader() is true exactly when this caller ran fn (the stamp's destructor checks the
//       per-flight counts: one leader, shared() agreeing with the number of receivers).
//   S5  a follower never joins a flight that a finished forget() of its key had removed.
//   S7  `cancelled` reaches only callers whose stop was requested, never the one that ran fn, and
//       promptly; a stopped caller does not keep waiting for the flight; a token stopped before
//       the call cancels it before it joins or runs anything.
// and fn checks S1 as it starts (key_book). The deadline workload has a checked call of its own
// (deadline_call), which adds deadlines to S7 and checks abandonment (S12). The coroutine
// workloads (coro, wide) call async_call from coroutines on an event loop (loop.hpp) and check
// what they receive with the same code (check_value, check_exception); wide also counts the
// flights it holds in progress at once (S13).
#pragma once

#if __has_include(<malloc.h>)
#include <malloc.h>  // malloc_trim, with glibc
#endif

#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#include <singleflight/singleflight.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cancel_timer.hpp"
#include "checks.hpp"
#include "clock.hpp"
#include "interrupt.hpp"
#include "loop.hpp"
#include "monitor.hpp"
#include "run.hpp"
#include "tracked.hpp"
#include "worker.hpp"

namespace sfstress {

// What the threads of one run share.
struct run_env {
  const run_spec& spec;
  run_checks& checks;
  key_book& book;
  cancel_timer* timer;  // churn with cancellations, and deadline, only
  std::latch start;
  // Relaxed: only tells the workers to stop looping (the run's time is up, or it could not start
  // all its threads); what they did reaches the main thread through join.
  std::atomic<bool> stop{false};
  // Relaxed: hands out request or arrival numbers; nothing else is published through them.
  std::atomic<std::uint64_t> next{0};
  std::int64_t base_ns = 0;  // written before `start` is released, read after

  run_env(const run_spec& s, run_checks& c, key_book& b, cancel_timer* t, std::ptrdiff_t threads)
      : spec(s), checks(c), book(b), timer(t), start(threads + 1) {}

  void report(invariant which, const std::string& message) { checks.found.report(which, message); }

  // Checked before each call: the run's end, or a signal (which ends it early).
  bool stopping() const noexcept {
    return stop.load(std::memory_order_relaxed) || interrupted() != 0;  // see `stop`
  }
};

inline std::string key_name(std::uint64_t key) { return "key " + std::to_string(key); }

inline std::int64_t draw_fn_ns(const fn_spec& fn, worker& w) {
  if (fn.max_ns == fn.min_ns) return fn.min_ns;
  return fn.min_ns + static_cast<std::int64_t>(w.below(static_cast<std::uint64_t>(fn.max_ns - fn.min_ns) + 1));
}

// Sleeps or spins (as fn does) until `until`.
inline void work_until(const fn_spec& fn, std::int64_t until) {
  if (fn.how == fn_spec::kind::spin) {
    spin_until_ns(until);
  } else {
    sleep_until_ns(until);
  }
}

// Checks shared by a value and an exception received by a caller of `key`. `led_flight`: the
// flight whose fn this caller ran (or started, for an asynchronous loader), or 0.
inline void check_receipt(run_env& env, std::uint64_t led_flight, std::uint64_t key,
                          const flight_facts& got, std::uint64_t forgets_finished_at_call,
                          std::int64_t call_end, const char* what) {
  if (got.key != key) {
    env.report(invariant::s3, "a call for " + key_name(key) + " received the " + what + " of " +
                                  flight_name(got.flight) + ", which ran for " + key_name(got.key));
    return;
  }
  if (led_flight != 0) {
    if (got.flight != led_flight) {
      env.report(invariant::s3, "the caller that ran fn as " + flight_name(led_flight) + " (" +
                                    key_name(key) + ") received the " + what + " of " +
                                    flight_name(got.flight));
    }
    return;
  }
  if (got.fn_start_ns > call_end) {
    env.report(invariant::s3, "a follower of " + key_name(key) + " received the " + what + " of " +
                                  flight_name(got.flight) + ", whose fn started after the call "
                                  "had returned");
  }
  // A forget that began after this flight's fn started, and finished before this call began,
  // removed the flight (or found it gone already): this call cannot have joined it.
  if (env.book.with_forget() && forgets_finished_at_call > got.forgets_at_start) {
    env.report(invariant::s5, "a follower of " + key_name(key) + " joined " +
                                  flight_name(got.flight) + " although a forget() of the key "
                                  "begun after that flight started had finished before the call");
  }
}

// A call that threw what no caller of the workload may receive (S3). Called from a handler: it
// rethrows the exception in flight to name it.
inline void report_unexpected(run_env& env, worker& w, std::uint64_t key, std::int64_t t0) {
  w.latency.record(now_ns() - t0);
  try {
    throw;
  } catch (const std::exception& e) {
    env.report(invariant::s3, "a call for " + key_name(key) + " threw an unexpected " +
                                  "exception: " + e.what());
  } catch (...) {
    env.report(invariant::s3, "a call for " + key_name(key) + " threw something that is not a "
                                  "std::exception");
  }
}

// A call that threw `cancelled` (S7): only a caller whose stop was requested, never the one that
// ran fn (`ran_fn`: the flight whose fn this caller ran in its own call, or 0; a coroutine leader
// of an asynchronous loader waits like a follower and may leave), and within --cancel-bound of
// the request.
inline void check_cancelled(run_env& env, worker& w, std::uint64_t key, const cancel_ticket* ticket,
                            std::int64_t t0, std::int64_t t1, std::uint64_t ran_fn) {
  ++w.cancelled;
  w.latency.record(t1 - t0);
  w.cancelled_calls.push_back({key, t0, t1});
  if (ran_fn != 0) {
    env.report(invariant::s7, "the caller that ran fn for " + key_name(key) + " (" +
                                  flight_name(ran_fn) + ") was cancelled; the leader "
                                  "must run fn to the end and return its outcome");
  }
  if (ticket == nullptr) {
    env.report(invariant::s7, "a call for " + key_name(key) + " without a stop_token threw "
                                  "cancelled");
    return;
  }
  // Acquire: pairs with the release in cancel_ticket::request(), for the time it wrote.
  const std::int64_t requested = ticket->requested_ns.load(std::memory_order_acquire);
  if (requested == 0) {
    env.report(invariant::s7, "a call for " + key_name(key) + " threw cancelled, but its "
                                  "stop was never requested");
    return;
  }
  const std::int64_t latency = std::max<std::int64_t>(0, t1 - requested);
  w.cancel_latency.record(latency);
  if (latency > env.spec.cancel_bound_ns) {
    env.report(invariant::s7, "a cancelled call for " + key_name(key) + " returned " +
                                  format_ns(static_cast<double>(latency)) +
                                  " after its stop was requested");
  }
}

// A new execution of fn for `key`, started now by a caller on worker `w` whose call began at
// `call_ns`: its stamp, with a flight number unique in the run.
inline flight_facts begin_flight(worker& w, std::uint64_t key, std::int64_t call_ns,
                                 std::uint64_t forgets_at_start) {
  flight_facts f;
  f.fn_start_ns = now_ns();
  f.flight = (std::uint64_t{w.index} << 40) | ++w.flight_seq;
  f.key = key;
  f.leader_call_ns = call_ns;
  f.forgets_at_start = forgets_at_start;
  ++w.flights;
  return f;
}

// The end of an execution of fn: stamps its publication, counts its time, and throws
// flight_failure if it is to `fail`.
inline void end_flight(worker& w, flight_facts& f, bool fail) {
  f.publish_ns = now_ns();
  w.fn_time_ns += f.publish_ns - f.fn_start_ns;
  if (fail) {
    ++w.failed_flights;
    throw flight_failure(f);
  }
}

// What a checked call knows about itself when its outcome arrives.
struct call_facts {
  std::uint64_t key = 0;
  std::int64_t t0 = 0;  // when the call began
  std::uint64_t forgets_finished_at_call = 0;
  const cancel_ticket* ticket = nullptr;  // the call's stop_source, or null
  bool prestopped = false;                // its token was stopped before the call began
  std::uint64_t led_flight = 0;           // the flight whose fn this call ran, or 0
  // A coroutine leader of an asynchronous loader: it started fn but then waited for the flight
  // like a follower, so it may leave (S7), and must never receive an aborted outcome (S12).
  bool led_waiting = false;
};

// Checks shared by a value and an exception (`what`) that reached a caller: S3 and S5
// (check_receipt), S7 (a token stopped before the call, or a stop honoured late), S12 (an
// aborted outcome reaches no caller that waited for it).
inline void check_outcome(run_env& env, worker& w, const call_facts& c, const flight_facts& got,
                          std::int64_t t1, const char* what) {
  const bool ran_fn = c.led_flight != 0;
  const bool waited = !ran_fn || c.led_waiting;
  check_receipt(env, c.led_flight, c.key, got, c.forgets_finished_at_call, t1, what);
  w.latency.record(t1 - c.t0);
  if (got.aborted && waited) {
    env.report(invariant::s12, (ran_fn ? "the leader of " + key_name(c.key) +
                                             ", which waited for its asynchronous loader,"
                                       : "a follower of " + key_name(c.key)) +
                                   " received the aborted " + what + " of " +
                                   flight_name(got.flight) + ": fn's stop token was requested "
                                   "while this caller waited for it");
  }
  if (c.ticket == nullptr) return;
  if (c.prestopped) {
    env.report(invariant::s7, "a call for " + key_name(c.key) + " whose token was stopped "
                                  "before it began received the " + what + " of " +
                                  flight_name(got.flight) + " instead of throwing cancelled");
  } else if (waited) {
    // Acquire: pairs with the release in cancel_ticket::request(), for the time it wrote.
    const std::int64_t requested = c.ticket->requested_ns.load(std::memory_order_acquire);
    if (requested != 0 && t1 - requested > env.spec.cancel_bound_ns) {
      env.report(invariant::s7, "a follower of " + key_name(c.key) + " kept waiting " +
                                    format_ns(static_cast<double>(t1 - requested)) +
                                    " after its stop was requested");
    }
  }
}

// A call that received the flight's value `r` (a result), checked: check_outcome, and S4
// (leader() is whether it ran fn).
template <class Result>
void check_value(run_env& env, worker& w, const call_facts& c, const Result& r, std::int64_t t1) {
  const tracked_value& v = r.value();
  const bool ran_fn = c.led_flight != 0;
  check_outcome(env, w, c, v.facts, t1, "value");
  if (r.leader() != ran_fn) {
    env.report(invariant::s4, "a call for " + key_name(c.key) + " that " +
                                  (ran_fn ? "ran" : "did not run") + " fn was told leader() == " +
                                  (r.leader() ? "true" : "false") + " (" +
                                  flight_name(v.facts.flight) + ")");
  }
  if (!ran_fn) {
    ++w.followers;
    w.wake.record(t1 - v.facts.publish_ns);
  }
  v.receive(r.leader(), r.shared(), c.t0, t1);
}

// A call that threw, checked; called from a handler, it rethrows the exception in flight to
// tell fn's exception (check_outcome) from `cancelled` (check_cancelled) and from anything else
// (report_unexpected). Returns the stamp of fn's exception, which lives as long as the handler
// that called this, or null.
inline const flight_facts* check_exception(run_env& env, worker& w, const call_facts& c,
                                           std::int64_t t1) {
  try {
    throw;
  } catch (const flight_failure& e) {
    check_outcome(env, w, c, e.facts, t1, "exception");
    e.receive(c.led_flight != 0, false, c.t0, t1);
    w.graveyard.push_back(std::current_exception());
    ++w.failure_receipts;
    return &e.facts;
  } catch (const singleflight::cancelled&) {
    check_cancelled(env, w, c.key, c.ticket, c.t0, t1, c.led_waiting ? 0 : c.led_flight);
  } catch (...) {
    report_unexpected(env, w, c.key, c.t0);
  }
  return nullptr;
}

// One call for `key`, checked. `ticket`: the call's stop_source (churn's cancellations), or null.
template <class Group>
void call_once(Group& g, worker& w, std::uint64_t key, run_env& env,
               const std::shared_ptr<cancel_ticket>& ticket, bool prestopped) {
  const run_spec& spec = env.spec;
  key_book& book = env.book;
  call_facts c;
  c.key = key;
  c.forgets_finished_at_call = book.with_forget() ? book.forgets_finished(key) : 0;
  c.ticket = ticket.get();
  c.prestopped = prestopped;
  w.key.id = key;
  w.led_flight = 0;
  c.t0 = now_ns();
  w.progress.begin(progress_slot::calling, key, c.t0);

  auto fn = [&]() -> tracked_value {
    flight_facts f = begin_flight(w, key, c.t0, book.with_forget() ? book.forgets_begun(key) : 0);
    w.led_flight = f.flight;
    book.enter(key, f.flight, c.forgets_finished_at_call, env.checks.found);
    const std::int64_t until = f.fn_start_ns + draw_fn_ns(spec.fn, w);
    work_until(spec.fn, until);
    book.leave(key, f.flight);
    end_flight(w, f, spec.fail > 0 && w.uniform01() < spec.fail);
    return tracked_value(f);
  };

  try {
    auto r = ticket ? g.call(w.key, fn, ticket->source.get_token()) : g.call(w.key, fn);
    const std::int64_t t1 = now_ns();
    c.led_flight = w.led_flight;
    check_value(env, w, c, r, t1);
  } catch (...) {
    const std::int64_t t1 = now_ns();
    c.led_flight = w.led_flight;
    check_exception(env, w, c, t1);
  }
  ++w.calls;
  w.progress.end(w.calls);
}

// ---- deadline: deadlines, timed stops, and loaders that may be abandoned (S7, S12) ----

// How far from now a deadline or a timed stop lies: within [min·D, max·D], uniformly or
// log-normally (median sqrt(min·max)·D, σ = ln(max/min)/4, so the range is ±2σ; clipped to it).
inline std::int64_t draw_deadline_ns(const run_spec& spec, worker& w) {
  const deadline_params& p = spec.deadline;
  const double d = static_cast<double>(spec.d_ns);
  const double lo = p.min_d * d;
  const double hi = p.max_d * d;
  double x = 0;
  if (p.how == deadline_params::spread::lognormal && lo > 0) {
    const double median = std::sqrt(lo * hi);
    const double sigma = std::log(hi / lo) / 4;
    x = std::clamp(median * std::exp(sigma * w.normal01()), lo, hi);
  } else {
    x = lo + (hi - lo) * w.uniform01();
  }
  return static_cast<std::int64_t>(x);
}

// One call of the deadline workload, checked. The caller draws its kind (a deadline only, a
// timed stop only, both, or neither), its deadline (call_for or call_until; now and then one
// that has passed already), and whether its fn, which runs only if it leads, takes a stop token;
// calls; and checks what it got:
//   S7  deadline_exceeded reaches only a caller with a deadline, never the one that ran fn, not
//       before its deadline and no later than the bound after it; `cancelled` only a caller
//       whose stop was requested, within --cancel-bound; a deadline passed before the call
//       throws before joining or running anything; a follower that received the outcome did
//       not keep waiting longer than the bound past its deadline.
//   S12 fn's token is requested only when no caller waits: an aborted outcome (fn stopped by its
//       token) never reaches a follower, and when fn sees its token requested, its own leader
//       has left (its deadline passed, or its stop was requested). And it is requested when
//       nobody waits: the stoppable fn of a flight that never had a follower stops within the
//       bound once its leader left.
// (The timestamps are the harness's own: a deadline is taken as the time read just before the
// call plus the timeout, which the library's own deadline is never earlier than. So "not before
// its deadline" is exact, and lateness includes the moment between that reading and the
// library's.)
template <class Group>
void deadline_call(Group& g, worker& w, std::uint64_t key, run_env& env) {
  const run_spec& spec = env.spec;
  const deadline_params& p = spec.deadline;
  key_book& book = env.book;

  const double kind = w.uniform01();
  const bool neither = kind < p.none;
  const bool token_only = !neither && kind < p.none + p.token;
  const bool both = !neither && !token_only && kind < p.none + p.token + p.both;
  const bool has_deadline = !neither && !token_only;
  const bool until = has_deadline && w.uniform01() < p.until;
  const bool expired = has_deadline && w.uniform01() < p.expired;
  const bool stoppable = w.uniform01() < p.stoppable;
  const std::int64_t timeout_ns = has_deadline && !expired ? draw_deadline_ns(spec, w) : 0;
  if (neither) ++w.with_neither;
  if (token_only) ++w.with_token;
  if (both) ++w.with_both;
  if (has_deadline && !both) ++w.with_deadline;
  if (until) ++w.until;
  if (expired) ++w.expired;
  std::shared_ptr<cancel_ticket> ticket;
  if (token_only || both) {
    ticket = std::make_shared<cancel_ticket>();
    ++w.stop_requests;
    ticket->due_ns = now_ns() + draw_deadline_ns(spec, w);
    env.timer->schedule(ticket);
  }
  // Acquire: pairs with the release in cancel_ticket::request(), for the time it wrote.
  auto requested_at = [&] {
    return ticket ? ticket->requested_ns.load(std::memory_order_acquire) : std::int64_t{0};
  };

  call_facts c;
  c.key = key;
  c.forgets_finished_at_call = book.with_forget() ? book.forgets_finished(key) : 0;
  c.ticket = ticket.get();
  w.key.id = key;
  w.led_flight = 0;
  const std::int64_t t0 = c.t0 = now_ns();
  const std::int64_t deadline_ns = t0 + timeout_ns;  // with has_deadline
  w.progress.begin(progress_slot::calling, key, t0);

  // The loader. With a token, it works in steps of --deadline-poll and stops early, returning
  // (or throwing) an outcome marked aborted, once the token is requested.
  // A loader that ends normally throws (flight_failure) with probability --coro-fail (the coro
  // workload's thread callers; 0 in the deadline workload).
  auto body = [&](const std::stop_token* st) -> tracked_value {
    flight_facts f = begin_flight(w, key, t0, book.with_forget() ? book.forgets_begun(key) : 0);
    w.led_flight = f.flight;
    book.enter(key, f.flight, c.forgets_finished_at_call, env.checks.found,
               st != nullptr ? *st : std::stop_token());
    const std::int64_t planned = draw_fn_ns(spec.fn, w);
    const std::int64_t end = f.fn_start_ns + planned;
    std::int64_t stopped_at = 0;
    if (st == nullptr) {
      work_until(spec.fn, end);
    } else {
      for (;;) {
        const std::int64_t now = now_ns();
        if (now >= end) break;
        if (st->stop_requested()) {
          stopped_at = now_ns();
          break;
        }
        work_until(spec.fn, std::min(end, now + p.poll_ns));
      }
      ++w.stoppable_flights;
    }
    book.leave(key, f.flight);
    if (stopped_at == 0) {
      end_flight(w, f, spec.fail > 0 && w.uniform01() < spec.fail);
      return tracked_value(f);
    }
    end_flight(w, f, false);

    f.aborted = true;
    ++w.abandoned_flights;
    w.abandoned_ran_ns += f.publish_ns - f.fn_start_ns;
    w.abandoned_planned_ns += planned;
    // S12: the token was requested, so no caller waited, this fn's leader included: its
    // deadline had passed (the library's deadline is never earlier than deadline_ns) or its stop
    // had been requested.
    const bool deadline_passed = has_deadline && stopped_at >= deadline_ns;
    if (!deadline_passed && requested_at() == 0) {
      env.report(invariant::s12,
                 "the stop token of " + flight_name(f.flight) + " (" + key_name(key) +
                     ") was requested while its leader still waited: " +
                     (has_deadline ? "its deadline was " +
                                         format_ns(static_cast<double>(deadline_ns - stopped_at)) +
                                         " away"
                                   : std::string("it had no deadline")) +
                     (ticket ? " and its stop had not been requested" : " and no stop token"));
    }
    if (p.abort_throws) throw flight_failure(f);
    return tracked_value(f);
  };

  auto issue = [&](auto&& fn) {
    if (has_deadline) {
      if (until) {
        const std::chrono::steady_clock::time_point at{std::chrono::nanoseconds(deadline_ns)};
        return ticket ? g.call_until(w.key, fn, at, ticket->source.get_token())
                      : g.call_until(w.key, fn, at);
      }
      const std::chrono::nanoseconds timeout(timeout_ns);
      return ticket ? g.call_for(w.key, fn, timeout, ticket->source.get_token())
                    : g.call_for(w.key, fn, timeout);
    }
    return ticket ? g.call(w.key, fn, ticket->source.get_token()) : g.call(w.key, fn);
  };

  // S7, deadlines, for a caller that received the flight's outcome (a value, or fn's exception);
  // check_outcome has checked the rest.
  auto check_received = [&](std::int64_t t1, const flight_facts& got, const char* what) {
    if (expired) {
      env.report(invariant::s7, "a call for " + key_name(key) + " whose deadline had passed "
                                    "before it began received the " + what + " of " +
                                    flight_name(got.flight) + " instead of throwing "
                                    "deadline_exceeded");
    }
    if (w.led_flight == 0 && has_deadline && t1 - deadline_ns > p.bound_ns) {
      env.report(invariant::s7, "a follower of " + key_name(key) + " kept waiting " +
                                    format_ns(static_cast<double>(t1 - deadline_ns)) +
                                    " after its deadline (bound " +
                                    format_ns(static_cast<double>(p.bound_ns)) + ")");
    }
  };

  try {
    auto r = stoppable ? issue([&](std::stop_token st) -> tracked_value { return body(&st); })
                       : issue([&]() -> tracked_value { return body(nullptr); });
    const std::int64_t t1 = now_ns();
    const tracked_value& v = r.value();
    const bool ran_fn = w.led_flight != 0;
    c.led_flight = w.led_flight;
    check_value(env, w, c, r, t1);
    check_received(t1, v.facts, "value");
    // S12, the other way: a flight that never had a follower has only its leader to wait for
    // it, so once the leader has left, its stoppable fn must be told to stop.
    if (ran_fn && stoppable && !v.facts.aborted && !r.shared() && (has_deadline || ticket)) {
      std::int64_t left = has_deadline ? deadline_ns : std::numeric_limits<std::int64_t>::max();
      if (const std::int64_t requested = requested_at(); requested != 0) {
        left = std::min(left, requested);
      }
      if (left != std::numeric_limits<std::int64_t>::max() &&
          v.facts.publish_ns - left > p.bound_ns) {
        env.report(invariant::s12,
                   "the stoppable fn of " + flight_name(v.facts.flight) + " (" + key_name(key) +
                       ") ran " + format_ns(static_cast<double>(v.facts.publish_ns - left)) +
                       " after its only caller, the leader, had left (its " +
                       (has_deadline && left == deadline_ns ? "deadline passed"
                                                             : "stop was requested") +
                       "), past the bound of " + format_ns(static_cast<double>(p.bound_ns)) +
                       ": its stop token was not requested");
      }
    }
  } catch (const singleflight::deadline_exceeded&) {
    const std::int64_t t1 = now_ns();
    ++w.deadline_exceeded;
    w.latency.record(t1 - t0);
    w.cancelled_calls.push_back({key, t0, t1});
    if (w.led_flight != 0) {
      env.report(invariant::s7, "the caller that ran fn for " + key_name(key) + " (" +
                                    flight_name(w.led_flight) + ") threw deadline_exceeded; "
                                    "the leader must return fn's outcome");
    }
    if (!has_deadline) {
      env.report(invariant::s7, "a call for " + key_name(key) + " without a deadline threw "
                                    "deadline_exceeded");
    } else {
      const std::int64_t late = t1 - deadline_ns;
      w.deadline_lateness.record(std::max<std::int64_t>(0, late));
      if (late < 0) {
        env.report(invariant::s7, "a call for " + key_name(key) + " threw deadline_exceeded " +
                                      format_ns(static_cast<double>(-late)) +
                                      " before its deadline");
      } else if (late > p.bound_ns) {
        env.report(invariant::s7, "a call for " + key_name(key) + " threw deadline_exceeded " +
                                      format_ns(static_cast<double>(late)) +
                                      " after its deadline (bound " +
                                      format_ns(static_cast<double>(p.bound_ns)) + ")");
      }
    }
  } catch (...) {
    // fn's exception, `cancelled` (a token), or anything else.
    const std::int64_t t1 = now_ns();
    c.led_flight = w.led_flight;
    if (const flight_facts* got = check_exception(env, w, c, t1)) {
      check_received(t1, *got, "exception");
    }
  }
  ++w.calls;
  w.progress.end(w.calls);
}

template <class Group>
void do_forget(Group& g, worker& w, std::uint64_t key, run_env& env) {
  w.key.id = key;
  w.progress.begin(progress_slot::forgetting, key, now_ns());
  env.book.forget_begins(key);
  g.forget(w.key);
  env.book.forget_ends(key);
  ++w.forgets;
  w.progress.end(w.calls);
}

inline std::uint64_t pick_key(const run_spec& spec, worker& w) {
  if (spec.keys == 1) return 0;
  if (spec.keys_by == run_spec::pick::zipf) return spec.zipf->key_for(w.uniform01());
  return w.below(spec.keys);
}

// churn's (and coro's) cancellations: with probability --churn-cancel, a stop_source for the next
// call, stopped before it (a fraction --churn-prestopped of them, `prestopped`) or by the timer
// within --churn-cancel-delay of now; else null.
inline std::shared_ptr<cancel_ticket> draw_ticket(run_env& env, worker& w, bool& prestopped) {
  const run_spec& spec = env.spec;
  prestopped = false;
  if (spec.cancel <= 0 || w.uniform01() >= spec.cancel) return nullptr;
  auto ticket = std::make_shared<cancel_ticket>();
  ++w.stop_requests;
  if (w.uniform01() < spec.prestopped) {
    prestopped = true;
    ticket->request();
  } else {
    ticket->due_ns = now_ns() + static_cast<std::int64_t>(
                                    w.below(static_cast<std::uint64_t>(spec.cancel_delay_ns) + 1));
    env.timer->schedule(ticket);
  }
  return ticket;
}

// seed, hot, zipf, churn and deadline (and coro's thread callers): each thread calls again as
// soon as its call returns.
template <class Group>
void closed_loop(Group& g, worker& w, run_env& env) {
  const run_spec& spec = env.spec;
  tighten_timer_slack();
  env.start.arrive_and_wait();
  for (;;) {
    if (env.stopping()) break;
    if (spec.how == run_spec::drive::requests &&
        env.next.fetch_add(1, std::memory_order_relaxed) >= spec.requests) {  // see run_env
      break;
    }
    const std::uint64_t key = pick_key(spec, w);
    if (spec.forget > 0 && w.uniform01() < spec.forget) {
      do_forget(g, w, key, env);
      continue;
    }
    if (spec.deadlines) {
      deadline_call(g, w, key, env);
      continue;
    }
    bool prestopped = false;
    const std::shared_ptr<cancel_ticket> ticket = draw_ticket(env, w, prestopped);
    call_once(g, w, key, env, ticket, prestopped);
  }
}

// poisson: arrivals were scheduled in advance; each thread takes the next one, sleeps until its
// time and calls. An arrival that could not start on time (every thread was busy, or the machine
// was) is counted late. A signal during the sleep gives the arrival up (w.skipped_arrival).
template <class Group>
void open_loop(Group& g, worker& w, run_env& env) {
  const std::vector<arrival>& arrivals = *env.spec.arrivals;
  tighten_timer_slack();
  env.start.arrive_and_wait();
  for (;;) {
    if (env.stopping()) break;
    const std::uint64_t i = env.next.fetch_add(1, std::memory_order_relaxed);  // see run_env
    if (i >= arrivals.size()) break;
    const std::int64_t due = env.base_ns + arrivals[i].at_ns;
    if (!sleep_unless_interrupted(due)) {
      w.skipped_arrival = i;
      break;
    }
    const std::int64_t lateness = now_ns() - due;
    w.lateness.record(lateness);
    if (lateness > env.spec.late_ns) ++w.late;
    call_once(g, w, arrivals[i].key, env, nullptr, false);
  }
}

// After the run, with no other thread calling: a lone call on every key must lead a flight of its
// own. A key whose record was never removed would make it join a dead flight (or wait forever,
// which the watchdog reports).
template <class Group>
void sweep_keys(Group& g, worker& w, run_env& env) {
  for (std::uint64_t key = 0; key < env.spec.keys; ++key) {
    w.key.id = key;
    w.led_flight = 0;
    const std::uint64_t forgets = env.book.forgets_finished(key);  // all finished: nothing runs
    const std::int64_t t0 = now_ns();
    w.progress.begin(progress_slot::sweeping, key, t0);
    auto r = g.call(w.key, [&]() -> tracked_value {
      flight_facts f = begin_flight(w, key, t0, forgets);
      w.led_flight = f.flight;
      env.book.enter(key, f.flight, forgets, env.checks.found);
      env.book.leave(key, f.flight);
      f.publish_ns = now_ns();
      return tracked_value(f);
    });
    const std::int64_t t1 = now_ns();
    if (!r.leader() || r.shared() || r->facts.flight != w.led_flight) {
      env.report(invariant::s6, key_name(key) + " is not free after the run: a lone call " +
                                    (r.leader() ? "led" : "joined") + " " +
                                    flight_name(r->facts.flight) + " with shared() == " +
                                    (r.shared() ? "true" : "false"));
    }
    r->receive(r.leader(), r.shared(), t0, t1);
    w.progress.end(0);
  }
}

// ---- coro and wide: coroutine callers of async_call, on an event loop (loop.hpp) ----
//
// A coroutine caller runs on its home loop thread: it draws what to do, calls `co_await
// g.async_call(key, fn[, stop])`, goes back home (the library resumes it on whichever thread
// completed its flight or requested its stop), and checks what it got as a thread caller's
// outcome is checked (check_value, check_exception), recording into its home thread's worker.
// Its fn returns its value at once (the leader runs it inline and does not suspend) or an
// asynchronous loader (async_loader), which the flight awaits; the leader then waits like a
// follower: it may leave, and must then never be the one to see an aborted outcome (call_facts).

using coroutine_result = singleflight::result<tracked_value>;

// Whether Group has the coroutine form (the mutants have not).
struct probe_fn {
  tracked_value operator()() const;
};
template <class Group>
concept has_async_call = requires(Group& g, const tracked_key& k, probe_fn fn) {
  g.async_call(k, fn);
};

// What the coroutine callers of one run share.
struct coroutine_env {
  coroutine_env(const run_spec& spec, std::vector<worker*> loop_workers)
      : loop(spec.loop_threads),
        workers(std::move(loop_workers)),
        slots(std::make_unique<progress_slot[]>(spec.coroutines)),
        callers(spec.coroutines) {
    if (spec.gated) opened.emplace(loop);
  }

  event_loop loop;
  std::vector<worker*> workers;             // workers[i]: loop thread i's, written there only
  std::unique_ptr<progress_slot[]> slots;   // one per caller, for the watchdog
  const std::uint64_t callers;
  std::optional<gate> opened;               // wide: every loader waits for it
  std::uint64_t spawned = 0;                // written by the main thread only
  std::int64_t opened_ns = 0;               // wide: when the gate opened (main thread only)
  // Release by each caller as its last act; acquire by the main thread, which then knows that
  // the caller's frame holds nothing of the run's any more.
  std::atomic<std::uint64_t> finished{0};
  // Relaxed: counts for the report and for wide's checks, which read them after a fence.
  std::atomic<std::int64_t> in_call{0}, peak_in_call{0};
  std::atomic<std::uint64_t> loaders{0};  // asynchronous loaders started
};

// An asynchronous loader: it waits D on the loop's timer (wide: for the gate), woken early by
// its stop token if it takes one (`stoppable`), then yields its flight's stamp: a value (marked
// aborted if its token stopped it) or flight_failure (with probability --coro-fail). It runs on
// its leader's home loop thread from start to end (the timer, the gate and the stop callback all
// post it back there), so it may write that thread's worker; what it needs from its leader's call
// it holds by value, since the leader may leave, and its frame end, before the loader does.
inline task<flight_facts> async_loader(run_env& env, coroutine_env& ce, worker& w, flight_facts f,
                                       std::uint64_t forgets_finished_at_call,
                                       std::int64_t planned, bool fail, bool stoppable,
                                       std::stop_token token,
                                       std::shared_ptr<cancel_ticket> leader_ticket) {
  key_book& book = env.book;
  book.enter(f.key, f.flight, forgets_finished_at_call, env.checks.found, token);
  ce.loaders.fetch_add(1, std::memory_order_relaxed);  // see coroutine_env
  bool stopped = false;
  if (ce.opened) {
    co_await *ce.opened;
  } else if (stoppable) {
    ++w.stoppable_flights;
    stopped = co_await stoppable_sleep(ce.loop, f.fn_start_ns + planned, token);
  } else {
    co_await sleep_until{ce.loop, f.fn_start_ns + planned};
  }
  book.leave(f.key, f.flight);
  end_flight(w, f, fail && !stopped);
  if (stopped) {
    f.aborted = true;
    ++w.abandoned_flights;
    w.abandoned_ran_ns += f.publish_ns - f.fn_start_ns;
    w.abandoned_planned_ns += planned;
    // S12: the token was requested, so no caller waited, the leader included, which waits (as a
    // coroutine awaiting its loader) until its own stop is requested.
    // Acquire: pairs with the release in cancel_ticket::request(), for the time it wrote.
    if (!leader_ticket || leader_ticket->requested_ns.load(std::memory_order_acquire) == 0) {
      env.report(invariant::s12, "the stop token of the asynchronous loader of " +
                                     flight_name(f.flight) + " (" + key_name(f.key) +
                                     ") was requested while its leader, a coroutine, still "
                                     "waited for it: " +
                                     (leader_ticket ? "its stop had not been requested"
                                                    : "it had no stop token"));
    }
  }
  co_return f;
}

// One call of a coroutine caller for `key`, checked; `w` is its home thread's worker.
template <class Group>
task<void> coroutine_call(Group& g, run_env& env, coroutine_env& ce, worker& w,
                          progress_slot& slot, unsigned home, std::uint64_t key) {
  const run_spec& spec = env.spec;
  key_book& book = env.book;
  call_facts c;
  c.key = key;
  c.forgets_finished_at_call = book.with_forget() ? book.forgets_finished(key) : 0;
  const std::shared_ptr<cancel_ticket> ticket = draw_ticket(env, w, c.prestopped);
  c.ticket = ticket.get();
  const bool at_once = spec.inline_rate > 0 && w.uniform01() < spec.inline_rate;
  const bool stoppable = !at_once && w.uniform01() < spec.stoppable_rate;
  const bool fail = spec.fail > 0 && w.uniform01() < spec.fail;
  const std::int64_t planned = draw_fn_ns(spec.fn, w);
  const tracked_key k(key);
  std::uint64_t led = 0;  // written by fn, on this thread, before the call suspends
  c.t0 = now_ns();
  if (!spec.gated) slot.begin(progress_slot::calling, key, c.t0);  // wide: when the gate opens

  auto at_once_fn = [&]() -> tracked_value {
    flight_facts f = begin_flight(w, key, c.t0, book.with_forget() ? book.forgets_begun(key) : 0);
    led = f.flight;
    ++w.inline_leads;
    book.enter(key, f.flight, c.forgets_finished_at_call, env.checks.found);
    book.leave(key, f.flight);
    end_flight(w, f, fail);
    return tracked_value(f);
  };
  auto loader_fn = [&](std::stop_token token) {
    flight_facts f = begin_flight(w, key, c.t0, book.with_forget() ? book.forgets_begun(key) : 0);
    f.awaited = true;
    led = f.flight;
    ++w.async_leads;
    return async_loader(env, ce, w, f, c.forgets_finished_at_call, planned, fail, stoppable,
                        std::move(token), ticket);
  };
  auto plain_fn = [&] { return loader_fn(std::stop_token()); };

  std::optional<coroutine_result> r;
  std::exception_ptr error;
  raise_peak(ce.peak_in_call, ce.in_call.fetch_add(1, std::memory_order_relaxed) + 1);
  try {
    // Each async_call is awaited in the expression that makes it, as it must be (and not in a
    // conditional expression, which g++ 12 miscompiles around co_await).
    if (at_once && ticket) {
      r.emplace(co_await g.async_call(k, at_once_fn, ticket->source.get_token()));
    } else if (at_once) {
      r.emplace(co_await g.async_call(k, at_once_fn));
    } else if (stoppable && ticket) {
      r.emplace(co_await g.async_call(k, loader_fn, ticket->source.get_token()));
    } else if (stoppable) {
      r.emplace(co_await g.async_call(k, loader_fn));
    } else if (ticket) {
      r.emplace(co_await g.async_call(k, plain_fn, ticket->source.get_token()));
    } else {
      r.emplace(co_await g.async_call(k, plain_fn));
    }
  } catch (...) {
    error = std::current_exception();
  }
  const std::int64_t t1 = now_ns();
  ce.in_call.fetch_sub(1, std::memory_order_relaxed);  // see coroutine_env
  co_await resume_on{ce.loop, home};
  c.led_flight = led;
  c.led_waiting = led != 0 && !at_once;
  if (r) {
    check_value(env, w, c, *r, t1);
  } else {
    try {
      std::rethrow_exception(error);
    } catch (...) {
      check_exception(env, w, c, t1);
    }
  }
  ++w.calls;
  ++w.coroutine_calls;
  slot.end(slot.done.load(std::memory_order_relaxed) + 1);  // only this caller counts its calls
}

// A coroutine caller: `index` names its slot. In coro it thinks (a sleep on the loop's timer),
// then forgets a key or calls one, until the run ends; in wide it calls `key` once.
template <class Group>
spawned coroutine_caller(Group& g, run_env& env, coroutine_env& ce, std::uint64_t index,
                         unsigned home, std::uint64_t key) {
  co_await resume_on{ce.loop, home};
  {
    const run_spec& spec = env.spec;
    worker& w = *ce.workers[home];
    progress_slot& slot = ce.slots[index];
    if (spec.gated) {
      co_await coroutine_call(g, env, ce, w, slot, home, key);
    } else {
      for (;;) {
        co_await sleep_until{ce.loop, now_ns() + draw_fn_ns(spec.think, w)};
        if (env.stopping()) break;
        key = pick_key(spec, w);
        if (spec.forget > 0 && w.uniform01() < spec.forget) {
          do_forget(g, w, key, env);
          continue;
        }
        co_await coroutine_call(g, env, ce, w, slot, home, key);
      }
    }
  }
  ce.finished.fetch_add(1, std::memory_order_release);  // see coroutine_env
}

// The watchdog of the main thread's waits on the coroutine callers (S6): prints what it waited
// for and ends the process with status 3, as monitor does for a stuck call.
[[noreturn]] inline void coroutine_watchdog(const run_spec& spec, const std::string& what) {
  std::fprintf(stderr, "\nsf-stress: WATCHDOG (S6) in %s: %s for more than %s\n",
               run_label(spec).c_str(), what.c_str(),
               format_ns(static_cast<double>(spec.watchdog_ns)).c_str());
  std::fprintf(stderr, "sf-stress: giving up on the run instead of hanging (exit status 3)\n");
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(3);
}

// wide: registers a flight for every key at once, has the second wave join them, and opens the
// gate. Each phase ends with a fence on the loop threads, after which every caller spawned in it
// has run up to its suspension (or its end), and the counts must be exact (S13; S1 for the
// joiners, which must start no flight of their own). A signal before the second wave skips it.
template <class Group>
void run_wide(Group& g, run_env& env, coroutine_env& ce, run_result& result) {
  const run_spec& spec = env.spec;
  const std::uint64_t flights = spec.keys;
  const unsigned lanes = ce.loop.size();
  // Waits for a fence; the watchdog trips only if no loader starts and no caller enters
  // async_call for --watchdog (a large phase may take longer than that as a whole).
  auto fence = [&](const char* phase) {
    std::int64_t seen = -1;
    std::int64_t since = now_ns();
    while (!ce.loop.fence(now_ns() + 100'000'000)) {
      const auto moved = static_cast<std::int64_t>(ce.loaders.load()) + ce.in_call.load();
      if (moved != seen) {
        seen = moved;
        since = now_ns();
      } else if (now_ns() - since > spec.watchdog_ns) {
        coroutine_watchdog(spec, std::string(phase) + " (" + std::to_string(ce.loaders.load()) +
                                     " loaders started, " + std::to_string(ce.in_call.load()) +
                                     " callers in async_call)");
      }
    }
  };
  // Relaxed loads: after a fence, which orders every caller's and loader's counting before it.
  auto counts = [&] {
    return std::to_string(ce.loaders.load(std::memory_order_relaxed)) + " loaders had started, " +
           std::to_string(ce.opened->waiting()) + " waited at the gate, " +
           std::to_string(env.book.running()) + " executions of fn were in progress, " +
           std::to_string(ce.in_call.load(std::memory_order_relaxed)) +
           " callers were in async_call and " +
           std::to_string(ce.finished.load(std::memory_order_acquire)) + " had returned";
  };
  auto exact = [&](std::uint64_t in_call) {
    return ce.loaders.load(std::memory_order_relaxed) == flights &&
           ce.opened->waiting() == flights &&
           env.book.running() == static_cast<std::int64_t>(flights) &&
           ce.in_call.load(std::memory_order_relaxed) == static_cast<std::int64_t>(in_call) &&
           ce.finished.load(std::memory_order_acquire) == 0;
  };

  // Registering is dominated by growing the heap (page faults) for the frames and records: give
  // the memory earlier runs freed back first, so that every implementation pays the same.
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  const std::int64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < flights; ++i) coroutine_caller(g, env, ce, i, i % lanes, i);
  ce.spawned = flights;
  fence("registering the flights");
  result.register_ns = now_ns() - t0;
  result.flights_registered = ce.opened->waiting();
  if (!exact(flights)) {
    env.report(invariant::s13, "after registering " + std::to_string(flights) +
                                   " flights at once, " + counts() + " (each should be " +
                                   std::to_string(flights) + ", and none returned)");
  }
  if (interrupted() == 0 && spec.joiners > 0) {
    const std::int64_t t1 = now_ns();
    // Key j's joiner on another loop thread than key j's leader, where there are two.
    for (std::uint64_t j = 0; j < spec.joiners; ++j) {
      coroutine_caller(g, env, ce, flights + j, static_cast<unsigned>((j + 1) % lanes), j % flights);
    }
    ce.spawned += spec.joiners;
    fence("joining the flights");
    result.join_ns = now_ns() - t1;
    const std::uint64_t started = ce.loaders.load(std::memory_order_relaxed);
    if (started != flights) {
      env.report(invariant::s1, "the second wave started " + std::to_string(started - flights) +
                                    " flights of its own while every key's flight was "
                                    "registered: " + counts());
    } else if (!exact(flights + spec.joiners)) {
      env.report(invariant::s13, "after " + std::to_string(spec.joiners) + " callers joined " +
                                     std::to_string(flights) + " flights, " + counts() +
                                     " (callers in async_call should be " +
                                     std::to_string(flights + spec.joiners) + ")");
    }
  }
  // The watchdog counts from here: until now every caller waited for the gate on purpose.
  const std::int64_t t2 = now_ns();
  for (std::uint64_t i = 0; i < ce.spawned; ++i) {
    ce.slots[i].begin(progress_slot::calling, i < flights ? i : (i - flights) % flights, t2);
  }
  ce.opened_ns = now_ns();
  ce.opened->open();
}

// After the run: waits for every coroutine caller and every loader to end (bounded: no caller
// ending for --watchdog trips it), then stops the loop; records the peaks.
inline void finish_coroutines(run_env& env, coroutine_env& ce, run_result& result) {
  std::uint64_t seen = 0;
  std::int64_t since = now_ns();
  for (;;) {
    const std::uint64_t done = ce.finished.load(std::memory_order_acquire);  // see coroutine_env
    // Every thread caller has been joined: executions of fn still running are loaders.
    if (done == ce.spawned && env.book.running() == 0) break;
    if (done != seen) {
      seen = done;
      since = now_ns();
    } else if (now_ns() - since > env.spec.watchdog_ns) {
      coroutine_watchdog(env.spec, std::to_string(ce.spawned - done) + " coroutine callers and " +
                                       std::to_string(env.book.running()) +
                                       " loaders have not ended");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (ce.opened) result.complete_ns = now_ns() - ce.opened_ns;
  if (const std::uint64_t asleep = ce.loop.stop(); asleep != 0) {
    env.report(invariant::s6, std::to_string(asleep) + " coroutines were still asleep on the "
                                  "loop's timers when every caller and loader had ended");
  }
  result.peak_in_call = ce.peak_in_call.load(std::memory_order_relaxed);
  result.peak_flights = env.book.peak_running();
}

// `Collect`: frees what the implementation's memory reclamation still holds once the group and
// the run's threads are gone (libcds's retired records), so that S10 can count.
template <class Group, class Collect>
run_result run_with(const std::shared_ptr<const run_spec>& spec_ptr, Collect collect) {
  const run_spec& spec = *spec_ptr;
  run_result result;
  result.spec = spec_ptr;
  const bool coroutines = spec.loop_threads > 0;  // coro, wide
  if (coroutines && !has_async_call<Group>) {
    throw std::runtime_error(run_label(spec) + ": this implementation has no async_call");
  }
  // Followers that leave (cancelled, or past their deadline) explain a lone leader's shared().
  run_checks checks(spec.cancel > 0 || spec.deadlines);
  const current_run_scope installed(checks);
  // S10 compares against the counts before the run, so that one run's leak is reported once.
  std::int64_t live_before[kCensusKinds];
  for (std::size_t k = 0; k < kCensusKinds; ++k) live_before[k] = census::live(static_cast<census_kind>(k));
  bool cut_short = false;  // a signal ended the run before its time was up
  std::uint64_t taken = 0;  // poisson: arrivals handed out (some given up on a signal)
  {
    // Coroutine leaders of asynchronous loaders may leave, so their flights may be abandoned.
    key_book book(spec.keys, spec.forget > 0, spec.deadlines || coroutines, coroutines);
    std::vector<std::unique_ptr<worker>> workers;
    std::vector<worker*> watched;
    for (unsigned i = 0; i < spec.threads; ++i) {
      workers.push_back(std::make_unique<worker>(i + 1, spec.seed * 0x9E3779B97F4A7C15ull + i));
      watched.push_back(workers.back().get());
    }
    // The loop threads' workers (coro, wide): their coroutine callers record there.
    std::vector<std::unique_ptr<worker>> loop_workers;
    std::vector<worker*> loop_worker_ptrs;
    for (unsigned i = 0; i < spec.loop_threads; ++i) {
      const unsigned index = spec.threads + 1 + i;
      loop_workers.push_back(std::make_unique<worker>(index, spec.seed * 0x9E3779B97F4A7C15ull + index));
      loop_worker_ptrs.push_back(loop_workers.back().get());
      watched.push_back(loop_workers.back().get());
    }
    worker sweeper(0, spec.seed);
    watched.push_back(&sweeper);
    std::unique_ptr<cancel_timer> timer;
    if (spec.cancel > 0 || spec.deadlines) timer = std::make_unique<cancel_timer>();

    {
      auto g = std::make_unique<Group>();
      run_env env(spec, checks, book, timer.get(), static_cast<std::ptrdiff_t>(spec.threads));
      // The loop, and with it every coroutine, ends before the group (finish_coroutines).
      std::unique_ptr<coroutine_env> coro;
      if (coroutines) coro = std::make_unique<coroutine_env>(spec, loop_worker_ptrs);
      const std::span<const progress_slot> coroutine_slots =
          coro ? std::span<const progress_slot>(coro->slots.get(), coro->callers)
               : std::span<const progress_slot>();
      const std::int64_t planned_ns =
          spec.how == run_spec::drive::requests
              ? 0
              : static_cast<std::int64_t>(spec.duration_s * 1e9);
      // Relaxed: the progress bar reads it on the monitor thread; a stale value only draws the bar
      // a little off for one frame.
      std::atomic<std::int64_t> start_ns{now_ns()};
      monitor watch(run_label(spec), watched, spec.watchdog_ns, spec.progress, [&] {
        const double elapsed =
            static_cast<double>(now_ns() - start_ns.load(std::memory_order_relaxed));
        if (spec.how == run_spec::drive::requests) {
          std::uint64_t done = 0;
          for (const worker* w : watched) done += w->progress.done.load(std::memory_order_relaxed);
          for (const progress_slot& p : coroutine_slots) {
            done += p.done.load(std::memory_order_relaxed);
          }
          return static_cast<double>(done) / static_cast<double>(spec.requests);
        }
        return elapsed / static_cast<double>(planned_ns);
      }, coroutine_slots);

      std::vector<std::thread> threads;
      threads.reserve(spec.threads);
      try {
        for (auto& w : workers) {
          threads.emplace_back([&g, &env, w = w.get()] {
            if (env.spec.how == run_spec::drive::scheduled) {
              open_loop(*g, *w, env);
            } else {
              closed_loop(*g, *w, env);
            }
          });
        }
      } catch (const std::system_error& e) {
        // Release the threads that did start, let them see `stop`, and give up on the run.
        env.stop.store(true, std::memory_order_relaxed);  // see run_env
        env.start.count_down(static_cast<std::ptrdiff_t>(spec.threads - threads.size()) + 1);
        for (auto& t : threads) t.join();
        throw std::runtime_error("could not start " + std::to_string(spec.threads) +
                                 " threads for " + run_label(spec) + " (started " +
                                 std::to_string(threads.size()) + "): " + e.what());
      }
      // Arrivals begin a little after the start, so that every worker is asleep on its first one.
      env.base_ns = now_ns() + 20'000'000;
      env.start.arrive_and_wait();
      const std::int64_t began = spec.how == run_spec::drive::scheduled ? env.base_ns : now_ns();
      start_ns.store(began, std::memory_order_relaxed);  // see its declaration
      if constexpr (has_async_call<Group>) {
        if (coro && spec.gated) {
          run_wide(*g, env, *coro, result);
        } else if (coro) {
          for (std::uint64_t i = 0; i < coro->callers; ++i) {
            coroutine_caller(*g, env, *coro, i, static_cast<unsigned>(i % coro->loop.size()), 0);
          }
          coro->spawned = coro->callers;
        }
      }
      if (spec.how == run_spec::drive::timed) {
        cut_short = !sleep_unless_interrupted(began + planned_ns);
        env.stop.store(true, std::memory_order_relaxed);  // see run_env
      }
      for (auto& t : threads) t.join();
      if (coro) finish_coroutines(env, *coro, result);
      if (spec.arrivals) {
        taken = std::min<std::uint64_t>(env.next.load(std::memory_order_relaxed),  // after join
                                        spec.arrivals->size());
      }
      result.elapsed_s = static_cast<double>(now_ns() - began) / 1e9;
      if (timer) timer->stop();

      sweep_keys(*g, sweeper, env);
      watch.stop();
      // Every abandonment has requested its token by now (key_book).
      if (spec.deadlines || coroutines) {
        result.abandoned_overlaps = book.resolve_overlaps(checks.found);
      }
    }  // the group goes here
    collect();

    std::vector<call_span> cancelled_calls;
    std::vector<std::uint64_t> skipped;
    for (auto& w : loop_workers) workers.push_back(std::move(w));
    for (auto& w : workers) {
      if (w->skipped_arrival != worker::kNoArrival) skipped.push_back(w->skipped_arrival);
      w->graveyard.clear();  // the exceptions' own checks run here
      result.calls += w->calls;
      result.flights += w->flights;
      result.followers += w->followers;
      result.forgets += w->forgets;
      result.failed_flights += w->failed_flights;
      result.failure_receipts += w->failure_receipts;
      result.stop_requests += w->stop_requests;
      result.cancelled += w->cancelled;
      result.late += w->late;
      result.fn_mean_ns += static_cast<double>(w->fn_time_ns);
      result.latency.merge(w->latency);
      result.wake.merge(w->wake);
      result.cancel_latency.merge(w->cancel_latency);
      result.lateness.merge(w->lateness);
      result.with_deadline += w->with_deadline;
      result.with_token += w->with_token;
      result.with_both += w->with_both;
      result.with_neither += w->with_neither;
      result.until += w->until;
      result.expired += w->expired;
      result.deadline_exceeded += w->deadline_exceeded;
      result.stoppable_flights += w->stoppable_flights;
      result.abandoned_flights += w->abandoned_flights;
      result.abandoned_ran_ns += w->abandoned_ran_ns;
      result.abandoned_planned_ns += w->abandoned_planned_ns;
      result.loader_ns += w->fn_time_ns;
      result.deadline_lateness.merge(w->deadline_lateness);
      result.coroutine_calls += w->coroutine_calls;
      result.inline_leads += w->inline_leads;
      result.async_leads += w->async_leads;
      cancelled_calls.insert(cancelled_calls.end(), w->cancelled_calls.begin(),
                             w->cancelled_calls.end());
    }
    if (result.flights > 0) result.fn_mean_ns /= static_cast<double>(result.flights);
    checks.resolve_lone_shared(cancelled_calls);

    // Every call made ran to its end, so every check applies to a run cut short; only the
    // schedule's optimum must be taken over the arrivals that were called.
    switch (spec.how) {
      case run_spec::drive::timed:
        result.interrupted = cut_short;
        break;
      case run_spec::drive::requests:
        result.interrupted = result.calls < spec.requests;
        break;
      case run_spec::drive::scheduled:
        result.interrupted = result.calls < spec.arrivals->size();
        if (result.interrupted) result.called_optimum = schedule_optimum_of(spec, taken, skipped);
        break;
    }
  }  // workers (and their keys) go here

  // S10: with the group, the threads, every result and every exception gone, nothing the run
  // created may still be alive. Keys count the group's records and map entries too.
  struct {
    census_kind kind;
    const char* what;
  } const counted[] = {{census_kind::key, "key objects (group records or map entries hold one each)"},
                       {census_kind::value, "values"},
                       {census_kind::failure, "exception objects"}};
  for (const auto& c : counted) {
    const std::int64_t live =
        census::live(c.kind) - live_before[static_cast<std::size_t>(c.kind)];
    if (live != 0) {
      checks.found.report(invariant::s10, std::to_string(live) + " " + c.what +
                                              " still alive after the run and its group are gone");
    }
  }

  for (std::size_t i = 0; i < kInvariants; ++i) {
    result.violations[i] = checks.found.count(static_cast<invariant>(i));
  }
  result.messages = checks.found.messages();
  return result;
}

}  // namespace sfstress
