#include "monitor.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "clock.hpp"
#include "options.hpp"

namespace sfstress {

monitor::monitor(std::string label, std::vector<worker*> workers, std::int64_t watchdog_ns,
                 bool progress, std::function<double()> fraction,
                 std::span<const progress_slot> coroutines)
    : label_(std::move(label)),
      workers_(std::move(workers)),
      coroutines_(coroutines),
      watchdog_ns_(watchdog_ns),
      progress_(progress),
      fraction_(std::move(fraction)),
      start_ns_(now_ns()),
      thread_([this] { loop(); }) {}

monitor::~monitor() { stop(); }

void monitor::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (drawn_) {
    std::fprintf(stderr, "\r%-100s\r", "");
    std::fflush(stderr);
    drawn_ = false;
  }
}

void monitor::loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; })) {
    const std::int64_t now = now_ns();
    check_stuck(now);
    if (progress_ && now - start_ns_ > 1'000'000'000) draw(now);
  }
}

void monitor::check_stuck(std::int64_t now) {
  struct stuck {
    std::vector<std::string> who;  // "3": thread 3; "c17": coroutine caller 17
    std::int64_t longest_ns = 0;
    std::uint32_t doing = 0;
  };
  std::map<std::uint64_t, stuck> by_key;
  auto look = [&](const progress_slot& p, auto&& name) {
    const std::uint32_t doing = p.doing.load(std::memory_order_relaxed);  // see progress_slot
    if (doing == progress_slot::idle) return;
    const std::int64_t waited = now - p.since.load(std::memory_order_relaxed);
    if (waited <= watchdog_ns_) return;
    stuck& s = by_key[p.key.load(std::memory_order_relaxed)];
    s.who.push_back(name());
    s.longest_ns = std::max(s.longest_ns, waited);
    s.doing = doing;
  };
  for (const worker* w : workers_) look(w->progress, [w] { return std::to_string(w->index); });
  for (std::size_t i = 0; i < coroutines_.size(); ++i) {
    look(coroutines_[i], [i] {
      std::string name(1, 'c');  // not "c" + ...: g++ 12 warns falsely (-Wrestrict, PR 105651)
      name += std::to_string(i);
      return name;
    });
  }
  if (by_key.empty()) return;

  std::fprintf(stderr, "\nsf-stress: WATCHDOG (S6) in %s: operations outstanding for more than %s\n",
               label_.c_str(), format_ns(static_cast<double>(watchdog_ns_)).c_str());
  for (const auto& [key, s] : by_key) {
    std::string who;
    for (std::size_t i = 0; i < s.who.size() && i < 16; ++i) {
      if (i != 0) who += ',';
      who += s.who[i];
    }
    if (s.who.size() > 16) who += ",...";
    const char* what = s.doing == progress_slot::forgetting ? "in forget()"
                       : s.doing == progress_slot::sweeping ? "in the after-run call (sweep)"
                                                            : "in call()";
    std::fprintf(stderr, "  key %llu: %zu caller(s) %s, the longest for %s (threads %s; cN: "
                 "coroutine caller N)\n",
                 static_cast<unsigned long long>(key), s.who.size(), what,
                 format_ns(static_cast<double>(s.longest_ns)).c_str(), who.c_str());
  }
  std::fprintf(stderr, "sf-stress: giving up on the run instead of hanging (exit status 3)\n");
  std::fflush(stderr);
  std::fflush(stdout);
  std::_Exit(3);
}

void monitor::draw(std::int64_t now) {
  const double f = std::clamp(fraction_(), 0.0, 1.0);
  std::uint64_t calls = 0;
  for (const worker* w : workers_) calls += w->progress.done.load(std::memory_order_relaxed);
  for (const progress_slot& p : coroutines_) calls += p.done.load(std::memory_order_relaxed);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(f * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r  %-28s [%s] %3.0f%%  %6.1fs  %llu calls", label_.c_str(), bar.c_str(),
               f * 100, static_cast<double>(now - start_ns_) / 1e9,
               static_cast<unsigned long long>(calls));
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace sfstress
