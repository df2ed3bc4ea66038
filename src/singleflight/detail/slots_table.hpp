// singleflight::detail — internal; the project's own flight table: a hash trie of one-word slots
// that grows without moving anything, with hazard-pointer reclamation (hazard.hpp).
//
// A slot word is one of:
//   0            no flight for any key that maps here;
//   record*      the one flight registered for the keys that map here;
//   bucket* | 1  an immutable array of (hash, record*) for two or more flights whose keys map
//                here, replaced as a whole (copy on write) when a flight joins or leaves it;
//   child* | 2   an array of 2^SINGLEFLIGHT_SLOT_CHILD_BITS slots (a *child*), which holds the
//                flights that map here, told apart by further bits of their hashes. A slot that
//                holds a child holds it for as long as the table lives.
// (Records, buckets and children are at least 4-aligned, so the two low bits are free for tags.)
//
// Where a key lives. Its hash h is mixed as m = h * 2^64/φ (Fibonacci hashing: keys with
// consecutive hashes, such as integers under std::hash, land far apart), and m is read from its
// most significant bit down. The top array has 2^k slots (four per expected flight) and takes
// the first k bits; each level of children takes the next SINGLEFLIGHT_SLOT_CHILD_BITS. The slots
// those bits pick, from the top down, are the key's *path*, and its flights live in the first slot
// on the path that does not hold a child.
//
// Growth. An insert into a bucket that already holds SINGLEFLIGHT_SLOT_SPLIT_AT flights splits
// the slot instead: it builds a child with the bucket's flights and the new one, each in the child
// slot its next bits pick (a record, or a small bucket where several land together), and installs
// it with one CAS of the slot from the bucket to the child. A bucket whose flights all have one
// hash is never split, since no bits can tell them apart; it just grows. So splitting stops at
// the latest where the 64 bits of m run out, and only keys with equal hashes share a bucket past
// the threshold. The top array never moves, and a child is never removed while the table lives
// (the destructor frees them): following a child word needs no hazard, and a record only ever
// moves down its path, never up.
//
// Every change to the table is one compare-and-swap of one slot word, so each operation takes
// effect at that CAS:
//   - insert-if-absent: follow the key's path, look for the key in what its slot holds, and CAS
//     the word from what was read to the word with the new record added (the record, a larger
//     bucket, or a child). The CAS fails if anything changed since the read (a split included),
//     so the key was absent at the moment the record went in (S1).
//   - erase by identity: CAS the word from one that holds this record to one that does not. A
//     finishing flight never removes a newer one registered after forget() (S5), and needs no key
//     comparison. When the CAS fails because the slot now holds a child, a split has moved the
//     record down: erase follows it there.
//   - find: follow the path, read the record (or bucket) the slot names under a hazard, and take
//     the finder's step (join or not, protocol.hpp's join_guarded) while the hazard stands.
//
// Cost. The lone-flight path reads an empty slot, CASes the record in and CASes it out: two
// read-modify-writes and no hazard. A collision costs an allocation per change of a bucket, which
// holds at most SINGLEFLIGHT_SLOT_SPLIT_AT flights (bar equal hashes, and one more for a while
// when a split puts all its flights in one child slot), so however many flights are in progress
// an insert or erase copies a few entries, and a lookup follows one child word per
// 2^SINGLEFLIGHT_SLOT_CHILD_BITS-fold growth beyond the top array (one level for 100,000 flights
// in a default table).
//
// Memory. The top array is four words per expected flight: `expected_flights` is a sizing hint,
// not a limit. A child (2^SINGLEFLIGHT_SLOT_CHILD_BITS words) is made only where more than
// SINGLEFLIGHT_SLOT_SPLIT_AT flights were registered under one slot at once, so P flights
// registered in an empty table make fewer than P / SINGLEFLIGHT_SLOT_SPLIT_AT children per level
// (100,000 flights with spread hashes in a default table: the 1,024 top slots' children and a
// few more, about 0.5 MiB). Children stay until the table goes, so the table keeps the shape of
// its busiest moment: its memory follows the peak number of flights in progress, not the number
// of calls. (Strictly, the busiest moment of each part of the hash space: a workload whose
// crowded hashes move keeps the children of each crowd it had.)
//
// Lifetime: the table holds no reference on a record. A record leaves the table (its erase)
// before its leader closes the flight, so by the time its last user lets go it is unreachable,
// and the last user retires it: its memory is freed by a later scan, once no hazard names it.
// Buckets are retired by whoever replaced them (by a smaller or larger bucket, or by a child).
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
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
  static constexpr word kChildTag = 2;
  static constexpr word kTags = kBucketTag | kChildTag;
  static constexpr int kBucketHazard = 0;
  static constexpr int kRecordHazard = 1;

 public:
  static constexpr std::size_t kDefaultExpectedFlights = 256;
  static constexpr std::size_t kSlotsPerFlight = 4;
  static constexpr std::size_t kSplitAt = SINGLEFLIGHT_SLOT_SPLIT_AT;
  static constexpr unsigned kChildBits = SINGLEFLIGHT_SLOT_CHILD_BITS;
  static constexpr std::size_t kChildSlots = std::size_t{1} << kChildBits;
  static_assert(kSplitAt >= 2, "SINGLEFLIGHT_SLOT_SPLIT_AT: a bucket holds at least two flights");
  static_assert(kChildBits >= 1 && kChildBits <= 8, "SINGLEFLIGHT_SLOT_CHILD_BITS: 1 to 8");

  struct record : flight<Value>, retired {
    template <class K>
    record(hazard_domain& d, std::size_t h, const K& k)
        : flight<Value>(&reclaim, /*table_holds=*/0), retired(&free), domain(d), hash(h), key(k) {
      key_access.write();
    }
    hazard_domain& domain;
    // Written by the leader before the record is published (T2, T4), read-only after.
    const std::size_t hash;  // Hash{}(key), computed once by the leader
    const Key key;
    [[no_unique_address]] plain_access key_access;  // marks the reads of hash and key
  };

  // The top array's index takes at most 32 bits of the mixed hash (2^32 slots), so that at least
  // 32 are left for the children.
  static constexpr std::size_t kMaxExpectedFlights =
      std::min<std::size_t>(std::size_t{1} << 30,
                            std::numeric_limits<std::size_t>::max() / (2 * kSlotsPerFlight));

  // `expected_flights`: about how many flights may be in progress at once, a hint that sizes the
  // top array (four slots per expected flight, rounded up to a power of two; 0 gives a single
  // slot). More flights are fine: crowded slots split into children (above). More than
  // kMaxExpectedFlights throws std::length_error.
  explicit slots_table(std::size_t expected_flights = kDefaultExpectedFlights)
      : top_bits_(static_cast<unsigned>(std::countr_zero(slot_count(expected_flights)))),
        top_shift_(top_bits_ == 0 ? 0 : 64 - top_bits_),
        top_mask_((std::size_t{1} << top_bits_) - 1),
        slots_(std::make_unique<atomic<word>[]>(top_mask_ + 1)) {}
  slots_table(const slots_table&) = delete;
  slots_table& operator=(const slots_table&) = delete;

  // Frees the children. Records are their flights', and none is in progress now (S10), so no
  // slot holds a record or a bucket any more.
  ~slots_table() {
    for (std::size_t i = 0; i <= top_mask_; ++i) {
      free_tree(slots_[i].load(std::memory_order_relaxed));  // relaxed: nobody else uses it now
    }
  }

  // flight_table::find. The record found is read under its hazard, which stands until the
  // finder's step is taken.
  template <class K>
  found<Value> find(std::size_t h, const K& key) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    place at = top(h);
    record* r = look(me, at, h, key).match;
    if (r == nullptr) return {lookup::absent, {}};
    found<Value> step = join_guarded<Value>(*r);
    if (step.what != lookup::abandoned) return step;
    // Abandoned (S12): remove it by identity while it is still guarded, so that its address
    // cannot have been reused by a newer flight, and let the caller look again.
    (void)unlink(me, at, h, r);
    return {lookup::closed, {}};
  }

  // flight_table::make and discard.
  template <class K>
  record* make(std::size_t h, const K& key) { return record_pool<record>::make(domain(), h, key); }
  static void discard(record* r) noexcept { record_pool<record>::discard(r); }

  // flight_table::insert: one CAS of the slot word, from the word in which the key was seen
  // absent. Throws std::bad_alloc when a collision bucket or a child cannot be allocated.
  bool insert(record& r) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    place at = top(r.hash);
    for (;;) {
      const seen now = look(me, at, r.hash, r.key);  // `at` is now the slot for r's key
      if (now.match != nullptr) return false;
      if (splits(now.w, r.hash)) {
        if (split(at, now.w, r)) return true;
        continue;  // the slot changed: look again from it
      }
      bucket* grown = now.w == 0 ? nullptr : with(now.w, r);
      word expected = now.w;
      const word desired = grown == nullptr ? word_of(&r) : word_of(grown);
      // (T2) seq_cst, pairs with (T1), (T3), (H2) and (R1): publishes the record; unlinks the old
      // bucket.
      if (at.slot->compare_exchange_strong(expected, desired, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {  // relaxed: look re-reads
        if (is_bucket(now.w)) retire_bucket(as_bucket(now.w));  // unlinked by the CAS above
        return true;
      }
      free_bucket(grown);
    }
  }

  // flight_table::erase: one CAS of a slot word, from a word that holds `r`.
  bool erase(record& r) noexcept {
    thread_record& me = domain().local_claimed();
    const cleared_at_exit guard{me};
    return unlink(me, top(r.hash), r.hash, &r);
  }

  // flight_table::forget.
  template <class K>
  void forget(std::size_t h, const K& key) {
    thread_record& me = domain().local();
    const cleared_at_exit guard{me};
    // The record stays under its hazard while it is unlinked, so its address cannot be reused
    // by a newer flight meanwhile. If the unlink finds it gone, it left on its own after the
    // look: at that moment the key was absent, and forget() has nothing more to do.
    place at = top(h);
    if (record* r = look(me, at, h, key).match) (void)unlink(me, at, h, r);
  }

 private:
  // A collision bucket: `size` entries follow the header in the same allocation.
  struct entry {
    std::size_t hash;
    record* r;
  };
  // Written by the thread that builds it, before it is published (T2, T4); immutable after.
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
  // A child: the slots one level further down a path. Its slot words are written (relaxed) by the
  // thread that builds it before it is published (T4); from then on they are slots like the top's.
  struct child {
    atomic<word> slots[kChildSlots] = {};
  };
  static_assert(alignof(record) > kTags && alignof(child) > kTags &&
                __STDCPP_DEFAULT_NEW_ALIGNMENT__ > kTags);

  // Clears the calling thread's hazards when an operation ends, however it ends.
  struct cleared_at_exit {
    thread_record& me;
    ~cleared_at_exit() { hazard_domain::clear(me); }
  };

  // A slot on a key's path, and how many of the mixed hash's bits picked it and the slots above.
  struct place {
    atomic<word>* slot;
    unsigned used;
  };

  // The mixed hash m: the product's high bits depend on every bit of h.
  static std::uint64_t mixed(std::size_t h) noexcept {
    return static_cast<std::uint64_t>(h) * 0x9E3779B97F4A7C15ull;
  }

  // The top array's slot for h: the first top_bits_ bits of m. (A one-slot table shifts by 0
  // and masks everything away, since a shift by 64 would be undefined.)
  place top(std::size_t h) const noexcept {
    return {&slots_[static_cast<std::size_t>(mixed(h) >> top_shift_) & top_mask_], top_bits_};
  }

  // The slot of the child named by `w`, the word read at `at`, that h's path continues to: the
  // kChildBits bits of m after the first at.used. Only a slot whose flights had different hashes
  // was split, and they agreed on the first at.used bits, so at.used < 64.
  static place below(place at, word w, std::size_t h) noexcept {
    return {&as_child(w)->slots[child_index(h, at.used)], at.used + kChildBits};
  }
  static std::size_t child_index(std::size_t h, unsigned used) noexcept {
    assert(used < 64);
    return static_cast<std::size_t>((mixed(h) << used) >> (64 - kChildBits));
  }

  // What a look found: the word it read at the slot for the key and the record registered for
  // the key in it, if any. The record is guarded by the record hazard until the caller's guard
  // clears it.
  struct seen {
    word w;
    record* match;
  };

  // Follows h's path from `at` to the slot that holds the key's flights (`at` ends there), and
  // looks for the key in what that slot holds.
  template <class K>
  seen look(thread_record& me, place& at, std::size_t h, const K& key) const {
    for (;;) {
      // (T1) acquire, pairs with (T2) and (T4): a record, bucket or child installed by a CAS is
      // seen built (a child with the words its builder wrote in its slots).
      const word w = at.slot->load(std::memory_order_acquire);
      if (w == 0) return {w, nullptr};
      if (is_child(w)) {  // never freed while the table lives: no hazard needed to go down
        at = below(at, w, h);
        continue;
      }
      record* match = nullptr;
      if (is_bucket(w)) {
        if (!look_in_bucket(me, at, w, h, key, match)) continue;
        return {w, match};
      }
      record* r = as_record(w);
      if (!hazard_domain::protect(me, kRecordHazard, r, *at.slot, w)) continue;
      r->key_access.read();
      return {w, r->hash == h && equal_(r->key, key) ? r : nullptr};
    }
  }

  // Looks for the key among the flights of the bucket `w`, read at `at`: sets `match` to its
  // record, guarded, or leaves it null. False if the slot changed meanwhile: look again. Out of
  // line, so that look() stays small enough to be inlined: the lone-flight path (an empty slot, or
  // one record) makes no call. (Measured with g++ 12 -O2: finding a lone record took about 5
  // instructions more than in the fixed array of before the children, and about 30 more with
  // this function inlined into look(), which then was not inlined itself.)
  template <class K>
  [[gnu::noinline]] bool look_in_bucket(thread_record& me, const place& at, word w, std::size_t h,
                                        const K& key, record*& match) const {
    bucket* b = as_bucket(w);
    if (!hazard_domain::protect(me, kBucketHazard, b, *at.slot, w)) return false;
    b->entries_access.read();
    for (std::size_t i = 0; i < b->size; ++i) {
      const entry e = b->entries()[i];
      if (e.hash != h) continue;
      // The bucket is guarded, but a record in it may leave and be freed while we read it:
      // guard the record too, and re-check that the bucket is still the slot's word.
      if (!hazard_domain::protect(me, kRecordHazard, e.r, *at.slot, w)) return false;
      e.r->key_access.read();
      if (equal_(e.r->key, key)) {
        match = e.r;
        return true;
      }
    }
    return true;
  }

  // Removes `r` (whose hash is h) from the slot that holds it, starting at `at`, a slot on its
  // path at or above that slot. False if r is not registered.
  bool unlink(thread_record& me, place at, std::size_t h, const record* r) noexcept {
    for (;;) {
      // (T3) seq_cst, pairs with (T2) and (T4): a forget() that unlinked r first precedes r's
      // scan in S. (Loads that meet a child word could be acquire; one load serves both.)
      const word w = at.slot->load(std::memory_order_seq_cst);
      if (is_child(w)) {  // r is further down, if anywhere: a split may have moved it there
        at = below(at, w, h);
        continue;
      }
      word desired = 0;
      bucket* old = nullptr;
      bucket* shrunk = nullptr;
      if (w != word_of(r)) {
        if (!is_bucket(w)) return false;  // empty, or another key's record: r is gone
        old = as_bucket(w);
        if (!hazard_domain::protect(me, kBucketHazard, old, *at.slot, w)) continue;
        old->entries_access.read();
        const std::size_t i = index_of(old, r);
        if (i == old->size) return false;
        if (old->size == 2) {
          desired = word_of(old->entries()[1 - i].r);
        } else {
          shrunk = without(old, i);
          desired = word_of(shrunk);
        }
      }
      word expected = w;
      // (T2) seq_cst, pairs with (T1), (T3), (H2) and (R1): unlinks r or its bucket.
      if (at.slot->compare_exchange_strong(expected, desired, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {  // relaxed: re-read
        if (old != nullptr) retire_bucket(old);
        return true;
      }
      free_bucket(shrunk);
    }
  }

  // Whether adding a flight with hash h to what `w` (read by look, guarded) holds splits the
  // slot: `w` is a full bucket, and some flight in it has another hash (flights with equal
  // hashes stay together at every depth, so splitting them would only add a level).
  static bool splits(word w, std::size_t h) noexcept {
    if (!is_bucket(w)) return false;
    bucket* b = as_bucket(w);
    b->entries_access.read();
    return b->size >= kSplitAt && std::any_of(b->entries(), b->entries() + b->size,
                                               [h](const entry& e) { return e.hash != h; });
  }

  // Replaces the bucket `w`, read at `at` and guarded, by a child holding its flights and `r`,
  // with one CAS. False if the slot changed meanwhile; then nothing was published. May throw
  // std::bad_alloc; then `r` is not registered.
  bool split(place at, word w, record& r) {
    child* c = child_of(as_bucket(w), r, at.used);
    word expected = w;
    // (T4) seq_cst, pairs with (T1), (T3), (H2) and (R1): publishes the child with its slots'
    // words, the buckets they name and `r`; unlinks the old bucket, as (T2) does, so its
    // retirement is ordered with every reader's hazard.
    if (at.slot->compare_exchange_strong(expected, word_of(c), std::memory_order_seq_cst,
                                         std::memory_order_relaxed)) {  // relaxed: look re-reads
      retire_bucket(as_bucket(w));
      return true;
    }
    free_tree(word_of(c));  // never published
    return false;
  }

  // A new child for a slot whose bits are the first `used` of m: every entry of `old` and `r`, in
  // the child slot its next kChildBits bits pick; several in one slot share a new bucket.
  static child* child_of(bucket* old, record& r, unsigned used) {
    const auto slot_of = [used](const entry& e) { return child_index(e.hash, used); };
    // Every entry, sorted by its slot in the child, so that each slot's entries are one run.
    const std::unique_ptr<bucket, unpublished> all{with(word_of(old), r)};
    entry* const first = all->entries();
    entry* const last = all->entries() + all->size;
    std::sort(first, last, [&](const entry& a, const entry& b) { return slot_of(a) < slot_of(b); });
    std::unique_ptr<child, unpublished> c{new child()};
    for (entry* run = first; run != last;) {
      entry* const end = std::find_if(run, last, [&](const entry& e) {
        return slot_of(e) != slot_of(*run);
      });
      const word w = end - run == 1 ? word_of(run->r) : word_of(copy_of(run, end));
      // Relaxed: the child is not published yet; (T4) publishes it with these words.
      c->slots[slot_of(*run)].store(w, std::memory_order_relaxed);
      run = end;
    }
    return c.release();
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
      const entry both[] = {{other->hash, other}, {r.hash, &r}};
      return copy_of(both, both + 2);
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

  // A new bucket holding the entries [first, last).
  static bucket* copy_of(const entry* first, const entry* last) {
    bucket* b = new_bucket(static_cast<std::size_t>(last - first));
    std::copy(first, last, b->entries());
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

  // Frees the bucket or child `w` names, with everything below a child that is the table's (its
  // children and buckets; records are their flights'). For a child or bucket never published,
  // or a table nobody uses any more.
  static void free_tree(word w) noexcept {
    if (is_bucket(w)) return bucket::free(as_bucket(w));
    if (!is_child(w)) return;  // empty, or a record
    child* c = as_child(w);
    for (atomic<word>& s : c->slots) free_tree(s.load(std::memory_order_relaxed));  // unshared
    delete c;
  }
  struct unpublished {
    void operator()(bucket* b) const noexcept { bucket::free(b); }
    void operator()(child* c) const noexcept { free_tree(word_of(c)); }
  };

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
          "table's top array would need more than 2^32 slots");
    }
    return std::bit_ceil(std::max<std::size_t>(expected_flights * kSlotsPerFlight, 1));
  }

  static bool is_bucket(word w) noexcept { return (w & kBucketTag) != 0; }
  static bool is_child(word w) noexcept { return (w & kChildTag) != 0; }
  static record* as_record(word w) noexcept { return reinterpret_cast<record*>(w); }
  static bucket* as_bucket(word w) noexcept { return reinterpret_cast<bucket*>(w & ~kBucketTag); }
  static child* as_child(word w) noexcept { return reinterpret_cast<child*>(w & ~kChildTag); }
  static word word_of(const record* r) noexcept { return reinterpret_cast<word>(r); }
  static word word_of(const bucket* b) noexcept { return reinterpret_cast<word>(b) | kBucketTag; }
  static word word_of(const child* c) noexcept { return reinterpret_cast<word>(c) | kChildTag; }

#ifdef SINGLEFLIGHT_RELACY
  hazard_domain& domain() noexcept { return domain_; }
  hazard_domain domain_;  // the model's own; frees what is left when the model's group goes
#else
  static hazard_domain& domain() noexcept { return hazard_domain::global(); }
#endif
  [[no_unique_address]] KeyEqual equal_;
  const unsigned top_bits_;  // the top array has 2^top_bits_ slots
  const unsigned top_shift_;
  const std::size_t top_mask_;
  const std::unique_ptr<atomic<word>[]> slots_;
};

}  // namespace singleflight::detail
