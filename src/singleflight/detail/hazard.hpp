// singleflight::detail — internal; hazard pointers for the project's own flight table
// (M. M. Michael, "Hazard Pointers: Safe Memory Reclamation for Lock-Free Objects", IEEE TPDS
// 15(6), 2004).
//
// A reader about to dereference a node it loaded from a shared word first publishes the node's
// address in one of its hazard slots, then re-reads the word. If the word still holds the node,
// the node was reachable after the hazard became visible, so whoever removes it later sees the
// hazard and does not free it while the hazard stands. Whoever removes a node *retires* it: the
// node waits in that thread's list until a scan finds no hazard naming it, then it is freed.
//
// The flight table publishes hazards only when it must read a record or bucket in a slot (a child
// array is never freed while its table lives, so descending into one needs none): a lone flight
// (empty slot found, record inserted, record removed) never touches a hazard slot, and the record
// it retires at the end is freed by a later scan of its own thread at no extra atomic cost.
//
// Per-thread state lives in a `thread_record`, linked into the domain's list for good. A thread
// claims one on its first call and hands it back at exit (thread_exit.hpp) for a later thread to
// reuse, after moving the nodes it could not yet free to the domain's orphan list, which the next
// scan of any thread adopts. A node retired by a thread that never claimed a record (a thread
// that only let go of a result, say) goes to the orphan list directly.
//
// Normal builds use one process-wide domain that is never destroyed (static groups may be
// destroyed after other threads' records are gone). Under the model checker each table owns a
// domain, which frees everything when the model's table is destroyed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "atomic.hpp"
#include "config.hpp"
#ifndef SINGLEFLIGHT_RELACY
#include "thread_exit.hpp"
#endif

namespace singleflight::detail {

// A node that can be retired: the table's records and collision buckets derive from it.
struct retired {
  using free_fn = void (*)(retired*) noexcept;
  explicit retired(free_fn f) noexcept : free_retired(f) {}
  retired* next_retired = nullptr;  // the retire list's link, owned by whoever holds the list
  const free_fn free_retired;       // destroys the node and frees its memory
};

class hazard_domain {
 public:
  // Hazard slots per thread: a table operation reads at most a bucket and one record at once.
  static constexpr int kSlots = 2;
  // The most retired nodes a thread keeps before it scans (record_pool.hpp keeps as many blocks).
  static constexpr std::size_t kMaxScanBatch = 256;

#ifdef SINGLEFLIGHT_RELACY
  static constexpr unsigned kModelThreads = 8;
  struct thread_record {
#else
  struct alignas(64) thread_record {  // one cache line each: hazards are written by one thread
#endif
    atomic<retired*> hazard[kSlots] = {};
    atomic<bool> in_use{true};
    thread_record* next = nullptr;  // written before the record is linked in, never after
    // Owned by the thread that holds in_use:
    retired* retired_head = nullptr;
    std::size_t retired_count = 0;
  };

  constexpr hazard_domain() noexcept = default;
  hazard_domain(const hazard_domain&) = delete;
  hazard_domain& operator=(const hazard_domain&) = delete;

#ifdef SINGLEFLIGHT_RELACY
  // The model's domain: every thread has finished, so nothing is hazarded and all can go.
  ~hazard_domain() {
    free_all(orphans_.load(std::memory_order_relaxed));
    for (thread_record* r = head_.load(std::memory_order_relaxed); r != nullptr;) {
      thread_record* next = r->next;
      free_all(r->retired_head);
      delete r;
      r = next;
    }
  }
#else
  // The process-wide domain. Never destroyed: a static group may retire records at exit.
  static hazard_domain& global() noexcept { return storage_; }
#endif

  // The calling thread's record, claimed on its first use. May throw std::bad_alloc.
  thread_record& local() {
    thread_record*& mine = mine_slot();
    if (mine == nullptr) mine = claim();
    return *mine;
  }

  // The calling thread's record, for an operation that cannot fail: removing a flight's record.
  // Usually the thread registered the record and has one; an asynchronous loader's flight may be
  // removed on whatever thread completed the loader, which may have to claim one here. Running
  // out of memory then ends the process with a message, since a removal cannot be undone.
  thread_record& local_claimed() noexcept {
    try {
      return local();
    } catch (...) {
      std::fputs("singleflight: out of memory while claiming a hazard record to remove a flight\n",
                 stderr);
      std::abort();
    }
  }

  // Frees, now, every node retired by the calling thread or orphaned that no hazard names (tests
  // and the stress harness use it to see every record freed at the end of a run).
  void scan_now() { scan(local()); }

  // Publishes `p` in hazard slot `i` of `me`, then re-reads `word`. True if the word still holds
  // `expected`: then `p` was reachable after the hazard became visible, and stays allocated until
  // the slot is cleared or overwritten. False means the word changed: read it again.
  template <class Word>
  static bool protect(thread_record& me, int i, retired* p, const atomic<Word>& word,
                      Word expected) noexcept {
    // (H1) seq_cst, pairs with (T2) and (R1): the reader's half of the hazard handshake.
    me.hazard[i].store(p, std::memory_order_seq_cst);
    // (H2) seq_cst, pairs with (T2): sees an unlink that precedes (H1) in S; sees the node built.
    return word.load(std::memory_order_seq_cst) == expected;
  }

  // Clears every hazard slot of `me`.
  static void clear(thread_record& me) noexcept {
    for (auto& h : me.hazard) {
      // (H3) release, pairs with (R1): the reader's last reads come before a scan's free.
      h.store(nullptr, std::memory_order_release);
    }
  }

  // Hands `p` over for freeing once no hazard names it. `p` must already be unreachable from
  // every shared word: its unlink happened before this call.
  void retire(retired* p) noexcept {
    thread_record* me = mine_slot();
    if (me == nullptr) {  // this thread never called a group: let another thread's scan free it
      push_orphans(p, p);
      return;
    }
    p->next_retired = me->retired_head;
    me->retired_head = p;
    if (++me->retired_count >= scan_threshold()) scan(*me);
  }

 private:
  thread_record*& mine_slot() noexcept {
#ifdef SINGLEFLIGHT_RELACY
    return by_model_thread_[model_thread_index()];
#else
    return mine_;
#endif
  }

  thread_record* claim() {
    // (D1) acquire, pairs with (D3): a record another thread linked in is seen built.
    for (thread_record* r = head_.load(std::memory_order_acquire); r != nullptr; r = r->next) {
      // Relaxed peek: only the exchange decides. (D2) acquire, pairs with (D4): the old owner's
      // last writes to the retire list are seen.
      if (!r->in_use.load(std::memory_order_relaxed) &&
          !r->in_use.exchange(true, std::memory_order_acquire)) {
        arrange_hand_back(*r);
        return r;
      }
    }
    auto* r = new thread_record();
    // Relaxed: a size hint for the scan threshold, read without ordering.
    records_.fetch_add(1, std::memory_order_relaxed);
    thread_record* head = head_.load(std::memory_order_relaxed);  // the CAS re-checks it
    do {
      r->next = head;
      // (D3) seq_cst, pairs with (D1) and (R2): a scan that must see this thread's hazards
      // finds its record.
    } while (!head_.compare_exchange_weak(head, r, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
    arrange_hand_back(*r);
    return r;
  }

  std::size_t scan_threshold() const noexcept {
#ifdef SINGLEFLIGHT_RELACY
    return 1;  // scan on every retire: the model checks every free
#else
    // Amortized: a scan reads every hazard once, so it runs once per twice that many retires,
    // at least 64; at most 256, the blocks a thread's record pool keeps (record_pool.hpp), so that a
    // scan's batch of freed records goes back to the pool rather than to the allocator.
    // Relaxed: a hint.
    const std::size_t hazards = kSlots * records_.load(std::memory_order_relaxed);
    return std::clamp<std::size_t>(2 * hazards, 64, kMaxScanBatch);
#endif
  }

  // Frees every node on `me`'s list that no hazard names; keeps the others.
  void scan(thread_record& me) noexcept {
    if (orphans_.load(std::memory_order_relaxed) != nullptr) {  // relaxed peek; (O2) decides
      // (O2) acquire, pairs with (O1).
      retired* adopted = orphans_.exchange(nullptr, std::memory_order_acquire);
      while (adopted != nullptr) {
        retired* next = adopted->next_retired;
        adopted->next_retired = me.retired_head;
        me.retired_head = adopted;
        adopted = next;
      }
    }
    // Every node on the list was retired before this point, so hazards read once, now, serve
    // for all of them (see (H1)).
    const standing hazards(*this);
    retired* keep = nullptr;
    std::size_t kept = 0;
    for (retired* p = me.retired_head; p != nullptr;) {
      retired* next = p->next_retired;
      if (hazards.complete ? hazards.names(p) : hazarded(p)) {
        p->next_retired = keep;
        keep = p;
        ++kept;
      } else {
        p->free_retired(p);
      }
      p = next;
    }
    me.retired_head = keep;
    me.retired_count = kept;
  }

  // Calls f(hazard) for every hazard slot of every thread record, until f returns true.
  template <class F>
  bool any_hazard(F f) const noexcept {
    // (R2) seq_cst, pairs with (D3): sees every record whose hazards precede the scan in S.
    for (thread_record* r = head_.load(std::memory_order_seq_cst); r != nullptr; r = r->next) {
      for (const auto& h : r->hazard) {
        // (R1) seq_cst, pairs with (H1) and (H3): the scan's half of the hazard handshake.
        if (f(h.load(std::memory_order_seq_cst))) return true;
      }
    }
    return false;
  }

  bool hazarded(const retired* p) const noexcept {
    return any_hazard([p](const retired* h) { return h == p; });
  }

  // The hazards standing when a scan starts, read in one pass over every thread's slots (the
  // list of thread records only grows, and a program that once ran many threads keeps their
  // records). Most slots are empty, since a thread publishes a hazard only while it reads a busy
  // slot, so a few dozen entries hold them all; when more stand, `complete` is false and the
  // scan reads the slots again for each node.
  struct standing {
#ifdef SINGLEFLIGHT_RELACY
    static constexpr std::size_t kCapacity = 1;  // the model takes both paths
#else
    static constexpr std::size_t kCapacity = 64;
#endif
    explicit standing(const hazard_domain& d) noexcept {
      d.any_hazard([this](const retired* h) {
        if (h == nullptr) return false;
        if (count == kCapacity) {
          complete = false;
          return true;
        }
        seen[count++] = h;
        return false;
      });
    }
    bool names(const retired* p) const noexcept {
      return std::find(seen, seen + count, p) != seen + count;
    }
    const retired* seen[kCapacity];
    std::size_t count = 0;
    bool complete = true;
  };

  void push_orphans(retired* first, retired* last) noexcept {
    retired* head = orphans_.load(std::memory_order_relaxed);  // the CAS re-checks it
    do {
      last->next_retired = head;
      // (O1) release, pairs with (O2): the nodes and their links are seen by the adopter.
    } while (!orphans_.compare_exchange_weak(head, first, std::memory_order_release,
                                             std::memory_order_relaxed));
  }

  static void free_all(retired* p) noexcept {
    while (p != nullptr) {
      retired* next = p->next_retired;
      p->free_retired(p);
      p = next;
    }
  }

#ifdef SINGLEFLIGHT_RELACY
  void arrange_hand_back(thread_record&) noexcept {}  // the domain's destructor frees everything
  thread_record* by_model_thread_[kModelThreads] = {};
#else
  // At thread exit: frees what it can, moves the rest to the orphans, hands the record back.
  void arrange_hand_back(thread_record&) noexcept {
    exit_node_.run = [](thread_exit_node*) noexcept {
      if (mine_ != nullptr) global().hand_back(*mine_);
    };
    thread_exit::at_exit(exit_node_);
  }

  void hand_back(thread_record& me) noexcept {
    scan(me);
    if (me.retired_head != nullptr) {
      retired* last = me.retired_head;
      while (last->next_retired != nullptr) last = last->next_retired;
      push_orphans(me.retired_head, last);
      me.retired_head = nullptr;
      me.retired_count = 0;
    }
    clear(me);
    mine_ = nullptr;
    // (D4) release, pairs with (D2): the next owner sees the emptied list.
    me.in_use.store(false, std::memory_order_release);
  }

  static inline thread_local thread_record* mine_ = nullptr;
  static inline thread_local thread_exit_node exit_node_{};
  static hazard_domain storage_;
#endif

  atomic<thread_record*> head_{nullptr};
  atomic<retired*> orphans_{nullptr};
  atomic<std::size_t> records_{0};
};

#ifndef SINGLEFLIGHT_RELACY
inline constinit hazard_domain hazard_domain::storage_{};
#endif

}  // namespace singleflight::detail
