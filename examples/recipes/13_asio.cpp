// Recipe 13 — singleflight on Asio: one line in an asio::awaitable coroutine.
//
// Pattern: a server on Asio runs a coroutine per request, and requests for one user's profile
// arrive together. An asio::awaitable coroutine cannot co_await g.async_call(...) itself (Asio's
// promise takes only Asio's own awaitables); <singleflight/asio.hpp> turns the call into an Asio
// operation, so it takes asio::use_awaitable (or a callback, or asio::use_future):
//
//   co_await singleflight::asio::async_call(group, key, fn, asio::use_awaitable)
//
// Here fn returns an asio::awaitable: the loader itself is a coroutine on the leader's
// executor, waiting on a timer that stands in for the network, so no thread ever blocks. Every
// request of the flight resumes on its own executor with the one value. CMake: link
// singleflight::asio (find_package(singleflight COMPONENTS asio)); Debian: libasio-dev.
//
// Acceptance: a hundred requests for one user on one io_context (one thread): one origin load,
// one leader, and every request sees the same value object.
#include <singleflight/asio.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <set>
#include <string>

#include "recipe.hpp"

namespace {

struct tally {
  int loads = 0, leaders = 0;  // one thread runs every coroutine: plain ints
  std::set<const std::string*> objects;
};

// The origin: 50 ms on the network, then the profile.
asio::awaitable<std::string> load_profile(std::string user) {
  asio::steady_timer network(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
  co_await network.async_wait(asio::use_awaitable);
  co_return "profile of " + user;
}

// One request: the one line, with a loader that is itself a coroutine.
asio::awaitable<void> handle_request(singleflight::group<std::string, std::string>& profiles,
                                     std::string user, tally& t) {
  // Named, not a temporary inside the co_await: g++ 12 frees a capturing lambda built in a
  // co_await expression twice (see <singleflight/asio.hpp>, "g++ 12").
  auto load = [&t, user] { return ++t.loads, load_profile(user); };
  const singleflight::result<std::string> profile =
      co_await singleflight::asio::async_call(profiles, user, load, asio::use_awaitable);
  t.leaders += profile.leader();
  t.objects.insert(&profile.value());  // the value lives while any request holds its result
}

}  // namespace

int main() {
  asio::io_context io;
  singleflight::group<std::string, std::string> profiles;
  tally t;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(io, handle_request(profiles, "ada", t), asio::detached);
  }
  io.run();  // returns when every request has been answered
  recipe::check_eq(t.loads, 1, "origin loads for 100 requests");
  recipe::check_eq(t.leaders, 1, "requests that led");
  recipe::check_eq(t.objects.size(), std::size_t{1}, "distinct value objects the requests saw");
  return recipe::verdict();
}
