#!/usr/bin/env bash
# The consumer check: builds and runs the two consumers in this directory against an installed
# singleflight, as users would.
#
#   tests/consumer/check.sh PREFIX WORKDIR
#
#   1. core, with libcds out of sight: the core consumer is configured with CMake
#      (find_package(singleflight)), built and run, and compiled once more by hand with exactly
#      `c++ -std=c++20 -pthread -I PREFIX/include`. As root with unshare(1), all of it runs in a
#      private mount namespace where libcds's headers and shared library are hidden (an empty
#      directory over each cds/ include directory, /dev/null over each libcds.so*), so that any
#      use of libcds fails; there, find_package(singleflight COMPONENTS libcds) must fail with the
#      component's message. Elsewhere CMake's search for libcds is disabled instead. Either way
#      the compiler's list of included headers must name no cds/ header, and the program must
#      not load libcds.
#   2. libcds: the libcds consumer (find_package(singleflight COMPONENTS libcds)) is built and run
#      with libcds in view.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${1:?usage: check.sh PREFIX WORKDIR}
work=${2:?usage: check.sh PREFIX WORKDIR}
jobs=$(nproc)
mkdir -p "$work"

core() {
  local hidden=$1
  echo "==> consumer core: find_package(singleflight), no libcds ($hidden)"
  local extra=()
  [[ $hidden == "hidden by a mount namespace" ]] || extra=(-DCMAKE_DISABLE_FIND_PACKAGE_LibCDS=ON)
  cmake -S "$here" -B "$work/core" -DCONSUMER=core -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}"
  cmake --build "$work/core" -j "$jobs"
  "$work/core/consumer"

  echo "==> consumer core: c++ -std=c++20 -pthread -I $prefix/include, nothing else"
  c++ -std=c++20 -pthread -I "$prefix/include" "$here/core.cpp" -o "$work/core-by-hand"
  "$work/core-by-hand"
  if c++ -std=c++20 -pthread -I "$prefix/include" -M "$here/core.cpp" | tr ' ' '\n' | grep -q '/cds/'; then
    echo "consumer core: a libcds header was included" >&2
    exit 1
  fi
  if ldd "$work/core-by-hand" "$work/core/consumer" | grep -q libcds; then
    echo "consumer core: the program loads libcds" >&2
    exit 1
  fi
  echo "==> consumer core: no cds/ header included, libcds not loaded"

  if [[ $hidden == "hidden by a mount namespace" ]]; then
    echo "==> consumer libcds without libcds: find_package must fail, naming the component"
    local log="$work/libcds-missing.log"
    if cmake -S "$here" -B "$work/libcds-missing" -DCONSUMER=libcds \
         -DCMAKE_PREFIX_PATH="$prefix" >"$log" 2>&1; then
      echo "consumer libcds: configured although libcds is hidden" >&2
      exit 1
    fi
    grep -q "singleflight component libcds: libcds was not found" "$log" || {
      cat "$log" >&2
      echo "consumer libcds: the failure does not name the missing component" >&2
      exit 1
    }
    echo "    failed as it must: $(grep -m1 'singleflight component libcds' "$log" | sed 's/^ *//')"
  fi
}

# Everything of libcds the compiler or the linker could find, for hiding.
libcds_paths() {
  local dir
  for dir in /usr/include /usr/local/include; do
    [[ -d $dir/cds ]] && echo "$dir/cds"
  done
  ldconfig -p 2>/dev/null | awk '/libcds\.so/ {print $NF}'
  find /usr/lib /usr/local/lib /usr/lib64 -maxdepth 2 -name 'libcds.so*' 2>/dev/null
}

hide_libcds_and() {
  local path
  for path in $(libcds_paths | sort -u); do
    if [[ -d $path ]]; then
      mount --bind "$work/empty" "$path"
    else
      mount --bind /dev/null "$path"
    fi
  done
  if [[ -e /usr/include/cds/version.h ]]; then
    echo "consumer: libcds is still in view after hiding it" >&2
    exit 1
  fi
  "$@"
}

if ((EUID == 0)) && command -v unshare >/dev/null && unshare --mount --propagation private true 2>/dev/null; then
  mkdir -p "$work/empty"
  export -f core libcds_paths hide_libcds_and
  export here prefix work jobs
  unshare --mount --propagation private bash -c 'set -euo pipefail; hide_libcds_and core "hidden by a mount namespace"'
else
  echo "==> consumer core: cannot hide libcds here (needs root and unshare); CMake's search for it is disabled"
  core "CMAKE_DISABLE_FIND_PACKAGE_LibCDS"
fi

echo "==> consumer libcds: find_package(singleflight COMPONENTS libcds)"
cmake -S "$here" -B "$work/libcds" -DCONSUMER=libcds -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/libcds" -j "$jobs"
"$work/libcds/consumer"
