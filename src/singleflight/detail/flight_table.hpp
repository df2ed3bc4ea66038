// singleflight::detail — internal; the contract between `group` and the table that holds its
// flight records (paper/design.md §3). `group` checks it where it is instantiated.
//
// A table for keys of type Key and values of type Value is a class template instantiated as
// Table<Key, Value, Hash, KeyEqual>, constructible from the number of flights expected in
// progress at once (a sizing hint) and by default, and providing the operations below. `key` is a
// Key, or, when Hash and KeyEqual are transparent, any type K they take (requirements.hpp's
// lookup_key): find(), make() and forget() are templates over it, make() builds the record's
// one Key from it, and the concept checks them with a Key.
//
//   record                 The table's record type: derives from flight<Value> and adds what the
//                          table needs (the key, its hash, links).
//
//   make(h, key)           -> record*
//                          A new record for `key` (whose hash is `h`), led by the calling thread,
//                          not yet registered: the leader's user reference is the caller's. May
//                          throw (std::bad_alloc, or the key's copy constructor).
//
//   discard(r)  static noexcept
//                          Destroys a record from make() that was never registered.
//
//   find(h, key)           -> found<Value>
//                          Looks up the record registered for `key` and, if there is one, takes
//                          the finder's step on it (join_guarded) while the table still guards
//                          the record from being freed. Linearizes at the read that found the
//                          record, or found none. Returns `joined` with the follower's reference,
//                          or `absent`, `closed` or `reentrant` with none. A record the step finds
//                          abandoned (S12) is removed by identity before find() returns `closed`.
//                          May throw std::bad_alloc only before it looked (a thread's first
//                          call may allocate its per-thread state).
//
//   insert(r)              -> bool
//                          Insert-if-absent: registers `r`, built by make(), unless a record for
//                          its key is registered already (then false, and the caller discards
//                          `r`, which nobody else has seen). Linearizes at the step that
//                          registered `r`, or that saw the other record. May throw
//                          std::bad_alloc; then `r` is not registered.
//
//   erase(r)  noexcept     -> bool
//                          Erase by identity: removes exactly `r` if it is still registered, and
//                          does nothing otherwise (after forget(), a newer flight for the same
//                          key may be registered, and must stay: S5). True if this call removed
//                          it. The caller holds a user reference to `r`. Linearizes at the step
//                          that removed `r`. After erase() returns, no later find() returns `r`.
//
//   forget(h, key)         Removes whichever record is registered for `key` now, by identity
//                          (as erase), if any. May throw only as find() may.
//
// What guards a record a table hands out: find() returns only a reference the finder joined with
// (a successful join keeps the record alive until its caller lets go); make() returns the
// leader's own reference. Nothing else a table hands out outlives the call.
//
// How a record leaves: its leader erases it before closing the flight (lead() in protocol.hpp),
// and its last user calls flight::release_hold(), which hands the memory to the table's reclaim
// function. A table that can still reach an unlinked record (a reader may be inside it) keeps a
// hold of its own until no reader can.
#pragma once

#include <concepts>
#include <cstddef>

#include "flight.hpp"
#include "protocol.hpp"

namespace singleflight::detail {

template <class T, class Key, class Value>
concept flight_table =
    std::derived_from<typename T::record, flight<Value>> && std::constructible_from<T, std::size_t> &&
    std::default_initializable<T> &&
    requires(T& table, std::size_t h, const Key& key, typename T::record& r) {
      { table.make(h, key) } -> std::same_as<typename T::record*>;
      { T::discard(&r) } noexcept;
      { table.find(h, key) } -> std::same_as<found<Value>>;
      { table.insert(r) } -> std::same_as<bool>;
      { table.erase(r) } noexcept -> std::same_as<bool>;
      { table.forget(h, key) } -> std::same_as<void>;
    };

}  // namespace singleflight::detail
