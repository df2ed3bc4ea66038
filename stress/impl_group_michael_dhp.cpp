// sf-stress: singleflight::group on libcds's MichaelHashSet with dynamic hazard pointers.
#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {

run_result run_group_michael_dhp(const spec_ptr& spec) {
  using group = singleflight::group<tracked_key, tracked_value, key_hash, key_equal,
                                    singleflight::tables::michael_dhp>;
  // Records unlinked during the run are freed by the collector once no hazard pointer guards
  // them; a scan by this thread (attached: the sweep called into the group) frees the ones still
  // retired, including those the exited workers left behind.
  return run_with<group>(spec, [] { cds::gc::DHP::scan(); });
}

}  // namespace sfstress
