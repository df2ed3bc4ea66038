// sf-stress: the mutex baseline (Go's design).
#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {

run_result run_mutex_group(const spec_ptr& spec) {
  using group = singleflight::mutex_group<tracked_key, tracked_value, key_hash, key_equal>;
  return run_with<group>(spec, [] {});
}

}  // namespace sfstress
