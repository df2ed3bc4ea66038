// A consumer of the installed Asio component (singleflight::asio): three coroutines on one
// io_context ask for one key through singleflight::asio::async_call, with an asio::awaitable
// loader; exits nonzero unless they shared one load. tests/consumer/check.sh also compiles it by
// hand with exactly `c++ -std=c++20 -pthread -I PREFIX/include` (Asio is a system header).
#include <singleflight/asio.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <string>

namespace {

// A loader that yields to the io_context once, so that the other callers join meanwhile.
asio::awaitable<std::string> load() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return "v";
}

asio::awaitable<void> caller(singleflight::group<std::string, std::string>& g, int& loads,
                             int& ok) {
  auto fn = [&loads] { return ++loads, load(); };  // named: see <singleflight/asio.hpp>, g++ 12
  const auto r = co_await singleflight::asio::async_call(g, "k", fn, asio::use_awaitable);
  ok += *r == "v" && r.shared();
}

}  // namespace

int main() {
  asio::io_context io;
  singleflight::group<std::string, std::string> g;
  int loads = 0, ok = 0;
  for (int i = 0; i < 3; ++i) asio::co_spawn(io, caller(g, loads, ok), asio::detached);
  io.run();
  if (loads != 1 || ok != 3) {
    std::fprintf(stderr, "consumer-asio: %d loads, %d of 3 callers shared the value\n", loads, ok);
    return 1;
  }
  std::puts("consumer-asio: ok");
  return 0;
}
