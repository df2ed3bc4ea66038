#include "json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace sfstress {

json& json::set(const std::string& key, json value) {
  auto* o = std::get_if<std::shared_ptr<object>>(&v_);
  if (o == nullptr) throw std::logic_error("json::set on a value that is not an object");
  for (auto& [k, v] : **o) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  (*o)->emplace_back(key, std::move(value));
  return *this;
}

json& json::push(json value) {
  auto* a = std::get_if<std::shared_ptr<array>>(&v_);
  if (a == nullptr) throw std::logic_error("json::push on a value that is not an array");
  (*a)->push_back(std::move(value));
  return *this;
}

std::string json::dump(int indent) const {
  std::string out;
  write(out, indent, 0);
  out += '\n';
  return out;
}

namespace {

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void newline(std::string& out, int indent, int depth) {
  if (indent <= 0) return;
  out += '\n';
  out.append(static_cast<std::size_t>(indent * depth), ' ');
}

}  // namespace

void json::write(std::string& out, int indent, int depth) const {
  if (std::holds_alternative<std::nullptr_t>(v_)) {
    out += "null";
  } else if (const bool* b = std::get_if<bool>(&v_)) {
    out += *b ? "true" : "false";
  } else if (const std::int64_t* i = std::get_if<std::int64_t>(&v_)) {
    out += std::to_string(*i);
  } else if (const double* d = std::get_if<double>(&v_)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, *d);  // shortest round-trip form
      out.append(buf, r.ptr);
    }
  } else if (const std::string* s = std::get_if<std::string>(&v_)) {
    write_string(out, *s);
  } else if (const auto* a = std::get_if<std::shared_ptr<array>>(&v_)) {
    const array& items = **a;
    if (items.empty()) {
      out += "[]";
      return;
    }
    // Arrays of plain numbers stay on one line.
    bool flat = true;
    for (const json& item : items) {
      if (std::holds_alternative<std::shared_ptr<array>>(item.v_) ||
          std::holds_alternative<std::shared_ptr<object>>(item.v_)) {
        flat = false;
      }
    }
    out += '[';
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (k != 0) out += flat ? ", " : ",";
      if (!flat) newline(out, indent, depth + 1);
      items[k].write(out, indent, depth + 1);
    }
    if (!flat) newline(out, indent, depth);
    out += ']';
  } else {
    const object& members = *std::get<std::shared_ptr<object>>(v_);
    if (members.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    for (std::size_t k = 0; k < members.size(); ++k) {
      if (k != 0) out += ',';
      newline(out, indent, depth + 1);
      write_string(out, members[k].first);
      out += indent > 0 ? ": " : ":";
      members[k].second.write(out, indent, depth + 1);
    }
    newline(out, indent, depth);
    out += '}';
  }
}

}  // namespace sfstress
