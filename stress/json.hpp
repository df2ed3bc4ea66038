// sf-stress: a small JSON value, enough to write results/ files: objects keep their keys in the
// order they were set, numbers that are not finite become null.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sfstress {

class json {
 public:
  using array = std::vector<json>;
  using object = std::vector<std::pair<std::string, json>>;

  json() = default;  // null
  json(std::nullptr_t) {}
  json(bool b) : v_(b) {}
  json(int i) : v_(static_cast<std::int64_t>(i)) {}
  json(long i) : v_(static_cast<std::int64_t>(i)) {}
  json(long long i) : v_(static_cast<std::int64_t>(i)) {}
  json(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  json(unsigned long i) : v_(static_cast<std::int64_t>(i)) {}
  json(unsigned long long i) : v_(static_cast<std::int64_t>(i)) {}
  json(double d) : v_(d) {}
  json(const char* s) : v_(std::string(s)) {}
  json(std::string s) : v_(std::move(s)) {}
  json(array a) : v_(std::make_shared<array>(std::move(a))) {}
  json(object o) : v_(std::make_shared<object>(std::move(o))) {}

  static json make_object() { return json(object{}); }
  static json make_array() { return json(array{}); }

  // For objects: sets (or replaces) a member. For arrays: push().
  json& set(const std::string& key, json value);
  json& push(json value);

  std::string dump(int indent = 2) const;

 private:
  void write(std::string& out, int indent, int depth) const;

  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, std::shared_ptr<array>,
               std::shared_ptr<object>>
      v_{nullptr};
};

}  // namespace sfstress
