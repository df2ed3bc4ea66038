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

# plot_stress: draws the plots of results/stress/default.json, results/stress/poisson_sweep.json
# and any other JSON there (whichever exist) and rewrites the results tables of stress/README.md
# from them, with
# scripts/plot_stress.py and a python3 that has matplotlib (Debian's python3-matplotlib is for
# /usr/bin/python3, which another python3 on PATH may hide). Warns instead of failing: the JSON is
# the result, the plots are a view of it.
plot_stress() {
  local files=() f py
  for f in results/stress/default.json results/stress/poisson_sweep.json results/stress/*.json; do
    if [[ -f "$f" && " ${files[*]} " != *" $f "* ]]; then files+=("$f"); fi
  done
  if ((${#files[@]} == 0)); then
    echo "==> nothing under results/stress/ to plot" >&2
    return 0
  fi
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import matplotlib' 2>/dev/null; then
      echo "==> plotting ${files[*]}"
      "$py" scripts/plot_stress.py --readme stress/README.md "${files[@]}" ||
        echo "==> plotting failed (the JSON is intact)" >&2
      return 0
    fi
  done
  echo "==> no python3 with matplotlib (apt-get install python3-matplotlib): not plotting" >&2
}
