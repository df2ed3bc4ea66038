/*
 * singleflight.pml: the flight protocol of singleflight::group as a Promela model, for Spin.
 *
 * One key. The table is one slot that holds at most one record. Records come from a pool of
 * NREC and are reused only once free. Three callers, one forget process, and one process for
 * the stops: the std::stop_source of caller 1's token, the clock that makes deadlines pass, and
 * the deadline agent that acts on a leader's deadline while fn runs. The C++ step that each
 * Promela step stands for is named in a comment next to it; README.md has the whole mapping and
 * what is abstracted.
 *
 * The callers:
 *   caller 0  no token, no deadline: a follower parks on the state word (WAITERS, notify_all);
 *             a leader cannot leave, so its flight is not abandonable.
 *             With ALL_LEAVE: a deadline, like caller 2.
 *   caller 1  a stop token: a follower parks on a parker of its own, linked into the flight's
 *             list (LISTED), and its stop callback signals that parker; a leader's stop
 *             callback is its departure (flight::leave).
 *   caller 2  a deadline: a follower parks on a parker of its own with a timed wait; a
 *             leader's departure is the deadline agent's callback.
 * fn always takes the flight's stop token, so a flight is abandonable exactly when its leader
 * may leave (callers 1 and 2; every caller with ALL_LEAVE). It may return at any time, with
 * "its answer after its stop" if its token was requested by then; with FN_MAY_HANG it may also
 * wait for its token and return only once it is requested.
 *
 * Spin interleaves the steps of the processes with sequential consistency: every step sees
 * every earlier step of every process. Memory ordering (acquire/release, the numbered sites of
 * paper/design.md §6) is not modelled here; the Relacy models in proofs/ check that on the real
 * headers. What this model adds is "every caller eventually returns", with forget, leaving,
 * abandonment and record reuse interleaved in every possible order, by exhaustive search.
 *
 * One step = one `d_step { }` (or `atomic { }`) or one plain statement. Each atomic
 * read-modify-write of the C++ code is one step; a region under the flight's list lock is one
 * step; a few steps that commute with everything another process may do between them are
 * merged (README.md says which, and why). Ghost bookkeeping (read only by the properties) rides
 * along in the step it describes and changes nothing the protocol reads. A label may not name a
 * d_step, so a d_step that a goto jumps to sits in an `atomic { }`, which adds no state.
 *
 * Options (spin -D...; check.sh passes the ones each property needs):
 *   NCALLS=n      calls each caller makes, one after the other (default 1)
 *   NFORGET=n     calls of forget (default 1)
 *   NSPURIOUS=n   spurious futex wake-ups allowed in a whole run (default 1)
 *   FN_MAY_HANG   fn may wait for its stop token and return only once it is requested (never,
 *                 if nobody requests it)
 *   ALL_LEAVE     caller 0 has a deadline too, so every caller may leave
 *   ENVIRONMENT   a process that keeps running once all others are blocked (liveness runs)
 *   NOGHOSTS      leave out the ghosts and checks that only the safety properties read
 *   NO_S1_GHOSTS  leave out the ghosts that only S1 reads (running, forgot)
 *   NO_S2_GHOSTS  leave out the ghost that only S2 reads (stale)
 *   WITNESSES     add the witness claims w_* (check.sh witnesses)
 * and pan's -DNOCLAIM, which leaves the LTL claims out (assertions and end states only).
 *
 * Mutants (spin -DMUTANT_<NAME>); the ones that share a name with a Relacy mutant
 * (proofs/mutants/<name>.patch) make the same breakage:
 *   MUTANT skip_waiters_bit: a follower parks on the word without setting WAITERS, so close() never wakes it
 *   MUTANT notify_before_done: close() tests WAITERS and notifies before it sets DONE
 *   MUTANT erase_by_key: the leader's unregister removes whatever record is registered
 *   MUTANT abandon_while_caller_waits: the count of waiting callers is off by one, so fn's stop is requested while a caller still waits
 *   MUTANT abandoned_accepts_joiner: try_join ignores ABANDONED, so a flight whose fn was told to stop takes a new caller
 *   MUTANT leave_despite_close: a leaving follower unlinks itself even after close() took the list, and returns while close() may still signal its node
 *   MUTANT enlist_checks_done_first: enlist reads DONE, then sets LISTED in a separate step, so a close in between never wakes the follower
 *   MUTANT stop_wakes_nobody: a follower's stop callback does not signal its parker
 *   MUTANT leader_deadline_ignored: nothing acts on a leader's deadline while fn runs, so a flight whose callers all left is never abandoned
 *   MUTANT leave_notifies_all: a leaving follower notifies the state word, as the old protocol's stop callback did, and wakes the followers parked there
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
#define BIT(i)  (1 << (i))

/* Who may leave, and how. */
#define TOKEN_CALLER 1      /* the caller whose std::stop_token the stopper requests */
#ifdef ALL_LEAVE
#define DEADLINES (BIT(0) | BIT(2))
#else
#define DEADLINES BIT(2)
#endif
#define HAS_TOKEN(i)    ((i) == TOKEN_CALLER)
#define HAS_DEADLINE(i) ((DEADLINES & BIT(i)) != 0)
#define MAY_LEAVE(i)    (HAS_TOKEN(i) || HAS_DEADLINE(i))

/* The state word, flight::state_ (flight.hpp). A byte: the count of waiting callers has 3 bits,
 * enough for 3 callers. JOINED (kJoined) is left out: only close()'s return value (shared(), S4)
 * reads it, and S4 is Relacy's. */
#define DONE       1        /* flight::kDone */
#define WAITERS    4        /* flight::kWaiters */
#define LISTED     8        /* flight::kListed */
#define ABANDONED  16       /* flight::kAbandoned */
#define CALLER     32       /* flight::kCaller: one waiting caller */
#define CALLERMASK 224      /* flight::kCallerMask */

/* A waiter's parker: bits that stay set (parker::signal). */
#define CLOSED  1           /* waiter::kClosed */
#define STOPPED 2           /* waiter::kStopped */

/* A caller's callback: its std::stop_callback (a token) or its deadline_agent::entry (a
 * leader's deadline). A follower's callback signals its parker; a leader's is its departure. */
#define CB_NONE     0       /* none registered (or deregistered, or run) */
#define CB_LEAD     1       /* a leader's departure is registered */
#define CB_FOLLOW   2       /* a follower's stop callback is registered */
#define CB_LEAD_RUN 3       /* a leader's departure is running (in the stopper) */

/* ---- shared state ------------------------------------------------------------------------- */

byte slot = NIL;            /* the table: the record registered for the key, or NIL */

/* the record pool: fields of detail::flight<Value>. A free record is all zero. */
byte state[NREC];           /* flight::state_ */
byte users[NREC];           /* flight::users_ */
byte holds[NREC];           /* flight::holds_ */
byte value[NREC];           /* the outcome: 0 none, 1 fn's answer, 2 fn's answer after its stop */
bool inuse[NREC];           /* the memory is allocated (not yet reclaimed) */
bool able[NREC];            /* flight::abandonable_ */
byte listed[NREC];          /* flight::waiters_, as the set of callers whose node is linked */
bool detached[NREC];        /* flight::detached_ */
bool listlock[NREC];        /* flight::list_lock_, held across steps only by the mutant
                               enlist_checks_done_first (README.md: the lock regions) */
bool fnstop[NREC];          /* flight::abandon_: the stop of fn's token was requested */

/* the futex: parked[i] = r+1 while caller i is blocked in a futex wait on record r's word */
byte parked[NCALLER];
byte spurious = NSPURIOUS;  /* spurious wake-ups left in this run */

/* the waiters (protocol.hpp, wait_listed): one per caller, on its stack */
byte node[NCALLER];         /* r+1 while caller i's waiter is linked or may be signalled
                               (from its enlist until wait_listed returns), else 0 */
byte pbits[NCALLER];        /* its parker's bits (CLOSED, STOPPED) */

/* stops and deadlines */
byte stopped;               /* bit i: caller i's token was requested / its deadline passed */
byte cb[NCALLER];           /* caller i's callback: CB_* */
byte cbrec[NCALLER];        /* the record of a leader's departure (the lambda's `f`) */

/* ghosts: read by the properties only */
byte stale[NREC];           /* bit i set: record's flight had left the table when caller i's
                               current call began, so that call must not get its value (S2) */
bool running[NREC];         /* the record's leader is inside fn */
bool forgot[NREC];          /* forget() unlinked the record's flight */
byte nwait[NREC];           /* how many callers of an abandonable flight still wait for it:
                               the leader from creation, each follower from its join, until it
                               leaves before the close; 1 for a flight that cannot be abandoned
                               (its leader always waits) (S12) */
byte rec[NCALLER];          /* r+1 while caller i is a caller of record r's flight: the leader
                               from its insert, a follower from its join, until it returns */
byte fol;                   /* bit i: caller i is a follower (it joined and has not returned) */
bool hung[NREC];            /* the record's fn waits for its stop token (FN_MAY_HANG) */
bool finished[NCALLER];     /* the caller has made all its calls and returned from each */

/* The ghost steps, named by what they record. running and forgot (S1) and stale (S2) add
 * states, so the runs that do not read them leave them out: NO_S1_GHOSTS the ones of S1,
 * NO_S2_GHOSTS the one of S2, NOGHOSTS both (and the assertions that read them). nwait repeats
 * the count in an abandonable flight's state word, and rec, fol, hung and finished follow
 * program counters: they add no state and stay in every run. */
#ifdef NOGHOSTS
#define NO_S1_GHOSTS
#define NO_S2_GHOSTS
#endif
#ifndef NO_S2_GHOSTS
/* A call begins: mark the records whose flight has already left the table (S2). Runs inside
 * the caller, using its `me`, and its `r` as the loop counter. */
inline ghost_call_begins() {
  r = 0;
  do
  :: r < NREC ->
     if
     :: inuse[r] && slot != r -> stale[r] = stale[r] | BIT(me)
     :: else -> stale[r] = stale[r] & ~BIT(me)
     fi;
     r++
  :: else -> break
  od
}
#define GHOST_S2_BEGINS(r) stale[r] = 0
/* S2: not a flight that ended before the call began */
#define ASSERT_NOT_STALE(r) assert((stale[r] & BIT(me)) == 0)
#else
inline ghost_call_begins() { skip }
#define GHOST_S2_BEGINS(r) skip
#define ASSERT_NOT_STALE(r) skip
#endif
#ifndef NO_S1_GHOSTS
#define GHOST_S1_BEGINS(r)  forgot[r] = false; running[r] = true
#define GHOST_FN_RETURNS(r) running[r] = false
#define GHOST_FORGOTTEN(r)  forgot[r] = true
#else
#define GHOST_S1_BEGINS(r)  skip
#define GHOST_FN_RETURNS(r) skip
#define GHOST_FORGOTTEN(r)  skip
#endif
inline ghost_flight_begins(r) {
  GHOST_S2_BEGINS(r); GHOST_S1_BEGINS(r);
  nwait[r] = 1                              /* the leader */
}
inline ghost_freed(r) { stale[r] = 0; forgot[r] = false; nwait[r] = 0; hung[r] = false }
/* S12: a flight takes a new caller only while some caller still waits for it */
#define ASSERT_JOIN_WAITED(r) assert(nwait[r] != 0)
/* S12: fn's stop is requested only when no caller waits for the flight */
#define ASSERT_NOBODY_WAITS(r) assert(nwait[r] == 0)
/* S7: a futex wake on a flight's word wakes a parked follower only once the flight is closed:
 * nobody else (a leaving caller, say) wakes the followers parked there. Checked by `asserts`;
 * the liveness runs (NOGHOSTS) leave it out, so that a mutant that wakes too early
 * (notify_before_done) shows the failure it causes there, a lost wake-up. */
#ifndef NOGHOSTS
#define ASSERT_WAKE_AFTER_CLOSE(r) \
    assert((state[r] & DONE) != 0 || (parked[0] != r + 1 && parked[1] != r + 1 && parked[2] != r + 1))
#else
#define ASSERT_WAKE_AFTER_CLOSE(r) skip
#endif

/* S1: two executions of fn overlap although neither flight was removed by forget or abandoned
 * (every caller left it, S12). A flight is registered from its insert until its leader's erase
 * (which follows fn), forget, or a finder's removal of the abandoned flight; so with a one-slot
 * table, "both registered" would be trivially false, and the property says instead that
 * overlapping executions must be explained by forget or abandonment (DESIGN.md S1, S5, S12). */
#define LIVE(i)    (running[i] && !forgot[i] && nwait[i] != 0)
#define BOTH(i, j) (LIVE(i) && LIVE(j))
#define OVERLAP (BOTH(0, 1) || BOTH(0, 2) || BOTH(1, 2))

/* S6, S7, S12: when is a caller allowed never to return? Only while it waits, without having
 * been stopped (a follower whose stop or deadline came must leave), for a flight whose fn waits
 * for its stop token, which nobody requests because a caller of that flight (maybe this one)
 * never leaves: its stop and deadline never come. Every other caller returns: with the outcome
 * once fn returns (S6), by its stop or deadline (S7), or with fn's answer once every caller of
 * its flight has left and fn was told to stop (S12). */
#define MEMBER(i, r)         (rec[i] == (r) + 1)
#define STAYS(i, r)          (MEMBER(i, r) && (stopped & BIT(i)) == 0)
#define HUNG_FOR_STAYER(r)   (hung[r] && (STAYS(0, r) || STAYS(1, r) || STAYS(2, r)))
#define EXCUSED(i) ((fol & stopped & BIT(i)) == 0 && \
                    ((MEMBER(i, 0) && HUNG_FOR_STAYER(0)) || (MEMBER(i, 1) && HUNG_FOR_STAYER(1)) || \
                     (MEMBER(i, 2) && HUNG_FOR_STAYER(2))))
#define RETURNED(i) (finished[i] || EXCUSED(i))

/* ---- properties (pan -N <name>) ------------------------------------------------------------ */

/* S1: executions of fn for the key never overlap, except after forget or abandonment */
ltl s1_safety { [] !OVERLAP }
/* S6 + S7 + S12: every caller returns, unless excused as above (FN_MAY_HANG) */
ltl liveness { <> [] (RETURNED(0) && RETURNED(1) && RETURNED(2)) }

#ifdef WITNESSES
/* Witnesses (check.sh witnesses): each claim says a situation never happens, and each must
 * FAIL, which shows that the situations the properties above are about do occur in the model
 * (so that no property holds only because its premise is unreachable). */
#define ON_WORD(i)     (parked[i] != 0)
#define LINKED(i)      (node[i] != 0 && (listed[node[i] - 1] & BIT(i)) != 0)
#define DELISTED(i)    (node[i] != 0 && (listed[node[i] - 1] & BIT(i)) == 0 && !detached[node[i] - 1])
#define LEFT_AT_STOP(i, r) (fnstop[r] && node[i] == r + 1)
#define ABANDONED_RUNS(i) (running[i] && nwait[i] == 0)
/* a follower parks on the word */
ltl w_word_parked { [] !(ON_WORD(0) || ON_WORD(1) || ON_WORD(2)) }
/* a follower waits on its own parker, linked into the flight's list */
ltl w_listed { [] !(LINKED(1) || LINKED(2)) }
/* both kinds at once, for the same flight */
ltl w_word_and_listed { [] !(ON_WORD(0) && ((LINKED(1) && node[1] == parked[0]) || (LINKED(2) && node[2] == parked[0]))) }
/* a follower leaves (it has unlinked itself) while another waits on the word */
ltl w_leave_while_word_waits { [] !((DELISTED(1) && parked[0] == node[1]) || (DELISTED(2) && parked[0] == node[2])) }
/* a follower leaves while another waits on its parker in the same list */
ltl w_leave_while_listed_waits { [] !((DELISTED(1) && LINKED(2) && node[1] == node[2]) || (DELISTED(2) && LINKED(1) && node[1] == node[2])) }
/* the stop of a parked listed follower comes */
ltl w_stop_while_listed { [] !(LINKED(1) && (stopped & BIT(1)) != 0) }
/* close signals a listed waiter */
ltl w_close_signals { [] !((pbits[1] & CLOSED) != 0 || (pbits[2] & CLOSED) != 0) }
/* a stopped follower finds that close has taken the list, and waits for its signal */
ltl w_stop_finds_detached { [] !(caller[1]@wait_closed || caller[2]@wait_closed) }
/* a flight is abandoned: fn's stop is requested */
ltl w_abandoned { [] !(fnstop[0] || fnstop[1] || fnstop[2]) }
/* a flight is abandoned while a follower that left it is still inside wait_listed */
ltl w_abandoned_with_follower { [] !(LEFT_AT_STOP(1, 0) || LEFT_AT_STOP(1, 1) || LEFT_AT_STOP(1, 2) || LEFT_AT_STOP(2, 0) || LEFT_AT_STOP(2, 1) || LEFT_AT_STOP(2, 2)) }
/* two callers counted at once: a follower joined an abandonable flight */
ltl w_counted_join { [] !((state[0] & CALLERMASK) >= 2 * CALLER || (state[1] & CALLERMASK) >= 2 * CALLER || (state[2] & CALLERMASK) >= 2 * CALLER) }
/* a finder finds a flight abandoned (and removes it) */
ltl w_finder_sees_abandoned { [] !(caller[0]@found_abandoned || caller[1]@found_abandoned || caller[2]@found_abandoned) }
/* a later call runs a new flight while the abandoned flight's fn still runs */
ltl w_new_flight_after_abandon { [] !((ABANDONED_RUNS(0) && (running[1] || running[2])) || (ABANDONED_RUNS(1) && (running[0] || running[2])) || (ABANDONED_RUNS(2) && (running[0] || running[1]))) }
/* an fn that waits for its token is told to stop (every caller of its flight left) */
ltl w_hung_fn_stopped { [] !((hung[0] && fnstop[0]) || (hung[1] && fnstop[1]) || (hung[2] && fnstop[2])) }
/* a caller waits for an fn that waits for its token while a caller that never leaves waits too
 * (the liveness property's excuse) */
ltl w_excused { [] !(EXCUSED(0) || EXCUSED(1) || EXCUSED(2)) }
/* a spurious wake-up happens */
ltl w_spurious { [] (spurious == NSPURIOUS) }
/* two executions overlap after forget */
ltl w_overlap_after_forget { [] !((running[0] && forgot[0] && (running[1] || running[2])) || (running[1] && forgot[1] && (running[0] || running[2])) || (running[2] && forgot[2] && (running[0] || running[1]))) }
/* record 0 is freed, then reused */
ltl w_reuse { [] (inuse[0] -> [] (!inuse[0] -> [] !inuse[0])) }
/* a call begins after a live record's flight ended */
ltl w_stale { [] !(stale[0] != 0 && inuse[0]) }
#endif

/* ---- the steps shared by several processes -------------------------------------------------- */

/* Frees record r (its last hold is gone): zero, as a free record always is. */
inline free_record(r) {
  assert(listed[r] == 0 && !listlock[r]);
  inuse[r] = false; state[r] = 0; able[r] = false; detached[r] = false; fnstop[r] = false;
  ghost_freed(r)
}

/* futex wake of every caller parked on record r's word: std::atomic::notify_all */
inline notify_all(r) {
  d_step {
    assert(inuse[r]);                       /* S10: nobody notifies freed memory */
    ASSERT_WAKE_AFTER_CLOSE(r);             /* S7 */
    if :: parked[0] == r + 1 -> parked[0] = 0 :: else fi;
    if :: parked[1] == r + 1 -> parked[1] = 0 :: else fi;
    if :: parked[2] == r + 1 -> parked[2] = 0 :: else fi
  }
}

/* flight::release_user (8); the last user runs destroy_outcome and release_hold, and the
 * last hold reclaims the memory. Inside the caller's step: the destruction is private to
 * the last user. */
inline release_user(r) {
  assert(inuse[r] && users[r] > 0);
  users[r]--;
  if
  :: users[r] == 0 ->
     value[r] = 0;                          /* flight::destroy_outcome */
     holds[r]--;                            /* flight::release_hold */
     if :: holds[r] == 0 -> free_record(r) :: else fi
  :: else
  fi
}

/* table.erase(r): unlink by identity, and release the table's hold (never the last: the caller
 * holds a user reference). */
inline erase(r) {
  if :: slot == r -> slot = NIL; holds[r]-- :: else fi
}

/* flight::leave by caller `who` of record r: the CAS (14) (its loop is one read-modify-write
 * here), then, if it abandoned the flight, request_stop of fn's token. `t` is a local of the
 * process running it. `departure` is true for a leader's departure run by the stopper (on the
 * thread that requested the stop, or on the deadline agent's), which is over when leave
 * returns (cb[who] = CB_NONE) and leaves the stopper's `r` as NIL. */
#define LEAVE_OVER(who, r, departure) \
  cb[who] = (departure -> CB_NONE : cb[who]); r = (departure -> NIL : r)
inline leave(who, r, t, departure) {
  d_step {
    assert(inuse[r]);
    t = 0;
    if
    :: able[r] && (state[r] & DONE) == 0 ->
       t = state[r] - CALLER;
#ifdef MUTANT_ABANDON_WHILE_CALLER_WAITS
       if :: (t & CALLERMASK) <= CALLER -> t = t | ABANDONED :: else fi;
#else
       if :: (t & CALLERMASK) == 0 -> t = t | ABANDONED :: else fi;
#endif
       state[r] = t;
       nwait[r]--                           /* ghost: this caller no longer waits */
    :: else                                 /* not abandonable, or closed: nothing to do */
    fi;
    if
    :: (t & ABANDONED) == 0 -> t = 0; LEAVE_OVER(who, r, departure)
    :: else
    fi
  }
  if
  :: t != 0 ->
     d_step {                               /* abandon_.request_stop() */
       assert(inuse[r]);                    /* S10: the leaver still holds the record */
       ASSERT_NOBODY_WAITS(r);              /* S12 */
       fnstop[r] = true;
       t = 0; LEAVE_OVER(who, r, departure)
     }
  :: else
  fi
}

/* A follower's stop callback (protocol.hpp, wait_listed's on_stop): signal its own parker. */
#ifndef MUTANT_STOP_WAKES_NOBODY
#define SIGNAL_OWN_STOP(i) pbits[i] = pbits[i] | STOPPED
#else
#define SIGNAL_OWN_STOP(i) skip                   /* mutant: the callback signals nothing */
#endif
/* Its registration, inside the caller (std::stop_callback's constructor runs it at once if the
 * stop was requested already). */
#define REGISTER_STOP_CALLBACK() \
       if \
       :: HAS_TOKEN(me) && (stopped & BIT(me)) != 0 -> SIGNAL_OWN_STOP(me) \
       :: HAS_TOKEN(me) && (stopped & BIT(me)) == 0 -> cb[me] = CB_FOLLOW \
       :: else \
       fi

/* A follower's result: ~stop_callback and ~waiter first, if it waited listed (nothing
 * otherwise); read the value; drop the result. Ends the call. */
#define GOT_VALUE() \
    assert(inuse[r] && value[r] != 0);               /* S3/S8: the flight's value is there */ \
    assert(value[r] == 1);                           /* S12: never fn's answer after its stop */ \
    ASSERT_NOT_STALE(r);                             /* S2 */ \
    cb[me] = CB_NONE; node[me] = 0; pbits[me] = 0; \
    release_user(r);                                 /* ~result */ \
    fol = fol & ~BIT(me); rec[me] = 0; \
    r = NIL; s = 0
/* A caller that throws cancelled or deadline_exceeded: its stop or deadline came. Ends the call. */
#define CANCELLED() \
    assert(MAY_LEAVE(me) && (stopped & BIT(me)) != 0);   /* only a caller whose stop came */ \
    fol = fol & ~BIT(me); rec[me] = 0; \
    r = NIL; s = 0

/* ---- the callers: group::call_with (singleflight.hpp), lead and follow (protocol.hpp) ----- */

active [NCALLER] proctype caller() {
  byte me = _pid;
  byte r = NIL;             /* the record this call holds a user reference to */
  byte s;                   /* the last value of the state word this caller read, or scratch */
  byte calls = 0;

next_call:
  if
  :: calls == NCALLS -> goto all_done
  :: else
  fi;
  d_step {
    calls++; ghost_call_begins(); r = NIL;
    /* calls::check_not_over: a token already stopped or a deadline already passed throws
     * before any lookup */
    s = (MAY_LEAVE(me) && (stopped & BIT(me)) != 0 -> 1 : 0)
  }
  if
  :: s == 1 -> goto cancelled
  :: else
  fi;

lookup:                     /* group::call_with, top of the loop */
  /* table.find + flight::try_add_user (7): a user reference, or NIL */
  atomic { d_step {
    r = slot;
    if
    :: r != NIL && users[r] > 0 -> users[r]++
    :: else -> r = NIL
    fi
  } }
  if
  :: r != NIL -> goto join
  :: else
  fi;
  /* table.make + make_abandonable + table.insert (insert-if-absent of a built record) +
   * table.discard on failure. One step: the record is private to this caller until the insert
   * publishes it. The lowest free record of the pool is taken; running out of records would be
   * a leak (S10). fn takes a token, so the flight is abandonable if its leader may leave. */
  d_step {
    if
    :: slot == NIL ->
       r = 0;
       do
       :: r < NREC && inuse[r] -> r++
       :: r < NREC && !inuse[r] -> break
       :: r == NREC -> assert(false)        /* pool exhausted: a record was never freed */
       od;
       inuse[r] = true; users[r] = 1; holds[r] = 2; value[r] = 0;
       if
       :: MAY_LEAVE(me) -> able[r] = true; state[r] = CALLER   /* flight::make_abandonable */
       :: else -> state[r] = 0
       fi;
       slot = r; rec[me] = r + 1;
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
  /* flight::try_join (1): fetch_or, or the CAS of an abandonable flight */
  atomic { d_step {
    assert(inuse[r]);
    s = state[r];
    if
    :: (s & DONE) != 0 -> s = 1             /* closed */
    :: else ->
       if
#ifndef MUTANT_ABANDONED_ACCEPTS_JOINER
       :: able[r] && (s & ABANDONED) != 0 -> s = 2   /* abandoned */
#endif
       :: else ->
          ASSERT_JOIN_WAITED(r);            /* S12: no new caller once nobody waits */
          if :: able[r] -> state[r] = s + CALLER; nwait[r]++ :: else fi;
          fol = fol | BIT(me); rec[me] = r + 1;
          s = 0                             /* joined */
       fi
    fi
  } }
  if
  :: s == 0 -> goto follow
  :: s == 1 ->              /* closed under us: it is out of the table already */
     d_step { release_user(r); r = NIL; s = 0 }
     goto lookup
  :: s == 2 ->              /* abandoned (S12): the table removes it by identity, still guarded */
found_abandoned:
     atomic { d_step { erase(r); release_user(r); r = NIL; s = 0 } }
     goto lookup
  fi;

lead:                       /* detail::lead, with run_leader's departure armed */
  /* run_leader: in an abandonable flight, the leader's departure is registered on its token
   * (a stop_callback, whose constructor runs it at once if the stop was already requested) or
   * on its deadline (a deadline_agent entry, which the agent runs once the deadline passed). */
  atomic { d_step {
    s = 0;
    if
    :: able[r] ->
       if
       :: HAS_TOKEN(me) && (stopped & BIT(me)) != 0 -> s = 1     /* run it now, here */
#ifdef MUTANT_LEADER_DEADLINE_IGNORED
       :: HAS_DEADLINE(me) -> skip          /* mutant: no agent entry */
#endif
       :: else -> cb[me] = CB_LEAD; cbrec[me] = r
       fi
    :: else                 /* not abandonable: run_leader runs fn with nothing armed */
    fi
  } }
  if :: s == 1 -> leave(me, r, s, false) :: else fi;
  /* fn runs (running[r], set by the insert): every other process may move meanwhile. It may
   * return at any time; with FN_MAY_HANG it may instead wait for its stop token. */
#ifdef FN_MAY_HANG
  if
  :: true
  :: atomic { hung[r] = true; end_fn_waits: fnstop[r] }  /* fn returns once its token is requested */
  fi;
#endif
  /* fn returns; flight::produce writes the value (fn's answer after its stop, if its token was
   * requested); run_leader's callbacks are deregistered (waiting for a departure that is
   * running); unregister() runs table.erase(*r), by identity. One step: nobody reads the value
   * before DONE, and the deregistration and the erase touch what no single other step touches
   * together (README.md). */
  d_step {
    cb[me] != CB_LEAD_RUN ->                /* ~stop_callback / ~deadline_callback */
    cb[me] = CB_NONE; cbrec[me] = 0;
    GHOST_FN_RETURNS(r); hung[r] = false;
    if :: fnstop[r] -> value[r] = 2 :: else -> value[r] = 1 fi;
#ifdef MUTANT_ERASE_BY_KEY
    if                      /* mutant: table.forget(h, key) removes whatever is registered */
    :: slot != NIL -> holds[slot]--; slot = NIL
    :: else
    fi
#else
    erase(r)                /* a no-op if forget() or a finder of the abandoned flight got there first */
#endif
  }

  /* flight::close */
#ifdef MUTANT_NOTIFY_BEFORE_DONE
  /* mutant: looks at WAITERS and notifies before setting DONE, then sets DONE silently */
  if :: (state[r] & WAITERS) != 0 -> notify_all(r) :: else fi;
  d_step { s = state[r]; state[r] = state[r] | DONE; s = s & ~WAITERS }
#else
  d_step { s = state[r]; state[r] = state[r] | DONE }   /* fetch_or(DONE) (2) */
#endif
  if :: (s & WAITERS) != 0 -> notify_all(r) :: else fi;
  if
  :: (s & LISTED) != 0 ->   /* flight::wake_listed */
     /* take the whole list under the list lock, marking it detached */
     d_step { !listlock[r] -> assert(inuse[r]); detached[r] = true; s = listed[r]; listed[r] = 0 }
     /* signal kClosed on each node, outside the lock, in any order; reading the node's next
      * and signalling it are one step (the waiter cannot return in between) */
     do
     :: (s & BIT(0)) != 0 -> d_step { assert(node[0] == r + 1); pbits[0] = pbits[0] | CLOSED; s = s & ~BIT(0) }
     :: (s & BIT(1)) != 0 -> d_step { assert(node[1] == r + 1); pbits[1] = pbits[1] | CLOSED; s = s & ~BIT(1) }
     :: (s & BIT(2)) != 0 -> d_step { assert(node[2] == r + 1); pbits[2] = pbits[2] | CLOSED; s = s & ~BIT(2) }
     :: s == 0 -> break
     od
  :: else
  fi;
  /* the leader's result: fn's outcome, whatever happened meanwhile; then the result is dropped */
  atomic { d_step {
    assert(inuse[r] && value[r] != 0);              /* S3/S8: the flight's value is there */
    release_user(r);                                 /* ~result */
    rec[me] = 0; r = NIL; s = 0
  } }
  goto next_call

follow:                     /* detail::follow */
  if
  :: MAY_LEAVE(me) -> goto follow_listed
  :: else
  fi;

  /* A follower without token or deadline: flight::wait_until_closed. closed_after_spin's
   * loads (3) are left out: they end the wait only where the fetch_or below, which reads the
   * word too, also ends it. s = 0 here. */
  do
  :: (s & DONE) != 0 -> break
  :: else ->
     if
#ifndef MUTANT_SKIP_WAITERS_BIT
     :: (s & WAITERS) == 0 ->                         /* fetch_or(WAITERS) (4) */
        d_step { assert(inuse[r]); s = state[r] | WAITERS; state[r] = s }
#endif
     :: else ->
        /* std::atomic::wait(s) (5) on a futex: check the word and queue atomically; stay
         * blocked until notify_all (or a spurious wake-up); re-check; return once the word
         * differs from s. The load that finds it changed also serves as the next load (3). */
        do
        :: atomic {
             assert(inuse[r]);
             if
             :: state[r] != s -> s = state[r]; break
             :: else -> parked[me] = r + 1
             fi
           }
           if
           :: d_step { parked[me] == 0 -> skip }                        /* woken */
           :: d_step { parked[me] != 0 && spurious > 0 -> spurious--; parked[me] = 0 }
           fi
        od
     fi
  od;
  goto got_value

follow_listed:              /* a follower with a token or a deadline: wait_listed */
  /* closed_after_spin's loads (3) are left out: enlist's read-modify-write reads DONE too. */
  /* flight::enlist: under the list lock, fetch_or(LISTED) (6), and link the node if DONE was
   * clear (one step, README.md: the lock regions); then, if it was linked, the stop callback's
   * registration (a token only), whose constructor runs it at once if the stop was requested
   * already, signalling this follower's own parker. The registration rides in the same step:
   * it touches only the callback, which no step between the two would (README.md).
   * s = 1: closed already, not linked. */
#ifdef MUTANT_ENLIST_CHECKS_DONE_FIRST
  /* mutant: under the list lock, load DONE; then, in another step, set LISTED and link */
  atomic { d_step { !listlock[r] -> listlock[r] = true; assert(inuse[r]); s = state[r] } }
  d_step {
    if
    :: (s & DONE) == 0 ->
       state[r] = state[r] | LISTED; listed[r] = listed[r] | BIT(me); node[me] = r + 1;
       s = 0;
       REGISTER_STOP_CALLBACK()
    :: else -> s = 1
    fi;
    listlock[r] = false
  }
#else
  atomic { d_step {
    assert(inuse[r]);
    s = state[r];
    state[r] = s | LISTED;
    if
    :: (s & DONE) == 0 ->
       listed[r] = listed[r] | BIT(me); node[me] = r + 1;
       s = 0;
       REGISTER_STOP_CALLBACK()
    :: else -> s = 1
    fi
  } }
#endif
  if
  :: s == 1 -> goto got_value                       /* closed already: the outcome is there */
  :: else
  fi;
  /* parker::wait (a token) or parker::wait_until (a deadline): until kClosed or kStopped is
   * signalled, or the deadline passes. */
  d_step {
    (pbits[me] & (CLOSED | STOPPED)) != 0 || (HAS_DEADLINE(me) && (stopped & BIT(me)) != 0) ->
    /* S7: woken only by the close, once the flight is closed, or by its own stop */
    assert((pbits[me] & CLOSED) == 0 || (state[r] & DONE) != 0);
    assert((pbits[me] & STOPPED) == 0 || (stopped & BIT(me)) != 0);
    if
    :: (pbits[me] & CLOSED) != 0 -> GOT_VALUE()   /* the outcome, in the same step (README.md) */
    :: else
    fi
  }
  if
  :: r == NIL -> goto next_call
  :: else
  fi;
  /* flight::delist: under the list lock, unlink the node unless close took the list (one
   * step). s = 1: it was linked, and this follower leaves. */
  d_step {
    !listlock[r] ->
    assert(inuse[r] && node[me] == r + 1);
#ifdef MUTANT_LEAVE_DESPITE_CLOSE
    if :: !detached[r] -> listed[r] = listed[r] & ~BIT(me) :: else fi;
    s = 1                   /* mutant: leaves even though close() will signal the node */
#else
    if
    :: !detached[r] -> listed[r] = listed[r] & ~BIT(me); s = 1
    :: else -> s = 0
    fi
#endif
  }
  if
  :: s == 0 ->              /* the close came first: wait for its kClosed, take the outcome */
wait_closed:
     atomic { d_step { (pbits[me] & CLOSED) != 0 -> GOT_VALUE() } }
     goto next_call
  :: else
  fi;
#ifdef MUTANT_LEAVE_NOTIFIES_ALL
  if :: (state[r] & WAITERS) != 0 -> notify_all(r) :: else fi;   /* mutant: wakes the word's waiters */
#endif
  leave(me, r, s, false);
  /* ~stop_callback (deregister), ~waiter, then detail::calls::follow throws and ~flight_ref
   * releases the reference. One step: the deregistration touches only the callback, the rest
   * only this caller's node and the reference counts. */
  d_step {
    assert(inuse[r]);
    cb[me] = CB_NONE; node[me] = 0; pbits[me] = 0;
    release_user(r);
    CANCELLED()
  }
  goto next_call

got_value:                  /* the follower's result */
  atomic { d_step { GOT_VALUE() } }
  goto next_call

cancelled:                  /* cancelled or deadline_exceeded, before joining anything */
  atomic { d_step { CANCELLED() } }
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
     d_step {
       n++;
       r = slot;
       slot = NIL;
       if
       :: r != NIL ->
          GHOST_FORGOTTEN(r);
          /* the table's hold, released at once; never the last: a registered record's leader,
           * which erases it before letting go, still holds it */
          assert(holds[r] == 2);
          holds[r]--
       :: else
       fi;
       r = 0
     }
  :: else -> break
  od
}

/* ---- the stops: caller 1's std::stop_source, the clock and the deadline agent -------------- */

/* One process for the threads that request caller 1's stop, make deadlines pass, and run a
 * leader's departure at its deadline (the deadline agent, one thread per process). They are
 * separate threads in the program; their steps touch different callers' flags and callbacks and
 * different flights' state words, so they commute, and one process that takes them in any order
 * reaches the same states (README.md). Each event happens at most once: the stop and each
 * deadline; whether it ever happens is chosen first. */
active proctype stopper() {
  byte will;                /* the stops and deadlines that will come: bit i for caller i */
  byte r = NIL;
  byte t;
  /* (The order of the options is the order of a depth-first search: it changes only how soon
   * an error is met. A witness is met sooner where every stop comes, a lost wake-up where
   * some stop never comes.) */
  if
#ifdef WITNESSES
  :: will = BIT(TOKEN_CALLER) | DEADLINES
#endif
  :: will = DEADLINES
  :: will = BIT(TOKEN_CALLER)
#ifndef WITNESSES
  :: will = BIT(TOKEN_CALLER) | DEADLINES
#endif
  :: will = 0
#ifdef ALL_LEAVE
  :: will = BIT(TOKEN_CALLER) | BIT(0)
  :: will = BIT(TOKEN_CALLER) | BIT(2)
  :: will = BIT(0)
  :: will = BIT(2)
#endif
  fi;
end_agent:
  do
  :: d_step {               /* request_stop: set the flag; take the registered callback, run it */
       (will & BIT(TOKEN_CALLER)) != 0 ->
       will = will & ~BIT(TOKEN_CALLER);
       stopped = stopped | BIT(TOKEN_CALLER);
       if
       :: cb[TOKEN_CALLER] == CB_LEAD -> cb[TOKEN_CALLER] = CB_LEAD_RUN; r = cbrec[TOKEN_CALLER]
       :: cb[TOKEN_CALLER] == CB_FOLLOW ->
          /* the follower's callback, one step: signal its own parker (and nobody else) */
          assert(node[TOKEN_CALLER] != 0);                 /* S10: the node is alive */
          SIGNAL_OWN_STOP(TOKEN_CALLER);
          cb[TOKEN_CALLER] = CB_NONE
       :: else
       fi
     }
     if
     :: r != NIL -> leave(TOKEN_CALLER, r, t, true)     /* the leader's departure */
     :: else
     fi
  :: d_step { (will & BIT(2)) != 0 -> will = will & ~BIT(2); stopped = stopped | BIT(2) }
  :: d_step { cb[2] == CB_LEAD && (stopped & BIT(2)) != 0 -> cb[2] = CB_LEAD_RUN; r = cbrec[2] }
     leave(2, r, t, true)                                /* the agent runs the departure */
#ifdef ALL_LEAVE
  :: d_step { (will & BIT(0)) != 0 -> will = will & ~BIT(0); stopped = stopped | BIT(0) }
  :: d_step { cb[0] == CB_LEAD && (stopped & BIT(0)) != 0 -> cb[0] = CB_LEAD_RUN; r = cbrec[0] }
     leave(0, r, t, true)
#endif
  od
}

/* ---- the rest of the program --------------------------------------------------------------- */

/* Moves only when no other process can (timeout): it stands for the other threads of a program,
 * which go on running while a caller is blocked. It turns a state where a caller is blocked
 * forever and everything else has finished or is blocked too into an infinite run, an
 * acceptance cycle of the liveness claim where some caller never returns. Where every caller
 * has returned (or is excused), it only repeats a state in which the property holds. Its idle
 * loop is the model's only cycle (README.md: fairness), so the liveness run needs no fairness
 * assumption. */
#ifdef ENVIRONMENT
active proctype environment() {
end_idle:
  do :: timeout -> skip od
}
#endif
