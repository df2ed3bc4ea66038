// A consumer of the installed library's core (singleflight::singleflight): uses it the way a
// user would, with nothing but the standard library; exits nonzero if an outcome is wrong.
// tests/consumer/check.sh builds it with libcds hidden from the compiler and the linker.
#include <singleflight/baselines.hpp>
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

namespace {
bool check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "consumer: %s\n", what);
  return ok;
}
}  // namespace

int main() {
  singleflight::group<std::string, int> group;

  // One lone call: its caller leads and shares with no one.
  const auto lone = group.call("lone", [] { return 42; });
  bool ok = check(*lone == 42 && lone.leader() && !lone.shared(), "a lone call's outcome is wrong");

  // Two concurrent calls on one key: the second starts while the first one's fn runs, so it joins
  // that flight and both receive the one value.
  std::atomic<int> runs{0};
  std::atomic<bool> fn_running{false};
  auto slow = [&] {
    runs.fetch_add(1);
    fn_running = true;
    fn_running.notify_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the second call joins now
    return 7;
  };
  std::optional<singleflight::result<int>> second;
  std::thread other([&] {
    fn_running.wait(false);
    second.emplace(group.call("pair", slow));
  });
  const auto first = group.call("pair", slow);
  other.join();

  ok &= check(runs == 1, "two concurrent calls ran fn twice");
  ok &= check(*first == 7 && **second == 7, "a concurrent call returned the wrong value");
  ok &= check(&*first == &**second, "the two callers hold different value objects");
  ok &= check(first.leader() && !second->leader(), "leader() is wrong");
  ok &= check(first.shared() && second->shared(), "shared() is wrong");
  // The baselines come with the core.
  singleflight::mutex_group<std::string, int> baseline;
  ok &= check(*baseline.call("k", [] { return 5; }) == 5, "mutex_group's outcome is wrong");

  if (ok) std::puts("consumer: ok");
  return ok ? 0 : 1;
}
