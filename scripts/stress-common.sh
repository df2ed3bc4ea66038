# Sourced by run-main.sh and stress-sweep.sh: building sf-stress and plotting its JSON.
# SF_BUILD_DIR picks the build directory (default build/release).

build_dir=${SF_BUILD_DIR:-build/release}
sf_stress=$build_dir/stress/sf-stress

# Installs what is missing, then configures $build_dir (Release, with the stress harness) and
# builds sf-stress.
build_stress() {
  bash scripts/install-deps.sh
  echo "==> configuring $build_dir (Release, SINGLEFLIGHT_BUILD_STRESS=ON)"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSINGLEFLIGHT_BUILD_STRESS=ON >/dev/null
  echo "==> building sf-stress"
  cmake --build "$build_dir" --target sf-stress -j "$(nproc)"
}

# publish_args ARGS...: sets `publish` (1 if --publish is among ARGS) and `args` (ARGS without it).
publish_args() {
  publish=0
  args=()
  local a
  for a in "$@"; do
    if [[ $a == --publish ]]; then publish=1; else args+=("$a"); fi
  done
}

# results_dir: where a run writes its JSON and plots: results/stress/ (published, tracked) with
# --publish, else build/results/stress/ (git ignores it, so a run leaves the checkout clean).
results_dir() {
  if ((publish)); then echo results/stress; else echo build/results/stress; fi
}

# plot_stress JSON: draws the plots of JSON next to it. With --publish, draws every JSON under
# results/stress/ and rewrites the results tables of stress/README.md from them. Uses
# scripts/plot_stress.py and a python3 that has matplotlib (Debian's python3-matplotlib is for
# /usr/bin/python3, which another python3 on PATH may hide). Warns instead of failing: the JSON is
# the result, the plots are a view of it.
plot_stress() {
  local files=() f py extra=()
  if ((publish)); then
    for f in results/stress/default.json results/stress/poisson_sweep.json results/stress/*.json; do
      if [[ -f "$f" && " ${files[*]} " != *" $f "* ]]; then files+=("$f"); fi
    done
    extra=(--readme stress/README.md)
  elif [[ -f $1 ]]; then
    files=("$1")
  fi
  if ((${#files[@]} == 0)); then
    echo "==> nothing to plot" >&2
    return 0
  fi
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import matplotlib' 2>/dev/null; then
      echo "==> plotting ${files[*]}"
      "$py" scripts/plot_stress.py "${extra[@]}" "${files[@]}" ||
        echo "==> plotting failed (the JSON is intact)" >&2
      return 0
    fi
  done
  echo "==> no python3 with matplotlib (apt-get install python3-matplotlib): not plotting" >&2
}
