// sf-stress: the sharded mutex baseline.
#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {

run_result run_sharded_group(const spec_ptr& spec) {
  using group = singleflight::sharded_group<tracked_key, tracked_value, key_hash, key_equal>;
  return run_with<group>(spec, [] {});
}

}  // namespace sfstress
