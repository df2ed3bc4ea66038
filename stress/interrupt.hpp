// sf-stress: Ctrl-C (SIGINT) and SIGTERM. The first one only records itself: the run in progress
// stops starting calls and lets the calls in flight finish (run_env::stopping() and
// sleep_unless_interrupted() poll the record), no further run starts, and main() prints and writes
// what was measured, then exits with 128 + the signal's number. A second one exits at once.
#pragma once

#include <cstdint>

namespace sfstress {

// Installs the handlers for SIGINT and SIGTERM, except where the process started with the signal
// ignored (a background job of a script ignores SIGINT): that choice is left alone.
void install_interrupt_handlers();

// The first SIGINT or SIGTERM received, or 0. Cheap: polled between calls.
int interrupted() noexcept;

const char* signal_name(int sig) noexcept;  // "SIGINT", "SIGTERM"

// Sleeps until now_ns() >= deadline, looking for a signal every 50 ms. True if the deadline was
// reached, false if a signal came first.
bool sleep_unless_interrupted(std::int64_t deadline) noexcept;

}  // namespace sfstress
