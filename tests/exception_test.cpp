// Exceptions (S3, S6): an exception from fn (or from Value's constructor) reaches every caller of
// the flight, the leader included, as the same object with its type intact; the key is free
// afterwards. Go's TestPanicDo and TestGoexitDo have their analogues here; Goexit becomes
// pthread cancellation of the leader's thread.
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <latch>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "test_support.hpp"

namespace sftest {
namespace {

template <class Impl>
class exceptions : public ::testing::Test {};
TYPED_TEST_SUITE(exceptions, implementations);

// The kinds of exception thrown below. Each says how to throw one for a given flight and how to
// read the flight back from what a caller caught.
struct lookup_failed : std::exception {
  explicit lookup_failed(long f) : flight(f) {}
  const char* what() const noexcept override { return "lookup failed"; }
  long flight;
};

struct custom_kind {
  using error = lookup_failed;
  static error make(long flight) { return error(flight); }
  static long flight_of(const error& e) { return e.flight; }
};

struct int_kind {  // not even a class type
  using error = int;
  static error make(long flight) { return static_cast<int>(flight); }
  static long flight_of(const error& e) { return e; }
};

struct runtime_error_kind {
  using error = std::runtime_error;
  static error make(long flight) { return error(std::to_string(flight)); }
  static long flight_of(const error& e) { return std::strtol(e.what(), nullptr, 10); }
};

// A Value whose converting constructor always throws, so that the exception surfaces after fn
// has returned.
template <class Kind>
struct refuses_construction {
  explicit refuses_construction(long flight) { throw Kind::make(flight); }
};

enum class thrower { fn, value_constructor };

// Callers pile up behind a held leader whose flight then throws. Every caller must catch
// Kind::error (its type intact) and, flight by flight, the very same object the leader caught.
// Afterwards the key is free: the next call runs fn again.
template <class Impl, class Kind, thrower kFrom = thrower::fn>
void expect_exception_reaches_every_caller() {
  constexpr int kCallers = 8;
  using value = std::conditional_t<kFrom == thrower::fn, long, refuses_construction<Kind>>;
  group_for<Impl, int, value> g;
  std::atomic<long> executions{0};
  gate release;
  flight_log log;
  // Every caller stays in its handler until all have read what they caught. The callers share
  // each exception object through exception_ptr, whose reference count lives in libstdc++.so,
  // which ThreadSanitizer does not instrument: without this it would not see that one caller's
  // reads end before another caller's release destroys the object.
  std::latch all_caught(kCallers);

  pile_up_callers(kCallers, release, [&](int) {
    bool ran_fn = false;
    try {
      g.call(1, [&]() -> long {
        ran_fn = true;
        const long flight = ++executions;
        release.wait();
        if constexpr (kFrom == thrower::fn) throw Kind::make(flight);
        return flight;
      });
      ADD_FAILURE() << "call returned although the flight threw";
    } catch (const typename Kind::error& e) {
      log.add({Kind::flight_of(e), ran_fn, std::nullopt, &e});
      all_caught.arrive_and_wait();
      return;
    } catch (...) {
      ADD_FAILURE() << "the exception lost its type";
    }
    all_caught.arrive_and_wait();
  });
  log.expect_consistent();  // one leader and one exception object per flight
  EXPECT_EQ(log.callers(), static_cast<std::size_t>(kCallers));
  EXPECT_EQ(log.flights(), static_cast<std::size_t>(executions.load()));

  // S6: the key is free again, so the next call runs fn (whatever its outcome).
  const long before = executions.load();
  try {
    g.call(1, [&] { return ++executions; });
  } catch (const typename Kind::error&) {  // the value constructor still refuses
  }
  EXPECT_EQ(executions.load(), before + 1) << "S6: the key stayed wedged after an exception";
}

TYPED_TEST(exceptions, custom_exception_reaches_every_caller_as_the_same_object) {
  expect_exception_reaches_every_caller<TypeParam, custom_kind>();
}

TYPED_TEST(exceptions, non_class_exception_reaches_every_caller_as_the_same_object) {
  expect_exception_reaches_every_caller<TypeParam, int_kind>();
}

TYPED_TEST(exceptions, runtime_error_reaches_every_caller_as_the_same_object) {
  expect_exception_reaches_every_caller<TypeParam, runtime_error_kind>();
}

TYPED_TEST(exceptions, exception_from_value_constructor_is_delivered_like_one_from_fn) {
  expect_exception_reaches_every_caller<TypeParam, custom_kind, thrower::value_constructor>();
}

TYPED_TEST(exceptions, key_is_free_after_an_exception) {
  group_for<TypeParam, int, int> g;
  int runs = 0;
  EXPECT_THROW(g.call(1,
                      [&]() -> int {
                        ++runs;
                        throw std::runtime_error("first");
                      }),
               std::runtime_error);
  const auto r = g.call(1, [&] { return ++runs; });
  EXPECT_EQ(*r, 2) << "the call after an exception must run fn again";
  EXPECT_TRUE(r.leader());
}

// Go: TestPanicDo. Every caller of a throwing fn gets the exception, and none of them hangs.
TYPED_TEST(exceptions, every_caller_of_a_throwing_fn_gets_the_exception) {
  constexpr int kCallers = 5;
  group_for<TypeParam, std::string, int> g;
  std::atomic<int> caught{0};
  run_together(kCallers, [&](int) {
    try {
      g.call("key", []() -> int { throw std::logic_error("invalid memory address"); });
    } catch (const std::logic_error&) {
      ++caught;
    }
  });
  EXPECT_EQ(caught.load(), kCallers);
}

// Go: TestGoexitDo. The leader's thread is cancelled (deferred pthread cancellation) inside fn.
// The forced unwinding cannot be captured as an exception_ptr, so the library hands followers a
// std::runtime_error in its place. The key must not stay wedged.
TYPED_TEST(exceptions, cancelled_leader_thread_does_not_wedge_the_key) {
  constexpr int kCallers = 5;
  group_for<TypeParam, int, int> g;
  std::atomic<int> executions{0}, cancelled_threads{0}, runtime_errors{0}, values{0};
  gate release;

  pile_up_callers(kCallers, release, [&](int) {
    try {
      g.call(1, [&]() -> int {
        ++executions;
        release.wait();
        pthread_cancel(pthread_self());
        pthread_testcancel();  // a cancellation point: unwinds this thread
        ADD_FAILURE() << "pthread_testcancel returned";
        return 0;
      });
      ++values;
    } catch (const std::runtime_error&) {
      ++runtime_errors;
    } catch (...) {  // abi::__forced_unwind, which is no C++ object: not bound to a name
      ++cancelled_threads;
      throw;  // the unwinding must go on, or glibc aborts the process
    }
  });
  EXPECT_EQ(values.load(), 0) << "no flight produced a value";
  EXPECT_EQ(cancelled_threads.load(), executions.load()) << "exactly the leaders were cancelled";
  EXPECT_EQ(runtime_errors.load(), kCallers - executions.load())
      << "every follower receives a std::runtime_error";

  const auto r = g.call(1, [] { return 42; });
  EXPECT_EQ(*r, 42) << "the key stayed wedged after the leader's thread was cancelled";
  EXPECT_TRUE(r.leader());
}

}  // namespace
}  // namespace sftest
