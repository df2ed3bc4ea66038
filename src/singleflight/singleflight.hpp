// singleflight — duplicate call suppression for C++20.
//
// When several threads call `g.call(key, fn)` with the same key at once, one of them (the
// leader) runs fn and the others (followers) wait for that one execution and receive its
// outcome. A *flight* is one execution of fn for a key, from the moment its record is registered
// in the group's table to the moment the record is removed (by completion or by forget()).
//
// Contract (the numbers are those of DESIGN.md; every line is tested, the protocol lines are
// model-checked in proofs/):
//   S1  At most one flight per key is registered; fn runs only in the leader of a registered
//       flight, so executions for a key never overlap, except after forget(key).
//   S2  A caller joins a flight only while it is registered: no caller receives the outcome of a
//       flight that ended before its call began. Nothing is cached.
//   S3  Every caller of a flight receives the same value object, or the same exception object
//       rethrown with its type intact, the leader included.
//   S4  shared() is true for every caller of a flight that had more than one caller and false
//       for a lone caller; leader() is true for exactly one caller per flight.
//   S5  After forget(key), later calls start a new flight; callers already joined still get the
//       old outcome, and the old flight's completion never removes the new one. forget() of an
//       absent key does nothing.
//   S6  When fn returns or throws, every caller returns without help from another thread, and
//       the key is free again.
//   S7  A caller whose stop_token is requested while it waits throws `cancelled` promptly; the
//       flight and its other callers are unaffected. A caller whose token is already stopped
//       throws `cancelled` without joining or starting a flight. The leader always runs fn to
//       the end and is never cancelled.
//   S8  Memory ordering: everything fn did happens-before every caller's return from call().
//   S9  A slow flight for one key never delays a call for another key.
//   S10 A flight's record (and its value) is freed when its last holder — caller or result —
//       lets go. Destroying a group while a call on it is in progress is a precondition
//       violation; builds without NDEBUG report it and abort.
//   S11 Calling into the same key from inside its own fn on the same thread throws
//       `reentrant_call` instead of deadlocking.
//
// Progress: in `group`, finding, registering and removing a flight are lock-free (by default
// the project's own table: one compare-and-swap per registration and per removal, hazard
// pointers for readers; libcds's Michael hash set is a selectable alternative, see `tables`);
// followers block, parked on a futex, until the leader finishes — blocking is the point.
// `mutex_group` and `sharded_group` take a mutex around their table.
//
// Memory ordering: the leader's writes, including everything fn did and the construction of the
// value, happen-before the return of every caller of the flight. A result copied to another
// thread carries no ordering of its own: use the synchronization that passed it along.
//
// Lifetime: a result keeps the flight's value alive; copies share it. The value is destroyed when
// the last result (or waiting caller) lets go, in whichever thread that is. In `group`, the key is
// destroyed when the table's reclamation frees the record (a later scan by the thread that let
// go last, or libcds's collector), possibly after the group itself is gone.
//
// Requirements: Key is copy-constructible, hashable by Hash and comparable by KeyEqual (neither
// may throw for a key that is in flight); Value is move-constructible from what fn returns (not
// necessarily default-constructible or copyable). fn is invoked at most once per call, with no
// arguments, and only in the leader. Groups are default-constructible, not copyable, not movable.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <utility>

#include "detail/flight.hpp"

namespace singleflight {
namespace detail {
struct result_access;
struct model_access;  // proofs/ only: calls group with the model checker's stop tokens
}

// Thrown to a caller that stopped waiting because its stop_token was requested (S7).
struct cancelled : std::exception {
  const char* what() const noexcept override {
    return "singleflight: the caller's stop_token was requested while it waited for a flight";
  }
};

// Thrown when fn calls back into its own key on the same thread, which would wait for itself
// forever (S11).
struct reentrant_call : std::logic_error {
  reentrant_call()
      : std::logic_error(
            "singleflight: fn called into its own key on the same thread; this call would "
            "wait for itself forever") {}
};

// One flight's outcome, as one caller holds it. Copies share the flight's single value object
// and keep it alive. A moved-from result may only be destroyed or assigned to.
template <class Value>
class result {
 public:
  result(const result& other) noexcept
      : flight_(other.flight_), shared_(other.shared_), leader_(other.leader_) {
    if (flight_ != nullptr) flight_->add_user();
  }
  result(result&& other) noexcept
      : flight_(std::exchange(other.flight_, nullptr)), shared_(other.shared_), leader_(other.leader_) {}
  result& operator=(result other) noexcept {
    std::swap(flight_, other.flight_);
    std::swap(shared_, other.shared_);
    std::swap(leader_, other.leader_);
    return *this;
  }
  ~result() {
    if (flight_ != nullptr) flight_->release_user();
  }

  // The flight's value: the same object for every caller of the flight (S3).
  const Value& value() const noexcept {
    assert(flight_ != nullptr && "singleflight: value() of a moved-from result");
    return flight_->value();
  }
  const Value& operator*() const noexcept { return value(); }
  const Value* operator->() const noexcept { return std::addressof(value()); }

  // The flight had more than one caller (Go's `shared`).
  bool shared() const noexcept { return shared_; }
  // This caller ran fn.
  bool leader() const noexcept { return leader_; }

 private:
  friend struct detail::result_access;
  result(detail::flight<Value>* f, bool shared, bool leader) noexcept
      : flight_(f), shared_(shared), leader_(leader) {}

  detail::flight<Value>* flight_;  // owns one user reference
  bool shared_;
  bool leader_;
};

}  // namespace singleflight

// The groups below are assembled from these parts; none of them is public.
#include "detail/protocol.hpp"
#include "detail/slots_table.hpp"
#ifndef SINGLEFLIGHT_RELACY  // the models check the protocol over a table of their own (proofs/)
#include "detail/libcds_table.hpp"
#endif

namespace singleflight {

// Where `group` keeps its flight records. Each is a table policy: the protocol is the same, only
// the table differs (bench/ compares them).
namespace tables {
// The project's own: one word per slot, insert and erase one CAS each, hazard pointers published
// only when a slot is not empty (detail/slots_table.hpp).
using slots = detail::slots_table;
#ifndef SINGLEFLIGHT_RELACY
// libcds MichaelHashSet with dynamic hazard pointers: no limit on the number of threads.
using michael_dhp = detail::libcds_michael<cds::gc::DHP>;
// libcds MichaelHashSet with classic hazard pointers, sized for 1024 threads.
using michael_hp = detail::libcds_michael<cds::gc::HP>;
#else
struct michael_dhp;
struct michael_hp;
#endif
}  // namespace tables

// The lock-free implementation, the subject of this project.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Table = tables::slots>
class group {
  using table_type = typename Table::template table<Key, Value, Hash, KeyEqual>;
  using record = typename table_type::record;

 public:
  group() = default;
  // `expected_flights`: about how many flights may be in progress at once (at most the number of
  // threads calling the group); sizes the table, which never grows (default 256). The own table
  // takes at most 2^30 and throws std::length_error beyond.
  explicit group(std::size_t expected_flights) : table_(expected_flights) {}
  group(const group&) = delete;
  group& operator=(const group&) = delete;

  // Go: Do. Runs fn as the leader of a new flight for key, or waits for the flight in progress.
  template <class F>
  result<Value> call(const Key& key, F&& fn) {
    return call_with(key, std::forward<F>(fn), detail::no_stop{});
  }

  // As above; a follower stops waiting and throws `cancelled` when `stop` is requested (S7).
  template <class F>
  result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    return detail::with_stop(stop, [&](const auto& s) { return call_with(key, std::forward<F>(fn), s); });
  }

  // Go: Forget. Later calls for key start a new flight; callers of the current one are unaffected.
  void forget(const Key& key) {
    table_type::enter();
    table_.forget(hash_(key), key);
  }

 private:
  template <class F, class Stop>
  result<Value> call_with(const Key& key, F&& fn, const Stop& stop) {
    detail::check_types<Key, Value>();
    detail::check_fn<F, Value>();
    table_type::enter();
    const std::size_t h = hash_(key);
    for (;;) {
      detail::flight_ref<Value> joined;
      switch (table_.find(h, key, joined)) {
        case detail::lookup::reentrant: throw reentrant_call();
        case detail::lookup::joined: return detail::follow(std::move(joined), stop);
        case detail::lookup::closed: continue;  // it is out of the table: look again
        case detail::lookup::absent: break;
      }
      record* r = table_.make(h, key);
      bool registered = false;
      try {
        registered = table_.insert(*r);
      } catch (...) {  // out of memory in the table: nothing was registered
        table_.discard(r);
        throw;
      }
      if (!registered && !detail::mutant::is(detail::mutant::ignore_insert_failure)) {
        table_.discard(r);  // another caller registered the key first: join it instead
        continue;
      }
      lifetime_.started();
      return detail::lead(detail::flight_ref<Value>::adopt(r), std::forward<F>(fn),
                          [this, r]() noexcept {
                            if constexpr (detail::mutant::is(detail::mutant::erase_by_key)) {
                              table_.forget(r->hash, r->key);
                            } else {
                              table_.erase(*r);
                            }
                            lifetime_.finished();
                          });
    }
  }

  friend struct detail::model_access;

  [[no_unique_address]] Hash hash_;
  table_type table_;
  // Last, so destroyed first: a group destroyed mid-flight is reported before its table goes.
  [[no_unique_address]] detail::lifetime_check lifetime_{"singleflight::group"};
};

// The baseline, faithful to Go's package: one std::mutex around one std::unordered_map from key
// to flight record. The lock is held only to look up, register and remove; fn and the waiting
// happen outside it. Two allocations per flight (the record and the map node).
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class mutex_group {
 public:
  mutex_group() = default;
  mutex_group(const mutex_group&) = delete;
  mutex_group& operator=(const mutex_group&) = delete;

  template <class F>
  result<Value> call(const Key& key, F&& fn) {
    return call_with(key, std::forward<F>(fn), detail::no_stop{});
  }

  template <class F>
  result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    return detail::with_stop(stop, [&](const auto& s) { return call_with(key, std::forward<F>(fn), s); });
  }

  void forget(const Key& key) {
    std::lock_guard lock(mu_);
    map_.erase(key);
  }

 protected:
  // For groups built from mutex_groups: `what` names the outer group in lifetime reports.
  explicit mutex_group(const char* what) noexcept : lifetime_(what) {}

 private:
  struct record : detail::flight<Value> {
    record() noexcept : detail::flight<Value>(&reclaim, /*table_holds=*/0) {}
    static void reclaim(detail::flight<Value>* f) noexcept { delete static_cast<record*>(f); }
  };

  template <class F, class Stop>
  result<Value> call_with(const Key& key, F&& fn, const Stop& stop) {
    detail::check_types<Key, Value>();
    detail::check_fn<F, Value>();
    std::unique_lock lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      detail::flight<Value>* f = it->second;
      // The finder's step every table takes. A record in the map is never closed (its leader
      // removes it, under this lock, first), so it joins unless this thread leads the flight.
      const detail::lookup found = detail::join_guarded(*f);
      if (found == detail::lookup::reentrant) throw reentrant_call();
      assert(found == detail::lookup::joined);
      lock.unlock();
      return detail::follow(detail::flight_ref<Value>::adopt(f), stop);
    }
    auto* r = new record();
    try {
      map_.emplace(key, r);
    } catch (...) {
      delete r;
      throw;
    }
    lifetime_.started();
    lock.unlock();
    return detail::lead(detail::flight_ref<Value>::adopt(r), std::forward<F>(fn),
                        [this, &key, r]() noexcept {
                          std::lock_guard relock(mu_);
                          // By identity: after forget(key) the map may hold a newer flight.
                          if (auto it = map_.find(key); it != map_.end() && it->second == r) map_.erase(it);
                          lifetime_.finished();
                        });
  }

  std::mutex mu_;
  std::unordered_map<Key, detail::flight<Value>*, Hash, KeyEqual> map_;
  [[no_unique_address]] detail::lifetime_check lifetime_{"singleflight::mutex_group"};
};

// The sharded baseline: independent mutex_groups chosen by hash, so that keys in different shards
// never contend (like tarndt/shardedsingleflight for Go). The shard count defaults to
// std::thread::hardware_concurrency(), rounded up to a power of two.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class sharded_group {
 public:
  sharded_group() : sharded_group(std::thread::hardware_concurrency()) {}
  explicit sharded_group(std::size_t shards) : mask_(std::bit_ceil(shards == 0 ? 1 : shards) - 1),
                                               shards_(std::make_unique<shard[]>(mask_ + 1)) {}
  sharded_group(const sharded_group&) = delete;
  sharded_group& operator=(const sharded_group&) = delete;

  template <class F>
  result<Value> call(const Key& key, F&& fn) {
    return shard_for(key).call(key, std::forward<F>(fn));
  }

  template <class F>
  result<Value> call(const Key& key, F&& fn, std::stop_token stop) {
    return shard_for(key).call(key, std::forward<F>(fn), std::move(stop));
  }

  void forget(const Key& key) { shard_for(key).forget(key); }

  std::size_t shard_count() const noexcept { return mask_ + 1; }

 private:
  // A cache line (two on parts that prefetch in pairs) per shard, so that shards never share one.
  struct alignas(128) shard : mutex_group<Key, Value, Hash, KeyEqual> {
    shard() noexcept : mutex_group<Key, Value, Hash, KeyEqual>("singleflight::sharded_group") {}
  };

  shard& shard_for(const Key& key) {
    // Fibonacci hashing: the shard takes the product's high bits, the shard's map uses the hash's
    // low bits, so keys of one shard still spread over its buckets.
    const std::uint64_t mixed = static_cast<std::uint64_t>(hash_(key)) * 0x9E3779B97F4A7C15ull;
    return shards_[static_cast<std::size_t>(mixed >> 32) & mask_];
  }

  [[no_unique_address]] Hash hash_;
  std::size_t mask_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace singleflight
