// sf-stress: latency distributions. A log-linear histogram (the HdrHistogram idea): exact below
// 32 ns, then 32 buckets per power of two, so a reported percentile is within 1.6% of the true
// sample. Each worker records into its own; the run merges them when the workers are done.
#pragma once

#include <cstdint>
#include <vector>

namespace sfstress {

class histogram {
 public:
  void record(std::int64_t ns);
  void merge(const histogram& other);

  std::uint64_t count() const noexcept { return n_; }
  std::int64_t max() const noexcept { return max_; }
  double mean() const noexcept { return n_ == 0 ? 0.0 : sum_ / static_cast<double>(n_); }
  // The p-quantile (p in [0, 1]) as the middle of its bucket; 0 for an empty histogram.
  std::int64_t percentile(double p) const noexcept;

 private:
  static constexpr int kSubBits = 5;
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;

  static std::size_t bucket_of(std::uint64_t v) noexcept;
  static std::uint64_t middle_of(std::size_t bucket) noexcept;

  std::vector<std::uint64_t> counts_;  // empty until the first sample: most workers record few kinds
  std::uint64_t n_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace sfstress
