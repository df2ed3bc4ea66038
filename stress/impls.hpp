// sf-stress: the implementations a run can drive, each instantiated in a file of its own (they
// compile in parallel).
#pragma once

#include <memory>
#include <string_view>

#include "run.hpp"

namespace sfstress {

using spec_ptr = std::shared_ptr<const run_spec>;

run_result run_group(const spec_ptr& spec);
run_result run_group_michael_dhp(const spec_ptr& spec);
run_result run_group_michael_hp(const spec_ptr& spec);
run_result run_mutex_group(const spec_ptr& spec);
run_result run_sharded_group(const spec_ptr& spec);
// `name` without the "mutant:" prefix; false if there is no such mutant.
bool known_mutant(std::string_view name);
run_result run_mutant(std::string_view name, const spec_ptr& spec);

}  // namespace sfstress
