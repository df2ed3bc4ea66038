// Recipe 6 — cache permanent errors, retry transient ones.
//
// Pattern: the loader sorts its failures. A permanent one (the row does not exist) is cached
// like a value, with a shorter TTL, so a client asking again and again for a missing row does not
// reach the database each time; a transient one (a timeout) is rethrown to the callers of that
// flight and cached nowhere, so the next call tries again. The group already gives every caller
// of one flight the same outcome, error included (S3); what is cached across flights is the
// cache's business, decided in the loader, where the flight's outcome is known once.
//
// The cache keeps a permanent error as a std::exception_ptr and rethrows it on a hit, so a
// cached "not found" reaches the caller as the same type as a fresh one.
//
// Acceptance (a clock moved by hand): a call that gets not_found, then 5 more calls within 5 s,
// run the loader once and all six throw not_found; after the 30 s negative TTL the loader runs
// again. A call that gets a timeout, then another call, run the loader twice. A success is
// cached for 5 minutes.
#include <singleflight/singleflight.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "recipe.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct not_found : std::runtime_error {  // permanent: asking again will not help
  using std::runtime_error::runtime_error;
};
struct timed_out : std::runtime_error {  // transient: asking again may well help
  using std::runtime_error::runtime_error;
};

struct user {
  int id;
  std::string name;
};
using user_ptr = std::shared_ptr<const user>;

// Knows users 1..99; times out while `flaky` is set.
class database {
 public:
  bool flaky = false;

  user query_user(int id) {
    ++queries[id];
    if (flaky) throw timed_out("query for user " + std::to_string(id) + " timed out");
    if (id < 1 || id > 99) throw not_found("no user " + std::to_string(id));
    return {id, "user-" + std::to_string(id)};
  }

  std::map<int, int> queries;  // per id; this recipe calls from one thread
};

class user_service {
 public:
  static constexpr auto value_ttl = 5min;
  static constexpr auto not_found_ttl = 30s;

  user_service(database& db, std::function<clock_type::time_point()> now)
      : db_(db), now_(std::move(now)) {}

  user_ptr get_user(int id) {
    if (auto hit = lookup(id)) {
      if (hit->error) std::rethrow_exception(hit->error);
      return hit->value;
    }
    // A timed_out is not caught here: it reaches this flight's callers and is cached nowhere.
    return *loads_.call(id, [&] {
      try {
        auto loaded = std::make_shared<const user>(db_.query_user(id));
        store(id, entry{loaded, nullptr, now_() + value_ttl});
        return loaded;
      } catch (const not_found&) {
        store(id, entry{nullptr, std::current_exception(), now_() + not_found_ttl});
        throw;  // to every caller of this flight
      }
    });
  }

 private:
  struct entry {
    user_ptr value;            // set for a success
    std::exception_ptr error;  // set for a permanent failure
    clock_type::time_point expires;
  };

  std::optional<entry> lookup(int id) {
    std::lock_guard lock(mu_);
    auto it = cache_.find(id);
    if (it == cache_.end() || now_() >= it->second.expires) return std::nullopt;
    return it->second;
  }

  void store(int id, entry e) {
    std::lock_guard lock(mu_);
    cache_[id] = std::move(e);
  }

  database& db_;
  const std::function<clock_type::time_point()> now_;
  std::mutex mu_;  // guards cache_
  std::unordered_map<int, entry> cache_;
  singleflight::group<int, user_ptr> loads_;
};

// Which exception get_user(id) throws, by name.
std::string outcome(user_service& service, int id) {
  try {
    service.get_user(id);
    return "value";
  } catch (const not_found&) {
    return "not_found";
  } catch (const timed_out&) {
    return "timed_out";
  }
}

}  // namespace

int main() {
  database db;
  clock_type::time_point now{};
  user_service service(db, [&] { return now; });

  int not_found_outcomes = 0;
  for (int call = 0; call < 6; ++call) {  // one call, then five more over the next 5 s
    not_found_outcomes += outcome(service, 404) == "not_found";
    now += 1s;
  }
  recipe::check_eq(db.queries[404], 1, "queries for 6 calls of a missing user within 5 s");
  recipe::check_eq(not_found_outcomes, 6, "of them, calls that threw not_found");
  now += user_service::not_found_ttl;
  outcome(service, 404);
  recipe::check_eq(db.queries[404], 2, "queries once the negative entry expired");

  db.flaky = true;
  const std::string first = outcome(service, 7);
  db.flaky = false;
  const std::string second = outcome(service, 7);
  recipe::check(first == "timed_out" && second == "value", "a timeout, then a value: " + first +
                                                               ", " + second);
  recipe::check_eq(db.queries[7], 2, "queries for a timeout and the call after it");
  now += 4min;
  outcome(service, 7);
  recipe::check_eq(db.queries[7], 2, "queries 4 minutes later (the value is cached for 5)");
  return recipe::verdict();
}
