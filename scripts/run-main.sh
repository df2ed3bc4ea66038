#!/usr/bin/env bash
# The project's main job: builds the stress harness sf-stress (Release, in build/release or
# $SF_BUILD_DIR) and runs the default comparison: every workload, briefly, for group, mutex_group
# and sharded_group, with every invariant checker on (about a minute on 2 cores). Writes
# build/results/stress/default.json and its plots (default_*.png), which git ignores. With
# --publish it writes results/stress/default.json instead and refreshes the published plots and
# the tables of stress/README.md. Other arguments go to sf-stress (see `sf-stress --help`), e.g.
# `scripts/run-main.sh --workload hot,zipf --seed 7`.
# Exit status: sf-stress's (0 clean, 1 a violation, 2 bad flags, 3 the watchdog tripped, 130 or
# 143 interrupted by SIGINT or SIGTERM, after reporting what it measured).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/stress-common.sh
publish_args "$@"
json=$(results_dir)/default.json
mkdir -p "$(dirname "$json")"

build_stress
echo "==> running sf-stress --json $json ${args[*]}"
status=0
"$sf_stress" --json "$json" "${args[@]}" || status=$?
if ((publish && (status == 130 || status == 143))); then
  echo "==> interrupted: the published results are left as they were ($json holds the partial run)"
  exit "$status"
fi
plot_stress "$json"
echo "==> results: $json and its plots beside it"
exit "$status"
