// Recipe 2 — the first loader: get_user(id) in front of a slow query.
//
// Pattern: a service method that every request handler calls, with a group member keyed by the
// query's argument. The key is the id itself — any hashable type will do, so there is no
// conversion to a string as in Go — and the method hands back the result, which keeps the one
// user object that every concurrent caller shares alive for as long as the caller holds it.
//
// Acceptance: 50 concurrent get_user(42) run the query once and all see user 42, the very same
// object; a get_user(7) during the stampede runs a query of its own, as a lone caller.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "recipe.hpp"

namespace {

struct user {
  int id;
  std::string name;
};

// The slow dependency. `latency` is how slow a query for an id is; the test makes it "until
// every caller has arrived" instead of a fixed sleep.
class database {
 public:
  std::function<void(int id)> latency = [](int) {};

  user query_user(int id) {
    queries_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    latency(id);
    return {id, "user-" + std::to_string(id)};
  }

  int queries() const { return queries_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> queries_{0};
};

class user_service {
 public:
  explicit user_service(database& db) : db_(db) {}

  // Concurrent calls for one id share one query; `*get_user(id)` is the user.
  singleflight::result<user> get_user(int id) {
    return users_.call(id, [&] { return db_.query_user(id); });
  }

 private:
  database& db_;
  singleflight::group<int, user> users_;
};

}  // namespace

int main() {
  constexpr int callers = 50;
  database db;
  user_service service(db);

  recipe::crowd crowd(callers);
  db.latency = [&](int id) {
    if (id == 42) crowd.wait_for_everyone();
  };
  std::vector<std::optional<singleflight::result<user>>> got(callers);
  std::optional<singleflight::result<user>> other;
  recipe::in_parallel(callers + 1, [&](int i) {
    if (i == callers) {  // one caller for another id, started with the stampede
      other = service.get_user(7);
      return;
    }
    crowd.arrive();
    got[i] = service.get_user(42);
  });

  int right = 0, same_object = 0;
  for (const auto& r : got) {
    right += (*r)->id == 42 && (*r)->name == "user-42";
    same_object += &r->value() == &got[0]->value();
  }
  recipe::check_eq(db.queries(), 2, "queries for 50 callers of user 42 and one of user 7");
  recipe::check_eq(right, callers, "callers of 42 that got user-42");
  recipe::check_eq(same_object, callers, "callers of 42 that got the same user object");
  recipe::check(other && (*other)->name == "user-7" && other->leader() && !other->shared(),
                "user 7 was loaded by its own lone call");
  return recipe::verdict();
}
