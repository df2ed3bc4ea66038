// sf-stress: singleflight::group, on its default table (the project's own, tables::slots).
#include "driver.hpp"
#include "impls.hpp"

namespace sfstress {

run_result run_group(const spec_ptr& spec) {
  using group = singleflight::group<tracked_key, tracked_value, key_hash, key_equal>;
  // Records are retired by the thread that lets go last and freed by its later scans; exiting
  // workers scan and hand what is still guarded to the orphan list. A scan by this thread frees
  // the rest, the orphans included.
  return run_with<group>(spec, [] { singleflight::detail::hazard_domain::global().scan_now(); });
}

}  // namespace sfstress
