// singleflight::detail — internal; the flight table built on libcds's intrusive MichaelHashSet:
// a fixed array of buckets, each a lock-free ordered list (M. M. Michael, "High Performance
// Dynamic Lock-Free Hash Tables and List-Based Sets", SPAA 2002), with hazard-pointer (HP) or
// dynamic hazard-pointer (DHP) reclamation.
//
// The table is written once, over a *layout*: which base class links a record into a libcds
// container, and how that container is assembled (michael_buckets below). group's tables use the
// Michael layout; bench/ puts other libcds containers behind the same table through the layouts
// of bench/libcds_ablation_tables.hpp.
//
// The contract group relies on (flight_table.hpp), and how this table meets it:
//   - insert-if-absent of a fully built record:  MichaelHashSet::insert(record&).
//   - find and join:                             find() runs our functor while the node is
//     guarded; it takes the finder's step (protocol.hpp's join_guarded) there.
//   - erase by identity:                         unlink(record&) removes that node only if it is
//     the one registered for its key, so a finishing flight never removes a newer one (S5).
//   - the table's hold on a record is dropped by the reclamation's disposer, once no hazard
//     pointer guards it; until then a finder may still be reading it.
//
// Ordering within a bucket. Michael's lists are sorted and libcds asks for a three-way compare,
// but a Key has only Hash and KeyEqual. Records are ordered by full hash value; among records
// with equal hashes but unequal keys, the node is always reported as "less" than the probe. A
// search for key k therefore walks the whole run of records with k's hash and stops only at a
// record equal to k or at the first larger hash; an insert of k lands at the end of that run,
// by a CAS on the run's last link, which fails if anything was linked there meanwhile. Two
// concurrent inserts of the same key thus contend for the same link and the loser's retry finds
// the winner: insert-if-absent holds even for colliding hashes, with no ordering on Key.
// (libcds's search always calls compare(node, probe); see michael_list.h, search().)
#pragma once

#include <cds/intrusive/michael_list_dhp.h>
#include <cds/intrusive/michael_list_hp.h>
#include <cds/intrusive/michael_set.h>

#include <cstddef>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "flight.hpp"
#include "libcds_runtime.hpp"
#include "protocol.hpp"
#include "record_pool.hpp"

namespace singleflight::detail {

// The Michael layout: a MichaelHashSet (a fixed array of buckets) of MichaelLists. A layout names
// the collector (`gc`), the base class that links a record into the container (`hook`), and
// `container<Record, Order, StoredHash, Disposer>::type`: the container of records ordered by
// Order and hashed by StoredHash, whose collector calls Disposer once per unlinked record.
template <class GC>
struct michael_buckets {
  using gc = GC;
  using hook = cds::intrusive::michael_list::node<GC>;

  template <class Record, class Order, class StoredHash, class Disposer>
  struct container {
    // The sequentially consistent model, not libcds's default relaxed one: in the relaxed model a
    // search that helps unlink a deleted node does so with an acquire-only CAS, and a thread that
    // then reaches the next node through that link has no happens-before with the node's
    // construction. No real CPU reorders it, but it is a data race in the C++ memory model (and
    // ThreadSanitizer reports it); the stronger model closes it for a few per cent of a call.
    using list_traits = typename cds::intrusive::michael_list::make_traits<
        cds::intrusive::opt::hook<cds::intrusive::michael_list::base_hook<cds::opt::gc<GC>>>,
        cds::opt::compare<Order>, cds::intrusive::opt::disposer<Disposer>,
        cds::opt::memory_model<cds::opt::v::sequential_consistent>>::type;
    using list = cds::intrusive::MichaelList<GC, Record, list_traits>;
    // No item counter: a shared counter bumped by every insert and erase would be the one point
    // of contention in an otherwise independent set of buckets.
    using set_traits = typename cds::intrusive::michael_set::make_traits<
        cds::opt::hash<StoredHash>,
        cds::opt::item_counter<cds::atomicity::empty_item_counter>>::type;
    using type = cds::intrusive::MichaelHashSet<GC, list, set_traits>;
  };
};

// The flight table over a libcds layout. The container that the layout assembles must offer
// insert(record&), find(probe, f) running f while the node is guarded, get(probe) returning a
// guarded pointer, unlink(record&) comparing node addresses, and a constructor taking (expected
// items, load factor).
template <class Layout, class Key, class Value, class Hash, class KeyEqual>
class libcds_table {
  static_assert(std::is_empty_v<KeyEqual> && std::is_default_constructible_v<KeyEqual>,
                "singleflight: the libcds table compares keys with a default-constructed "
                "KeyEqual, so KeyEqual must be a stateless function object");
  using GC = typename Layout::gc;
  using runtime = libcds_runtime<GC>;

 public:
  static constexpr std::size_t kDefaultExpectedFlights = 256;

  struct record : flight<Value>, Layout::hook {
    template <class K>
    record(std::size_t h, const K& k) : flight<Value>(&reclaim, /*table_holds=*/1), hash(h), key(k) {}
    const std::size_t hash;  // Hash{}(key), computed once by the leader
    const Key key;
  };

  // `expected_flights`: about how many flights may be in progress at once (at most the number
  // of threads calling the group). In the Michael layout the bucket array is that size rounded
  // up to a power of two and never grows; more flights only make buckets longer.
  explicit libcds_table(std::size_t expected_flights = kDefaultExpectedFlights)
      : set_(expected_flights, /*load factor=*/1) {}

  ~libcds_table() { runtime::enter(); }  // the set's destructor, which runs next, uses hazard pointers

  libcds_table(const libcds_table&) = delete;
  libcds_table& operator=(const libcds_table&) = delete;

  // flight_table::find: the finder's step runs inside libcds's find, under its guard.
  template <class K>
  found<Value> find(std::size_t h, const K& key) {
    runtime::enter();
    std::optional<found<Value>> step;
    set_.find(probe<K>{h, &key}, [&](record& r, const probe<K>&) { step.emplace(join_guarded<Value>(r)); });
    runtime::traversal_done();
    if (!step) return {lookup::absent, {}};
    if (step->what == lookup::abandoned) {
      // Out of find's guard now: look the key up again under a guard of its own, and remove what
      // is registered only if it is abandoned (the abandoned record, or a newer one that was
      // abandoned too; never a live flight), by identity (S12).
      if (auto guarded = set_.get(probe<K>{h, &key}); guarded && guarded->abandoned()) {
        erase(*guarded);
      }
      runtime::traversal_done();  // after `guarded` let go
      return {lookup::closed, {}};
    }
    return std::move(*step);
  }

  // flight_table::make and discard.
  template <class K>
  static record* make(std::size_t h, const K& key) { return record_pool<record>::make(h, key); }
  static void discard(record* r) noexcept { record_pool<record>::discard(r); }

  // flight_table::insert.
  bool insert(record& r) {
    runtime::enter();
    const bool inserted = set_.insert(r);
    runtime::traversal_done();
    return inserted;
  }

  // flight_table::erase: libcds's unlink compares node addresses.
  bool erase(record& r) noexcept {
    runtime::enter_for_removal();  // the flight may complete on a thread new to the group
    const bool unlinked = set_.unlink(r);
    runtime::traversal_done();
    return unlinked;
  }

  // flight_table::forget.
  template <class K>
  void forget(std::size_t h, const K& key) {
    runtime::enter();
    if (auto guarded = set_.get(probe<K>{h, &key})) erase(*guarded);
    runtime::traversal_done();  // after `guarded` let go
  }

 private:
  // What find() and forget() look up: a key of the caller's type (a Key, or a type the
  // transparent Hash and KeyEqual take) and its hash.
  template <class K>
  struct probe {
    std::size_t hash;
    const K* key;
  };

  struct order {
    int operator()(const record& node, const record& r) const noexcept {
      return compare(node, r.hash, r.key);
    }
    template <class K>
    int operator()(const record& node, const probe<K>& p) const noexcept {
      return compare(node, p.hash, *p.key);
    }
    template <class K>
    static int compare(const record& node, std::size_t h, const K& k) noexcept {
      if (node.hash != h) return node.hash < h ? -1 : 1;
      return KeyEqual{}(node.key, k) ? 0 : -1;  // unequal keys, equal hashes: keep walking
    }
  };

  struct stored_hash {
    std::size_t operator()(const record& r) const noexcept { return r.hash; }
    template <class K>
    std::size_t operator()(const probe<K>& p) const noexcept { return p.hash; }
  };

  // Called once per record by the collector, after the record was unlinked and once no hazard
  // pointer guards it: the table no longer reaches the record.
  struct disposer {
    void operator()(record* r) const noexcept {
      runtime::reclaiming();
      r->release_hold();
    }
  };

  // Back to the allocator, not to the thread's record pool: libcds's scan decides that no guard
  // covers the record inside its uninstrumented library, so ThreadSanitizer cannot see what
  // orders another thread's last guarded read before this thread's reuse of the block, and
  // reports the next record built in it. Going through free and
  // malloc keeps that hand-over where TSan's annotations of it (libcds_runtime.hpp) apply.
  static void reclaim(flight<Value>* f) noexcept { record_pool<record>::free(static_cast<record*>(f)); }

  // Attaches the constructing thread before the container is built, which may already use the
  // collector (a SplitListSet links its first bucket's sentinel node under a guard).
  struct attach_first {
    attach_first() { runtime::enter(); }
  };
  [[no_unique_address]] attach_first attached_;
  typename Layout::template container<record, order, stored_hash, disposer>::type set_;
};

}  // namespace singleflight::detail
