#!/usr/bin/env bash
# The project's main job: builds the stress harness sf-stress (Release, in build/release or
# $SF_BUILD_DIR) and runs the default comparison: every workload, briefly, for group, mutex_group
# and sharded_group, with every invariant checker on (under a minute on 2 cores). Writes
# results/stress/default.json and plots it (results/stress/default_*.png). Arguments go to
# sf-stress (see `sf-stress --help`), e.g. `scripts/run-main.sh --workload hot,zipf --seed 7`.
# Exit status: sf-stress's (0 clean, 1 a violation, 2 bad flags, 3 the watchdog tripped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

json=results/stress/default.json
source scripts/stress-common.sh

build_stress
echo "==> running sf-stress --json $json $*"
status=0
"$sf_stress" --json "$json" "$@" || status=$?
plot_stress
exit "$status"
