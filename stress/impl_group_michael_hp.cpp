// sf-stress: singleflight::group on libcds's MichaelHashSet with classic hazard pointers.
#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {

run_result run_group_michael_hp(const spec_ptr& spec) {
  using group = singleflight::group<tracked_key, tracked_value, key_hash, key_equal,
                                    singleflight::tables::michael_hp>;
  return run_with<group>(spec, [] { cds::gc::HP::scan(); });  // see impl_group_michael_dhp.cpp
}

}  // namespace sfstress
