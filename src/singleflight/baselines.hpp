// singleflight baselines — the implementations `group` is measured against, with its interface
// and its contract (singleflight.hpp), so that every test, stress run and benchmark is written
// once for all of them.
//
//   mutex_group    Go's design: one std::mutex around one std::unordered_map from key to flight.
//   sharded_group  independent such maps chosen by hash (like tarndt/shardedsingleflight for Go).
//
// Both run the same leader's and follower's halves as `group` (detail/protocol.hpp); only the
// table differs. The lock is held only to look up, register and remove a flight; fn and the
// waiting happen outside it.
#pragma once

#include "singleflight.hpp"  // first: it refuses a compiler not in C++20 mode, in one line
#if __cplusplus >= 202002L

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>


namespace singleflight {
namespace detail {

// One std::mutex around one std::unordered_map from key to flight record: the table of both
// baselines. Two allocations per flight (the record and the map node). The group that owns it
// passes its lifetime check along.
template <class Key, class Value, class Hash, class KeyEqual>
class locked_flights {
 public:
  // Removes the leader's record from the map by identity (after forget(key) the map may hold a
  // newer flight). Holds the key by reference when the caller's key outlives the call, or a copy
  // of its own (`OwnKey`, for a coroutine call whose driver may remove the record later).
  template <bool OwnKey, class K>
  struct unregistration {
    locked_flights* self;
    using held_key = std::conditional_t<OwnKey, Key, const K&>;
    held_key key;
    flight<Value>* r;
    lifetime_check* lifetime;
    void operator()() const noexcept {
      std::lock_guard relock(self->mu_);
      if (auto it = self->map_.find(key); it != self->map_.end() && it->second == r) {
        self->map_.erase(it);
      }
      lifetime->finished();
    }
  };

  // `key` is a Key, or a type the transparent Hash and KeyEqual take (lookup_key): the map looks
  // it up as it is, and a leader makes one Key from it, in the map's node. Joins the key's
  // flight, or registers a new one (`prepare` readies the record before it is published).
  template <bool OwnKey, class K, class Prepare>
  entered<Value, unregistration<OwnKey, K>> enter(const K& key, Prepare&& prepare,
                                                  lifetime_check& lifetime) {
    using held = typename unregistration<OwnKey, K>::held_key;
    std::unique_lock lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      // The finder's step every table takes. A record in the map is never closed (its leader
      // removes it, under this lock, first), so it joins unless this thread leads the flight or
      // the flight was abandoned (S12): then it is removed, and this caller leads a new one.
      found<Value> found = join_guarded(*it->second);
      if (found.what == lookup::reentrant) throw reentrant_call();
      if (found.what == lookup::joined) {
        lock.unlock();
        return {std::move(found.joined), false, {this, held(key), nullptr, &lifetime}};
      }
      map_.erase(it);
    }
    auto* r = new record();
    try {
      prepare(*r);
      map_.emplace(Key(key), r);
    } catch (...) {
      delete r;
      throw;
    }
    lifetime.started();
    lock.unlock();
    return {flight_ref<Value>::adopt(r), true, {this, held(key), r, &lifetime}};
  }

  template <class K>
  void forget(const K& key) {
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) map_.erase(it);
  }

 private:
  struct record : flight<Value> {
    record() noexcept : flight<Value>(&reclaim, /*table_holds=*/0) {}
    static void reclaim(flight<Value>* f) noexcept { delete static_cast<record*>(f); }
  };

  std::mutex mu_;
  std::unordered_map<Key, flight<Value>*, Hash, KeyEqual> map_;
};

}  // namespace detail

// The baseline, faithful to Go's package: one std::mutex + std::unordered_map.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class mutex_group
    : public detail::call_forms<mutex_group<Key, Value, Hash, KeyEqual>, Key, Value, Hash, KeyEqual> {
  static_assert(detail::check_group_types<Key, Value, Hash, KeyEqual>());

 public:
  mutex_group() = default;
  mutex_group(const mutex_group&) = delete;
  mutex_group& operator=(const mutex_group&) = delete;

  // call, call_for, call_until, async_call: detail::call_forms (singleflight.hpp).

  template <class K = Key>
    requires detail::call_key<K, Key, Hash, KeyEqual>
  void forget(const K& key) {
    flights_.forget(detail::lookup_key_from<Key, Hash, KeyEqual>(key));
  }

 private:
  friend class detail::call_forms<mutex_group, Key, Value, Hash, KeyEqual>;

  template <bool OwnKey, class K, class Prepare>
  auto enter(const K& key, Prepare&& prepare) {
    return flights_.template enter<OwnKey>(key, prepare, lifetime_);
  }

  detail::locked_flights<Key, Value, Hash, KeyEqual> flights_;
  // Last, so destroyed first: a group destroyed mid-flight is reported before its map goes.
  [[no_unique_address]] detail::lifetime_check lifetime_{"singleflight::mutex_group"};
};

// The sharded baseline: independent mutex-and-map shards chosen by hash, so that keys in
// different shards never contend. The shard count defaults to
// std::thread::hardware_concurrency(), rounded up to a power of two.
template <class Key, class Value, class Hash = std::hash<Key>, class KeyEqual = std::equal_to<Key>>
class sharded_group
    : public detail::call_forms<sharded_group<Key, Value, Hash, KeyEqual>, Key, Value, Hash, KeyEqual> {
  static_assert(detail::check_group_types<Key, Value, Hash, KeyEqual>());

 public:
  sharded_group() : sharded_group(std::thread::hardware_concurrency()) {}
  explicit sharded_group(std::size_t shards) : mask_(std::bit_ceil(shards == 0 ? 1 : shards) - 1),
                                               shards_(std::make_unique<shard[]>(mask_ + 1)) {}
  sharded_group(const sharded_group&) = delete;
  sharded_group& operator=(const sharded_group&) = delete;

  // call, call_for, call_until, async_call: detail::call_forms (singleflight.hpp).

  template <class K = Key>
    requires detail::call_key<K, Key, Hash, KeyEqual>
  void forget(const K& key) {
    const auto& k = detail::lookup_key_from<Key, Hash, KeyEqual>(key);
    shard_for(k).forget(k);
  }

  std::size_t shard_count() const noexcept { return mask_ + 1; }

 private:
  friend class detail::call_forms<sharded_group, Key, Value, Hash, KeyEqual>;

  template <bool OwnKey, class K, class Prepare>
  auto enter(const K& key, Prepare&& prepare) {
    return shard_for(key).template enter<OwnKey>(key, prepare, lifetime_);
  }

  // A cache line (two on parts that prefetch in pairs) per shard, so that shards never share one.
  struct alignas(128) shard : detail::locked_flights<Key, Value, Hash, KeyEqual> {};

  template <class K>
  shard& shard_for(const K& key) {
    // Fibonacci hashing: the shard takes the product's high bits, the shard's map uses the hash's
    // low bits, so keys of one shard still spread over its buckets.
    const std::uint64_t mixed = static_cast<std::uint64_t>(hash_(key)) * 0x9E3779B97F4A7C15ull;
    return shards_[static_cast<std::size_t>(mixed >> 32) & mask_];
  }

  [[no_unique_address]] Hash hash_;
  std::size_t mask_;
  std::unique_ptr<shard[]> shards_;
  [[no_unique_address]] detail::lifetime_check lifetime_{"singleflight::sharded_group"};
};

}  // namespace singleflight

#endif  // C++20
