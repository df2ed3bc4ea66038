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

// SINGLEFLIGHT_INLINE_VALUE_BYTES: a Value at most this large lives inside the flight's record;
// a larger one gets an allocation of its own, which the flight's last user frees. A record may
// outlive its last user for a while (a thread's pool of record blocks, a reclamation that frees
// retired records in batches), so this bounds what such records hold: README, "Memory".
#ifndef SINGLEFLIGHT_INLINE_VALUE_BYTES
#define SINGLEFLIGHT_INLINE_VALUE_BYTES 256
#endif

// SINGLEFLIGHT_RELACY: when defined, atomic.hpp takes its atomics, parking, thread identity, stop
// tokens and plain-data probes from the Relacy model checker (proofs/relacy_machine.hpp) instead
// of the standard library. Only proofs/ defines it.
