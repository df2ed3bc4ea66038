// Capacity (S13): the own table (tables::slots, detail/slots_table.hpp) holds any number of flights
// in progress, whatever it was sized for, and finds each exactly while it is registered. Its
// crowded slots split into children as flights arrive; these tests cross many splits.
//
// They drive the table through its interface (detail/flight_table.hpp: make, insert, find, erase,
// forget) as `group` does, without fn or waiting, so that one thread can hold 100,000 flights at
// once. A flight is registered as its leader registers it and ended as its leader ends it: out of
// the table by identity, closed, released (its record then goes to the hazard domain). A find by
// the thread that leads the flight answers `reentrant` (S11): here that means "found".
#include <algorithm>
#include <cstddef>
#include <functional>
#include <random>
#include <vector>

#include "test_support.hpp"

namespace sftest {
namespace {

using table = singleflight::tables::slots<int, int, std::hash<int>, std::equal_to<int>>;
using record = table::record;
using singleflight::detail::lookup;

std::size_t hash_of(int key) { return std::hash<int>{}(key); }

// Registers a flight for `key` with hash `h` as its leader does; null if the key has one already.
record* register_flight(table& t, int key, std::size_t h) {
  record* r = t.make(h, key);
  if (t.insert(*r)) return r;
  table::discard(r);
  return nullptr;
}
record* register_flight(table& t, int key) { return register_flight(t, key, hash_of(key)); }

// Ends a flight this thread registered, as its leader does. `registered`: whether it should
// still be in the table (not forgotten).
void end_flight(table& t, record* r, bool registered = true) {
  r->produce([] { return 0; });
  EXPECT_EQ(t.erase(*r), registered) << "key " << r->key;
  r->close();
  r->release_user();
}

// What a find for `key` by the thread that leads every flight in the table answers.
lookup seen(table& t, int key, std::size_t h) { return t.find(h, key).what; }
lookup seen(table& t, int key) { return seen(t, key, hash_of(key)); }

TEST(table_growth, a_default_table_holds_100000_flights_and_finds_each_until_it_is_erased) {
  constexpr int kFlights = 100'000;
  table t;  // sized for the default 256 expected flights
  std::vector<record*> flights(kFlights);
  for (int key = 0; key < kFlights; ++key) {
    flights[key] = register_flight(t, key);
    ASSERT_NE(flights[key], nullptr) << "key " << key << " refused in a table holding " << key;
  }
  for (int key = 0; key < kFlights; ++key) {
    ASSERT_EQ(seen(t, key), lookup::reentrant) << "key " << key << " lost";
  }
  for (int key = kFlights; key < kFlights + 1'000; ++key) {
    ASSERT_EQ(seen(t, key), lookup::absent) << "key " << key << " was never registered";
  }
  for (int key = 0; key < kFlights; key += 997) {
    EXPECT_EQ(register_flight(t, key), nullptr) << "key " << key << " registered twice (S1)";
  }

  // Erase in a shuffled order (every tenth key forgotten first); after each removal, that key is
  // gone, and a key not yet removed is still there.
  std::vector<int> order(kFlights);
  for (int key = 0; key < kFlights; ++key) order[key] = key;
  std::shuffle(order.begin(), order.end(), std::mt19937(20261130));
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int key = order[i];
    const bool forgotten = i % 10 == 0;
    if (forgotten) t.forget(hash_of(key), key);
    end_flight(t, flights[key], /*registered=*/!forgotten);
    ASSERT_EQ(seen(t, key), lookup::absent) << "key " << key << " found after its erase";
    if (i + 1 < order.size()) {
      ASSERT_EQ(seen(t, order[i + 1]), lookup::reentrant) << "key " << order[i + 1] << " lost";
    }
  }
  for (int key = 0; key < kFlights; ++key) {
    ASSERT_EQ(seen(t, key), lookup::absent) << "key " << key << " found after every erase";
  }
  singleflight::detail::hazard_domain::global().scan_now();  // the records, freed now
}

// Flights whose hashes are equal can never be told apart by further bits: their slot is not
// split for them, and their bucket grows past the split threshold. Flights with other hashes in
// the same slot still split it around them.
TEST(table_growth, flights_with_equal_hashes_share_a_slot_that_splits_around_them) {
  constexpr int kEqual = 64;
  constexpr int kOthers = 256;
  constexpr std::size_t kShared = 42;
  table t(0);  // one top slot
  std::vector<record*> flights;
  for (int key = 0; key < kEqual + kOthers; ++key) {
    // Alternate so that the equal-hash bucket is split around and carried into children.
    const bool equal = key % 2 == 0 && key / 2 < kEqual;
    flights.push_back(register_flight(t, key, equal ? kShared : hash_of(key)));
    ASSERT_NE(flights.back(), nullptr) << "key " << key;
  }
  for (std::size_t i = 0; i < flights.size(); ++i) {
    ASSERT_EQ(seen(t, flights[i]->key, flights[i]->hash), lookup::reentrant) << "key " << i;
    ASSERT_EQ(register_flight(t, flights[i]->key, flights[i]->hash), nullptr) << "key " << i;
  }
  for (record* r : flights) {
    const int key = r->key;
    const std::size_t h = r->hash;
    end_flight(t, r);
    ASSERT_EQ(seen(t, key, h), lookup::absent) << "key " << key;
  }
}

// Threads register and remove flights for keys of their own at once, in a table sized for one
// flight (four top slots), so that slots split while other threads insert into them, erase from
// them and read them. Each thread checks its own keys: found from its insert to its erase, and
// not after. It also looks up other threads' keys: whatever it joins must be that key's flight.
TEST(table_growth, threads_registering_distinct_keys_across_splits_find_each_exactly_while_registered) {
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 10'000;
  constexpr int kBatch = 1'000;
  table t(1);
  run_together(kThreads, [&](int me) {
    std::mt19937 rng(static_cast<unsigned>(me));
    std::vector<int> keys(kKeysPerThread);
    for (int i = 0; i < kKeysPerThread; ++i) keys[i] = i * kThreads + me;
    std::shuffle(keys.begin(), keys.end(), rng);
    std::uniform_int_distribution<int> any_key(0, kThreads * kKeysPerThread - 1);
    for (int first = 0; first < kKeysPerThread; first += kBatch) {
      const int last = std::min(first + kBatch, kKeysPerThread);
      std::vector<record*> batch;
      for (int i = first; i < last; ++i) {
        batch.push_back(register_flight(t, keys[i]));
        ASSERT_NE(batch.back(), nullptr) << "key " << keys[i] << " refused";
        ASSERT_EQ(seen(t, keys[i]), lookup::reentrant) << "key " << keys[i] << " lost";
        const int other = any_key(rng);
        const auto found = t.find(hash_of(other), other);
        if (found.what == lookup::joined) {
          EXPECT_EQ(static_cast<record&>(*found.joined).key, other) << "another key's flight";
        }
        if (other % kThreads != me) {
          EXPECT_NE(found.what, lookup::reentrant) << "key " << other << " led by this thread?";
        }
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        ASSERT_EQ(seen(t, batch[i]->key), lookup::reentrant) << "key " << batch[i]->key << " lost";
      }
      std::shuffle(batch.begin(), batch.end(), rng);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const int key = batch[i]->key;
        const bool forgotten = i % 7 == 0;
        if (forgotten) t.forget(hash_of(key), key);
        end_flight(t, batch[i], /*registered=*/!forgotten);
        ASSERT_EQ(seen(t, key), lookup::absent) << "key " << key << " found after its erase";
      }
    }
  });
}

}  // namespace
}  // namespace sftest
