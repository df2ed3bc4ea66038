// sf-http-demo: the stampede, over real HTTP.
//
// An origin whose latency grows with its load sits behind two endpoints that differ in one line:
//   GET  /direct/<key>     calls the origin for every request
//   GET  /coalesced/<key>  calls it through a singleflight::group, so concurrent requests for
//                          one key share one origin call; the X-Singleflight response header
//                          says whether this request was the leader, a follower, or alone
//   GET  /stats            JSON: the origin's settings and the most pool connections in use at
//                          once; per endpoint: requests, origin calls, most origin calls at once,
//                          their total wait for a pool connection, 504s, origin calls stopped early
//   POST /reset            zeroes the counters
// A key is 1 to 128 characters from A-Z a-z 0-9 . _ ~ -; anything else is a 400. HTTP itself
// is parsed by cpp-httplib: malformed requests never reach these handlers.
//
// The origin is a database behind a connection pool: --origin-pool connections, each serving one
// call at a time for --origin-ms. A call waits, first come first served, for a free connection,
// so N calls at once take about ceil(N / pool) x origin-ms: the more calls reach it, the slower
// each one is, which is what coalescing saves. A sleep that took the same time under any load
// would hide that.
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
//     left. The origin then stops at once, waiting for a pool connection or using one, and throws
//     origin_abandoned, and the leader answers 504.
//     While a follower still waits, the origin call runs on, and the leader waits for it too, past
//     its own budget: it answers 200 late rather than waste a call that somebody still uses. So
//     the origin call stops at the latest budget of the requests still waiting for it.
// A request without a budget waits as long as the origin takes, and keeps its flight alive. /direct
// takes no budget.
//
// Connections. A pool of --threads threads serves them, one connection per thread for as long as
// it stays open (cpp-httplib's model): a request waiting for the origin parks its thread. So that
// slow clients cannot hold every thread, reads, writes and idle keep-alive waits all time out (see
// main), and so do whole requests: one that has not been read in full 5 s after its first byte is
// dropped, however steadily it trickles. Slow clients can then delay other connections, which
// queue for a thread, by at most those limits; they cannot starve them.
//
//   sf-http-demo [--port N] [--origin-ms N] [--origin-pool N] [--threads N]
//
// --port 0 (the default) binds an ephemeral port. Once it accepts connections the server prints
// `listening on 127.0.0.1:PORT` on stdout; SIGINT or SIGTERM stops it cleanly (exit status 0).
// It binds loopback only. examples/http_demo/drive.sh drives it with parallel curl, or with wrk.
#include <httplib.h>
#include <singleflight/singleflight.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct options {
  int port = 0;
  int origin_ms = 500;
  int origin_pool = 8;  // a typical database connection pool
  int threads = 64;     // connections served at once: at least the burst a client sends
};

// Counters for one endpoint. All relaxed: they are tallies that publish nothing; /stats reads
// them after the requests it reports on have been answered.
struct endpoint_stats {
  std::atomic<long> requests{0}, origin_calls{0}, followers{0};
  std::atomic<long> timeouts{0};   // 504s: requests answered without the value
  std::atomic<long> abandoned{0};  // origin calls stopped because nobody waited for them
  std::atomic<long long> origin_wait_us{0};  // total time origin calls queued for a connection
  std::atomic<int> in_origin{0}, peak_in_origin{0};  // origin calls under way, queued ones too

  void reset() {
    requests.store(0, std::memory_order_relaxed);
    origin_calls.store(0, std::memory_order_relaxed);
    followers.store(0, std::memory_order_relaxed);
    timeouts.store(0, std::memory_order_relaxed);
    abandoned.store(0, std::memory_order_relaxed);
    origin_wait_us.store(0, std::memory_order_relaxed);
    peak_in_origin.store(in_origin.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  std::string json() const {
    return "{\"requests\":" + std::to_string(requests.load(std::memory_order_relaxed)) +
           ",\"origin_calls\":" + std::to_string(origin_calls.load(std::memory_order_relaxed)) +
           ",\"origin_peak\":" + std::to_string(peak_in_origin.load(std::memory_order_relaxed)) +
           ",\"origin_wait_us\":" + std::to_string(origin_wait_us.load(std::memory_order_relaxed)) +
           ",\"followers\":" + std::to_string(followers.load(std::memory_order_relaxed)) +
           ",\"timeouts\":" + std::to_string(timeouts.load(std::memory_order_relaxed)) +
           ",\"abandoned\":" + std::to_string(abandoned.load(std::memory_order_relaxed)) + "}";
  }
};

// What an origin call throws when it was stopped because nobody was waiting for it any more.
struct origin_abandoned : std::runtime_error {
  origin_abandoned() : std::runtime_error("origin call stopped: no request was waiting for it") {}
};

// A database's connection pool: `size` connections, handed out first come first served, so that
// no call starves and the tail latency is the queue's, not the scheduler's.
class connection_pool {
 public:
  explicit connection_pool(int size) : size_(size), free_(size) {}

  // True with a connection, which the caller must release(); false if `stop` was requested
  // while it waited (it then holds none).
  bool acquire(const std::stop_token& stop) {
    std::unique_lock lock(mutex_);
    if (free_ > 0) {  // then nobody queues
      --free_;
      peak_ = std::max(peak_, size_ - free_);
      return true;
    }
    waiter me;
    const auto place = queue_.insert(queue_.end(), &me);
    me.wake.wait(lock, stop, [&] { return me.granted; });
    if (me.granted) return true;  // granted as the stop came: the caller releases it
    queue_.erase(place);
    return false;
  }

  void release() {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      ++free_;
      return;
    }
    waiter* next = queue_.front();  // the connection passes straight to the oldest waiter
    queue_.pop_front();
    next->granted = true;
    // Under the lock: `next` lives on its waiter's stack, and the waiter cannot see `granted`
    // and return (destroying it) before this lock is released.
    next->wake.notify_one();
  }

  int size() const { return size_; }

  // The most connections in use at once since the last reset_peak().
  int peak() {
    std::lock_guard lock(mutex_);
    return peak_;
  }

  void reset_peak() {
    std::lock_guard lock(mutex_);
    peak_ = size_ - free_;
  }

 private:
  struct waiter {
    std::condition_variable_any wake;
    bool granted = false;  // guarded by mutex_
  };

  const int size_;
  std::mutex mutex_;
  int free_;                    // guarded by mutex_; 0 whenever queue_ is not empty
  int peak_ = 0;                // guarded by mutex_
  std::list<waiter*> queue_;    // guarded by mutex_: calls waiting for a connection, oldest first
};

// The slow dependency: a database, another service, a disk.
class origin {
 public:
  origin(milliseconds service, int pool) : service_(service), pool_(pool) {}

  // Waits for a pool connection, then holds it for service(). If `stop` is requested first, it
  // leaves the queue or cuts the call short (a real client would cancel its query) and throws
  // origin_abandoned.
  std::string fetch(const std::string& key, endpoint_stats& stats, std::stop_token stop = {}) {
    const long call = stats.origin_calls.fetch_add(1, std::memory_order_relaxed) + 1;
    const int now = stats.in_origin.fetch_add(1, std::memory_order_relaxed) + 1;
    int peak = stats.peak_in_origin.load(std::memory_order_relaxed);
    while (now > peak &&
           !stats.peak_in_origin.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    const auto queued = steady_clock::now();
    const bool connected = pool_.acquire(stop);
    stats.origin_wait_us.fetch_add(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - queued)
            .count(),
        std::memory_order_relaxed);
    if (connected) {
      std::mutex m;
      std::condition_variable_any wake;
      std::unique_lock lock(m);
      wake.wait_for(lock, stop, service_, [] { return false; });  // the service, or until `stop`
      lock.unlock();
      pool_.release();
    }
    stats.in_origin.fetch_sub(1, std::memory_order_relaxed);
    if (stop.stop_requested()) {
      stats.abandoned.fetch_add(1, std::memory_order_relaxed);
      throw origin_abandoned();
    }
    return "value of " + key + " from origin call " + std::to_string(call) + "\n";
  }

  milliseconds service() const { return service_; }
  connection_pool& pool() { return pool_; }

 private:
  milliseconds service_;
  connection_pool pool_;
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

// How long each wait of a connection may take; see main for the values and why.
struct connection_timeouts {
  milliseconds read;        // between two reads of a request
  milliseconds request;     // a whole request, from its first byte
  milliseconds write;       // one write of a reply
  milliseconds keep_alive;  // an idle connection, for its next request
};

// One connection's stream, read and written by the pool thread that serves the connection. It
// replaces cpp-httplib's own to add the read deadline of a whole request, which cpp-httplib 0.11
// lacks: its read timeout is per read, so a client that sends a byte a second holds a thread for
// ever. Every wait also ends when the server is stopping (`stopping`, an eventfd that stop_now()
// makes readable), so that stopping takes no longer than the requests in progress.
class connection_stream final : public httplib::Stream {
 public:
  connection_stream(int sock, int stopping, const connection_timeouts& timeouts)
      : sock_(sock), stopping_(stopping), timeouts_(timeouts) {}

  // Waits for the first byte of the next request, then starts that request's read deadline.
  // False after the keep-alive timeout without one, or when the server is stopping. A hang-up
  // counts as a byte: process_request() then reads nothing and says so.
  bool next_request() {
    if (begin_ == end_ && !wait(POLLIN, timeouts_.keep_alive)) return false;
    request_deadline_ = steady_clock::now() + timeouts_.request;
    return true;
  }

  bool is_readable() const override {
    if (begin_ != end_) return true;
    const auto left = std::chrono::ceil<milliseconds>(request_deadline_ - steady_clock::now());
    return wait(POLLIN, std::min(timeouts_.read, left));
  }

  bool is_writable() const override { return wait(POLLOUT, timeouts_.write); }

  ssize_t read(char* ptr, std::size_t size) override {
    // cpp-httplib reads a request's head a byte at a time: serve those from a buffer.
    if (begin_ == end_) {
      if (!is_readable()) return -1;
      const ssize_t n =
          retry_on_eintr([&] { return ::recv(sock_, buffer_.data(), buffer_.size(), 0); });
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    const std::size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    if (!is_writable()) return -1;
    return retry_on_eintr([&] { return ::send(sock_, ptr, size, MSG_NOSIGNAL); });
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }

  socket_t socket() const override { return sock_; }

 private:
  template <class F>
  static ssize_t retry_on_eintr(F f) {
    ssize_t n;
    do n = f();
    while (n < 0 && errno == EINTR);
    return n;
  }

  // True when the socket is ready for `events` (or has failed, which the next call reports);
  // false after `timeout`, or when the server is stopping.
  bool wait(short events, milliseconds timeout) const {
    const auto until = steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::ceil<milliseconds>(until - steady_clock::now()).count();
      if (left <= 0) return false;
      pollfd fds[] = {{sock_, events, 0}, {stopping_, POLLIN, 0}};
      const int n = ::poll(fds, 2, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      return n > 0 && fds[1].revents == 0 && fds[0].revents != 0;
    }
  }

  void address(int (*name)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_in addr{};  // the server binds IPv4 loopback only
    socklen_t size = sizeof addr;
    char text[INET_ADDRSTRLEN] = "";
    if (name(sock_, reinterpret_cast<sockaddr*>(&addr), &size) == 0 &&
        addr.sin_family == AF_INET && inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text)) {
      ip = text;
      port = ntohs(addr.sin_port);
    }
  }

  const int sock_, stopping_;
  const connection_timeouts timeouts_;
  steady_clock::time_point request_deadline_{};
  std::array<char, 4096> buffer_;
  std::size_t begin_ = 0, end_ = 0;  // the unread bytes of buffer_
};

class server : public httplib::Server {
 public:
  server() : stopping_(eventfd(0, EFD_CLOEXEC)) {
    if (stopping_ < 0) throw std::runtime_error("eventfd: " + std::string(std::strerror(errno)));
  }
  ~server() override { close(stopping_); }

  server& set_request_timeout(milliseconds timeout) {
    request_timeout_ = timeout;
    return *this;
  }

  // cpp-httplib 0.11 listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into
  // Debian's libcpp-httplib.so). A burst of 32 connections overflows that accept queue, the
  // kernel drops the surplus SYNs, and those clients retry a second later — long after the
  // flight they should have joined. Linux lets listen() be called again on a listening socket to
  // raise its backlog (capped by net.core.somaxconn); the socket is a protected member, hence
  // this subclass.
  bool raise_backlog(int backlog) {
    // relaxed: bind_to_port() stored it on this thread
    return ::listen(svr_sock_.load(std::memory_order_relaxed), backlog) == 0;
  }

  // Wakes every connection's wait, then stops accepting. Handlers under way run to the end.
  void stop_now() {
    const std::uint64_t one = 1;
    if (::write(stopping_, &one, sizeof one) != sizeof one) std::perror("sf-http-demo: eventfd");
    stop();
  }

 private:
  // Replaces cpp-httplib's connection loop (a private virtual: overriding it is allowed, calling
  // it is not) to serve the connection with connection_stream, under the timeouts and the
  // keep-alive count set through cpp-httplib's own setters; process_request() still parses and
  // routes each request.
  bool process_and_close_socket(socket_t sock) override {
    using std::chrono::microseconds, std::chrono::seconds;
    const auto ms = [](time_t sec, time_t usec) {
      return std::chrono::ceil<milliseconds>(seconds(sec) + microseconds(usec));
    };
    connection_stream stream(sock, stopping_,
                             {ms(read_timeout_sec_, read_timeout_usec_), request_timeout_,
                              ms(write_timeout_sec_, write_timeout_usec_),
                              ms(keep_alive_timeout_sec_, 0)});
    bool ok = false;
    for (std::size_t left = keep_alive_max_count_; left > 0 && stream.next_request(); --left) {
      bool closed = false;
      ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
      if (!ok || closed) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  const int stopping_;  // an eventfd, readable once stop_now() has begun
  milliseconds request_timeout_{5'000};
};

bool parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = argv[i];
    int* target = flag == "--port"          ? &opt.port
                  : flag == "--origin-ms"   ? &opt.origin_ms
                  : flag == "--origin-pool" ? &opt.origin_pool
                  : flag == "--threads"     ? &opt.threads
                                            : nullptr;
    if (target == nullptr || i + 1 >= argc) return false;
    const std::string_view text = argv[i + 1];
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *target);
    if (error != std::errc{} || end != text.data() + text.size()) return false;
  }
  return opt.port >= 0 && opt.port <= 65535 && opt.origin_ms >= 0 && opt.origin_ms <= 60'000 &&
         opt.origin_pool >= 1 && opt.origin_pool <= 4096 && opt.threads >= 1 &&
         opt.threads <= 16384;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  const bool help = argc == 2 && std::string_view(argv[1]) == "--help";
  if (help || !parse(argc, argv, opt)) {
    std::fprintf(help ? stdout : stderr,
                 "usage: sf-http-demo [--port 0..65535] [--origin-ms 0..60000] "
                 "[--origin-pool 1..4096] [--threads 1..16384]\n"
                 "defaults: --port 0 (ephemeral) --origin-ms 500 --origin-pool 8 --threads 64\n");
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

  origin origin{milliseconds(opt.origin_ms), opt.origin_pool};
  endpoint_stats direct, coalesced;
  singleflight::group<std::string, std::string> flights;

  server svr;
  // A fixed pool: the most threads that clients, slow ones included, can ever tie up.
  // Connections beyond it wait in cpp-httplib's queue, not in a thread of their own.
  svr.new_task_queue = [n = opt.threads] { return new httplib::ThreadPool(n); };
  // cpp-httplib leaves Nagle's algorithm on. It writes a reply's head and body separately, so
  // the body waited for the client's delayed ACK of the head: about 40 ms on every request after
  // the first few of a keep-alive connection. Set on the listening socket; Linux copies it to
  // each accepted one.
  svr.set_tcp_nodelay(true);
  // Each open connection holds a pool thread, so these bound how long a client can keep one
  // from others without making progress. Every client of this demo (curl, wrk, the test) sends
  // a request in one write and reads its short reply at once, over loopback: they never come
  // near these limits.
  //   - between two reads of a request: a client that stalls mid-request is dropped after 2 s;
  svr.set_read_timeout(std::chrono::seconds(2));
  //   - a whole request, from its first byte: per-read timeouts alone let a client that sends
  //     a byte a second hold a thread for ever (slowloris). 5 s is thousands of times what a
  //     GET of a few hundred bytes takes, even from a slow network;
  svr.set_request_timeout(std::chrono::seconds(5));
  //   - one write of a reply: a client that stopped reading (its receive window is full);
  svr.set_write_timeout(std::chrono::seconds(5));
  //   - an idle keep-alive connection waiting for its next request (cpp-httplib's default is
  //     5 s); wrk never idles, so this costs its runs nothing;
  svr.set_keep_alive_timeout(2);
  //   - requests per connection before the server closes it (Apache's default). cpp-httplib's
  //     default of 5 makes wrk reconnect after every 5th request and measure TCP handshakes.
  svr.set_keep_alive_max_count(100);
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
    res.set_content("{\"origin_ms\":" + std::to_string(origin.service().count()) +
                        ",\"origin_pool\":" + std::to_string(origin.pool().size()) +
                        ",\"origin_pool_peak\":" + std::to_string(origin.pool().peak()) +
                        ",\"threads\":" + std::to_string(opt.threads) +
                        ",\"direct\":" + direct.json() + ",\"coalesced\":" + coalesced.json() +
                        "}\n",
                    "application/json");
  });
  svr.Post("/reset", [&](const httplib::Request&, httplib::Response& res) {
    direct.reset();
    coalesced.reset();
    origin.pool().reset_peak();
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
  // 4096: drive.sh --wrk opens 2,048 connections at once.
  if (!svr.raise_backlog(4096)) std::perror("sf-http-demo: listen (raising the backlog)");

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
  svr.stop_now();
  serving.join();  // the thread pool has drained: no handler runs from here on
  if (serving_failed.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "sf-http-demo: the server stopped unexpectedly\n");
    return 1;
  }
  return 0;
}
