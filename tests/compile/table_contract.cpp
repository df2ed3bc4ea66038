// Compiled twice by tests/compile/expect.cmake: as written it must compile (a table that meets
// detail::flight_table, here the own table under another name); with -DBREAK_THE_CONTRACT, whose
// table hides erase(), it must not, and the compiler must name the concept that refused it.
#include <singleflight/singleflight.hpp>

#include <functional>

template <class Key, class Value, class Hash, class KeyEqual>
struct renamed_table : singleflight::detail::slots_table<Key, Value, Hash, KeyEqual> {
  using singleflight::detail::slots_table<Key, Value, Hash, KeyEqual>::slots_table;
#ifdef BREAK_THE_CONTRACT
  bool erase(typename renamed_table::record&) noexcept = delete;  // no erase by identity
#endif
};

int main() {
  singleflight::group<int, int, std::hash<int>, std::equal_to<int>, renamed_table> g;
  return *g.call(1, [] { return 0; });
}
