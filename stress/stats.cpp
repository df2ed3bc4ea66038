#include "stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sfstress {

std::size_t histogram::bucket_of(std::uint64_t v) noexcept {
  if (v < kSub) return static_cast<std::size_t>(v);
  const int exponent = std::bit_width(v) - 1;  // >= kSubBits
  const int shift = exponent - kSubBits;
  const std::uint64_t sub = (v >> shift) & (kSub - 1);
  return static_cast<std::size_t>(shift + 1) * kSub + static_cast<std::size_t>(sub);
}

std::uint64_t histogram::middle_of(std::size_t bucket) noexcept {
  if (bucket < kSub) return bucket;
  const std::size_t shift = bucket / kSub - 1;
  const std::uint64_t low = (kSub + bucket % kSub) << shift;
  return low + ((std::uint64_t{1} << shift) >> 1);
}

void histogram::record(std::int64_t ns) {
  const std::uint64_t v = ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
  if (counts_.empty()) counts_.assign(kBuckets, 0);
  ++counts_[bucket_of(v)];
  ++n_;
  max_ = std::max(max_, static_cast<std::int64_t>(v));
  sum_ += static_cast<double>(v);
}

void histogram::merge(const histogram& other) {
  if (other.n_ == 0) return;
  if (counts_.empty()) counts_.assign(kBuckets, 0);
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  n_ += other.n_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::int64_t histogram::percentile(double p) const noexcept {
  if (n_ == 0) return 0;
  const double wanted = std::ceil(std::clamp(p, 0.0, 1.0) * static_cast<double>(n_));
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(static_cast<std::int64_t>(middle_of(i)), max_);
  }
  return max_;
}

}  // namespace sfstress
