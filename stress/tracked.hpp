// sf-stress: the key, value and exception types every run uses. They are instrumented:
//
//   - tracked_key and tracked_value count their live objects (S10: after a run, with the group
//     and every result gone, both counts are back to zero; the group's records and map entries
//     each hold a key copy, so the key count covers them).
//   - Every execution of fn returns (or throws) an object stamped with the facts of that
//     execution: a unique flight number, the key, when it started and when it published. Each
//     caller checks the stamp it received against its own call (S2, S3) and tallies itself on the
//     stamp; the stamp's destructor, which runs once the last holder let go, checks the tally
//     (S4) and the order of its callers (S2).
//   - Copying a value or an exception object is itself a violation (S3: every caller shares one).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace sfstress {

// Live-object counts in per-thread slots, so that counting costs no shared cache line.
enum class census_kind : unsigned { key, value, failure };
inline constexpr std::size_t kCensusKinds = 3;

class census {
 public:
  static void add(census_kind kind, std::int64_t delta) noexcept;
  // Exact once every thread that changed the counts has been joined by the caller.
  static std::int64_t live(census_kind kind) noexcept;
};

struct tracked_key {
  explicit tracked_key(std::uint64_t i) noexcept : id(i) { census::add(census_kind::key, 1); }
  tracked_key(const tracked_key& other) noexcept : id(other.id) { census::add(census_kind::key, 1); }
  tracked_key& operator=(const tracked_key&) noexcept = default;
  ~tracked_key() { census::add(census_kind::key, -1); }

  std::uint64_t id;
};

struct key_hash {
  // splitmix64's finaliser: neighbouring ids land in unrelated buckets and shards.
  std::size_t operator()(const tracked_key& k) const noexcept {
    std::uint64_t z = k.id + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<std::size_t>(z ^ (z >> 31));
  }
};

struct key_equal {
  bool operator()(const tracked_key& a, const tracked_key& b) const noexcept { return a.id == b.id; }
};

// "flight 3.17": the 17th flight led by thread 3 of the run (0 is the main thread's sweep).
inline std::string flight_name(std::uint64_t flight) {
  return "flight " + std::to_string(flight >> 40) + "." +
         std::to_string(flight & ((std::uint64_t{1} << 40) - 1));
}

// Written by the leader's fn before it returns or throws; read-only afterwards.
struct flight_facts {
  std::uint64_t flight = 0;          // unique per execution of fn
  std::uint64_t key = 0;
  std::int64_t leader_call_ns = 0;   // when the leader's call began
  std::int64_t fn_start_ns = 0;
  std::int64_t publish_ns = 0;       // just before fn returned or threw
  std::uint64_t forgets_at_start = 0;  // forgets of the key begun before fn started
  // deadline: fn stopped early because its stop token was requested (S12): only a flight that
  // no caller waits for any more may end so, and only its leader may receive this outcome.
  bool aborted = false;
  // coro: fn returned an asynchronous loader, which the flight awaited; its leader (a coroutine)
  // then waited like a follower and may have left (S7), so the outcome may reach no leader, or
  // no caller at all (every caller left; S12).
  bool awaited = false;
};

// The part shared by tracked_value and flight_failure.
class flight_stamp {
 public:
  flight_stamp(const flight_facts& f, bool failure) noexcept : facts(f), failure_(failure) {}
  // Only the library could copy or move an outcome, and it must not (S3): reported.
  flight_stamp(const flight_stamp& other) noexcept;
  flight_stamp& operator=(const flight_stamp&) = delete;
  ~flight_stamp();

  // Called once by each caller that received this outcome, before it lets go of it.
  // `leader`: this caller ran fn; `shared`: what result::shared() said (false for exceptions).
  void receive(bool leader, bool shared, std::int64_t call_start_ns,
               std::int64_t call_end_ns) const noexcept;

  const flight_facts facts;

 private:
  void check() const noexcept;

  // Receivers (low 32 bits) and receivers told shared() == true (high 32 bits) in one word, so
  // that a receiver tallies itself with one read-modify-write; leaders apart, as there is one.
  static constexpr int kSharedShift = 32;
  static constexpr std::uint64_t kReceiversMask = (std::uint64_t{1} << kSharedShift) - 1;

  mutable std::atomic<std::uint64_t> tally_{0};
  mutable std::atomic<std::uint32_t> leaders_{0};
  mutable std::atomic<std::int64_t> latest_follower_call_{std::numeric_limits<std::int64_t>::min()};
  mutable std::atomic<std::int64_t> leader_return_{std::numeric_limits<std::int64_t>::max()};
  const bool failure_;
  const bool duplicate_ = false;
};

// What every fn returns. Never copied; moved only if the library moves it (then reported).
class tracked_value : public flight_stamp {
 public:
  explicit tracked_value(const flight_facts& f) noexcept : flight_stamp(f, false) {
    census::add(census_kind::value, 1);
  }
  tracked_value(tracked_value&& other) noexcept : flight_stamp(other) {
    census::add(census_kind::value, 1);
  }
  tracked_value(const tracked_value&) = delete;
  ~tracked_value() { census::add(census_kind::value, -1); }
};

// What a failing fn throws (churn). A thrown type must be copy-constructible, but the library
// must never copy it: every caller rethrows the one object (S3).
class flight_failure : public std::runtime_error, public flight_stamp {
 public:
  explicit flight_failure(const flight_facts& f)
      : std::runtime_error("sf-stress: fn failed on purpose"), flight_stamp(f, true) {
    census::add(census_kind::failure, 1);
  }
  flight_failure(const flight_failure& other) noexcept
      : std::runtime_error(other), flight_stamp(other) {
    census::add(census_kind::failure, 1);
  }
  ~flight_failure() override { census::add(census_kind::failure, -1); }
};

}  // namespace sfstress
