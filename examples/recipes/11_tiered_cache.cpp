// Recipe 11 — a tiered cache with two groups.
//
// Pattern: an in-process map (L1) in front of a shared network cache (L2) in front of a slow
// database, with a group at each miss:
//
//   get(id) ── L1 hit ──────────────────────────────────────────────▶ value
//      └─ l2_loads.call(id) ── L2 hit ── fill L1 ──────────────────▶ value
//            └─ page_loads.call(page(id)) ── database ── fill L2 ── fill L1 ▶ value
//
// The deeper group is called from inside the shallower group's loader, so a stampede on one id
// reaches L2 once and the database once. The two groups have different keys: the database
// answers a page of 100 users per query, so the second group coalesces by page, and concurrent
// L2 misses for different users on one page share one query. (Calling a different group from
// a loader is fine; only a call back into the same key of the same group is an error, S11.)
//
// Acceptance: 1,000 loads of one id (100 threads, 10 each, first loads concurrent) make 1 database
// query and 1 L2 lookup, and the other 900 are L1 hits. A second process (empty L1, same L2):
// 50 concurrent loads make 1 L2 lookup and no query. 10 concurrent loads of 10 ids on one page:
// 10 L2 lookups, 1 query.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "recipe.hpp"

namespace {

using page = std::unordered_map<int, std::string>;  // id -> name, for 100 consecutive ids
constexpr int page_size = 100;

class database {
 public:
  std::function<void()> latency = [] {};

  page load_page(int number) {
    queries_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    latency();
    page p;
    for (int id = number * page_size; id < (number + 1) * page_size; ++id) {
      p.emplace(id, "user-" + std::to_string(id));
    }
    return p;
  }

  int queries() const { return queries_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> queries_{0};
};

// Stands for a network cache (memcached, Redis): shared by processes, slower than memory.
class network_cache {
 public:
  std::function<void()> latency = [] {};

  std::optional<std::string> get(int id) {
    lookups_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    latency();
    std::lock_guard lock(mu_);
    auto it = map_.find(id);
    return it == map_.end() ? std::nullopt : std::optional(it->second);
  }

  void put(int id, const std::string& name) {
    std::lock_guard lock(mu_);
    map_[id] = name;
  }

  int lookups() const { return lookups_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> lookups_{0};
  std::mutex mu_;  // guards map_
  std::unordered_map<int, std::string> map_;
};

// One process's view: its own L1 and groups, a shared L2 and database.
class tiered_cache {
 public:
  tiered_cache(network_cache& l2, database& db) : l2_(l2), db_(db) {}

  std::string get(int id) {
    if (auto hit = l1_get(id)) {
      l1_hits_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
      return *hit;
    }
    return *l2_loads_.call(id, [&] {
      if (auto from_l2 = l2_.get(id)) {
        l1_put(id, *from_l2);
        return *from_l2;
      }
      const int number = id / page_size;
      const auto loaded = page_loads_.call(number, [&] {
        page p = db_.load_page(number);
        for (const auto& [each, name] : p) l2_.put(each, name);
        return p;
      });
      const std::string& name = loaded->at(id);
      l1_put(id, name);
      return name;
    });
  }

  int l1_hits() const { return l1_hits_.load(std::memory_order_relaxed); }

 private:
  std::optional<std::string> l1_get(int id) {
    std::lock_guard lock(mu_);
    auto it = l1_.find(id);
    return it == l1_.end() ? std::nullopt : std::optional(it->second);
  }
  void l1_put(int id, const std::string& name) {
    std::lock_guard lock(mu_);
    l1_[id] = name;
  }

  network_cache& l2_;
  database& db_;
  std::atomic<int> l1_hits_{0};
  std::mutex mu_;  // guards l1_
  std::unordered_map<int, std::string> l1_;
  singleflight::group<int, std::string> l2_loads_;  // by user id
  singleflight::group<int, page> page_loads_;       // by page number
};

}  // namespace

int main() {
  network_cache l2;
  database db;

  {
    std::printf("1000 loads of one id:\n");
    tiered_cache process(l2, db);
    constexpr int threads = 100, loads_each = 10;
    recipe::crowd crowd(threads);
    db.latency = [&] { crowd.wait_for_everyone(); };  // the query lasts until all have joined
    std::vector<int> right(threads, 0);
    recipe::in_parallel(threads, [&](int t) {
      for (int i = 0; i < loads_each; ++i) {
        if (i == 0) crowd.arrive();
        right[t] += process.get(4242) == "user-4242";
      }
    });
    int total = 0;
    for (int r : right) total += r;
    recipe::check_eq(total, threads * loads_each, "loads that got user-4242");
    recipe::check_eq(db.queries(), 1, "database queries");
    recipe::check_eq(l2.lookups(), 1, "L2 lookups");
    recipe::check_eq(process.l1_hits(), threads * (loads_each - 1), "L1 hits");
  }
  {
    std::printf("a second process, with an empty L1:\n");
    tiered_cache process(l2, db);
    constexpr int threads = 50;
    recipe::crowd crowd(threads);
    db.latency = [] {};
    l2.latency = [&] { crowd.wait_for_everyone(); };
    recipe::in_parallel(threads, [&](int) {
      crowd.arrive();
      process.get(4242);
    });
    recipe::check_eq(l2.lookups(), 2, "L2 lookups (one more)");
    recipe::check_eq(db.queries(), 1, "database queries (none more)");
  }
  {
    std::printf("10 ids on one page, concurrently:\n");
    tiered_cache process(l2, db);
    constexpr int threads = 10;
    recipe::crowd crowd(threads);
    l2.latency = [] {};
    db.latency = [&] { crowd.wait_for_everyone(); };
    recipe::in_parallel(threads, [&](int t) {
      crowd.arrive();
      process.get(700 + t);
    });
    recipe::check_eq(l2.lookups(), 12, "L2 lookups (ten more)");
    recipe::check_eq(db.queries(), 2, "database queries (one more, for page 7)");
  }
  return recipe::verdict();
}
