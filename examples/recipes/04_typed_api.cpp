// Recipe 4 — the typed API, and why it needs no wrapper.
//
// Go's Group traffics in interface{}, so the usual first task is a generic Group[T] that hides
// the casts, plus a goroutine per DoChan call to translate its channel. Here the group is a
// template over its key and value types, so the call site is typed already:
//   - call() returns singleflight::result<Value>: `*r` is a const Value&, with no cast and no
//     copy — every caller of a flight refers to the one value object;
//   - the key is any hashable type (a struct here), not a string built for the occasion;
//   - the value may be move-only or lack a default constructor (Go's wrapper needs a zero T);
//   - errors are exceptions, rethrown in every caller with their type; or, if you prefer errors
//     as values, make them part of Value (a std::variant here);
//   - Go's DoChan becomes std::async over call() when you want a future; when all you want is a
//     way out of waiting, call(key, fn, stop_token) and call_for(key, fn, timeout) are recipe 5.
//
// Acceptance: the static_asserts compile; 20 concurrent callers of a move-only value share one
// object from one load; an error value reaches every caller of its flight; a future from
// std::async delivers a result.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "recipe.hpp"

namespace {

// A composite key: hash it once, compare it field by field.
struct tile_key {
  int zoom, x, y;
  bool operator==(const tile_key&) const = default;
};
struct tile_key_hash {
  std::size_t operator()(const tile_key& k) const noexcept {
    std::size_t h = std::hash<int>{}(k.zoom);
    h = h * 31 + std::hash<int>{}(k.x);
    return h * 31 + std::hash<int>{}(k.y);
  }
};

// A value that cannot be copied and has no default constructor.
struct tile {
  explicit tile(const tile_key& k) : key(k), pixels(256 * 256, std::byte{0}) {}
  tile_key key;
  std::vector<std::byte> pixels;
};
using tile_ptr = std::unique_ptr<const tile>;

// Errors as values: the flight's outcome is either a row or the reason there is none.
struct not_found {
  std::string what;
};
using lookup = std::variant<std::string, not_found>;

}  // namespace

int main() {
  // Move-only values keyed by a struct.
  singleflight::group<tile_key, tile_ptr, tile_key_hash> tiles;
  std::atomic<int> renders{0};
  const tile_key key{12, 2048, 1361};
  auto render = [&] {
    renders.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    return std::make_unique<const tile>(key);
  };
  static_assert(std::is_same_v<decltype(tiles.call(key, render)), singleflight::result<tile_ptr>>);
  static_assert(std::is_same_v<decltype(*tiles.call(key, render)), const tile_ptr&>);

  constexpr int callers = 20;
  recipe::crowd crowd(callers);
  std::vector<const tile*> seen(callers, nullptr);
  std::vector<std::optional<singleflight::result<tile_ptr>>> held(callers);
  recipe::in_parallel(callers, [&](int i) {
    crowd.arrive();
    held[i] = tiles.call(key, [&] {
      crowd.wait_for_everyone();
      return render();
    });
    seen[i] = held[i]->value().get();  // the tile, through the shared unique_ptr: no copy
  });
  int same = 0;
  for (const tile* t : seen) same += t == seen[0] && t->key == key;
  recipe::check_eq(renders.load(std::memory_order_relaxed), 1,  // relaxed: the threads joined
                   "renders of one tile for 20 concurrent callers");
  recipe::check_eq(same, callers, "callers that saw the one tile object");

  // Errors as values reach every caller of the flight, as a value would.
  singleflight::group<int, lookup> rows;
  recipe::crowd crowd2(callers);
  std::vector<int> missing(callers, 0);
  recipe::in_parallel(callers, [&](int i) {
    crowd2.arrive();
    const auto r = rows.call(404, [&]() -> lookup {
      crowd2.wait_for_everyone();
      return not_found{"no row 404"};
    });
    missing[i] = std::holds_alternative<not_found>(*r);
  });
  int told = 0;
  for (int m : missing) told += m;
  recipe::check_eq(told, callers, "callers that received the not_found value");

  // A future, for code that wants one.
  std::future<singleflight::result<lookup>> later =
      std::async(std::launch::async, [&] { return rows.call(1, [] { return lookup{"row 1"}; }); });
  const singleflight::result<lookup> row = later.get();
  recipe::check(std::get<std::string>(*row) == "row 1", "std::async over call() delivers the row");
  return recipe::verdict();
}
