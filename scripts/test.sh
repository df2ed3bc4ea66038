#!/usr/bin/env bash
# The project's test command. Stages, in order (the first failure stops the run):
#   deps      scripts/install-deps.sh
#   release   Release build of every layer present, in build/release; ctest, all labels
#   tsan      g++ ThreadSanitizer build (Debug + -O1, asserts on), in build/tsan; unit + example +
#             stress (the harness's short tier)
#   asan      g++ AddressSanitizer + UBSan build (Debug + -O0, asserts on), in build/asan; unit +
#             example + stress
#   consumer  install build/release into a temporary prefix; build and run the consumers of
#             tests/consumer against it: the core with libcds and Asio hidden, the libcds
#             component and the Asio one
# --quick skips the two sanitizer stages. A summary with each stage's time ends every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
  esac
done

jobs=$(nproc)
summary=()
print_summary() {
  echo "==> summary"
  local line
  for line in "${summary[@]}"; do echo "    $line"; done
}
trap print_summary EXIT

# stage NAME FUNCTION: runs FUNCTION in a subshell, records pass/FAIL and its time, and stops
# the run on failure. Not `(...) || rc=$?`: on the left of || bash ignores errexit inside.
stage() {
  local name=$1 start=$SECONDS rc
  echo "==> [$name] start"
  set +e
  (set -e; "$2")
  rc=$?
  set -e
  local took=$((SECONDS - start))
  if ((rc != 0)); then
    summary+=("FAIL  $name  (${took}s, exit $rc)")
    exit "$rc"
  fi
  summary+=("pass  $name  (${took}s)")
  echo "==> [$name] passed in ${took}s"
}

# build_and_test DIR CTEST_LABEL_REGEX CMAKE_ARGS...: configure, build, run ctest.
build_and_test() {
  local dir=$1 labels=$2
  shift 2
  echo "==> configuring $dir: $*"
  cmake -S . -B "$dir" "$@"
  echo "==> building $dir"
  cmake --build "$dir" -j "$jobs"
  echo "==> testing $dir (labels: ${labels:-all})"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" ${labels:+-L "$labels"}
}

deps() { bash scripts/install-deps.sh; }

release() {
  build_and_test build/release "" -DCMAKE_BUILD_TYPE=Release \
    -DSINGLEFLIGHT_BUILD_TESTS=ON -DSINGLEFLIGHT_BUILD_EXAMPLES=ON \
    -DSINGLEFLIGHT_BUILD_BENCH=ON -DSINGLEFLIGHT_BUILD_STRESS=ON -DSINGLEFLIGHT_BUILD_PROOFS=ON
}

# Sanitizer builds use g++ (clang 14 at -O1 can miss races on stack objects captured by
# reference) and Debug, so asserts and the lifetime checks stay on. TSan at -O1, where its runs
# are fast enough; ASan+UBSan at -O0, which compiles the unit tests 2.6 times faster than -O1
# (forget_test.cpp: 22 s against 58 s) and runs them in the same time (41 s against 44 s, the
# tests wait more than they compute). Both test group on libcds's table with one of its garbage
# collectors (SINGLEFLIGHT_TEST_ONE_LIBCDS_GC: the adapter is the same code for both); Release
# tests both. These two choices keep CI within 30 minutes on 2 cores.
sanitized() {
  build_and_test "build/$1" "unit|example|stress" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS="$3" -DSINGLEFLIGHT_SANITIZE="$2" -DSINGLEFLIGHT_BUILD_STRESS=ON \
    -DSINGLEFLIGHT_TEST_ONE_LIBCDS_GC=ON
}
tsan() { sanitized tsan thread -O1; }
asan() { sanitized asan address,undefined -O0; }

consumer() {
  # Not `local`: the EXIT trap runs when the stage's subshell ends, after this function returned.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "==> installing build/release into $tmp/prefix"
  cmake --install build/release --prefix "$tmp/prefix"
  bash tests/consumer/check.sh "$tmp/prefix" "$tmp/build"
}

stage deps deps
stage release release
if ((quick)); then
  summary+=("skip  tsan, asan  (--quick)")
else
  stage tsan tsan
  stage asan asan
fi
stage consumer consumer
echo "==> all stages passed"
