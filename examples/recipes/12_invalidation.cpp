// Recipe 12 — invalidation that stale loads cannot undo.
//
// Pattern: a cache with invalidate(key), for when the data behind a key changes. Erasing the
// entry is not enough, for two reasons, and each has its fix:
//   - A caller arriving after invalidate() would join a flight that started before it and read
//     the old data. forget(key) ends that: later calls start a new flight (S5), while callers
//     that already joined the old one still get its outcome.
//   - The old flight is still running. When it finishes, its loader stores what it read — the
//     old data — in the cache that invalidate() just emptied, and every later hit serves it
//     until it expires. A generation counter per key ends that: the loader notes the generation
//     before it reads and stores only if the generation is unchanged when it is done.
// invalidate() bumps the generation before it forgets the flight, so a flight started after the
// forget has read the new generation.
//
// Acceptance: load K, invalidate K, load K runs the loader twice. The race, played out with
// latches: a load of K reads v1 and is held; K changes to v2 and is invalidated; a new call for
// K returns v2 while the old load is still held; the old load is then let go and returns v1 to
// its own caller — and the cache still holds v2, so a later hit serves v2. With the generation
// check turned off, the same sequence leaves v1 in the cache: that is the bug being fixed.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <cstdint>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "recipe.hpp"

namespace {

using value_ptr = std::shared_ptr<const std::string>;

// The source of truth. The test can hold the first read after it has read.
class database {
 public:
  std::latch* hold_first_read = nullptr;
  std::latch* first_read_done = nullptr;
  std::atomic<int> reads{0};

  void set(const std::string& key, std::string value) {
    std::lock_guard lock(mu_);
    rows_[key] = std::move(value);
  }

  value_ptr read(const std::string& key) {
    value_ptr v;
    {
      std::lock_guard lock(mu_);
      v = std::make_shared<const std::string>(rows_[key]);
    }
    // relaxed: only the count matters; the latches order what the test looks at
    if (reads.fetch_add(1, std::memory_order_relaxed) == 0 && hold_first_read != nullptr) {
      first_read_done->count_down();
      hold_first_read->wait();
    }
    return v;
  }

 private:
  std::mutex mu_;  // guards rows_
  std::unordered_map<std::string, std::string> rows_;
};

class invalidating_cache {
 public:
  invalidating_cache(database& db, bool check_generation) : db_(db), check_(check_generation) {}

  value_ptr get(const std::string& key) {
    if (value_ptr hit = lookup(key)) return hit;
    return *loads_.call(key, [&] {
      std::uint64_t generation;
      {
        std::lock_guard lock(mu_);
        if (auto it = cache_.find(key); it != cache_.end()) return it->second;
        generation = generations_[key];
      }
      value_ptr loaded = db_.read(key);
      std::lock_guard lock(mu_);
      if (!check_ || generations_[key] == generation) cache_[key] = loaded;
      return loaded;  // its own callers get it either way: they asked before the invalidation
    });
  }

  void invalidate(const std::string& key) {
    {
      std::lock_guard lock(mu_);
      ++generations_[key];
      cache_.erase(key);
    }
    loads_.forget(key);
  }

  value_ptr lookup(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    return it == cache_.end() ? nullptr : it->second;
  }

 private:
  database& db_;
  const bool check_;
  std::mutex mu_;  // guards cache_ and generations_
  std::unordered_map<std::string, value_ptr> cache_;
  std::unordered_map<std::string, std::uint64_t> generations_;
  singleflight::group<std::string, value_ptr> loads_;
};

// Plays the race; returns what the cache holds for K at the end.
std::string stale_load_race(bool check_generation, std::string& old_caller_got,
                            std::string& new_caller_got) {
  database db;
  db.set("K", "v1");
  std::latch hold(1), read_done(1);
  db.hold_first_read = &hold;
  db.first_read_done = &read_done;
  invalidating_cache cache(db, check_generation);

  std::jthread old_caller([&] { old_caller_got = *cache.get("K"); });
  read_done.wait();  // the old load has read v1 and is held
  db.set("K", "v2");
  cache.invalidate("K");
  new_caller_got = *cache.get("K");  // a new flight: the old one was forgotten
  hold.count_down();
  old_caller.join();
  const value_ptr cached = cache.lookup("K");
  return cached ? *cached : "(nothing)";
}

}  // namespace

int main() {
  {
    database db;
    db.set("K", "v1");
    invalidating_cache cache(db, true);
    cache.get("K");
    cache.invalidate("K");
    cache.get("K");
    recipe::check_eq(db.reads.load(std::memory_order_relaxed), 2,  // relaxed: one thread here
                     "loads for load K, invalidate K, load K");
  }

  std::string old_got, new_got;
  const std::string cached = stale_load_race(true, old_got, new_got);
  recipe::check(new_got == "v2", "a call after invalidate() got " + new_got + " (expected v2)");
  recipe::check(old_got == "v1", "the held load returned " + old_got + " to its caller");
  recipe::check(cached == "v2", "with the generation check, the cache holds " + cached +
                                    " (expected v2)");

  const std::string naive = stale_load_race(false, old_got, new_got);
  recipe::check(naive == "v1", "without it, the cache holds " + naive +
                                   " (expected the stale v1: the bug the check prevents)");
  return recipe::verdict();
}
