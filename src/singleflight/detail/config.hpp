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

// SINGLEFLIGHT_SLOT_SPLIT_AT: the most flights a slot of the own table (slots_table.hpp) keeps in
// one collision bucket. An insert into a bucket that holds this many splits the slot instead: a
// child array of slots takes its flights, told apart by further bits of their hashes. Each insert
// or erase in a bucket copies it, so this bounds what one costs; smaller values make more
// children. At least 2. (A bucket whose flights all have one hash is never split: no bits can
// tell them apart.)
#ifndef SINGLEFLIGHT_SLOT_SPLIT_AT
#define SINGLEFLIGHT_SLOT_SPLIT_AT 8
#endif

// SINGLEFLIGHT_SLOT_CHILD_BITS: how many further bits of the hash each level of the own table's
// child arrays takes, so a child has 2^bits slots (6: 64 slots, 512 bytes on 64-bit targets).
// 1 to 8.
#ifndef SINGLEFLIGHT_SLOT_CHILD_BITS
#define SINGLEFLIGHT_SLOT_CHILD_BITS 6
#endif

// SINGLEFLIGHT_RELACY: when defined, atomic.hpp takes its atomics, parking, thread identity, stop
// tokens and plain-data probes from the Relacy model checker (proofs/relacy_machine.hpp) instead
// of the standard library. Only proofs/ defines it.
