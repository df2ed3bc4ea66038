#!/usr/bin/env bash
# Compares two builds of sf-bench side by side on this machine, for a change that should not move
# the figures (a refactoring): runs A and B alternately, ROUNDS times each, on the same filter,
# writes every run's raw JSON and a table of medians and ratios.
#
#   scripts/bench_ab.sh A_BIN B_BIN OUTDIR [FILTER]
#
# FILTER defaults to distinct_noop and hot_key for group and mutex_group. Environment: ROUNDS
# (default 3), REPS (repetitions per run, default 3), MIN_TIME (seconds per repetition, default
# 0.2), A_NAME and B_NAME (labels, default "A" and "B"), BENCH_ARGS (more arguments for both
# binaries, e.g. --sf_sample_scale=0.5; empty by default). Writes OUTDIR/{a,b}_<round>.json,
# OUTDIR/meta.json and OUTDIR/summary.md (scripts/bench_ab.py).
set -euo pipefail
a=${1:?usage: bench_ab.sh A_BIN B_BIN OUTDIR [FILTER]}
b=${2:?usage: bench_ab.sh A_BIN B_BIN OUTDIR [FILTER]}
out=${3:?usage: bench_ab.sh A_BIN B_BIN OUTDIR [FILTER]}
filter=${4:-'^(distinct_noop|hot_key)/(group|mutex_group)/'}
rounds=${ROUNDS:-3}
reps=${REPS:-3}
min_time=${MIN_TIME:-0.2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"

cat >"$out/meta.json" <<EOF
{
  "command": "${BENCH_ARGS:+BENCH_ARGS='$BENCH_ARGS' }scripts/bench_ab.sh $a $b $out '$filter'",
  "a": {"name": "${A_NAME:-A}", "binary": "$a"},
  "b": {"name": "${B_NAME:-B}", "binary": "$b"},
  "rounds": $rounds, "repetitions": $reps, "min_time_s": $min_time,
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "machine": "$(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
  "compiler": "$(c++ --version | head -1)",
  "load_before": "$(cut -d' ' -f1-3 /proc/loadavg)"
}
EOF

read -r -a extra <<<"${BENCH_ARGS:-}"
run() {
  "$1" "${extra[@]}" --benchmark_filter="$filter" --benchmark_repetitions="$reps" \
    --benchmark_min_time="$min_time" --benchmark_report_aggregates_only=false \
    --benchmark_format=json >"$2" 2>/dev/null
}
for ((i = 1; i <= rounds; i++)); do
  echo "==> round $i of $rounds: ${A_NAME:-A}"
  run "$a" "$out/a_$i.json"
  echo "==> round $i of $rounds: ${B_NAME:-B}"
  run "$b" "$out/b_$i.json"
done
python3 "$here/bench_ab.py" "$out" | tee "$out/summary.md"
