#!/usr/bin/env bash
# Wake-ups per leaving caller, before and after a change to the library: builds this checkout's
# sf-bench (bench/) twice, against the src/ of BASE and against this checkout's src/, and runs its
# leave_wakeups scenario with each, alternately (scripts/bench_ab.sh; A = BASE, B = this
# checkout). Only the headers differ between the two binaries: same bench source, same flags.
#
#   scripts/bench_leave_ab.sh [BASE [OUTDIR]]
#
# BASE defaults to c934b13 (the last commit before issue 13: a follower with a stop token parked
# on the flight's state word, and a cancellation woke every parked follower); OUTDIR to
# build/results/bench/leave_ab. BASE's tree is checked out as a detached git worktree in
# /tmp/singleflight-<BASE> (made if absent, left in place; `git worktree remove` it when done);
# only its src/ is used. The repository's history and this checkout's files are not touched.
#
# Environment: BENCH_JOBS (build parallelism, default 1), ROUNDS (alternating rounds, default 3),
# SCALE (sf-bench --sf_sample_scale, default 1: 100 leaves per configuration and round), FILTER
# (default ^leave_wakeups/.*/leaver:stop_token/, the configurations both versions can run: BASE
# has no deadlines). Writes OUTDIR/{a,b}_<round>.json, OUTDIR/meta.json and OUTDIR/summary.md
# (scripts/bench_ab.py: its counter table has woken_per_leave, BASE against this checkout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
base=${1:-c934b13}
out=${2:-build/results/bench/leave_ab}
jobs=${BENCH_JOBS:-1}
filter=${FILTER:-'^leave_wakeups/.*/leaver:stop_token/'}
rev=$(git rev-parse --short "$base^{commit}")
tree=/tmp/singleflight-$rev

if [[ ! -f $tree/src/singleflight/singleflight.hpp ]]; then
  echo "==> git worktree of $base in $tree"
  git worktree add --detach "$tree" "$rev" >/dev/null
fi
if [[ $(git -C "$tree" rev-parse --short HEAD) != "$rev" ]]; then
  echo "bench_leave_ab: $tree is not at $rev; remove it (git worktree remove $tree)" >&2
  exit 1
fi

configure() {  # build dir, headers ("" = this checkout's)
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DSINGLEFLIGHT_BUILD_TESTS=OFF \
    -DSINGLEFLIGHT_BUILD_EXAMPLES=OFF -DSINGLEFLIGHT_BUILD_BENCH=ON \
    -DSINGLEFLIGHT_BENCH_HEADERS="$2" >/dev/null
  cmake --build "$1" --target sf-bench -j "$jobs"
}
echo "==> sf-bench against $rev's headers ($tree/src)"
configure build/bench-leave-base "$tree/src"
echo "==> sf-bench against this checkout's headers"
configure build/bench-leave-this ""

dirty=""
if ! git diff --quiet HEAD -- src 2>/dev/null || [[ -n $(git ls-files --others --exclude-standard src) ]]; then
  dirty="+uncommitted"
fi
A_NAME="$rev" B_NAME="$(git rev-parse --short HEAD)$dirty" ROUNDS=${ROUNDS:-3} REPS=1 \
BENCH_ARGS="--sf_sample_scale=${SCALE:-1}" \
  bash scripts/bench_ab.sh build/bench-leave-base/bench/sf-bench build/bench-leave-this/bench/sf-bench \
  "$out" "$filter"
