// sf-stress: the record of what went wrong in a run, and the per-key bookkeeping behind S1.
//
// Every checker reports into the run's `violations`. A run passes only when every count is zero;
// the first messages are kept (and printed at once) so that a failure names the key, the flight
// and the callers involved.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sfstress {

// The semantics of DESIGN.md that the harness checks while it runs (S13, capacity: the wide
// workload's count of the flights registered at once).
enum class invariant : unsigned { s1, s2, s3, s4, s5, s6, s7, s10, s12, s13 };
inline constexpr std::size_t kInvariants = 10;
const char* name_of(invariant which) noexcept;

// Raises `peak` to `now` if `now` is higher. Relaxed: a figure for the report, read after the
// threads that raise it are joined.
inline void raise_peak(std::atomic<std::int64_t>& peak, std::int64_t now) noexcept {
  std::int64_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

class violations {
 public:
  // Counts a violation; the first kKeep messages are kept and printed to stderr at once.
  // Never throws: it is called from destructors that run inside the library.
  void report(invariant which, std::string_view message) noexcept;

  // For noexcept callers: report(which, describe()), where describing the violation may run out
  // of memory; then the violation is still counted, with a placeholder message.
  template <class Describe>
  void report_described(invariant which, const Describe& describe) noexcept {
    try {
      report(which, describe());
    } catch (...) {
      report(which, "(no memory to describe this violation)");
    }
  }

  std::uint64_t count(invariant which) const noexcept;
  std::uint64_t total() const noexcept;
  std::vector<std::string> messages() const;

 private:
  static constexpr std::size_t kKeep = 20;
  // Relaxed: read only after the run's threads were joined.
  std::array<std::atomic<std::uint64_t>, kInvariants> counts_{};
  mutable std::mutex mu_;
  std::vector<std::string> kept_;  // guarded by mu_
};

// A call that ended in `cancelled`, kept to explain flights whose lone receiving caller saw
// shared() == true: the follower that made it shared was cancelled and received nothing.
struct call_span {
  std::uint64_t key;
  std::int64_t start_ns;
  std::int64_t end_ns;
};

// What the checkers of one run share. One run at a time: main() installs it before the workers
// start and removes it after every object that reports into it is gone.
class run_checks {
 public:
  explicit run_checks(bool cancellations) : cancellations_(cancellations) {}

  violations found;

  // A flight whose only receiving caller (its leader) saw shared() == true. Legitimate only if
  // a cancelled follower had joined it; resolve_lone_shared() decides once the run is over.
  void lone_shared(std::uint64_t key, std::uint64_t flight, std::int64_t leader_call_ns,
                   std::int64_t leader_return_ns) noexcept;
  void resolve_lone_shared(const std::vector<call_span>& cancelled_calls);

 private:
  struct lone {
    std::uint64_t key, flight;
    std::int64_t from_ns, to_ns;
  };
  const bool cancellations_;
  std::mutex mu_;
  std::vector<lone> lone_shared_;  // guarded by mu_
};

// The run in progress, for checks that run where no run can be passed in (destructors of values
// and exceptions, which the library calls). Set by main() while no worker thread exists.
run_checks* current_run() noexcept;
void set_current_run(run_checks* run) noexcept;

// Installs a run for the lifetime of a scope, so that an early exit leaves nothing dangling.
class current_run_scope {
 public:
  explicit current_run_scope(run_checks& run) noexcept { set_current_run(&run); }
  ~current_run_scope() { set_current_run(nullptr); }
  current_run_scope(const current_run_scope&) = delete;
  current_run_scope& operator=(const current_run_scope&) = delete;
};

// S1 bookkeeping per key: which executions of fn are running, and how many forget() calls have
// begun and finished. Without forget(), any overlap is a violation.
//
// With forget(), two executions A and B may overlap only if the flight that registered first (say
// A) left the table while its fn still ran, and only a forget can have removed it. That forget
// erased A after A registered, so it had not finished when A's call began; and it began before B
// registered, so before B's fn started. Hence: if the forgets begun when B's fn started do not
// outnumber the forgets finished before A's call began, no forget removed A. Which of the two
// registered first is not known (fn starts a little after registration, so the newer flight can
// reach enter() first), so an overlap is reported only if neither order is explained. (Forgets
// *begun* before A's call would not do as A's mark: a forget can begin before A's call and erase A
// after A registers.) The check may miss an overlap right after a forget; it never reports a legal
// one.
//
// With abandonment (S12, the deadline workload, which never calls forget()): a flight whose
// callers have all left is abandoned, leaves the table, and its fn, if it takes a stop token, has
// that token requested; a later call starts a new flight while the old fn may still run (until
// it looks at its token, or to its end). So two executions may overlap only if one of them was
// abandoned: its fn's token was requested. The flight is marked abandoned before its token is
// requested, and a new flight can start in between, so an overlap whose tokens are both still
// unrequested is only noted here and judged by resolve_overlaps() once the run's threads have
// been joined: by then every abandonment has requested its token (the caller that abandons does
// so before it returns; the deadline agent, acting for a leader, before that leader's call
// returns).
//
// With both (the coro workload): an overlap is explained by a forget, as above, or else judged
// as with abandonment.
//
// It also counts the executions of fn in progress and their peak, when asked to (the coroutine
// workloads: flights in progress at once; a shared counter the other workloads do without).
class key_book {
 public:
  key_book(std::size_t keys, bool with_forget, bool with_abandonment = false,
           bool count_running = false);

  std::size_t size() const noexcept { return keys_; }
  bool with_forget() const noexcept { return with_forget_; }

  // fn of `flight` for `key` starts / ends. `forgets_finished_before_call`: forgets_finished(key)
  // read before the leader's call began. `fn_token`: the token fn received (with abandonment;
  // an fn without one passes an empty token, which is never requested).
  void enter(std::uint64_t key, std::uint64_t flight, std::uint64_t forgets_finished_before_call,
             violations& found, const std::stop_token& fn_token = {});
  void leave(std::uint64_t key, std::uint64_t flight);

  // With count_running: executions of fn in progress now, and the most there were at once.
  std::int64_t running() const noexcept { return running_.load(std::memory_order_relaxed); }
  std::int64_t peak_running() const noexcept { return peak_.load(std::memory_order_relaxed); }

  // With abandonment, after the run's threads are joined: reports every overlap of which
  // neither execution had its token requested (S1), and returns how many overlaps there were
  // that an abandonment explained (a new flight's fn started while an abandoned one's still ran).
  std::uint64_t resolve_overlaps(violations& found);

  // forget(key) brackets, and their counts. Sequentially consistent, all of them: the arguments
  // above (and the S5 check in driver.hpp) compare counts read on different threads, before and
  // after the library's own synchronization, and need every begin, finish and read of one key in
  // a single order consistent with happens-before. Each begin pairs with the reads of `begun`
  // that come after it, each finish with the reads of `finished`.
  void forget_begins(std::uint64_t key) noexcept { counts(key).begun.fetch_add(1); }
  void forget_ends(std::uint64_t key) noexcept { counts(key).finished.fetch_add(1); }
  std::uint64_t forgets_begun(std::uint64_t key) const noexcept { return counts(key).begun.load(); }
  std::uint64_t forgets_finished(std::uint64_t key) const noexcept {
    return counts(key).finished.load();
  }

 private:
  struct plain_key {
    // Relaxed: a count of executions in fn. The library orders one flight's end before the next
    // flight's start (S1), and read-modify-writes of one atomic never miss each other.
    std::atomic<std::uint32_t> running{0};
    std::atomic<std::uint64_t> last{0};  // relaxed: only named in a message
  };
  struct forget_counts {
    std::atomic<std::uint64_t> begun{0};
    std::atomic<std::uint64_t> finished{0};
  };
  struct execution {
    std::uint64_t flight;
    std::uint64_t finished_before_call;  // forgets finished before its leader's call began
    std::uint64_t begun_at_start;        // forgets begun when its fn started
    std::stop_token fn_token;            // with abandonment: the token its fn received
  };
  struct overlap {
    std::uint64_t key;
    execution first, second;
  };
  struct forget_key {
    std::mutex mu;
    std::vector<execution> running;  // guarded by mu
  };

  forget_counts& counts(std::uint64_t key) const noexcept { return counts_[key]; }
  // Whether a forget() can have removed one of two overlapping executions from the table.
  static bool forget_explains(const execution& a, const execution& b) noexcept {
    return a.begun_at_start > b.finished_before_call || b.begun_at_start > a.finished_before_call;
  }

  std::size_t keys_;
  bool with_forget_;
  bool with_abandonment_;
  bool count_running_;
  // Relaxed: counts for the report, read after the run's threads are joined (or, by the wide
  // workload, after a fence on the loop threads that ran the executions).
  std::atomic<std::int64_t> running_{0};
  std::atomic<std::int64_t> peak_{0};
  std::unique_ptr<plain_key[]> plain_;
  std::unique_ptr<forget_key[]> forget_;
  std::unique_ptr<forget_counts[]> counts_;
  std::mutex overlaps_mu_;
  std::vector<overlap> overlaps_;   // guarded by overlaps_mu_: not explained yet
  std::uint64_t explained_ = 0;     // guarded by overlaps_mu_: explained already
};

}  // namespace sfstress
