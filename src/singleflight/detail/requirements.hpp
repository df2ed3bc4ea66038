// singleflight::detail — internal; what a group asks of its Key, Hash, KeyEqual, Value and fn,
// stated as concepts, and the one place that explains a misuse in a sentence.
//
// Every implementation checks the same requirements the same way: `misuse<...>()` is a chain of
// `if constexpr` that reaches exactly one static_assert for the first requirement a call breaks,
// and a call that breaks one never instantiates the protocol, so the compiler's first error is
// that sentence and little follows it.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

#include "atomic.hpp"

namespace singleflight::detail {

// Hash and KeyEqual both declare is_transparent, as C++20's unordered containers ask before they
// look a key up by another type.
template <class Hash, class KeyEqual>
concept transparent = requires {
  typename Hash::is_transparent;
  typename KeyEqual::is_transparent;
};

template <class Hash, class K>
concept hashes = std::invocable<const Hash&, const K&> &&
                 std::convertible_to<std::invoke_result_t<const Hash&, const K&>, std::size_t>;

// A key a call may look up by without making a Key: Key itself, or, when Hash and KeyEqual are
// transparent, any type they hash and compare with Key and from which the leader can make one.
template <class K, class Key, class Hash, class KeyEqual>
concept lookup_key =
    std::same_as<K, Key> ||
    (transparent<Hash, KeyEqual> && hashes<Hash, K> &&
     std::predicate<const KeyEqual&, const Key&, const K&> && std::constructible_from<Key, const K&>);

// A key a call accepts: a lookup key, or anything a Key can be made from (made once, before the
// lookup, as std::unordered_map::find(const key_type&) does).
template <class K, class Key, class Hash, class KeyEqual>
concept call_key = lookup_key<K, Key, Hash, KeyEqual> || std::convertible_to<const K&, Key>;

// fn, as a call runs it: with the flight's stop token if it takes one (S12), else with no
// argument.
template <class F>
concept callable_loader = std::invocable<F, fn_stop_token> || std::invocable<F>;

template <class F>
struct loader_result : std::invoke_result<F> {};
template <class F>
  requires std::invocable<F, fn_stop_token>
struct loader_result<F> : std::invoke_result<F, fn_stop_token> {};
template <class F>
using loader_result_t = typename loader_result<F>::type;

// fn returning something Value can be made from.
template <class F, class Value>
concept loader = callable_loader<F> && !std::is_void_v<loader_result_t<F>> &&
                 std::constructible_from<Value, loader_result_t<F>>;

// An awaiter: what a co_await expression calls once it has its operand's awaiter.
template <class A>
concept awaiter = requires(A& a, std::coroutine_handle<> h) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_suspend(h);
  a.await_resume();
};

// The awaiter co_await gets from an operand of type T, in a coroutine whose promise has no
// await_transform: its member operator co_await, else a free one, else the operand itself.
template <class T>
decltype(auto) awaiter_of(T&& t) {
  if constexpr (requires { std::forward<T>(t).operator co_await(); }) {
    return std::forward<T>(t).operator co_await();
  } else if constexpr (requires { operator co_await(std::forward<T>(t)); }) {
    return operator co_await(std::forward<T>(t));
  } else {
    return std::forward<T>(t);
  }
}

template <class T>
concept awaitable = requires(T&& t) {
  { awaiter_of(std::forward<T>(t)) };
} && awaiter<std::remove_reference_t<decltype(awaiter_of(std::declval<T>()))>>;

// What co_await of a T yields.
template <awaitable T>
using await_result_t =
    decltype(std::declval<std::remove_reference_t<decltype(awaiter_of(std::declval<T>()))>&>()
                 .await_resume());

// An asynchronous loader, for async_call: fn returns not something Value can be made from but
// an awaitable whose result it can be made from, which the flight awaits.
template <class F, class Value>
concept async_loader = callable_loader<F> && !loader<F, Value> && awaitable<loader_result_t<F>> &&
                       !std::is_void_v<await_result_t<loader_result_t<F>>> &&
                       std::constructible_from<Value, await_result_t<loader_result_t<F>>>;

// What a group's Key, Hash and Value must be. A group checks them when its type is completed,
// with static_assert(check_group_types<...>()): the function always returns true, and its
// static_asserts, the first of which a type breaks, are the check.
template <class Key, class Value, class Hash, class KeyEqual>
constexpr bool check_group_types() {
  if constexpr (!std::is_object_v<Value> || std::is_const_v<Value>) {
    static_assert(std::is_object_v<Value> && !std::is_const_v<Value>,
                  "singleflight: Value must be a non-const object type; results hand out const "
                  "references to it");
  } else if constexpr (!std::move_constructible<Value>) {
    static_assert(std::move_constructible<Value>, "singleflight: Value must be move-constructible");
  } else if constexpr (!std::copy_constructible<Key>) {
    static_assert(std::copy_constructible<Key>, "singleflight: Key must be copy-constructible");
  } else if constexpr (!hashes<Hash, Key>) {
    static_assert(hashes<Hash, Key>,
                  "singleflight: Hash cannot hash a Key: it must be callable on a const Key& and "
                  "return std::size_t (std::hash<Key> is not defined for this Key; pass a Hash)");
  } else if constexpr (!std::predicate<const KeyEqual&, const Key&, const Key&>) {
    static_assert(std::predicate<const KeyEqual&, const Key&, const Key&>,
                  "singleflight: KeyEqual cannot compare two Keys");
  }
  return true;
}

// Whether a call with key type K and fn type F meets every requirement; if not, the static_assert
// of the first it breaks fires.
// `Async`: the call is async_call, whose fn may also be an asynchronous loader.
template <class K, class F, class Key, class Value, class Hash, class KeyEqual, bool Async = false>
constexpr bool call_is_usable() {
  if constexpr (!call_key<K, Key, Hash, KeyEqual>) {
    static_assert(call_key<K, Key, Hash, KeyEqual>,
                  "singleflight: the key passed to call() is not a Key and no Key can be made from "
                  "it (to look up by another type, give the group a Hash and a KeyEqual that are "
                  "both transparent, as for std::unordered_map)");
    return false;
  } else if constexpr (!callable_loader<F>) {
    static_assert(callable_loader<F>,
                  "singleflight: fn must be callable with no arguments or with one std::stop_token, "
                  "e.g. [&] { return load(key); }");
    return false;
  } else if constexpr (Async && async_loader<F, Value>) {
    return true;
  } else if constexpr (std::is_void_v<loader_result_t<F>>) {
    static_assert(!std::is_void_v<loader_result_t<F>>,
                  "singleflight: fn must return a value; use a small struct or std::monostate for "
                  "a call whose only outcome is success or an exception");
    return false;
  } else if constexpr (!std::constructible_from<Value, loader_result_t<F>>) {
    if constexpr (Async) {
      static_assert(std::constructible_from<Value, loader_result_t<F>>,
                    "singleflight: Value cannot be made from what fn returns, nor from what "
                    "co_await of it yields (an asynchronous loader returns an awaitable whose "
                    "result makes a Value)");
    } else {
      static_assert(std::constructible_from<Value, loader_result_t<F>>,
                    "singleflight: Value cannot be made from what fn returns");
    }
    return false;
  } else {
    return true;
  }
}

}  // namespace singleflight::detail
