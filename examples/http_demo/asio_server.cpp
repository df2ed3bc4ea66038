// sf-http-demo-asio: the stampede over real HTTP, served by Asio coroutines.
//
// The same endpoints, options, origin and /stats as sf-http-demo (server.cpp), so that drive.sh
// (--server asio) and sf-http-demo-test drive either one; what differs is how connections are
// served. There a pool thread holds each connection and parks while the origin works; here each
// connection is a coroutine on its own strand, and a request waiting for the origin holds no
// thread, only its frame: --threads threads run one io_context for any number of connections.
//   GET  /direct/<key>     calls the origin for every request
//   GET  /coalesced/<key>  calls it through singleflight::asio::async_call (<singleflight/asio.hpp>)
//                          over a singleflight::group, so concurrent requests for one key share
//                          one origin call; X-Singleflight says leader, follower or alone
//   GET  /stats            JSON: the origin's settings and the most pool connections in use at
//                          once; per endpoint: requests, origin calls, most origin calls at once,
//                          their total wait for a pool connection, followers, 504s, origin calls
//                          stopped early
//   POST /reset            zeroes the counters
// A key is 1 to 128 characters from A-Z a-z 0-9 . _ ~ -, after percent-decoding; anything else
// is a 400.
//
// The origin is a database behind a pool of --origin-pool connections, each serving one call at
// a time for --origin-ms; calls queue for a connection first come first served, so N calls at
// once take about ceil(N / pool) x origin-ms. Here the pool is an Asio channel used as a
// semaphore (a call holds a connection while its message sits in the channel's buffer; a waiting
// send is the queue, FIFO) and the service time is a steady_timer: the origin is itself a
// coroutine, asio::awaitable<std::string>, which /coalesced hands to the flight as its loader.
//
// Deadlines, as in server.cpp: `?deadline_ms=N` or `X-Deadline-Ms: N` (N from 1 to 600000; the
// smaller if both; anything else, or either twice, is a 400) gives a /coalesced request a budget.
// The request races its async_call against a timer (an asio parallel_group); when the timer wins,
// the group cancels the call through its cancellation slot, the request leaves its flight (S7)
// and answers 504. Unlike in server.cpp, where the leader runs the origin call on its own thread
// and so waits for it, the origin call here is an asynchronous loader: the leader leaves like a
// follower, and the call runs on for the requests still waiting. Once nobody waits, the flight's
// stop token is requested (S12), and the adapter cancels the origin coroutine the Asio way: it
// leaves the pool's queue, or its service timer ends, and /stats counts it as stopped. A leader
// whose own departure left nobody waiting answers once its call has stopped (at once), as
// server.cpp's leader answers with its call's outcome.
//
// Connections: HTTP/1.1 with keep-alive (HTTP/1.0 only on request), parsed here with limits
// (request line 8 KiB, head 16 KiB, 100 header fields, body 64 KiB) and a 4xx for anything
// malformed. Each connection has a watchdog on its strand that closes the socket when the wait in
// progress has run past its limit: 2 s between two reads of a request, 5 s for a whole request
// from its first byte (so a client trickling a byte at a time is dropped), 5 s for a reply's
// write, 2 s idle between keep-alive requests. Nothing is limited while a request waits for the
// origin. Replies go out in one write, on sockets with TCP_NODELAY.
//
//   sf-http-demo-asio [--port N] [--origin-ms N] [--origin-pool N] [--threads N]
//
// --threads (default 1) is the number of threads that run the io_context. --port 0 (the default)
// binds an ephemeral port; once it accepts connections the server prints
// `listening on 127.0.0.1:PORT` on stdout. SIGINT or SIGTERM stops it cleanly (exit status 0): it
// stops accepting, closes every connection's socket, lets the requests in progress finish (their
// origin calls included: a group must not be destroyed with flights in progress), and exits when
// nothing is left. It binds loopback only.
#include <singleflight/asio.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// ---- counters -------------------------------------------------------------------------------

// Raises `peak` to at least `now`. Relaxed, as every counter here: tallies that publish
// nothing; /stats reads them after the requests it reports on have been answered.
void raise_peak(std::atomic<long>& peak, long now) {
  long seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

// One endpoint's counters, in /stats order.
struct endpoint_stats {
  std::atomic<long> requests{0}, origin_calls{0}, origin_peak{0}, origin_wait_us{0}, followers{0},
      timeouts{0}, abandoned{0};
  std::atomic<long> in_origin{0};  // origin calls under way, queued ones included

  void reset() {
    for (std::atomic<long>* c : {&requests, &origin_calls, &origin_wait_us, &followers, &timeouts,
                                 &abandoned}) {
      c->store(0, std::memory_order_relaxed);
    }
    origin_peak.store(in_origin.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  std::string json() const {
    std::string out = "{";
    const std::pair<const char*, const std::atomic<long>*> fields[] = {
        {"requests", &requests},   {"origin_calls", &origin_calls},
        {"origin_peak", &origin_peak}, {"origin_wait_us", &origin_wait_us},
        {"followers", &followers}, {"timeouts", &timeouts},
        {"abandoned", &abandoned}};
    for (const auto& [name, value] : fields) {
      if (out.size() > 1) out += ',';
      out += '"' + std::string(name) + "\":" + std::to_string(value->load(std::memory_order_relaxed));
    }
    return out + '}';
  }
};

// ---- the origin -----------------------------------------------------------------------------

// What an origin call throws when it was cancelled because nobody was waiting for it any more.
struct origin_abandoned : std::runtime_error {
  origin_abandoned() : std::runtime_error("origin call stopped: no request was waiting for it") {}
};

// An event for one coroutine: when this is destroyed, the timer's expiry is set to the past, on
// the timer's own executor, so that timer.async_wait completes (at once, if it starts later).
// Moved-from, it sets nothing.
class end_signal {
 public:
  end_signal() = default;
  explicit end_signal(std::shared_ptr<asio::steady_timer> timer) : timer_(std::move(timer)) {}
  end_signal(end_signal&&) = default;
  end_signal& operator=(end_signal&&) = delete;
  ~end_signal() {
    if (timer_) {
      asio::post(timer_->get_executor(),
                 [timer = timer_] { timer->expires_at(steady::time_point::min()); });
    }
  }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
};

class origin {
 public:
  origin(asio::io_context& io, milliseconds service, int pool)
      : service_(service), size_(pool), pool_(io, static_cast<std::size_t>(pool)) {}

  // One origin call, counted in `stats`. A cancellation (for /coalesced: nobody waits for the
  // call any more) ends its wait, in the queue or for the service, and counts it as stopped.
  // `ended` is signalled when the call's frame goes, whether or not it ever ran.
  asio::awaitable<std::string> fetch(std::string key, endpoint_stats& stats,
                                     [[maybe_unused]] end_signal ended = {}) {
    const long number = stats.origin_calls.fetch_add(1, std::memory_order_relaxed) + 1;
    raise_peak(stats.origin_peak, stats.in_origin.fetch_add(1, std::memory_order_relaxed) + 1);
    struct leaving {  // counts the call out however it ends
      std::atomic<long>& in_origin;
      ~leaving() { in_origin.fetch_sub(1, std::memory_order_relaxed); }
    } leave{stats.in_origin};
    const auto stopped = [&stats] {
      stats.abandoned.fetch_add(1, std::memory_order_relaxed);
      return origin_abandoned();
    };

    const auto queued = steady::now();
    std::error_code error;
    // A connection: the send completes at once while the channel's buffer has room, else it
    // waits in the channel's FIFO for a release. Cancelled, it leaves the queue.
    co_await pool_.async_send(std::error_code{}, 0, asio::redirect_error(asio::use_awaitable, error));
    stats.origin_wait_us.fetch_add(
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - queued).count(),
        std::memory_order_relaxed);
    if (error) throw stopped();
    raise_peak(pool_peak_, in_use_.fetch_add(1, std::memory_order_relaxed) + 1);

    // The service time. A cancellation ends it early; so does one that came as the connection
    // was granted, since Asio then fails the next wait at once.
    try {
      asio::steady_timer serving(co_await asio::this_coro::executor, service_);
      co_await serving.async_wait(asio::redirect_error(asio::use_awaitable, error));
    } catch (const std::system_error&) {
      error = asio::error::operation_aborted;
    }
    in_use_.fetch_sub(1, std::memory_order_relaxed);
    pool_.try_receive([](std::error_code, int) {});  // gives the connection to the oldest waiting call
    if (error) throw stopped();
    co_return "value of " + key + " from origin call " + std::to_string(number) + "\n";
  }

  milliseconds service() const { return service_; }
  int size() const { return size_; }
  long pool_peak() const { return pool_peak_.load(std::memory_order_relaxed); }
  void reset_peak() {
    pool_peak_.store(in_use_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

 private:
  const milliseconds service_;
  const int size_;
  // The message is a placeholder. void(std::error_code) alone is ambiguous in Asio 1.22's
  // channel_traits.
  asio::experimental::concurrent_channel<void(std::error_code, int)> pool_;
  std::atomic<long> in_use_{0}, pool_peak_{0};  // connections
};

// ---- HTTP -----------------------------------------------------------------------------------

struct limits {
  static constexpr std::size_t request_line = 8 * 1024;
  static constexpr std::size_t head = 16 * 1024;
  static constexpr int fields = 100;
  static constexpr std::size_t body = 64 * 1024;
  static constexpr milliseconds between_reads{2'000}, whole_request{5'000}, write{5'000},
      keep_alive{2'000};
  static constexpr long max_deadline_ms = 600'000;
};

struct request {
  std::string method, path, query;  // path percent-decoded
  std::multimap<std::string, std::string> fields;  // names lower-cased
  std::size_t content_length = 0;
  bool keep_alive = true;
};

struct response {
  int status = 200;
  std::string body;
  const char* role = nullptr;  // X-Singleflight
  const char* type = "text/plain";
  bool close = false;  // close the connection after it (the request stream cannot be trusted)
};

response error(int status, std::string why, bool close = false) {
  return {status, std::move(why) + "\n", nullptr, "text/plain", close};
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}

std::string serialize(const response& r, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                    "\r\nContent-Type: " + r.type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (r.role) out += std::string("X-Singleflight: ") + r.role + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  return out + "\r\n" + r.body;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_token(std::string_view s) {
  return !s.empty() && s.find_first_not_of("!#$%&'*+-.^_`|~0123456789"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
                           std::string_view::npos;
}

std::optional<std::string> percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

// A request's head (without the blank line that ends it) into `req`; 0, or the 4xx to answer.
int parse_head(std::string_view head, request& req) {
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  if (line.size() > limits::request_line) return 414;
  const std::size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return 400;
  req.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(req.method) || target.empty() || target[0] != '/') return 400;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return 400;
  const std::size_t q = target.find('?');
  const std::optional<std::string> path = percent_decoded(target.substr(0, q));
  if (!path) return 400;
  req.path = *path;
  if (q != std::string_view::npos) req.query = target.substr(q + 1);

  int count = 0;
  for (std::size_t at = line_end; at != std::string_view::npos && at < head.size();) {
    const std::size_t start = at + 2, end = head.find("\r\n", start);
    const std::string_view field = head.substr(start, end == std::string_view::npos
                                                          ? std::string_view::npos
                                                          : end - start);
    at = end;
    if (++count > limits::fields) return 431;
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return 400;
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    req.fields.emplace(lower(field.substr(0, colon)), std::string(value));
  }

  if (req.fields.count("transfer-encoding") != 0) return 400;  // no chunked bodies here
  if (const auto lengths = req.fields.equal_range("content-length");
      lengths.first != lengths.second) {
    if (std::next(lengths.first) != lengths.second) return 400;
    const std::string& text = lengths.first->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                           req.content_length);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
      return ec == std::errc::result_out_of_range ? 413 : 400;
    }
    if (req.content_length > limits::body) return 413;
  }
  const auto connection = req.fields.find("connection");
  const std::string tokens = connection == req.fields.end() ? "" : lower(connection->second);
  req.keep_alive = version == "HTTP/1.1" ? tokens.find("close") == std::string::npos
                                         : tokens.find("keep-alive") != std::string::npos;
  return 0;
}

bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= 128 &&
         key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789._~-") == std::string_view::npos;
}

// The request's budget from `?deadline_ms=N` and `X-Deadline-Ms: N`, the smaller if both; false
// if either is malformed or given twice.
bool budget_of(const request& req, std::optional<milliseconds>& budget) {
  std::vector<std::string> given;
  for (std::string_view rest = req.query; !rest.empty();) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.substr(0, pair.find('=')) != "deadline_ms") continue;
    if (!given.empty()) return false;
    given.emplace_back(pair.find('=') == std::string_view::npos ? "" : pair.substr(pair.find('=') + 1));
  }
  const auto headers = req.fields.equal_range("x-deadline-ms");
  if (std::distance(headers.first, headers.second) > 1) return false;
  if (headers.first != headers.second) given.push_back(headers.first->second);
  for (const std::string& text : given) {
    long ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || ms < 1 ||
        ms > limits::max_deadline_ms) {
      return false;
    }
    budget = budget ? std::min(*budget, milliseconds(ms)) : milliseconds(ms);
  }
  return true;
}

// ---- the server -----------------------------------------------------------------------------

struct options {
  int port = 0;
  int origin_ms = 500;
  int origin_pool = 8;
  int threads = 1;
};

class server;

// One connection: its socket, the deadline of the wait in progress, and the watchdog's timer,
// all touched only on the connection's strand (the socket's executor).
struct connection {
  explicit connection(tcp::socket s) : socket(std::move(s)), watchdog(socket.get_executor()) {}

  void wait_until(steady::time_point t) {
    deadline = t;
    if (t < watchdog.expiry()) watchdog.cancel();  // re-arm it sooner
  }

  tcp::socket socket;
  asio::steady_timer watchdog;
  steady::time_point deadline = steady::time_point::max();
};

class server {
 public:
  server(asio::io_context& io, const options& opt)
      : opt_(opt),
        origin_(io, milliseconds(opt.origin_ms), opt.origin_pool),
        accepting_(asio::make_strand(io)),
        acceptor_(accepting_) {}

  // Binds 127.0.0.1:port (0: ephemeral); returns the port.
  int bind(int port) {
    const tcp::endpoint at(asio::ip::make_address_v4("127.0.0.1"), static_cast<unsigned short>(port));
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(4096);  // drive.sh --wrk opens 2,048 connections at once
    return acceptor_.local_endpoint().port();
  }

  // On the acceptor's strand, where stop() closes it.
  void start() { asio::co_spawn(accepting_, accept_loop(), asio::detached); }

  // Stops accepting and closes every connection; requests waiting for the origin still finish.
  void stop() {
    asio::post(accepting_, [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
    });
    std::lock_guard lock(mu_);
    for (auto& [raw, weak] : live_) {
      if (auto c = weak.lock()) {
        asio::post(c->socket.get_executor(), [c] {
          std::error_code ignored;
          c->socket.close(ignored);
          c->watchdog.cancel();
        });
      }
    }
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      std::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(
          asio::make_strand(accepting_.get_inner_executor()),
          asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;  // out of file descriptors, say: the client will retry
      socket.set_option(tcp::no_delay(true), ec);  // replies go out at once
      auto c = std::make_shared<connection>(std::move(socket));
      track(c);
      asio::co_spawn(c->socket.get_executor(), watch(c), asio::detached);
      asio::co_spawn(c->socket.get_executor(), serve(c), asio::detached);
    }
  }

  void track(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(mu_);
    live_.emplace(c.get(), c);
  }
  void untrack(connection* c) {
    std::lock_guard lock(mu_);
    live_.erase(c);
  }

  // Closes the socket once the wait in progress passes its deadline.
  static asio::awaitable<void> watch(std::shared_ptr<connection> c) {
    while (c->socket.is_open()) {
      c->watchdog.expires_at(c->deadline);
      std::error_code ec;
      co_await c->watchdog.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (c->deadline <= steady::now()) {
        std::error_code ignored;
        c->socket.close(ignored);
      }
    }
  }

  // Reads one request's head into `head` (the bytes after it stay in `buffer`): 0, a 4xx to
  // answer, or -1 when the connection ended (closed, timed out).
  static asio::awaitable<int> read_head(connection& c, std::string& buffer, std::string& head) {
    steady::time_point request_deadline = steady::time_point::max();
    if (buffer.empty()) c.wait_until(steady::now() + limits::keep_alive);
    for (;;) {
      if (const std::size_t end = buffer.find("\r\n\r\n"); end != std::string::npos) {
        head = buffer.substr(0, end);
        buffer.erase(0, end + 4);
        co_return 0;
      }
      if (buffer.size() > limits::head) {
        co_return buffer.find("\r\n") == std::string::npos ? 414 : 431;
      }
      if (!buffer.empty() && request_deadline == steady::time_point::max()) {
        request_deadline = steady::now() + limits::whole_request;  // from its first byte
      }
      if (!buffer.empty()) {
        c.wait_until(std::min(steady::now() + limits::between_reads, request_deadline));
      }
      char chunk[4096];
      std::error_code ec;
      const std::size_t n = co_await c.socket.async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return -1;
      buffer.append(chunk, n);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<connection> c) {
    std::string buffer, head;
    for (bool keep_alive = true; keep_alive;) {
      const int read = co_await read_head(*c, buffer, head);
      if (read < 0) break;
      request req;
      const int status = read != 0 ? read : parse_head(head, req);
      response res;
      if (status != 0) {
        res = error(status, "malformed request", /*close=*/true);
      } else {
        // A body (POST /reset may send one) is read and dropped, under the same deadlines.
        bool ended = false;
        while (buffer.size() < req.content_length && !ended) {
          c->wait_until(steady::now() + limits::between_reads);
          char chunk[4096];
          std::error_code ec;
          const std::size_t n = co_await c->socket.async_read_some(
              asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
          ended = static_cast<bool>(ec);
          buffer.append(chunk, n);
        }
        if (ended) break;
        buffer.erase(0, req.content_length);
        c->wait_until(steady::time_point::max());  // the origin takes what it takes
        res = co_await route(req);
      }
      keep_alive = req.keep_alive && !res.close && status == 0;
      c->wait_until(steady::now() + limits::write);
      std::error_code ec;
      co_await asio::async_write(c->socket, asio::buffer(serialize(res, keep_alive)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    std::error_code ignored;
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    c->socket.close(ignored);
    c->watchdog.cancel();
    untrack(c.get());
  }

  asio::awaitable<response> route(const request& req) {
    const auto under = [&](std::string_view prefix) {
      return std::string_view(req.path).substr(0, prefix.size()) == prefix;
    };
    const bool get = req.method == "GET";
    if (req.path == "/stats") co_return get ? stats() : error(405, "GET only");
    if (req.path == "/reset") {
      if (req.method != "POST") co_return error(405, "POST only");
      direct_.reset();
      coalesced_.reset();
      origin_.reset_peak();
      co_return response{200, "reset\n"};
    }
    for (const std::string_view endpoint : {"/direct/", "/coalesced/"}) {
      if (!under(endpoint)) continue;
      if (!get) co_return error(405, "GET only");
      const std::string key = req.path.substr(endpoint.size());
      if (!valid_key(key)) co_return error(400, "bad key: use 1 to 128 characters from A-Z a-z 0-9 . _ ~ -");
      if (endpoint == "/direct/") {
        direct_.requests.fetch_add(1, std::memory_order_relaxed);
        std::string body = co_await origin_.fetch(key, direct_);
        co_return response{200, std::move(body)};
      }
      std::optional<milliseconds> budget;
      if (!budget_of(req, budget)) {
        co_return error(400, "bad deadline: give ?deadline_ms=N or X-Deadline-Ms: N once, N from 1 to " +
                                 std::to_string(limits::max_deadline_ms) + " (milliseconds)");
      }
      co_return co_await coalesced(key, budget);
    }
    co_return error(404, "not found: /direct/<key>, /coalesced/<key>, /stats, POST /reset");
  }

  // GET /coalesced/<key>: the one line of <singleflight/asio.hpp>, raced against the budget.
  asio::awaitable<response> coalesced(const std::string& key, std::optional<milliseconds> budget) {
    coalesced_.requests.fetch_add(1, std::memory_order_relaxed);
    // Set by fetch, which the flight runs only in its leader.
    bool led = false;
    std::stop_token flight_token;                      // requested once nobody waits (S12)
    std::shared_ptr<asio::steady_timer> origin_ended;  // expires when the origin call has ended
    const auto here = co_await asio::this_coro::executor;
    // The origin call: the flight's asynchronous loader. It takes the flight's stop token, so
    // that the adapter cancels it once no request waits for it (S12).
    auto fetch = [&](std::stop_token stop) {
      led = true;
      flight_token = std::move(stop);
      origin_ended = std::make_shared<asio::steady_timer>(here, steady::time_point::max());
      return origin_.fetch(key, coalesced_, end_signal(origin_ended));
    };
    std::exception_ptr failed;
    singleflight::result<std::string> r;
    bool timed_out = false;
    try {
      if (!budget) {
        r = co_await singleflight::asio::async_call(flights_, key, fetch, asio::use_awaitable);
      } else {
        // Whichever completes first; the group cancels the other through its cancellation slot
        // and waits for it, so neither outlives this frame.
        asio::steady_timer timer(co_await asio::this_coro::executor, *budget);
        auto race = asio::experimental::make_parallel_group(
            singleflight::asio::async_call(flights_, key, fetch, asio::experimental::deferred),
            timer.async_wait(asio::experimental::deferred));
        auto [order, call_error, outcome, timer_error] =
            co_await race.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        (void)timer_error;
        timed_out = order[0] == 1;
        failed = timed_out ? nullptr : call_error;
        r = std::move(outcome);
      }
    } catch (...) {
      failed = std::current_exception();
    }
    if (failed) {
      try {
        std::rethrow_exception(failed);
      } catch (const singleflight::cancelled&) {
        timed_out = true;
      } catch (const origin_abandoned&) {
        timed_out = true;
      } catch (const std::exception& e) {
        co_return error(500, e.what());
      }
    }
    if (!led) coalesced_.followers.fetch_add(1, std::memory_order_relaxed);
    if (timed_out && led && flight_token.stop_requested()) {
      // This leader's departure left nobody waiting, so its origin call is being stopped: the
      // leader answers once it has stopped (at once), as server.cpp's leader does, so that the
      // stop is in /stats when the 504 arrives.
      std::error_code ignored;
      co_await origin_ended->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (timed_out) {
      coalesced_.timeouts.fetch_add(1, std::memory_order_relaxed);
      response res = error(504, "deadline exceeded: the origin call for " + key +
                                    (led ? " was left to the requests still waiting for it"
                                         : " is still under way for the requests that wait for it"));
      res.role = led ? "leader" : "follower";
      co_return res;
    }
    co_return response{200, *r, r.leader() ? (r.shared() ? "leader" : "alone") : "follower"};
  }

  response stats() {
    return {200,
            "{\"origin_ms\":" + std::to_string(origin_.service().count()) +
                ",\"origin_pool\":" + std::to_string(origin_.size()) +
                ",\"origin_pool_peak\":" + std::to_string(origin_.pool_peak()) +
                ",\"threads\":" + std::to_string(opt_.threads) + ",\"direct\":" + direct_.json() +
                ",\"coalesced\":" + coalesced_.json() + "}\n",
            nullptr, "application/json"};
  }

  const options opt_;
  origin origin_;
  endpoint_stats direct_, coalesced_;
  singleflight::group<std::string, std::string> flights_;
  asio::strand<asio::io_context::executor_type> accepting_;
  tcp::acceptor acceptor_;
  std::mutex mu_;
  std::map<connection*, std::weak_ptr<connection>> live_;  // guarded by mu_
};

// The flags, each an int within its range. False for an unknown flag, a missing or malformed
// value, or one out of range; `bad` then names the flag.
bool parse(int argc, char** argv, options& opt, std::string& bad) {
  struct flag {
    std::string_view name;
    int* value;
    int min, max;
  };
  const flag flags[] = {{"--port", &opt.port, 0, 65535},
                        {"--origin-ms", &opt.origin_ms, 0, 60'000},
                        {"--origin-pool", &opt.origin_pool, 1, 4096},
                        {"--threads", &opt.threads, 1, 1024}};
  for (int i = 1; i < argc; i += 2) {
    bad = argv[i];
    const auto f = std::find_if(std::begin(flags), std::end(flags),
                                [&](const flag& candidate) { return candidate.name == bad; });
    if (f == std::end(flags) || i + 1 >= argc) return false;
    const std::string_view text = argv[i + 1];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *f->value);
    if (ec != std::errc{} || end != text.data() + text.size() || *f->value < f->min ||
        *f->value > f->max) {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  std::string bad;
  const bool help = argc == 2 && std::string_view(argv[1]) == "--help";
  if (help || !parse(argc, argv, opt, bad)) {
    if (!help) std::fprintf(stderr, "sf-http-demo-asio: bad flag or value: %s\n", bad.c_str());
    std::fprintf(help ? stdout : stderr,
                 "usage: sf-http-demo-asio [--port 0..65535] [--origin-ms 0..60000] "
                 "[--origin-pool 1..4096] [--threads 1..1024]\n"
                 "defaults: --port 0 (ephemeral) --origin-ms 500 --origin-pool 8 --threads 1\n");
    return help ? 0 : 2;
  }
  signal(SIGPIPE, SIG_IGN);  // a peer that hangs up must not kill the process

  asio::io_context io(opt.threads);
  // Declared after io, so destroyed before it: by then run() has returned on every thread, so
  // no request and no flight is in progress.
  server svr(io, opt);
  int port;
  try {
    port = svr.bind(opt.port);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sf-http-demo-asio: cannot bind 127.0.0.1:%d: %s\n", opt.port, e.what());
    return 1;
  }
  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](std::error_code ec, int) {
    if (!ec) svr.stop();
  });
  svr.start();
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);

  std::vector<std::jthread> threads;
  for (int i = 1; i < opt.threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();  // returns once stopped and nothing is left to do
  threads.clear();
  return 0;
}
