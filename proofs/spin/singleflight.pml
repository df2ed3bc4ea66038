/*
 * singleflight.pml: the flight protocol of singleflight::group as a Promela model, for Spin.
 *
 * One key. The table is one slot that holds at most one record. Records come from a pool of
 * NREC and are reused only once free. Three callers, one forget process, one canceller that
 * stops caller HOLDER's token. The C++ step that each Promela step stands for is named in a
 * comment next to it; README.md has the whole mapping and what is abstracted.
 *
 * Spin interleaves the steps of the processes with sequential consistency: every step sees
 * every earlier step of every process. Memory ordering (acquire/release, sites (1)-(9) of
 * paper/design.md §6) is not modelled here; the Relacy models in proofs/ check that on the real
 * headers. What this model adds is "every caller eventually returns", with forget,
 * cancellation and record reuse interleaved in every possible order, by exhaustive search.
 *
 * One step = one `atomic { }` or one plain statement. Each atomic read-modify-write of the C++
 * code is one step; ghost bookkeeping (read only by the properties) rides along in the step it
 * describes and changes nothing the protocol reads.
 *
 * Options (spin -D...; check.sh passes the ones each property needs):
 *   NCALLS=n      calls each caller makes, one after the other (default 1)
 *   NFORGET=n     calls of forget (default 1)
 *   NSPURIOUS=n   spurious futex wake-ups allowed in a whole run (default 1)
 *   FN_MAY_HANG   a leader's fn may never return (for s7_cancellation)
 *   ENVIRONMENT   a process that keeps running once all others are blocked (for -f runs)
 *   NOGHOSTS      leave out the ghosts that only S1 and S2 read (for the liveness runs)
 *   WITNESSES     add the witness claims w_* (check.sh witnesses)
 * and pan's -DNOCLAIM, which leaves the LTL claims out (assertions and end states only).
 *
 * Mutants (spin -DMUTANT_<NAME>), the same breakages as the Relacy mutants of those names in
 * src/singleflight/detail/config.hpp:
 *   MUTANT skip_waiters_bit: a follower parks without setting WAITERS, so close() never wakes it
 *   MUTANT notify_before_done: close() tests WAITERS and notifies before it sets DONE
 *   MUTANT erase_by_key: the leader's unregister removes whatever record is registered
 *   MUTANT no_epoch_bump: the stop callback notifies without changing the state word
 *   MUTANT release_before_deregister: a cancelled follower drops its reference before its stop callback is deregistered
 */

#ifndef NCALLS
#define NCALLS 1
#endif
#ifndef NFORGET
#define NFORGET 1
#endif
#ifndef NSPURIOUS
#define NSPURIOUS 1
#endif

#define NCALLER 3           /* caller processes: _pid 0, 1, 2 */
#define NREC    3           /* the record pool: one record per caller is always enough */
#define NIL     255         /* "no record" */
#define HOLDER  2           /* the caller whose stop_token the canceller stops */

/* The state word, flight::state_ (flight.hpp). A byte: the epoch wraps modulo 32, harmlessly. */
#define DONE    1           /* flight::kDone */
#define JOINED  2           /* flight::kJoined */
#define WAITERS 4           /* flight::kWaiters */
#define EPOCH   8           /* flight::kEpoch, one unit */

/* ---- shared state ------------------------------------------------------------------------- */

byte slot = NIL;            /* the table: the record registered for the key, or NIL */

/* the record pool: fields of detail::flight<Value> */
byte state[NREC];           /* flight::state_ */
byte users[NREC];           /* flight::users_ */
byte holds[NREC];           /* flight::holds_ */
bool value[NREC];           /* flight::value_ is constructed (not yet, or no longer: 0) */
bool inuse[NREC];           /* the memory is allocated (not yet reclaimed) */

/* the futex: parked[i] = r+1 while caller i is blocked in a futex wait on record r's word */
byte parked[NCALLER];
byte spurious = NSPURIOUS;  /* spurious wake-ups left in this run */

/* the holder's std::stop_source / std::stop_callback */
bool stop_requested;        /* stop_source::request_stop was called */
bool cb_registered;         /* the holder's stop_callback is registered and has not run */
bool cb_running;            /* the callback is running on the canceller's thread */
byte cb_rec = NIL;          /* the record the callback captured (the lambda's `f`) */

/* ghosts: read by the properties only */
byte stale[NREC];           /* bit i set: record's flight had left the table when caller i's
                               current call began, so that call must not get its value (S2) */
bool running[NREC];         /* the record's leader is inside fn */
bool forgot[NREC];          /* forget() unlinked the record's flight */
bool finished[NCALLER];     /* the caller has made all its calls and returned from each */
bool awaiting;              /* the holder is a follower that has not yet returned */

/* The ghost steps, named by what they record. With NOGHOSTS they do nothing: the liveness
 * runs leave out what only S1 and S2 read, which halves their state space. */
#ifndef NOGHOSTS
/* A call begins: mark the records whose flight has already left the table (S2). Runs inside
 * the caller, using its `me`, and its `r` as the loop counter. */
inline ghost_call_begins() {
  r = 0;
  do
  :: r < NREC ->
     if
     :: inuse[r] && slot != r -> stale[r] = stale[r] | (1 << me)
     :: else -> stale[r] = stale[r] & ~(1 << me)
     fi;
     r++
  :: else -> break
  od
}
inline ghost_flight_begins(r) { stale[r] = 0; forgot[r] = false; running[r] = true }
inline ghost_fn_returns(r)    { running[r] = false }
inline ghost_forgotten(r)     { forgot[r] = true }
#else
inline ghost_call_begins()    { skip }
inline ghost_flight_begins(r) { skip }
inline ghost_fn_returns(r)    { skip }
inline ghost_forgotten(r)     { skip }
#endif

/* S1: two executions of fn overlap although neither flight was removed by forget. A flight is
 * registered from its insert until its leader's erase (which follows fn) or forget; so with a
 * one-slot table, "both registered" would be trivially false, and the property says instead that
 * overlapping executions must be explained by forget (Go's semantics, DESIGN.md S1 and S5). */
#define BOTH(i, j) (running[i] && !forgot[i] && running[j] && !forgot[j])
#define OVERLAP (BOTH(0, 1) || BOTH(0, 2) || BOTH(1, 2))
#define ALL_FINISHED (finished[0] && finished[1] && finished[2])

/* ---- properties (pan -N <name>) ------------------------------------------------------------ */

/* S1: executions of fn for the key never overlap, except after forget */
ltl s1_safety { [] !OVERLAP }
/* S6: every caller returns (checked with weak fairness, pan -a -f) */
ltl s6_liveness { <> [] ALL_FINISHED }
/* S7: a stopped follower returns even if the flight never ends (build with FN_MAY_HANG) */
ltl s7_cancellation { [] ((stop_requested && awaiting) -> <> !awaiting) }

#ifdef WITNESSES
/* Witnesses (check.sh witnesses): each claim says a situation never happens, and each must
 * FAIL, which shows that the situations the properties above are about do occur in the model
 * (so that no property holds only because its premise is unreachable). */
ltl w_parked { [] (parked[0] == 0 && parked[1] == 0 && parked[2] == 0) }   /* a follower parks */
ltl w_two_parked { [] !(parked[0] != 0 && parked[1] != 0) }   /* two followers parked at once */
ltl w_stop_while_parked { [] !(parked[HOLDER] != 0 && stop_requested) }  /* stop hits a parked holder */
ltl w_spurious { [] (spurious == NSPURIOUS) }                 /* a spurious wake-up happens */
ltl w_overlap_after_forget { [] !(running[0] && running[1]) } /* two executions overlap */
ltl w_reuse { [] (inuse[0] -> [] (!inuse[0] -> [] !inuse[0])) }  /* record 0 is freed, then reused */
ltl w_stale { [] !(stale[0] != 0 && inuse[0]) }   /* a call begins after a live record's flight ended */
#endif

/* ---- the steps shared by several processes -------------------------------------------------- */

/* futex wake of every caller parked on record r's word: std::atomic::notify_all */
inline notify_all(r) {
  atomic {
    assert(inuse[r]);                       /* S10: nobody notifies freed memory */
    if :: parked[0] == r + 1 -> parked[0] = 0 :: else fi;
    if :: parked[1] == r + 1 -> parked[1] = 0 :: else fi;
    if :: parked[2] == r + 1 -> parked[2] = 0 :: else fi
  }
}

/* flight::release_user (8); the last user runs destroy_outcome and release_hold (9), and the
 * last hold reclaims the memory. One step: the destruction is private to the last user. */
inline release_user(r) {
  atomic {
    assert(inuse[r] && users[r] > 0);
    users[r]--;
    if
    :: users[r] == 0 ->
       value[r] = 0;                        /* flight::destroy_outcome */
       holds[r]--;                          /* flight::release_hold */
       if :: holds[r] == 0 -> inuse[r] = false :: else fi
    :: else
    fi
  }
}

/* flight::interrupt, the stop callback: bump the epoch (6), notify if WAITERS.
 * `t` is a local of the process running it. */
inline interrupt(r, t) {
#ifdef MUTANT_NO_EPOCH_BUMP
  notify_all(r);                            /* mutant: wakes, but leaves the word as it was */
#else
  atomic { assert(inuse[r]); t = state[r]; state[r] = state[r] + EPOCH }   /* fetch_add (6) */
  if :: (t & WAITERS) != 0 -> notify_all(r) :: else fi
#endif
}

/* ---- the callers: group::call / call_with (singleflight.hpp), lead and follow (protocol.hpp) */

active [NCALLER] proctype caller() {
  byte me = _pid;
  byte r = NIL;             /* the record this call holds a user reference to */
  byte s;                   /* the last value of the state word this caller read */
  byte t;                   /* scratch for interrupt() run inline */
  byte calls = 0;

next_call:
  if
  :: calls == NCALLS -> goto all_done
  :: else
  fi;
  d_step { calls++; ghost_call_begins(); r = NIL }

  /* group::call_with: a token already stopped cancels the call before any lookup */
  if
  :: me == HOLDER && stop_requested -> goto cancelled
  :: else
  fi;

lookup:                     /* group::call_with, top of the loop */
  atomic {                  /* table.find + flight::try_add_user (7): a user reference, or NIL */
    r = slot;
    if
    :: r != NIL && users[r] > 0 -> users[r]++
    :: else -> r = NIL
    fi
  }
  if
  :: r != NIL -> goto join
  :: else
  fi;
  /* table.make + table.insert (insert-if-absent of a built record) + table.discard on failure.
   * One step: the record is private to this caller until the insert publishes it. The lowest
   * free record of the pool is taken; running out of records would be a leak (S10). */
  atomic {
    if
    :: slot == NIL ->
       r = 0;
       do
       :: r < NREC && inuse[r] -> r++
       :: r < NREC && !inuse[r] -> break
       :: r == NREC -> assert(false)        /* pool exhausted: a record was never freed */
       od;
       inuse[r] = true; state[r] = 0; users[r] = 1; holds[r] = 2; value[r] = 0;
       slot = r;
       ghost_flight_begins(r)              /* fn starts as soon as the record is in */
    :: else -> r = NIL                      /* lost the race: discard, look again */
    fi
  }
  if
  :: r == NIL -> goto lookup
  :: else -> goto lead
  fi;

join:                       /* found a registered record, holding a user reference */
  /* flight::led_by_this_thread is never true here: no fn calls back into the group */
  atomic {                  /* flight::try_join: fetch_or(JOINED) (1) */
    assert(inuse[r]);
    s = state[r];
    state[r] = state[r] | JOINED;
    if :: (s & DONE) == 0 && me == HOLDER -> awaiting = true :: else fi
  }
  if
  :: (s & DONE) == 0 -> goto follow
  :: else ->                /* closed under us: it is out of the table already */
     release_user(r);
     goto lookup
  fi;

lead:                       /* detail::lead: fn, outcome, unregister, close */
  /* fn runs (running[r], set by the insert): every other process may move meanwhile */
#ifdef FN_MAY_HANG
  if
  :: true
  :: true -> end_hung: false   /* fn never returns */
  fi;
#endif
  /* fn returns, flight::produce writes the value, and unregister() runs table.erase(*r), by
   * identity. One step: nobody reads the value before DONE, so the order is not observable. */
  atomic {
    ghost_fn_returns(r);
    value[r] = 1;
#ifdef MUTANT_ERASE_BY_KEY
    if                      /* mutant: table.forget(h, key) removes whatever is registered */
    :: slot != NIL -> holds[slot]--; slot = NIL
    :: else
    fi
#else
    if
    :: slot == r -> holds[r]--; slot = NIL
    :: else                 /* forget() got there first: nothing to do */
    fi
#endif
  }

#ifdef MUTANT_NOTIFY_BEFORE_DONE
  /* mutant: looks at WAITERS and notifies before setting DONE, then sets DONE silently */
  if :: (state[r] & WAITERS) != 0 -> notify_all(r) :: else fi;
  atomic { s = state[r]; state[r] = state[r] | DONE }
#else
  atomic { s = state[r]; state[r] = state[r] | DONE }   /* flight::close: fetch_or(DONE) (2) */
  if :: (s & WAITERS) != 0 -> notify_all(r) :: else fi
#endif
  goto got_value

follow:                     /* detail::follow */
  /* detail::await, stop-token overload: register the stop callback. If the stop was requested
   * already, std::stop_callback's constructor runs the callback at once, on this thread. */
  if
  :: me == HOLDER ->
     atomic {
       if
       :: stop_requested -> t = 1
       :: else -> t = 0; cb_registered = true; cb_rec = r
       fi
     }
     if :: t == 1 -> interrupt(r, t) :: else fi
  :: else
  fi;

  /* flight::await. The spin before parking is a run of loads (3), which the loop below
   * already contains, so it is left out. */
  atomic { assert(inuse[r]); s = state[r] }           /* load (3) */
  do
  :: (s & DONE) != 0 -> break
  :: else ->
     if                                               /* stop.stop_requested() */
     :: me == HOLDER && stop_requested -> goto stopped
     :: else
     fi;
     if
#ifndef MUTANT_SKIP_WAITERS_BIT
     :: (s & WAITERS) == 0 ->                         /* fetch_or(WAITERS) (4) */
        atomic { assert(inuse[r]); s = state[r] | WAITERS; state[r] = s }
#endif
     :: else ->
        /* std::atomic::wait(s) (5) on a futex: check the word and queue atomically; stay
         * blocked until notify_all (or a spurious wake-up); re-check; return once the word
         * differs from s. The load that finds it changed also serves as await's load (3)
         * after the wait (the C++ code loads twice; one load here). */
        do
        :: atomic {
             assert(inuse[r]);
             if
             :: state[r] != s -> s = state[r]; break
             :: else -> parked[me] = r + 1
             fi
           }
           if
           :: atomic { parked[me] == 0 -> skip }                        /* woken */
           :: atomic { parked[me] != 0 && spurious > 0 -> spurious--; parked[me] = 0 }
           fi
        od
     fi
  od;
  /* ~stop_callback: deregister; if the callback is running on the canceller, wait for it */
  if
  :: me == HOLDER -> atomic { !cb_running -> cb_registered = false }
  :: else
  fi;
  goto got_value

stopped:                    /* await returned false: detail::follow throws cancelled */
#ifdef MUTANT_RELEASE_BEFORE_DEREGISTER
  release_user(r);          /* mutant: drops the reference while the callback may still run */
  atomic { !cb_running -> cb_registered = false }
#else
  atomic { !cb_running -> cb_registered = false }     /* ~stop_callback, as above */
  release_user(r);          /* ~flight_ref while `cancelled` propagates */
#endif
  goto cancelled

got_value:                  /* the caller's result: read the value, then drop the result */
  atomic {
    assert(inuse[r]);
    assert(value[r]);                                /* S3/S8: the flight's value is there */
    assert((stale[r] & (1 << me)) == 0);             /* S2: not a flight that ended before */
    release_user(r);                                 /* ~result */
    r = NIL; s = 0;
    awaiting = false
  }
  goto next_call

cancelled:
  atomic {
    assert(me == HOLDER && stop_requested);          /* only a stopped caller is cancelled */
    r = NIL; s = 0;
    awaiting = false
  }
  goto next_call

all_done:
  finished[me] = true
}

/* ---- group::forget: unlink whatever record is registered (table.forget) ------------------- */

active proctype forgetter() {
  byte n = 0;
  byte r;
  do
  :: n < NFORGET ->
     atomic {
       n++;
       r = slot;
       slot = NIL;
       if
       :: r != NIL ->
          ghost_forgotten(r);
          holds[r]--;                       /* the table's hold, released at once */
          if :: holds[r] == 0 -> inuse[r] = false :: else fi
       :: else
       fi
     }
  :: else -> break
  od
}

/* ---- the canceller: std::stop_source::request_stop for the holder's token ---------------- */

active proctype canceller() {
  byte t;
  atomic {                  /* set the stop flag, take the registered callback to run it */
    stop_requested = true;
    if :: cb_registered -> cb_registered = false; cb_running = true :: else fi
  }
  if
  :: cb_running ->
     interrupt(cb_rec, t);
     cb_running = false     /* the callback returned: a waiting ~stop_callback may proceed */
  :: else
  fi
}

/* ---- the rest of the program --------------------------------------------------------------- */

/* Moves only when no other process can (timeout): it stands for the other threads of a program,
 * which go on running while a caller is blocked. It turns a state where a caller is blocked
 * forever and everything else has finished into an infinite run, which the weak-fairness search
 * (pan -a -f) examines. Without it, Spin 6.5.2's -f search does not report such a deadlocked run
 * (the skip_waiters_bit mutant then passes s6_liveness with errors: 0; without -f it is caught).
 * Where every caller has returned, it only repeats a state in which the property holds. */
#ifdef ENVIRONMENT
active proctype environment() {
end_idle:
  do :: timeout -> skip od
}
#endif
