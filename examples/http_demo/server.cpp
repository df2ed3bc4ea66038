// sf-http-demo: the stampede, over real HTTP.
//
// A deliberately slow origin (it sleeps --origin-ms per call and counts its calls) sits behind
// two endpoints that differ in one line:
//   GET  /direct/<key>     calls the origin for every request
//   GET  /coalesced/<key>  calls it through a singleflight::group, so concurrent requests for
//                          one key share one origin call; the X-Singleflight response header
//                          says whether this request was the leader, a follower, or alone
//   GET  /stats            per endpoint: requests, origin calls, most origin calls at once,
//                          504s, origin calls stopped early
//   POST /reset            zeroes the counters
// A key is 1 to 128 characters from A-Z a-z 0-9 . _ ~ -; anything else is a 400. HTTP itself
// is parsed by cpp-httplib: malformed requests never reach these handlers.
//
// Deadlines. A /coalesced request may carry a budget in milliseconds, as the query parameter
// `?deadline_ms=N` or the header `X-Deadline-Ms: N` (N from 1 to 600000; with both, the smaller
// counts; anything else, or either one twice, is a 400). The handler then calls
// `call_for(key, fetch, budget)`:
//   - a follower whose budget runs out answers 504 Gateway Timeout at once (it catches
//     singleflight::deadline_exceeded); the origin call and the other requests carry on;
//   - the leader's answer is always the origin call's, since the origin call runs on the leader's
//     thread. The origin call takes a std::stop_token, which singleflight requests when no
//     request is waiting for it any more: the leader's budget has run out and every follower has
//     left. The origin then stops at once and throws origin_abandoned, and the leader answers 504.
//     While a follower still waits, the origin call runs on, and the leader waits for it too, past
//     its own budget: it answers 200 late rather than waste a call that somebody still uses. So
//     the origin call stops at the latest budget of the requests still waiting for it.
// A request without a budget waits as long as the origin takes, and keeps its flight alive. /direct
// takes no budget.
//
//   sf-http-demo [--port N] [--origin-ms N] [--threads N]
//
// --port 0 (the default) binds an ephemeral port. Once it accepts connections the server prints
// `listening on 127.0.0.1:PORT` on stdout; SIGINT or SIGTERM stops it cleanly (exit status 0).
// It binds loopback only. examples/http_demo/drive.sh drives it with parallel curl.
#include <httplib.h>
#include <singleflight/singleflight.hpp>

#include <sys/socket.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace {

struct options {
  int port = 0;
  int origin_ms = 500;
  int threads = 64;  // requests served at once: at least the burst a client sends
};

// Counters for one endpoint. All relaxed: they are tallies that publish nothing; /stats reads
// them after the requests it reports on have been answered.
struct endpoint_stats {
  std::atomic<long> requests{0}, origin_calls{0}, followers{0};
  std::atomic<long> timeouts{0};   // 504s: requests answered without the value
  std::atomic<long> abandoned{0};  // origin calls stopped because nobody waited for them
  std::atomic<int> in_origin{0}, peak_in_origin{0};

  void reset() {
    requests.store(0, std::memory_order_relaxed);
    origin_calls.store(0, std::memory_order_relaxed);
    followers.store(0, std::memory_order_relaxed);
    timeouts.store(0, std::memory_order_relaxed);
    abandoned.store(0, std::memory_order_relaxed);
    peak_in_origin.store(in_origin.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  std::string json() const {
    return "{\"requests\":" + std::to_string(requests.load(std::memory_order_relaxed)) +
           ",\"origin_calls\":" + std::to_string(origin_calls.load(std::memory_order_relaxed)) +
           ",\"origin_peak\":" + std::to_string(peak_in_origin.load(std::memory_order_relaxed)) +
           ",\"followers\":" + std::to_string(followers.load(std::memory_order_relaxed)) +
           ",\"timeouts\":" + std::to_string(timeouts.load(std::memory_order_relaxed)) +
           ",\"abandoned\":" + std::to_string(abandoned.load(std::memory_order_relaxed)) + "}";
  }
};

// What an origin call throws when it was stopped because nobody was waiting for it any more.
struct origin_abandoned : std::runtime_error {
  origin_abandoned() : std::runtime_error("origin call stopped: no request was waiting for it") {}
};

// The slow dependency: a database, another service, a disk.
class slow_origin {
 public:
  explicit slow_origin(std::chrono::milliseconds delay) : delay_(delay) {}

  // Takes delay() unless `stop` is requested first; then it throws origin_abandoned. A real
  // origin would hand the token on: cancel the query, close the connection.
  std::string fetch(const std::string& key, endpoint_stats& stats, std::stop_token stop = {}) {
    const long call = stats.origin_calls.fetch_add(1, std::memory_order_relaxed) + 1;
    const int now = stats.in_origin.fetch_add(1, std::memory_order_relaxed) + 1;
    int peak = stats.peak_in_origin.load(std::memory_order_relaxed);
    while (now > peak &&
           !stats.peak_in_origin.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    {
      std::mutex m;
      std::condition_variable_any wake;
      std::unique_lock lock(m);
      wake.wait_for(lock, stop, delay_, [] { return false; });  // the delay, or until `stop`
    }
    stats.in_origin.fetch_sub(1, std::memory_order_relaxed);
    if (stop.stop_requested()) {
      stats.abandoned.fetch_add(1, std::memory_order_relaxed);
      throw origin_abandoned();
    }
    return "value of " + key + " from origin call " + std::to_string(call) + "\n";
  }

  std::chrono::milliseconds delay() const { return delay_; }

 private:
  std::chrono::milliseconds delay_;
};

bool valid_key(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '~' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void bad_key(httplib::Response& res) {
  res.status = 400;
  res.set_content("bad key: use 1 to 128 characters from A-Z a-z 0-9 . _ ~ -\n", "text/plain");
}

constexpr long max_deadline_ms = 600'000;

// A budget in milliseconds, 1 to max_deadline_ms, digits only.
std::optional<long> parse_deadline_ms(std::string_view text) {
  long ms = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || ms < 1 ||
      ms > max_deadline_ms) {
    return std::nullopt;
  }
  return ms;
}

// The request's budget, from `?deadline_ms=N` and `X-Deadline-Ms: N` (the smaller if both are
// given) into `budget`, which stays empty if neither is. False for a malformed one (a 400).
bool request_deadline(const httplib::Request& req,
                      std::optional<std::chrono::milliseconds>& budget) {
  const std::size_t params = req.get_param_value_count("deadline_ms");
  const std::size_t headers = req.get_header_value_count("X-Deadline-Ms");
  if (params > 1 || headers > 1) return false;
  std::optional<long> ms;
  for (const auto& [given, text] :
       {std::pair(params == 1, params == 1 ? req.get_param_value("deadline_ms") : ""),
        std::pair(headers == 1, headers == 1 ? req.get_header_value("X-Deadline-Ms") : "")}) {
    if (!given) continue;
    const std::optional<long> parsed = parse_deadline_ms(text);
    if (!parsed) return false;
    ms = ms ? std::min(*ms, *parsed) : *parsed;
  }
  if (ms) budget = std::chrono::milliseconds(*ms);
  return true;
}

void bad_deadline(httplib::Response& res) {
  res.status = 400;
  res.set_content("bad deadline: give ?deadline_ms=N or X-Deadline-Ms: N once, N from 1 to " +
                      std::to_string(max_deadline_ms) + " (milliseconds)\n",
                  "text/plain");
}

// cpp-httplib 0.11 listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into
// Debian's libcpp-httplib.so). A burst of 32 connections overflows that accept queue, the kernel
// drops the surplus SYNs, and those clients retry a second later — long after the flight they
// should have joined. Linux lets listen() be called again on a listening socket to raise its
// backlog; the socket is a protected member, hence this subclass.
class server : public httplib::Server {
 public:
  bool raise_backlog(int backlog) {
    // relaxed: bind_to_port() stored it on this thread
    return ::listen(svr_sock_.load(std::memory_order_relaxed), backlog) == 0;
  }
};

bool parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    int* target = flag == "--port"        ? &opt.port
                  : flag == "--origin-ms" ? &opt.origin_ms
                  : flag == "--threads"   ? &opt.threads
                                          : nullptr;
    if (target == nullptr || i + 1 >= argc) return false;
    const std::string_view text = argv[i + 1];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *target);
    if (error != std::errc{} || end != text.data() + text.size()) return false;
  }
  return opt.port >= 0 && opt.port <= 65535 && opt.origin_ms >= 0 && opt.origin_ms <= 60'000 &&
         opt.threads >= 1 && opt.threads <= 1024;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  const bool help = argc == 2 && std::string_view(argv[1]) == "--help";
  if (help || !parse(argc, argv, opt)) {
    std::fprintf(help ? stdout : stderr,
                 "usage: sf-http-demo [--port 0..65535] [--origin-ms 0..60000] "
                 "[--threads 1..1024]\n"
                 "defaults: --port 0 (ephemeral) --origin-ms 500 --threads 64\n");
    return help ? 0 : 2;
  }

  // SIGINT and SIGTERM are taken by sigwait() below, so every thread started from here on must
  // have them blocked; a peer that hangs up must not kill the process with SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  slow_origin origin{std::chrono::milliseconds(opt.origin_ms)};
  endpoint_stats direct, coalesced;
  singleflight::group<std::string, std::string> flights;

  server svr;
  svr.new_task_queue = [n = opt.threads] { return new httplib::ThreadPool(n); };
  svr.set_read_timeout(std::chrono::seconds(5));
  svr.set_payload_max_length(64 * 1024);

  svr.Get(R"(/direct/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string key = req.matches[1].str();
    if (!valid_key(key)) return bad_key(res);
    direct.requests.fetch_add(1, std::memory_order_relaxed);
    res.set_content(origin.fetch(key, direct), "text/plain");
  });
  svr.Get(R"(/coalesced/(.*))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string key = req.matches[1].str();
    if (!valid_key(key)) return bad_key(res);
    std::optional<std::chrono::milliseconds> budget;
    if (!request_deadline(req, budget)) return bad_deadline(res);
    coalesced.requests.fetch_add(1, std::memory_order_relaxed);
    // The origin call stops when its token is requested: only once nobody waits for it (S12).
    auto fetch = [&](std::stop_token stop) {
      return origin.fetch(key, coalesced, std::move(stop));
    };
    try {
      const auto r = budget ? flights.call_for(key, fetch, *budget) : flights.call(key, fetch);
      if (!r.leader()) coalesced.followers.fetch_add(1, std::memory_order_relaxed);
      res.set_header("X-Singleflight",
                     r.leader() ? (r.shared() ? "leader" : "alone") : "follower");
      res.set_content(*r, "text/plain");
    } catch (const singleflight::deadline_exceeded&) {  // a follower whose budget ran out
      coalesced.followers.fetch_add(1, std::memory_order_relaxed);
      coalesced.timeouts.fetch_add(1, std::memory_order_relaxed);
      res.status = 504;
      res.set_header("X-Singleflight", "follower");
      res.set_content("deadline exceeded: the origin call for " + key +
                          " is still under way for the requests that wait for it\n",
                      "text/plain");
    } catch (const origin_abandoned&) {  // the leader: every request gave up, the call stopped
      coalesced.timeouts.fetch_add(1, std::memory_order_relaxed);
      res.status = 504;
      res.set_header("X-Singleflight", "leader");
      res.set_content("deadline exceeded: nobody waits for " + key +
                          " any more, so its origin call was stopped\n",
                      "text/plain");
    }
  });
  svr.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"origin_ms\":" + std::to_string(origin.delay().count()) + ",\"direct\":" +
                        direct.json() + ",\"coalesced\":" + coalesced.json() + "}\n",
                    "application/json");
  });
  svr.Post("/reset", [&](const httplib::Request&, httplib::Response& res) {
    direct.reset();
    coalesced.reset();
    res.set_content("reset\n", "text/plain");
  });
  // Unknown paths, and errors cpp-httplib answers itself (400, 414, ...), get a short body.
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content("error " + std::to_string(res.status) + "\n", "text/plain");
    }
  });

  if (opt.port == 0) {
    opt.port = svr.bind_to_any_port("127.0.0.1");
    if (opt.port < 0) {
      std::fprintf(stderr, "sf-http-demo: cannot bind 127.0.0.1 on an ephemeral port\n");
      return 1;
    }
  } else if (!svr.bind_to_port("127.0.0.1", opt.port)) {
    std::fprintf(stderr, "sf-http-demo: cannot bind 127.0.0.1:%d\n", opt.port);
    return 1;
  }
  if (!svr.raise_backlog(1024)) std::perror("sf-http-demo: listen (raising the backlog)");

  // Relaxed, every access: a flag that orders nothing else; main reads it last after a join.
  std::atomic<bool> serving_failed{false};
  std::thread serving([&] {
    if (!svr.listen_after_bind()) {
      serving_failed.store(true, std::memory_order_relaxed);
      kill(getpid(), SIGTERM);  // wake main's sigwait
    }
  });
  // stop() is a no-op until the server runs, so wait for that before taking signals.
  while (!svr.is_running() && !serving_failed.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!serving_failed.load(std::memory_order_relaxed)) {
    std::printf("listening on 127.0.0.1:%d\n", opt.port);
    std::fflush(stdout);
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  svr.stop();
  serving.join();  // the thread pool has drained: no handler runs from here on
  if (serving_failed.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "sf-http-demo: the server stopped unexpectedly\n");
    return 1;
  }
  return 0;
}
