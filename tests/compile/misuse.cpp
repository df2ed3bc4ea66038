// Each misuse of a group, one per MISUSE number, compiled by tests/compile/expect.cmake, which
// checks that the compiler's first error is the library's sentence for it. Without MISUSE the
// file is a correct program: the check that each failure is the misuse's and nothing else's.
// GROUP names the implementation (singleflight::group by default).
#include <singleflight/baselines.hpp>
#include <singleflight/singleflight.hpp>

#include <string>

#ifndef GROUP
#define GROUP singleflight::group
#endif

struct no_hash {
  int id;
  bool operator==(const no_hash&) const = default;
};

int main() {
#if MISUSE == 1  // fn takes an argument
  GROUP<int, int> g;
  return *g.call(1, [](int) { return 1; });
#elif MISUSE == 2  // fn returns void
  GROUP<int, int> g;
  return *g.call(1, [] {});
#elif MISUSE == 3  // fn returns something Value cannot be made from
  GROUP<int, int> g;
  return *g.call(1, [] { return std::string("one"); });
#elif MISUSE == 4  // a Key that std::hash does not know
  GROUP<no_hash, int> g;
  return *g.call(no_hash{1}, [] { return 1; });
#elif MISUSE == 5  // a key of another type, with no transparent Hash and KeyEqual
  GROUP<int, int> g;
  return *g.call("one", [] { return 1; });
#else
  GROUP<int, int> g;
  return *g.call(1, [] { return 0; });
#endif
}
