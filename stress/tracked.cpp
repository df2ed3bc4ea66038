#include "tracked.hpp"

#include <array>
#include <string>

#include "checks.hpp"
#include "options.hpp"

namespace sfstress {

namespace {

constexpr unsigned kSlots = 256;

struct alignas(64) census_slot {
  std::array<std::atomic<std::int64_t>, kCensusKinds> live{};
};
census_slot slots[kSlots];
std::atomic<unsigned> next_slot{0};  // relaxed: only hands out slot numbers

census_slot& my_slot() noexcept {
  // Trivially destructible, so still usable while the thread exits (records whose keys die in
  // the collector's clean-up are destroyed then).
  thread_local const unsigned mine = next_slot.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return slots[mine];
}

}  // namespace

void census::add(census_kind kind, std::int64_t delta) noexcept {
  // Relaxed: the counts are summed only after the threads that changed them were joined, which
  // orders every change before the sum; the read-modify-write keeps two threads that share a
  // slot (after 256 threads) from losing updates.
  my_slot().live[static_cast<std::size_t>(kind)].fetch_add(delta, std::memory_order_relaxed);
}

std::int64_t census::live(census_kind kind) noexcept {
  std::int64_t n = 0;
  for (const census_slot& s : slots) {
    n += s.live[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);  // see add()
  }
  return n;
}

flight_stamp::flight_stamp(const flight_stamp& other) noexcept
    : facts(other.facts), failure_(other.failure_), duplicate_(true) {
  if (run_checks* run = current_run()) {
    run->found.report_described(invariant::s3, [&] {
      return std::string(failure_ ? "the exception" : "the value") + " of " +
             flight_name(facts.flight) + " (key " + std::to_string(facts.key) +
             ") was copied or moved; every caller must share the one object";
    });
  }
}

flight_stamp::~flight_stamp() {
  if (!duplicate_) check();
}

void flight_stamp::receive(bool leader, bool shared, std::int64_t call_start_ns,
                           std::int64_t call_end_ns) const noexcept {
  if (leader) {
    // Relaxed, both: published to the destructor by the release below.
    leader_return_.store(call_end_ns, std::memory_order_relaxed);
    leaders_.fetch_add(1, std::memory_order_relaxed);
  } else {
    std::int64_t seen = latest_follower_call_.load(std::memory_order_relaxed);  // as above
    while (call_start_ns > seen &&
           !latest_follower_call_.compare_exchange_weak(seen, call_start_ns,
                                                        std::memory_order_relaxed)) {
    }
  }
  // Release: pairs with the acquire in check(). The destructor runs after every receiver let go
  // (the library's S10 guarantee); this makes the stores above visible to it once it reads a
  // tally that includes this receiver, whatever the library's own ordering.
  tally_.fetch_add(std::uint64_t{1} | (std::uint64_t{shared} << kSharedShift),
                   std::memory_order_release);
}

void flight_stamp::check() const noexcept {
  run_checks* run = current_run();
  if (run == nullptr) return;
  const std::uint64_t tally = tally_.load(std::memory_order_acquire);  // pairs with receive()
  const std::uint64_t receivers = tally & kReceiversMask;
  const std::uint64_t shared = tally >> kSharedShift;
  const std::uint32_t leaders = leaders_.load(std::memory_order_relaxed);  // see receive()
  const std::int64_t leader_return = leader_return_.load(std::memory_order_relaxed);  // see above
  const std::int64_t latest_follower = latest_follower_call_.load(std::memory_order_relaxed);
  // Describing a violation allocates; a clean flight costs only the loads above.
  auto complain = [&](invariant which, const auto& detail) noexcept {
    run->found.report_described(which, [&] {
      return flight_name(facts.flight) + " of key " + std::to_string(facts.key) + " (" +
             std::to_string(receivers) + " receiving caller(s)): " + detail();
    });
  };
  if (receivers == 0) {
    // Every caller of an awaited flight may have left it; each one's leaving is checked itself.
    if (!facts.awaited) {
      complain(invariant::s3, [] { return std::string("fn ran but no caller received its outcome"); });
    }
    return;
  }
  if (leaders != 1 && !(facts.awaited && leaders == 0)) {
    complain(invariant::s4, [&] {
      return std::to_string(leaders) + " callers were told they led it; exactly one must be";
    });
  }
  if (!failure_) {
    if (shared != 0 && shared != receivers) {
      complain(invariant::s4, [&] {
        return "callers disagree on shared() (" + std::to_string(shared) + " said true)";
      });
    } else if (receivers > 1 && shared == 0) {
      complain(invariant::s4, [] { return std::string("every caller saw shared() == false"); });
    } else if (receivers == 1 && shared == 1) {
      run->lone_shared(facts.key, facts.flight, facts.leader_call_ns, leader_return);
    }
  }
  if (leaders == 1 && latest_follower > leader_return) {
    complain(invariant::s2, [&] {
      return "a follower's call began " +
             format_ns(static_cast<double>(latest_follower - leader_return)) +
             " after the leader had returned, so after the flight had ended";
    });
  }
}

}  // namespace sfstress
