// What every Relacy model shares: the shipped headers compiled against the model checker, the
// table the models put behind `group`, a way to call with the model's stop tokens, a flag for
// ordering the models' own threads, and the runner that decides whether a run passed.
//
// A model compiled as written passes when Relacy finds no failure. Compiled with
// SFMODEL_MUTANT="<name>" against a copy of the shipped headers with proofs/mutants/<name>.patch
// applied (one deliberate breakage, see proofs/CMakeLists.txt), it passes only when Relacy
// reports the failure that breakage must cause; a mutant that survives fails the test, so no
// model passes vacuously.
#pragma once

#ifndef SINGLEFLIGHT_RELACY
#define SINGLEFLIGHT_RELACY 1
#endif
#include <singleflight/singleflight.hpp>  // pulls in Relacy through proofs/relacy_machine.hpp

#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sfmodel {

namespace sf = singleflight;
namespace sfd = singleflight::detail;

// ---- the table behind `group` in every model -------------------------------------------------
//
// Exactly the contract group relies on (detail/flight_table.hpp), kept obviously correct so that the
// model checks the protocol: slots for keys 0..kKeys-1 under a Relacy mutex; insert-if-absent,
// find and join, erase by identity. The mutex gives the same publication the lock-free tables
// give (a finder sees everything the leader wrote before inserting). As in a lock-free table, a
// finder takes its step on the record (join_guarded) *outside* the mutex, so that its join races
// the leader's erase and close, guarded only by a count of finders in that window, the model's
// hazard pointer: the table's hold on a record is released once the record is unlinked and no
// finder guards it (libcds's disposer, or the own table's scan, do the same).
inline constexpr int kKeys = 4;

template <class Key, class Value, class Hash, class KeyEqual>
class model_table {
 public:
  struct record : sfd::flight<Value> {
    record(std::size_t h, const Key& k) : sfd::flight<Value>(&reclaim, /*table_holds=*/1), hash(h), key(k) {}
    const std::size_t hash;
    const Key key;
    int guards = 0;         // finders between lookup and join; guarded by mu_
    bool unlinked = false;  // guarded by mu_
  };

  model_table() = default;
  explicit model_table(std::size_t) {}
  model_table(const model_table&) = delete;
  model_table& operator=(const model_table&) = delete;

  sfd::found<Value> find(std::size_t, const Key& key) {
    mu_.lock(RL_INFO);
    record* r = slot(key);
    if (r != nullptr) ++r->guards;
    mu_.unlock(RL_INFO);
    if (r == nullptr) return {sfd::lookup::absent, {}};
    sfd::found<Value> found = sfd::join_guarded<Value>(*r);
    if (found.what == sfd::lookup::abandoned) {  // still guarded: remove it by identity (S12)
      (void)erase(*r);
      found.what = sfd::lookup::closed;
    }
    mu_.lock(RL_INFO);
    const bool last_guard = --r->guards == 0 && r->unlinked;
    mu_.unlock(RL_INFO);
    if (last_guard) r->release_hold();
    return found;
  }

  static record* make(std::size_t h, const Key& key) { return new record(h, key); }
  static void discard(record* r) noexcept { delete r; }

  bool insert(record& r) {
    mu_.lock(RL_INFO);
    const bool absent = slot(r.key) == nullptr;
    if (absent) slot(r.key) = &r;
    mu_.unlock(RL_INFO);
    return absent;
  }

  bool erase(record& r) noexcept {
    mu_.lock(RL_INFO);
    const bool registered = slot(r.key) == &r;
    if (registered) slot(r.key) = nullptr;
    const bool unguarded = registered && unlink(r);
    mu_.unlock(RL_INFO);
    if (unguarded) r.release_hold();
    return registered;
  }

  void forget(std::size_t, const Key& key) {
    mu_.lock(RL_INFO);
    record* r = slot(key);
    slot(key) = nullptr;
    const bool unguarded = r != nullptr && unlink(*r);
    mu_.unlock(RL_INFO);
    if (unguarded) r->release_hold();
  }

 private:
  // Under mu_: marks `r` unlinked; true if no finder guards it (then the caller releases the
  // table's hold, else the last guard does).
  static bool unlink(record& r) {
    r.unlinked = true;
    return r.guards == 0;
  }
  static void reclaim(sfd::flight<Value>* f) noexcept { delete static_cast<record*>(f); }
  record*& slot(const Key& key) { return slots_[static_cast<std::size_t>(key) % kKeys]; }

  rl::mutex mu_;
  std::array<record*, kKeys> slots_{};  // guarded by mu_
};

template <class Value>
using group = sf::group<int, Value, std::hash<int>, std::equal_to<int>, model_table>;

using stop_source = sfd::model_stop_source;

// The deadline that alarm `i` stands for (sfd::model_alarm_slot(i)), as call_until takes it.
inline sfd::model_clock::time_point alarm_time(int i) {
  return sfd::model_clock::time_point(sfd::model_clock::duration(i));
}

// ---- ordering the models' own threads ----------------------------------------------------------

// A one-shot flag a model thread waits on (parked on a Relacy futex, so waiting adds no spinning
// to the search).
class flag {
 public:
  void set() {
    v_.store(1, rl::mo_release, RL_INFO);
    rl::rl_futex(&v_, rl::RL_FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0, RL_INFO);
  }
  void wait() {
    while (v_.load(rl::mo_acquire, RL_INFO) == 0) {
      rl::rl_futex(&v_, rl::RL_FUTEX_WAIT, 0, nullptr, nullptr, 0, RL_INFO);
    }
  }
  bool is_set() { return v_.load(rl::mo_acquire, RL_INFO) != 0; }

 private:
  rl::atomic<int> v_{0};
};

// ---- running a model -----------------------------------------------------------------------------

// The mutant this binary was built with (proofs/mutants/<name>.patch), or "none".
#ifdef SFMODEL_MUTANT
inline constexpr std::string_view active_mutant = SFMODEL_MUTANT;
#else
inline constexpr std::string_view active_mutant = "none";
#endif

struct search {
  rl::scheduler_type_e type = rl::fair_full_search_scheduler_type;
  rl::iteration_t iterations = 0;  // 0: the scheduler's own end (exhaustive), or 1000 otherwise
  unsigned bound = 2;              // context bound, for the context-bound search
  // For a suite that a binary always searches at random (one too large for the other kinds).
  rl::iteration_t random_iterations = 100000;
};

inline const char* search_name(rl::scheduler_type_e t) {
  switch (t) {
    case rl::fair_full_search_scheduler_type: return "exhaustive";
    case rl::random_scheduler_type: return "random";
    case rl::fair_context_bound_scheduler_type: return "context-bound";
    default: return "?";
  }
}

// Parses --search exhaustive|random|context-bound, --iterations N, --bound K and
// --random-iterations N over the model's defaults in `s`. On anything else prints a usage line
// and returns false.
inline bool parse(int argc, char** argv, search& s) {
  auto number = [](std::string_view text, auto& out) {
    unsigned long long n = 0;
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (err != std::errc() || end != text.data() + text.size()) return false;
    out = static_cast<std::remove_reference_t<decltype(out)>>(n);
    return true;
  };
  bool ok = argc % 2 == 1;
  for (int i = 1; ok && i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i], value = argv[i + 1];
    if (flag == "--search") {
      if (value == "exhaustive") s.type = rl::fair_full_search_scheduler_type;
      else if (value == "random") s.type = rl::random_scheduler_type;
      else if (value == "context-bound") s.type = rl::fair_context_bound_scheduler_type;
      else ok = false;
    } else if (flag == "--iterations") {
      ok = number(value, s.iterations);
    } else if (flag == "--bound") {
      ok = number(value, s.bound);
    } else if (flag == "--random-iterations") {
      ok = number(value, s.random_iterations) && s.random_iterations > 0;
    } else {
      ok = false;
    }
  }
  if (!ok) {
    std::cerr << "usage: " << argv[0]
              << " [--search exhaustive|random|context-bound] [--iterations N] [--bound K]"
                 " [--random-iterations N]\n";
  }
  return ok;
}

// The searches the models start from; command-line flags override them (see parse()).
inline search random_search(rl::iteration_t iterations = 100000) {
  search s;
  s.type = rl::random_scheduler_type;
  s.iterations = iterations;
  return s;
}
inline search context_bound_search(unsigned bound) {
  search s;
  s.type = rl::fair_context_bound_scheduler_type;
  s.bound = bound;
  return s;
}

// What catching one mutant means for one model: the result Relacy must report.
struct catches {
  std::string_view mutant;
  rl::test_result_e result;
};

// How many suites this process has run; see finish().
inline int suites_run = 0;

// Runs one test suite and prints one line that scripts/ and proofs/README.md read:
//   RESULT model=<suite> property=<S..> mutant=<name> threads=<n> search=<kind> iterations=<n>
//          time_ms=<t> result=<what Relacy reported> expected=<...> verdict=pass|FAIL
// Without a mutant the suite must succeed. With one, the suite runs only if `mutants` names it,
// and passes only if Relacy reports one of the results listed for it; a suite that was not built
// to catch the active mutant is skipped (and returns true).
template <class Suite>
bool run(const char* name, const char* property, const search& s,
         std::initializer_list<catches> mutants) {
  const bool mutated = active_mutant != "none";
  std::string wanted = mutated ? "" : "SUCCESS";
  for (const catches& c : mutants) {
    if (c.mutant == active_mutant) {
      wanted += (wanted.empty() ? "" : "|") + std::string(rl::test_result_str(c.result));
    }
  }
  if (wanted.empty()) return true;
  ++suites_run;

  rl::test_params p;
  p.search_type = s.type;
  p.context_bound = s.bound;
  if (s.iterations != 0) p.iteration_count = s.iterations;
  else if (s.type == rl::fair_full_search_scheduler_type) p.iteration_count = ~rl::iteration_t{0};
  // Relacy prints to std::cout: the suite's name, and on a failure the history of the failing
  // execution (for a mutant, the evidence of what caught it). A string stream would not do:
  // memory Relacy allocates inside a model belongs to the model and must not outlive it.

  const auto start = std::chrono::steady_clock::now();
  rl::simulate<Suite>(p);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start).count();

  bool pass = !mutated && p.test_result == rl::test_result_success;
  for (const catches& c : mutants) {
    pass = pass || (mutated && c.mutant == active_mutant && p.test_result == c.result);
  }
  auto spaced = [](std::string text) {
    for (char& c : text) c = c == ' ' ? '_' : c;
    return text;
  };
  std::cout << "RESULT model=" << name << " property=" << property
            << " mutant=" << active_mutant
            << " threads=" << Suite::params::thread_count << " search=" << search_name(s.type)
            << (s.type == rl::fair_context_bound_scheduler_type ? "(" + std::to_string(s.bound) + ")" : "")
            << " iterations=" << p.stop_iteration << " time_ms=" << ms
            << " result=" << spaced(rl::test_result_str(p.test_result))
            << " expected=" << spaced(wanted) << " verdict=" << (pass ? "pass" : "FAIL") << std::endl;
  return pass;
}

// main's exit status: 0 when every suite passed, and (for a mutant build) at least one suite
// was built to catch the mutant, so that a mutant compiled into the wrong model cannot pass.
inline int finish(bool all_passed) {
  if (active_mutant != "none" && suites_run == 0) {
    std::cout << "RESULT error: no model in this binary catches mutant " << active_mutant
              << std::endl;
    return 1;
  }
  return all_passed ? 0 : 1;
}

// The body of every model's main(): `suites(search)` runs the model's suites with the search
// the command line asked for (over `defaults`) and says whether all passed.
template <class Suites>
int model_main(int argc, char** argv, search defaults, Suites suites) {
  if (!parse(argc, argv, defaults)) return 2;
  return finish(suites(static_cast<const search&>(defaults)));
}

}  // namespace sfmodel
