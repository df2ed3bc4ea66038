// Recipe 3 — a TTL cache in front of a group.
//
// Pattern: two independent layers. The cache answers sequential requests from memory until an
// entry expires; the group makes the concurrent misses — the stampede when a popular entry
// expires — share one load. The group caches nothing itself (S2), which is why it needs the
// cache in front, and the cache alone would let every concurrent miss query the database.
//
// Two details that a first attempt usually misses:
//   - The loader fills the cache, not the callers, so a flight fills it exactly once.
//   - The loader looks in the cache again before it queries. A caller that missed the cache just
//     before the previous flight finished arrives after that flight has left the table, becomes
//     the leader of a new one, and would otherwise query again for an entry that is now fresh.
//
// Acceptance (TTL 1 s, on a clock the test moves by hand, so no test sleeps for seconds): two
// calls 100 ms apart run one query; two calls 2 s apart run two; 50 concurrent callers arriving
// after expiry run one more, and all of them get the same object.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "recipe.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct user {
  int id;
  std::string name;
};

class database {
 public:
  std::function<void()> latency = [] {};

  user query_user(int id) {
    queries_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    latency();
    return {id, "user-" + std::to_string(id)};
  }

  int queries() const { return queries_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> queries_{0};
};

class cached_user_service {
 public:
  using user_ptr = std::shared_ptr<const user>;  // shared by the cache and every caller

  cached_user_service(database& db, clock_type::duration ttl,
                      std::function<clock_type::time_point()> now = clock_type::now)
      : db_(db), ttl_(ttl), now_(std::move(now)) {}

  user_ptr get_user(int id) {
    if (user_ptr cached = lookup(id)) return cached;
    return *loads_.call(id, [&] {
      if (user_ptr cached = lookup(id)) return cached;  // filled since our miss: no query
      user_ptr loaded = std::make_shared<const user>(db_.query_user(id));
      std::unique_lock lock(mu_);
      cache_[id] = entry{loaded, now_() + ttl_};
      return loaded;
    });
  }

 private:
  struct entry {
    user_ptr value;
    clock_type::time_point expires;
  };

  user_ptr lookup(int id) {
    std::shared_lock lock(mu_);
    auto it = cache_.find(id);
    return it != cache_.end() && now_() < it->second.expires ? it->second.value : nullptr;
  }

  database& db_;
  const clock_type::duration ttl_;
  const std::function<clock_type::time_point()> now_;
  std::shared_mutex mu_;  // guards cache_
  std::unordered_map<int, entry> cache_;
  singleflight::group<int, user_ptr> loads_;
};

}  // namespace

int main() {
  database db;
  // The test's clock: moved only by the main thread, while no other thread runs.
  clock_type::time_point now{};
  cached_user_service service(db, 1s, [&] { return now; });

  service.get_user(42);
  now += 100ms;
  service.get_user(42);
  recipe::check_eq(db.queries(), 1, "queries for two calls 100 ms apart");

  now += 2s;
  service.get_user(42);
  recipe::check_eq(db.queries(), 2, "queries after a third call 2 s later");

  // The entry expires and 50 requests miss it at once.
  now += 2s;
  constexpr int callers = 50;
  recipe::crowd crowd(callers);
  db.latency = [&] { crowd.wait_for_everyone(); };
  std::vector<cached_user_service::user_ptr> got(callers);
  recipe::in_parallel(callers, [&](int i) {
    crowd.arrive();
    got[i] = service.get_user(42);
  });
  int same = 0;
  for (const auto& u : got) same += u == got[0] && u->name == "user-42";
  recipe::check_eq(db.queries(), 3, "queries after 50 concurrent misses at expiry");
  recipe::check_eq(same, callers, "concurrent callers that got the one reloaded user");

  db.latency = [] {};
  service.get_user(42);
  recipe::check_eq(db.queries(), 3, "queries for a call right after the reload (a cache hit)");
  return recipe::verdict();
}
