// singleflight::detail — internal; libcds's process-wide setup and per-thread attachment, done
// for the user.
//
// libcds needs cds::Initialize(), one garbage collector object constructed before any thread
// attaches, and every thread that touches a container attached to that collector. This header
// does all three lazily, so that a group is usable from any thread with no setup:
//
//   - The collector is created on first use and never destroyed. A group may be a static object,
//     destroyed after any other static; a collector that outlives them all cannot be destroyed
//     under them. (The process's exit reclaims it.)
//   - A thread attaches on its first call into a group and detaches at thread exit, after every
//     thread_local destructor (thread_exit.hpp), so a thread_local group is still destroyed by an
//     attached thread. The main thread is never detached, which is what lets static groups be
//     destroyed at exit.
//   - DHP has no limit on threads; HP sizes its retired lists for kHpMaxThreads and degrades
//     (more frequent scans) beyond it.
#pragma once

#include <cds/gc/dhp.h>
#include <cds/gc/hp.h>
#include <cds/init.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "thread_exit.hpp"

// Only a build with ThreadSanitizer gets its annotation functions declared.
#if defined(__SANITIZE_THREAD__)
#define SINGLEFLIGHT_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SINGLEFLIGHT_DETAIL_TSAN 1
#endif
#endif

#ifdef SINGLEFLIGHT_DETAIL_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace singleflight::detail {

template <class GC>
struct libcds_gc;  // how to create, attach to and detach from one libcds collector

template <>
struct libcds_gc<cds::gc::DHP> {
  static cds::gc::DHP* create() { return new cds::gc::DHP(); }
  static void attach() { cds::gc::dhp::smr::attach_thread(); }
  static void detach() noexcept { cds::gc::dhp::smr::detach_thread(); }
};

template <>
struct libcds_gc<cds::gc::HP> {
  static constexpr std::size_t kHpPerThread = 8;   // a Michael list search needs 3 guards
  static constexpr std::size_t kHpMaxThreads = 1024;
  static cds::gc::HP* create() { return new cds::gc::HP(kHpPerThread, kHpMaxThreads); }
  static void attach() { cds::gc::hp::smr::attach_thread(); }
  static void detach() noexcept { cds::gc::hp::smr::detach_thread(); }
};

template <class GC>
class libcds_runtime {
 public:
  // Makes the calling thread ready to use GC-protected containers: one thread-local load and
  // branch once the thread is attached.
  static void enter() {
    if (!node_.registered) attach_slow();
  }

  // enter(), for an operation that cannot fail: removing a flight's record, which an
  // asynchronous loader's flight may do on a thread that never called into the group. Running
  // out of memory while attaching ends the process with a message.
  static void enter_for_removal() noexcept {
    try {
      enter();
    } catch (...) {
      std::fputs("singleflight: out of memory while attaching a thread to libcds to remove a "
                 "flight\n", stderr);
      std::abort();
    }
  }

  // ThreadSanitizer annotations for reclamation; nothing in other builds. A record may be freed
  // by whichever thread lets go of it last, after libcds's scan (in libcds.so, uninstrumented)
  // found no hazard pointer guarding it. TSan cannot see the scan's reads of the hazard pointers,
  // so it would take a finder's guarded read of the record and the later free for a race. A
  // table calls traversal_done() after each operation, once its guards are released, and
  // reclaiming() in its disposer: every finished traversal then happens-before every disposal
  // that follows it, which is what the scan guarantees. (It orders more than the scan does, so
  // TSan could miss a reclamation race inside libcds; libcds is trusted there, and ASan and the
  // Relacy models check the records' own lifetime.)
  static void traversal_done() noexcept {
#ifdef SINGLEFLIGHT_DETAIL_TSAN
    __tsan_release(&reclamation_);
#endif
  }
  static void reclaiming() noexcept {
#ifdef SINGLEFLIGHT_DETAIL_TSAN
    __tsan_acquire(&reclamation_);
#endif
  }

 private:
  static void create_once() {
    // Never destroyed: see the header comment. (Kept in a static so it stays reachable.)
    static GC* const collector = [] {
      cds::Initialize();
      return libcds_gc<GC>::create();
    }();
    (void)collector;
  }

  static void attach_slow() {
    create_once();
    libcds_gc<GC>::attach();
    handed_over();
    node_.run = [](thread_exit_node*) noexcept {
      handing_over();
      libcds_gc<GC>::detach();
    };
    thread_exit::at_exit(node_);
  }

  // libcds gives an exiting thread's hazard-pointer record to the next thread that attaches. The
  // hand-over happens inside libcds.so, which ThreadSanitizer does not instrument, so it cannot
  // see that the old owner's last use of the record precedes the new owner's first; these two
  // annotations tell it, and do nothing in other builds. (Strictly, libcds claims the record
  // with a relaxed CAS; every CPU orders it, but the C++ model alone would not.)
  static void handing_over() noexcept {
#ifdef SINGLEFLIGHT_DETAIL_TSAN
    __tsan_release(&handover_);
#endif
  }
  static void handed_over() noexcept {
#ifdef SINGLEFLIGHT_DETAIL_TSAN
    __tsan_acquire(&handover_);
#endif
  }
  static inline char handover_ = 0;
  static inline char reclamation_ = 0;

  // Registered while the thread is attached; its clean-up detaches the thread.
  static inline thread_local thread_exit_node node_{};
};

}  // namespace singleflight::detail
