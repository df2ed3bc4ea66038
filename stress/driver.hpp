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
// (deadline_call), which adds deadlines to S7 and checks abandonment (S12).
#pragma once

#include <singleflight/baselines.hpp>
#include <singleflight/libcds.hpp>
#include <singleflight/singleflight.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <latch>
#include <memory>
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

// Checks shared by a value and an exception received by a caller of `key`.
inline void check_receipt(run_env& env, const worker& w, std::uint64_t key,
                          const flight_facts& got, std::uint64_t forgets_finished_at_call,
                          std::int64_t call_end, const char* what) {
  if (got.key != key) {
    env.report(invariant::s3, "a call for " + key_name(key) + " received the " + what + " of " +
                                  flight_name(got.flight) + ", which ran for " + key_name(got.key));
    return;
  }
  if (w.led_flight != 0) {
    if (got.flight != w.led_flight) {
      env.report(invariant::s3, "the caller that ran fn as " + flight_name(w.led_flight) + " (" +
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
// ran fn, and within --cancel-bound of the request.
inline void check_cancelled(run_env& env, worker& w, std::uint64_t key, const cancel_ticket* ticket,
                            std::int64_t t0, std::int64_t t1) {
  ++w.cancelled;
  w.latency.record(t1 - t0);
  w.cancelled_calls.push_back({key, t0, t1});
  if (w.led_flight != 0) {
    env.report(invariant::s7, "the caller that ran fn for " + key_name(key) + " (" +
                                  flight_name(w.led_flight) + ") was cancelled; the leader "
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

// One call for `key`, checked. `ticket`: the call's stop_source (churn's cancellations), or null.
template <class Group>
void call_once(Group& g, worker& w, std::uint64_t key, run_env& env,
               const std::shared_ptr<cancel_ticket>& ticket, bool prestopped) {
  const run_spec& spec = env.spec;
  key_book& book = env.book;
  const std::uint64_t forgets_finished_at_call = book.with_forget() ? book.forgets_finished(key) : 0;
  w.key.id = key;
  w.led_flight = 0;
  const std::int64_t t0 = now_ns();
  w.progress.begin(progress_slot::calling, key, t0);

  auto fn = [&]() -> tracked_value {
    flight_facts f;
    f.fn_start_ns = now_ns();
    f.flight = (std::uint64_t{w.index} << 40) | ++w.flight_seq;
    f.key = key;
    f.leader_call_ns = t0;
    f.forgets_at_start = book.with_forget() ? book.forgets_begun(key) : 0;
    w.led_flight = f.flight;
    ++w.flights;
    book.enter(key, f.flight, forgets_finished_at_call, env.checks.found);
    const std::int64_t until = f.fn_start_ns + draw_fn_ns(spec.fn, w);
    if (spec.fn.how == fn_spec::kind::spin) {
      spin_until_ns(until);
    } else {
      sleep_until_ns(until);
    }
    book.leave(key, f.flight);
    const bool fail = spec.fail > 0 && w.uniform01() < spec.fail;
    f.publish_ns = now_ns();
    w.fn_time_ns += f.publish_ns - f.fn_start_ns;
    if (fail) {
      ++w.failed_flights;
      throw flight_failure(f);
    }
    return tracked_value(f);
  };

  try {
    auto r = ticket ? g.call(w.key, fn, ticket->source.get_token()) : g.call(w.key, fn);
    const std::int64_t t1 = now_ns();
    const tracked_value& v = r.value();
    const bool ran_fn = w.led_flight != 0;
    check_receipt(env, w, key, v.facts, forgets_finished_at_call, t1, "value");
    if (r.leader() != ran_fn) {
      env.report(invariant::s4, "a call for " + key_name(key) + " that " +
                                    (ran_fn ? "ran" : "did not run") + " fn was told leader() == " +
                                    (r.leader() ? "true" : "false") + " (" +
                                    flight_name(v.facts.flight) + ")");
    }
    if (!ran_fn) {
      ++w.followers;
      w.wake.record(t1 - v.facts.publish_ns);
    }
    v.receive(r.leader(), r.shared(), t0, t1);
    w.latency.record(t1 - t0);
    if (ticket) {
      if (prestopped) {
        env.report(invariant::s7, "a call for " + key_name(key) + " whose token was stopped "
                                      "before it began returned a value instead of throwing "
                                      "cancelled");
      } else if (!ran_fn) {
        // Acquire: pairs with the release in cancel_ticket::request(), for the time it wrote.
        const std::int64_t requested = ticket->requested_ns.load(std::memory_order_acquire);
        if (requested != 0 && t1 - requested > spec.cancel_bound_ns) {
          env.report(invariant::s7, "a follower of " + key_name(key) + " kept waiting " +
                                        format_ns(static_cast<double>(t1 - requested)) +
                                        " after its stop was requested");
        }
      }
    }
  } catch (const flight_failure& e) {
    const std::int64_t t1 = now_ns();
    const bool ran_fn = w.led_flight != 0;
    check_receipt(env, w, key, e.facts, forgets_finished_at_call, t1, "exception");
    e.receive(ran_fn, false, t0, t1);
    w.graveyard.push_back(std::current_exception());
    ++w.failure_receipts;
    w.latency.record(t1 - t0);
    if (prestopped) {
      env.report(invariant::s7, "a call for " + key_name(key) + " whose token was stopped before "
                                    "it began received fn's exception instead of cancelled");
    }
  } catch (const singleflight::cancelled&) {
    check_cancelled(env, w, key, ticket.get(), t0, now_ns());
  } catch (...) {
    report_unexpected(env, w, key, t0);
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

// Sleeps or spins (as fn does) until `until`.
inline void work_until(const fn_spec& fn, std::int64_t until) {
  if (fn.how == fn_spec::kind::spin) {
    spin_until_ns(until);
  } else {
    sleep_until_ns(until);
  }
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

  w.key.id = key;
  w.led_flight = 0;
  const std::int64_t t0 = now_ns();
  const std::int64_t deadline_ns = t0 + timeout_ns;  // with has_deadline
  w.progress.begin(progress_slot::calling, key, t0);

  // The loader. With a token, it works in steps of --deadline-poll and stops early, returning
  // (or throwing) an outcome marked aborted, once the token is requested.
  auto body = [&](const std::stop_token* st) -> tracked_value {
    flight_facts f;
    f.fn_start_ns = now_ns();
    f.flight = (std::uint64_t{w.index} << 40) | ++w.flight_seq;
    f.key = key;
    f.leader_call_ns = t0;
    w.led_flight = f.flight;
    ++w.flights;
    book.enter(key, f.flight, 0, env.checks.found, st != nullptr ? *st : std::stop_token());
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
    f.publish_ns = now_ns();
    w.fn_time_ns += f.publish_ns - f.fn_start_ns;
    if (stopped_at == 0) return tracked_value(f);

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

  // S7 for a caller that received the flight's outcome (a value, or fn's exception).
  auto check_received = [&](std::int64_t t1, bool ran_fn, const flight_facts& got,
                            const char* what) {
    if (expired) {
      env.report(invariant::s7, "a call for " + key_name(key) + " whose deadline had passed "
                                    "before it began received the " + what + " of " +
                                    flight_name(got.flight) + " instead of throwing "
                                    "deadline_exceeded");
    }
    if (got.aborted && !ran_fn) {
      env.report(invariant::s12, "a follower of " + key_name(key) + " received the aborted " +
                                     what + " of " + flight_name(got.flight) + ": fn's stop "
                                     "token was requested while this caller waited for it");
    }
    if (ran_fn) return;
    if (has_deadline && t1 - deadline_ns > p.bound_ns) {
      env.report(invariant::s7, "a follower of " + key_name(key) + " kept waiting " +
                                    format_ns(static_cast<double>(t1 - deadline_ns)) +
                                    " after its deadline (bound " +
                                    format_ns(static_cast<double>(p.bound_ns)) + ")");
    }
    const std::int64_t requested = requested_at();
    if (requested != 0 && t1 - requested > spec.cancel_bound_ns) {
      env.report(invariant::s7, "a follower of " + key_name(key) + " kept waiting " +
                                    format_ns(static_cast<double>(t1 - requested)) +
                                    " after its stop was requested");
    }
  };

  try {
    auto r = stoppable ? issue([&](std::stop_token st) -> tracked_value { return body(&st); })
                       : issue([&]() -> tracked_value { return body(nullptr); });
    const std::int64_t t1 = now_ns();
    const tracked_value& v = r.value();
    const bool ran_fn = w.led_flight != 0;
    check_receipt(env, w, key, v.facts, 0, t1, "value");
    if (r.leader() != ran_fn) {
      env.report(invariant::s4, "a call for " + key_name(key) + " that " +
                                    (ran_fn ? "ran" : "did not run") + " fn was told leader() == " +
                                    (r.leader() ? "true" : "false") + " (" +
                                    flight_name(v.facts.flight) + ")");
    }
    if (!ran_fn) {
      ++w.followers;
      w.wake.record(t1 - v.facts.publish_ns);
    }
    v.receive(r.leader(), r.shared(), t0, t1);
    w.latency.record(t1 - t0);
    check_received(t1, ran_fn, v.facts, "value");
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
  } catch (const flight_failure& e) {
    const std::int64_t t1 = now_ns();
    const bool ran_fn = w.led_flight != 0;
    check_receipt(env, w, key, e.facts, 0, t1, "exception");
    e.receive(ran_fn, false, t0, t1);
    w.graveyard.push_back(std::current_exception());
    ++w.failure_receipts;
    w.latency.record(t1 - t0);
    check_received(t1, ran_fn, e.facts, "exception");
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
  } catch (const singleflight::cancelled&) {
    check_cancelled(env, w, key, ticket.get(), t0, now_ns());
  } catch (...) {
    report_unexpected(env, w, key, t0);
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

// seed, hot, zipf and churn: each thread calls again as soon as its call returns.
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
    if (spec.deadlines) {
      deadline_call(g, w, key, env);
      continue;
    }
    if (spec.forget > 0 && w.uniform01() < spec.forget) {
      do_forget(g, w, key, env);
      continue;
    }
    std::shared_ptr<cancel_ticket> ticket;
    bool prestopped = false;
    if (spec.cancel > 0 && w.uniform01() < spec.cancel) {
      ticket = std::make_shared<cancel_ticket>();
      ++w.stop_requests;
      if (w.uniform01() < spec.prestopped) {
        prestopped = true;
        ticket->request();
      } else {
        ticket->due_ns = now_ns() + static_cast<std::int64_t>(
                                        w.below(static_cast<std::uint64_t>(spec.cancel_delay_ns) + 1));
        env.timer->schedule(ticket);
      }
    }
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
      flight_facts f;
      f.fn_start_ns = now_ns();
      f.flight = (std::uint64_t{w.index} << 40) | ++w.flight_seq;
      f.key = key;
      f.leader_call_ns = t0;
      f.forgets_at_start = forgets;
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

// `Collect`: frees what the implementation's memory reclamation still holds once the group and
// the run's threads are gone (libcds's retired records), so that S10 can count.
template <class Group, class Collect>
run_result run_with(const std::shared_ptr<const run_spec>& spec_ptr, Collect collect) {
  const run_spec& spec = *spec_ptr;
  run_result result;
  result.spec = spec_ptr;
  // Followers that leave (cancelled, or past their deadline) explain a lone leader's shared().
  run_checks checks(spec.cancel > 0 || spec.deadlines);
  const current_run_scope installed(checks);
  // S10 compares against the counts before the run, so that one run's leak is reported once.
  std::int64_t live_before[kCensusKinds];
  for (std::size_t k = 0; k < kCensusKinds; ++k) live_before[k] = census::live(static_cast<census_kind>(k));
  bool cut_short = false;  // a signal ended the run before its time was up
  std::uint64_t taken = 0;  // poisson: arrivals handed out (some given up on a signal)
  {
    key_book book(spec.keys, spec.forget > 0, spec.deadlines);
    std::vector<std::unique_ptr<worker>> workers;
    std::vector<worker*> watched;
    for (unsigned i = 0; i < spec.threads; ++i) {
      workers.push_back(std::make_unique<worker>(i + 1, spec.seed * 0x9E3779B97F4A7C15ull + i));
      watched.push_back(workers.back().get());
    }
    worker sweeper(0, spec.seed);
    watched.push_back(&sweeper);
    std::unique_ptr<cancel_timer> timer;
    if (spec.cancel > 0 || spec.deadlines) timer = std::make_unique<cancel_timer>();

    {
      auto g = std::make_unique<Group>();
      run_env env(spec, checks, book, timer.get(), static_cast<std::ptrdiff_t>(spec.threads));
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
          return static_cast<double>(done) / static_cast<double>(spec.requests);
        }
        return elapsed / static_cast<double>(planned_ns);
      });

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
      if (spec.how == run_spec::drive::timed) {
        cut_short = !sleep_unless_interrupted(began + planned_ns);
        env.stop.store(true, std::memory_order_relaxed);  // see run_env
      }
      for (auto& t : threads) t.join();
      if (spec.arrivals) {
        taken = std::min<std::uint64_t>(env.next.load(std::memory_order_relaxed),  // after join
                                        spec.arrivals->size());
      }
      result.elapsed_s = static_cast<double>(now_ns() - began) / 1e9;
      if (timer) timer->stop();

      sweep_keys(*g, sweeper, env);
      watch.stop();
      // Every abandonment has requested its token by now (key_book).
      if (spec.deadlines) result.abandoned_overlaps = book.resolve_overlaps(checks.found);
    }  // the group goes here
    collect();

    std::vector<call_span> cancelled_calls;
    std::vector<std::uint64_t> skipped;
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
