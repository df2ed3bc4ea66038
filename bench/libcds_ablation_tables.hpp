// bench/: further libcds containers behind group's one libcds table, for the table ablation.
// Benchmark-only, so it lives here and not in the library; sf-bench names the policies:
//
//   singleflight::group<K, V, Hash, Eq, sfbench::ablation::splitlist_dhp>
//
// Each layout plugs into the library's libcds_table (src/singleflight/detail/libcds_table.hpp),
// so the record, the protocol, the record pool and the reclamation hand-over are the very code
// group runs; only the container differs.
// Every layout here meets the table contract (detail/flight_table.hpp) the same way the Michael
// layout does: insert(record&) links a built record or fails on an equal key; find(probe, f) runs
// f (join_guarded) while a hazard pointer guards the node; unlink(record&) removes the node only
// if the item found for its key is that very record; the collector calls the disposer (which
// drops the table's hold) once no guard covers the unlinked record.
//
// Ordering: all of these keep each bucket as one sorted list and ask for a three-way compare,
// which libcds always calls as compare(node, probe). The Michael layout's trick therefore carries
// over: order by full hash, and report a node with an equal hash but an unequal key as "less", so
// that every record of one hash forms a run and an insert of key k lands at the run's end, where
// two inserts of k contend for the same position. (Split-ordered lists first compare their own
// bit-reversed hash and call our compare only when that is equal; our order refines theirs.)
//
// Included:
//   iterable_{dhp,hp}           MichaelHashSet of IterableLists (libcds's own list, by
//                               M. Khizhinsky): each node points at its item, so erasing clears
//                               the pointer and the node stays to be reused; the list allocates
//                               its nodes itself, an allocation whenever no empty node can be
//                               reused. Search and erase are lock-free, but insert marks both
//                               neighbouring nodes while it links, and an erase or insert next
//                               to a marked node retries until the marks are cleared: an inserter
//                               preempted in that window holds its neighbours up, which shows
//                               when threads outnumber cores.
//   splitlist_{dhp,hp}          SplitListSet over MichaelLists (O. Shalev and N. Shavit,
//                               "Split-Ordered Lists: Lock-Free Extensible Hash Tables", JACM
//                               2006): the bucket array grows. Its growth is driven by an item
//                               counter that every insert and unlink updates, a shared word that
//                               cannot be removed (libcds rejects the empty counter).
//
// IterableList never frees an emptied node, and an insert that finds no empty node before its
// position links a new one (a few per cent of inserts on distinct keys), so its buckets lengthen
// with the number of flights ever made: its figures depend on how long the run was.
//
// Left out, and why:
//   SplitListSet of IterableLists
//                               meets the contract (the unit tests pass with it), but with as
//                               few flights in progress as there are threads a split-ordered
//                               list keeps few buckets, so inserts and erases of neighbouring
//                               records meet at the neighbour marks described above. On two
//                               cores two threads managed a few thousand calls per second and
//                               sometimes stalled for minutes: a figure about that interplay,
//                               not about a table for flights.
//   FeldmanHashSet              treats the hash value as the key: two keys with equal hashes
//                               would be one key (S1 broken for colliding hashes).
//   MichaelHashSet/SplitList of LazyLists; StripedSet, CuckooSet
//                               lock nodes or stripes on insert and erase: they meet the contract
//                               but not group's progress guarantee (registration and removal are
//                               lock-free), so they would not be "the same group".
//   SkipListSet, EllenBinTree   ordered sets without hashing: they need a strict total order on
//                               Key, and a Key has only Hash and KeyEqual. The hash-run trick
//                               above is not antisymmetric, which a list tolerates (one search
//                               position per key) but a multi-level or tree search does not.
//   RCU-based variants          need the caller inside an RCU read-side section around find and
//                               a different retirement path; group's table speaks HP/DHP guards.
#pragma once

#include <cds/intrusive/iterable_list_dhp.h>
#include <cds/intrusive/iterable_list_hp.h>
#include <cds/intrusive/michael_list_dhp.h>
#include <cds/intrusive/michael_list_hp.h>
#include <cds/intrusive/michael_set.h>
#include <cds/intrusive/split_list.h>

#include <singleflight/libcds.hpp>

namespace sfbench::ablation {

using singleflight::detail::libcds_table;
using singleflight::detail::michael_buckets;

// The IterableList keeps its own nodes and points at the item: a record needs no hook.
struct no_hook {};

// The memory model every layout here asks for, as the Michael layout does (libcds_table.hpp:
// relaxed list helping is a data race in the C++ model), so that the ablation compares
// containers, not memory models.
using ablation_memory_model = cds::opt::memory_model<cds::opt::v::sequential_consistent>;

// MichaelHashSet of IterableLists: fixed buckets, as the Michael layout, without an item counter.
template <class GC>
struct iterable_buckets {
  using gc = GC;
  using hook = no_hook;

  template <class Record, class Order, class StoredHash, class Disposer>
  struct container {
    using list = cds::intrusive::IterableList<
        GC, Record,
        typename cds::intrusive::iterable_list::make_traits<
            cds::opt::compare<Order>, cds::intrusive::opt::disposer<Disposer>,
            ablation_memory_model>::type>;
    using type = cds::intrusive::MichaelHashSet<
        GC, list,
        typename cds::intrusive::michael_set::make_traits<
            cds::opt::hash<StoredHash>,
            cds::opt::item_counter<cds::atomicity::empty_item_counter>>::type>;
  };
};

// The split-ordered list's own options: a padded item counter (it cannot be left out, see above),
// the default growable bucket table.
template <class StoredHash>
using split_list_traits = typename cds::intrusive::split_list::make_traits<
    cds::opt::hash<StoredHash>,
    cds::opt::item_counter<cds::atomicity::cache_friendly_item_counter>,
    ablation_memory_model>::type;

// SplitListSet over MichaelLists: a record carries the split-list node (the list link plus the
// bit-reversed hash that SplitListSet::insert writes before linking).
template <class GC>
struct split_michael {
  using gc = GC;
  using hook = cds::intrusive::split_list::node<cds::intrusive::michael_list::node<GC>>;

  template <class Record, class Order, class StoredHash, class Disposer>
  struct container {
    // The Michael layout's own list, traits and all.
    using list =
        typename michael_buckets<GC>::template container<Record, Order, StoredHash, Disposer>::list;
    using type = cds::intrusive::SplitListSet<GC, list, split_list_traits<StoredHash>>;
  };
};

// Table policies for group's last template parameter, named as sf-bench names them
// (`group_<name>`).
template <class K, class V, class H, class E>
using iterable_dhp = libcds_table<iterable_buckets<cds::gc::DHP>, K, V, H, E>;
template <class K, class V, class H, class E>
using iterable_hp = libcds_table<iterable_buckets<cds::gc::HP>, K, V, H, E>;
template <class K, class V, class H, class E>
using splitlist_dhp = libcds_table<split_michael<cds::gc::DHP>, K, V, H, E>;
template <class K, class V, class H, class E>
using splitlist_hp = libcds_table<split_michael<cds::gc::HP>, K, V, H, E>;

}  // namespace sfbench::ablation
