// A consumer of the installed libcds component (singleflight::libcds): a group on libcds's
// Michael hash set, the way a user who wants it would write it.
#include <singleflight/libcds.hpp>

#include <cstdio>
#include <string>

int main() {
  singleflight::group<std::string, int, std::hash<std::string>, std::equal_to<std::string>,
                      singleflight::tables::michael_dhp>
      group;
  const auto r = group.call("k", [] { return 42; });
  if (*r != 42 || !r.leader() || r.shared()) {
    std::fputs("consumer-libcds: a lone call's outcome is wrong\n", stderr);
    return 1;
  }
  std::puts("consumer-libcds: ok");
  return 0;
}
