// singleflight::detail — internal; the project's own flight table: a fixed array of slots, one
// word each, with hazard-pointer reclamation (hazard.hpp).
//
// A slot word is one of:
//   0            no flight for any key that maps here;
//   record*      the one flight registered for the keys that map here;
//   bucket* | 1  an immutable array of (hash, record*) for two or more flights whose keys map
//                here, replaced as a whole (copy on write) when a flight joins or leaves it.
// Every change to the table is one compare-and-swap of one slot word, so each operation takes
// effect at that CAS:
//   - insert-if-absent: read the word, look for the key in what it holds, CAS the word from what
//     was read to the word with the new record added. The CAS fails if anything changed since
//     the read, so the key was absent at the moment the record went in (S1).
//   - erase by identity: CAS the word from one that holds this record to one that does not. A
//     finishing flight never removes a newer one registered after forget() (S5), and needs no key
//     comparison.
//   - find: read the word and the record (or bucket) it names under a hazard, and take the
//     finder's step (join or not, protocol.hpp's join_guarded) while the hazard stands.
// The lone-flight path reads an empty slot, CASes the record in and CASes it out: two
// read-modify-writes and no hazard. Collisions cost an allocation per change of a bucket; the
// table is sized so that they are rare (four slots per expected flight, keys spread by Fibonacci
// hashing).
//
// Lifetime: the table holds no reference on a record. A record leaves the table (its erase)
// before its leader closes the flight, so by the time its last user lets go it is unreachable,
// and the last user retires it: its memory is freed by a later scan, once no hazard names it.
// Buckets are retired by whoever replaced them.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>

#include "atomic.hpp"
#include "config.hpp"
#include "flight.hpp"
#include "hazard.hpp"
#include "protocol.hpp"
#include "record_pool.hpp"

namespace singleflight::detail {

template <class Key, class Value, class Hash, class KeyEqual>
class slots_table {
  using word = std::uintptr_t;
  using thread_record = hazard_domain::thread_record;
  static constexpr word kBucketTag = 1;
  static constexpr int kBucketHazard = 0;
  static constexpr int kRecordHazard = 1;

 public:
  static constexpr std::size_t kDefaultExpectedFlights = 256;
  static constexpr std::size_t kSlotsPerFlight = 4;

  struct record : flight<Value>, retired {
    template <class K>
    record(hazard_domain& d, std::size_t h, const K& k)
        : flight<Value>(&reclaim, /*table_holds=*/0), retired(&free), domain(d), hash(h), key(k) {
      key_access.write();
    }
    hazard_domain& domain;
    // Written by the leader before the record is published (T2), read-only after.
    const std::size_t hash;  // Hash{}(key), computed once by the leader
    const Key key;
    [[no_unique_address]] plain_access key_access;  // marks the reads of hash and key
  };

  // The slot index takes 32 bits of the mixed hash, so a table has at most 2^32 slots.
  static constexpr std::size_t kMaxExpectedFlights =
      std::min<std::size_t>(std::size_t{1} << 30,
                            std::numeric_limits<std::size_t>::max() / (2 * kSlotsPerFlight));

  // `expected_flights`: about how many flights may be in progress at once. The table has four
  // slots per expected flight, rounded up to a power of two (0 gives a single slot, which every
  // key shares), and never grows: more flights only share slots more often. More than
  // kMaxExpectedFlights throws std::length_error.
  explicit slots_table(std::size_t expected_flights = kDefaultExpectedFlights)
      : mask_(slot_count(expected_flights) - 1),
        slots_(std::make_unique<atomic<word>[]>(mask_ + 1)) {}
  slots_table(const slots_table&) = delete;
  slots_table& operator=(const slots_table&) = delete;

  // flight_table::find. The record found is read under its hazard, which stands until the
  // finder's step is taken.
  template <class K>
  found<Value> find(std::size_t h, const K& key) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    record* r = look(me, slot(h), h, key).match;
    if (r == nullptr) return {lookup::absent, {}};
    found<Value> step = join_guarded<Value>(*r);
    if (step.what != lookup::abandoned) return step;
    // Abandoned (S12): remove it by identity while it is still guarded, so that its address
    // cannot have been reused by a newer flight, and let the caller look again.
    (void)unlink(me, h, r);
    return {lookup::closed, {}};
  }

  // flight_table::make and discard.
  template <class K>
  record* make(std::size_t h, const K& key) { return record_pool<record>::make(domain(), h, key); }
  static void discard(record* r) noexcept { record_pool<record>::discard(r); }

  // flight_table::insert: one CAS of the slot word, from the word in which the key was seen
  // absent. Throws std::bad_alloc when a collision bucket cannot be allocated.
  bool insert(record& r) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    atomic<word>& s = slot(r.hash);
    for (;;) {
      const seen at = look(me, s, r.hash, r.key);
      if (at.match != nullptr) return false;
      bucket* grown = at.w == 0 ? nullptr : with(at.w, r);
      word expected = at.w;
      const word desired = grown == nullptr ? word_of(&r) : word_of(grown);
      // (T2) seq_cst, pairs with (T1), (H2) and (R1): publishes the record; unlinks the old bucket.
      if (s.compare_exchange_strong(expected, desired, std::memory_order_seq_cst,
                                    std::memory_order_relaxed)) {  // relaxed: the loop re-reads
        if (is_bucket(at.w)) retire_bucket(as_bucket(at.w));  // unlinked by the CAS above
        return true;
      }
      free_bucket(grown);
    }
  }

  // flight_table::erase: one CAS of the slot word, from a word that holds `r`.
  bool erase(record& r) noexcept {
    thread_record& me = domain().local_claimed();
    const cleared_at_exit guard{me};
    return unlink(me, r.hash, &r);
  }

  // flight_table::forget.
  template <class K>
  void forget(std::size_t h, const K& key) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    // The record stays under its hazard while it is unlinked, so its address cannot be reused
    // by a newer flight meanwhile. If the unlink finds it gone, it left on its own after the
    // look: at that moment the key was absent, and forget() has nothing more to do.
    if (record* r = look(me, slot(h), h, key).match) (void)unlink(me, h, r);
  }

 private:
  // A collision bucket: `size` entries follow the header in the same allocation.
  struct entry {
    std::size_t hash;
    record* r;
  };
  // Written by the thread that builds it, before it is published (T2); immutable after.
  struct bucket : retired {
    explicit bucket(std::size_t n) noexcept : retired(&free), size(n) {}
    const std::size_t size;
    [[no_unique_address]] plain_access entries_access;  // marks every access to the entries
    entry* entries() noexcept { return reinterpret_cast<entry*>(this + 1); }
    static void free(retired* p) noexcept {
      bucket* b = static_cast<bucket*>(p);
      b->~bucket();
      ::operator delete(b);
    }
  };

  // Clears the calling thread's hazards when an operation ends, however it ends.
  struct cleared_at_exit {
    thread_record& me;
    ~cleared_at_exit() { hazard_domain::clear(me); }
  };

  // What a look at a slot found: the word it read and the record registered for the key in
  // it, if any. The record is guarded by the record hazard until the caller's guard clears it.
  struct seen {
    word w;
    record* match;
  };

  template <class K>
  seen look(thread_record& me, const atomic<word>& s, std::size_t h, const K& key) const {
    for (;;) {
      // (T1) acquire, pairs with (T2): a record or bucket installed by a CAS is seen built.
      const word w = s.load(std::memory_order_acquire);
      if (w == 0) return {w, nullptr};
      if (!is_bucket(w)) {
        record* r = as_record(w);
        if (!hazard_domain::protect(me, kRecordHazard, r, s, w)) continue;
        r->key_access.read();
        return {w, r->hash == h && equal_(r->key, key) ? r : nullptr};
      }
      bucket* b = as_bucket(w);
      if (!hazard_domain::protect(me, kBucketHazard, b, s, w)) continue;
      b->entries_access.read();
      bool moved = false;
      for (std::size_t i = 0; i < b->size && !moved; ++i) {
        const entry e = b->entries()[i];
        if (e.hash != h) continue;
        // The bucket is guarded, but a record in it may leave and be freed while we read it:
        // guard the record too, and re-check that the bucket is still the slot's word.
        if (!hazard_domain::protect(me, kRecordHazard, e.r, s, w)) {
          moved = true;
        } else {
          e.r->key_access.read();
          if (equal_(e.r->key, key)) return {w, e.r};
        }
      }
      if (!moved) return {w, nullptr};
    }
  }

  bool unlink(thread_record& me, std::size_t h, const record* r) noexcept {
    atomic<word>& s = slot(h);
    for (;;) {
      // (T3) seq_cst, pairs with (T2): a forget() that unlinked r first precedes r's scan in S.
      word w = s.load(std::memory_order_seq_cst);
      word desired = 0;
      bucket* old = nullptr;
      bucket* shrunk = nullptr;
      if (w != word_of(r)) {
        if (!is_bucket(w)) return false;  // empty, or another key's record: r is gone
        old = as_bucket(w);
        if (!hazard_domain::protect(me, kBucketHazard, old, s, w)) continue;
        old->entries_access.read();
        const std::size_t at = index_of(old, r);
        if (at == old->size) return false;
        if (old->size == 2) {
          desired = word_of(old->entries()[1 - at].r);
        } else {
          shrunk = without(old, at);
          desired = word_of(shrunk);
        }
      }
      // (T2) seq_cst, pairs with (T1), (T3), (H2) and (R1): unlinks r or its bucket.
      if (s.compare_exchange_strong(w, desired, std::memory_order_seq_cst,
                                    std::memory_order_relaxed)) {  // relaxed: the loop re-reads
        if (old != nullptr) retire_bucket(old);
        return true;
      }
      free_bucket(shrunk);
    }
  }

  static std::size_t index_of(bucket* b, const record* r) noexcept {
    std::size_t i = 0;
    while (i < b->size && b->entries()[i].r != r) ++i;
    return i;
  }

  // A new bucket: what `w` holds (a record, guarded, or a guarded bucket) plus `r`.
  static bucket* with(word w, record& r) {
    if (!is_bucket(w)) {
      record* other = as_record(w);
      bucket* b = new_bucket(2);
      b->entries()[0] = {other->hash, other};
      b->entries()[1] = {r.hash, &r};
      b->entries_access.write();
      return b;
    }
    bucket* old = as_bucket(w);
    bucket* b = new_bucket(old->size + 1);
    std::copy(old->entries(), old->entries() + old->size, b->entries());
    b->entries()[old->size] = {r.hash, &r};
    b->entries_access.write();
    return b;
  }

  // A new bucket: `old` without entry `at`. Erase cannot fail, so running out of memory here
  // (for a bucket of three or more colliding flights) ends the process with a message.
  static bucket* without(bucket* old, std::size_t at) noexcept {
    bucket* b = nullptr;
    try {
      b = new_bucket(old->size - 1);
    } catch (...) {
      std::fputs("singleflight: out of memory while removing a flight from a shared table slot\n",
                 stderr);
      std::abort();
    }
    std::copy(old->entries(), old->entries() + at, b->entries());
    std::copy(old->entries() + at + 1, old->entries() + old->size, b->entries() + at);
    b->entries_access.write();
    return b;
  }

  static bucket* new_bucket(std::size_t n) {
    void* mem = ::operator new(sizeof(bucket) + n * sizeof(entry));
    return ::new (mem) bucket(n);
  }
  // Frees a bucket that was never published.
  static void free_bucket(bucket* b) noexcept {
    if (b != nullptr) bucket::free(b);
  }
  void retire_bucket(bucket* b) noexcept { domain().retire(b); }

  // The flight's last user lets go: the record is out of the table (its erase came before the
  // close), so it can be retired.
  static void reclaim(flight<Value>* f) noexcept {
    record* r = static_cast<record*>(f);
    r->domain.retire(r);
  }
  // The scan found no hazard naming the record.
  static void free(retired* p) noexcept { record_pool<record>::discard(static_cast<record*>(p)); }

  static std::size_t slot_count(std::size_t expected_flights) {
    if (expected_flights > kMaxExpectedFlights) {
      throw std::length_error(
          "singleflight: group(expected_flights) with more than 2^30 expected flights; the "
          "table would need more than 2^32 slots");
    }
    return std::bit_ceil(std::max<std::size_t>(expected_flights * kSlotsPerFlight, 1));
  }

  static bool is_bucket(word w) noexcept { return (w & kBucketTag) != 0; }
  static record* as_record(word w) noexcept { return reinterpret_cast<record*>(w); }
  static bucket* as_bucket(word w) noexcept { return reinterpret_cast<bucket*>(w & ~kBucketTag); }
  static word word_of(const record* r) noexcept { return reinterpret_cast<word>(r); }
  static word word_of(const bucket* b) noexcept { return reinterpret_cast<word>(b) | kBucketTag; }

  // Fibonacci hashing: the product's high bits pick the slot, so keys with consecutive hashes
  // (std::hash of integers is the identity) land in different cache lines.
  atomic<word>& slot(std::size_t h) const noexcept {
    const std::uint64_t mixed = static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ull;
    return slots_[static_cast<std::size_t>(mixed >> 32) & mask_];
  }

#ifdef SINGLEFLIGHT_RELACY
  hazard_domain& domain() noexcept { return domain_; }
  hazard_domain domain_;  // the model's own; frees what is left when the model's group goes
#else
  static hazard_domain& domain() noexcept { return hazard_domain::global(); }
#endif
  [[no_unique_address]] KeyEqual equal_;
  const std::size_t mask_;
  const std::unique_ptr<atomic<word>[]> slots_;
};

}  // namespace singleflight::detail
