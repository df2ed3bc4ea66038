#!/usr/bin/env bash
# The λD sweep of the stress harness: open-loop Poisson arrivals at λD = 0.1, 1, 10 and 100 for
# group, mutex_group and sharded_group, 15 s of arrivals per point (about 3 minutes), so that the
# measured coalescing ratio can be compared with λD/(1+λD) to well under 1%. Writes
# build/results/stress/poisson_sweep.json and its plot (poisson_sweep_ratio.png); with --publish,
# results/stress/ and the tables of stress/README.md, as run-main.sh. Other arguments go to
# sf-stress and override the defaults here; SF_BUILD_DIR as for run-main.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/stress-common.sh
publish_args "$@"
json=$(results_dir)/poisson_sweep.json
mkdir -p "$(dirname "$json")"

build_stress
args=(--workload poisson --poisson-duration 15s --json "$json" "${args[@]}")
echo "==> running sf-stress ${args[*]}"
status=0
"$sf_stress" "${args[@]}" || status=$?
if ((publish && (status == 130 || status == 143))); then
  echo "==> interrupted: the published results are left as they were ($json holds the partial run)"
  exit "$status"
fi
plot_stress "$json"
echo "==> results: $json and its plot beside it"
exit "$status"
