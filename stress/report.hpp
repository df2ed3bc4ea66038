// sf-stress: what a run prints (a table per workload) and writes (--json).
#pragma once

#include <cstdio>
#include <span>

#include <nlohmann/json.hpp>

#include "options.hpp"
#include "run.hpp"

namespace sfstress {

// Ordered: keys stay in the order they are set, as in the files under results/.
using json = nlohmann::ordered_json;

// A table per workload (all its implementations, and every λD for poisson), for runs in plan
// order.
void print_tables(std::FILE* out, std::span<const run_result> runs);

// {"workload": ..., "implementation": ..., ...} as documented in stress/README.md.
json run_json(const run_result& r, unsigned round);

// The command line, machine, compiler, build flags, commit and seed.
json meta_json(const options& opts);

// The 1-minute load average (from /proc/loadavg), or null where it cannot be read. On a shared
// machine it says how much else was running.
json load_average();

// Writes `doc` to `path` (through a temporary file and a rename). False on failure, with a
// message on stderr.
bool write_json_file(const std::string& path, const json& doc);

}  // namespace sfstress
