// Recipe 7 — an exception-safe loader.
//
// Go's task wraps the loader in recover() so that a panic becomes an error instead of crashing
// every waiting goroutine. In C++ there is nothing to convert: an exception thrown by the loader
// is captured once and rethrown in every caller of the flight — the same object, its type
// intact (S3) — and the key is free for the next call (S6). What is left to the loader is what
// any C++ function owes its caller: release what it acquired on every path, which RAII does.
// Here the loader borrows a connection from a pool and the borrow is an object whose destructor
// gives it back, so a throw in the middle of the query leaks nothing.
//
// Acceptance: 10 concurrent callers for the unlucky id 13 each catch the loader's exception,
// whose what() contains "unlucky" — one object, from one run of the loader; no connection is
// left borrowed; the next call for 13 runs the loader again (the key is not wedged), and id 7
// loads normally.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "recipe.hpp"

namespace {

// A pool of connections; a borrow is an RAII handle.
class connection_pool {
 public:
  class borrowed {
   public:
    explicit borrowed(connection_pool& pool) : pool_(pool) { pool_.take(); }
    ~borrowed() { pool_.give_back(); }
    borrowed(const borrowed&) = delete;
    borrowed& operator=(const borrowed&) = delete;

   private:
    connection_pool& pool_;
  };

  int in_use() {
    std::lock_guard lock(mu_);
    return in_use_;
  }

 private:
  void take() {
    std::lock_guard lock(mu_);
    ++in_use_;
  }
  void give_back() {
    std::lock_guard lock(mu_);
    --in_use_;
  }

  std::mutex mu_;
  int in_use_ = 0;
};

class loader {
 public:
  std::function<void()> latency = [] {};

  std::string load(int id) {
    runs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    connection_pool::borrowed connection(pool_);
    latency();
    if (id == 13) throw std::runtime_error("row 13 is unlucky");
    return "ok";
  }

  int runs() const { return runs_.load(std::memory_order_relaxed); }
  connection_pool& pool() { return pool_; }

 private:
  std::atomic<int> runs_{0};
  connection_pool pool_;
};

}  // namespace

int main() {
  loader rows;
  singleflight::group<int, std::string> group;

  constexpr int callers = 10;
  recipe::crowd crowd(callers);
  rows.latency = [&] { crowd.wait_for_everyone(); };
  // Each caller keeps what it caught. The checks read the exceptions here, after the threads
  // joined: a thread sanitizer cannot see exception_ptr's reference count (it lives in the
  // uninstrumented C++ runtime), so the last reference must not be dropped in a worker.
  std::vector<std::exception_ptr> caught(callers);
  recipe::in_parallel(callers, [&](int i) {
    crowd.arrive();
    try {
      group.call(13, [&] { return rows.load(13); });
    } catch (...) {
      caught[i] = std::current_exception();
    }
  });

  int unlucky = 0, same_object = 0;
  const std::exception* first = nullptr;
  for (const std::exception_ptr& e : caught) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const std::runtime_error& error) {
      if (first == nullptr) first = &error;
      unlucky += std::string(error.what()).find("unlucky") != std::string::npos;
      same_object += &error == first;
    }
  }
  recipe::check_eq(unlucky, callers, "callers that caught \"unlucky\"");
  recipe::check_eq(same_object, callers, "callers that caught the one exception object");
  recipe::check_eq(rows.runs(), 1, "loader runs for them");
  recipe::check_eq(rows.pool().in_use(), 0, "connections still borrowed after the throw");

  rows.latency = [] {};
  try {
    group.call(13, [&] { return rows.load(13); });
  } catch (const std::runtime_error&) {
  }
  recipe::check_eq(rows.runs(), 2, "loader runs after one more call for 13 (not wedged)");
  recipe::check(*group.call(7, [&] { return rows.load(7); }) == "ok", "id 7 loads \"ok\"");
  return recipe::verdict();
}
