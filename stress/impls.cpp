#include "impls.hpp"

#include <stdexcept>
#include <string>

#include "options.hpp"

namespace sfstress {

namespace {
constexpr std::string_view kMutantPrefix = "mutant:";
}

bool known_impl(std::string_view name) {
  if (name == "group" || name == "group_michael_dhp" || name == "group_michael_hp" ||
      name == "mutex_group" || name == "sharded_group") {
    return true;
  }
  return name.substr(0, kMutantPrefix.size()) == kMutantPrefix &&
         known_mutant(name.substr(kMutantPrefix.size()));
}

run_result run_one(const std::shared_ptr<const run_spec>& spec) {
  const std::string_view name = spec->impl;
  if (name == "group") return run_group(spec);
  if (name == "group_michael_dhp") return run_group_michael_dhp(spec);
  if (name == "group_michael_hp") return run_group_michael_hp(spec);
  if (name == "mutex_group") return run_mutex_group(spec);
  if (name == "sharded_group") return run_sharded_group(spec);
  if (name.substr(0, kMutantPrefix.size()) == kMutantPrefix) {
    return run_mutant(name.substr(kMutantPrefix.size()), spec);
  }
  throw std::invalid_argument("sf-stress: no implementation named " + std::string(name));
}

}  // namespace sfstress
