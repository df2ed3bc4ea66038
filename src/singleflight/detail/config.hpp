// singleflight::detail — internal; build switches shared by every header. Not part of the API.
#pragma once

// SINGLEFLIGHT_CHECK_LIFETIME: when 1, each group counts its flights in progress and its
// destructor aborts with a message if any remain (S10: destroying a group with flights in
// progress is a precondition violation). On by default in builds without NDEBUG; it costs two
// relaxed read-modify-writes per flight, so release builds leave it off.
#ifndef SINGLEFLIGHT_CHECK_LIFETIME
#ifdef NDEBUG
#define SINGLEFLIGHT_CHECK_LIFETIME 0
#else
#define SINGLEFLIGHT_CHECK_LIFETIME 1
#endif
#endif

// SINGLEFLIGHT_SPIN_BEFORE_PARK: how many times a follower re-reads the state word (with a CPU
// pause between reads) before it sets the has-waiters bit and parks. A follower that sees the
// flight finish within the spin never makes the leader pay for a futex wake-up.
#ifndef SINGLEFLIGHT_SPIN_BEFORE_PARK
#define SINGLEFLIGHT_SPIN_BEFORE_PARK 64
#endif

// SINGLEFLIGHT_RELACY: when defined, atomic.hpp takes its atomics, parking, thread identity, stop
// tokens and plain-data probes from the Relacy model checker (proofs/relacy_machine.hpp) instead
// of the standard library. Only proofs/ defines it.
