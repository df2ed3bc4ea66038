// singleflight::detail — internal; build switches shared by every header. Not part of the API.
#pragma once

#include <atomic>

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
// Under the model checker one read keeps the path in the model without multiplying its states.
#ifndef SINGLEFLIGHT_SPIN_BEFORE_PARK
#ifdef SINGLEFLIGHT_RELACY
#define SINGLEFLIGHT_SPIN_BEFORE_PARK 1
#else
#define SINGLEFLIGHT_SPIN_BEFORE_PARK 64
#endif
#endif

// SINGLEFLIGHT_RELACY: when defined, atomic.hpp takes its atomics, parking, thread identity, stop
// tokens and plain-data probes from the Relacy model checker (relacy_shim.hpp) instead of the
// standard library. Only proofs/ defines it.

namespace singleflight::detail {

// Deliberate breakages for proofs/. Each names one step or ordering of the protocol; proofs/
// compiles the shipped headers with SINGLEFLIGHT_MUTANT set to one of them and checks that the
// model checker catches the breakage, so that no model passes vacuously. Real builds never set it.
namespace mutant {
enum id {
  none,
  ignore_insert_failure,      // a caller whose insert failed leads anyway (S1)
  erase_by_key,               // the leader removes whatever is registered for its key (S5)
  relaxed_publish,            // close() publishes the outcome with a relaxed RMW (S3, S8)
  join_after_close,           // try_join() ignores DONE (S4)
  read_joined_before_close,   // close() reads JOINED, then sets DONE in a separate step (S4)
  skip_waiters_bit,           // a follower parks without setting WAITERS (S6)
  notify_before_done,         // the leader notifies, then sets DONE (S6)
  no_epoch_bump,              // a stop callback notifies without changing the word (S7)
  release_before_deregister,  // a cancelled follower lets go before its stop callback is gone (S7)
  release_hold_first,         // the last user releases its hold before destroying the outcome (S10)
  join_acquire_only,          // try_join() is acquire only, so a join can escape the last user (S10)
  // The own table (slots_table.hpp, hazard.hpp):
  insert_by_store,            // insert stores its word instead of a CAS from the word it read (S1)
  hazard_without_recheck,     // a reader publishes a hazard but does not re-read the slot (S10)
  scan_loads_acquire,         // a scan reads the hazards with acquire instead of seq_cst (S10)
  free_bucket_at_once,        // a replaced collision bucket is freed instead of retired (S10)
};
#ifdef SINGLEFLIGHT_MUTANT
inline constexpr id active = SINGLEFLIGHT_MUTANT;
#else
inline constexpr id active = none;
#endif
constexpr bool is(id m) noexcept { return active == m; }
// The ordering a numbered site uses: `order`, or relaxed under mutant `m`.
constexpr std::memory_order weakened_by(id m, std::memory_order order) noexcept {
  return is(m) ? std::memory_order_relaxed : order;
}
// A seq_cst site that mutant `m` weakens to acquire.
constexpr std::memory_order weakened_to_acquire_by(id m) noexcept {
  return is(m) ? std::memory_order_acquire : std::memory_order_seq_cst;
}
}  // namespace mutant

}  // namespace singleflight::detail
