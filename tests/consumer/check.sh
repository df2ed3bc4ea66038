#!/usr/bin/env bash
# The consumer check: builds and runs the consumers in this directory against an installed
# singleflight, as users would.
#
#   tests/consumer/check.sh PREFIX WORKDIR
#
#   1. core, with libcds and Asio out of sight: the core consumer is configured with CMake
#      (find_package(singleflight)), built and run, and compiled once more by hand with exactly
#      `c++ -std=c++20 -pthread -I PREFIX/include`. As root with unshare(1), all of it runs in a
#      private mount namespace where libcds's headers and shared library and Asio's headers are
#      hidden (an empty directory over each cds/ and asio/ include directory, /dev/null over each
#      libcds.so* and asio.hpp), so that any use of them fails; there,
#      find_package(singleflight COMPONENTS libcds) and (... COMPONENTS asio) must fail with the
#      component's message. Elsewhere CMake's search for them is disabled instead. Either way the
#      compiler's list of included headers must name no cds/ or asio header, and the program
#      must not load libcds.
#   2. libcds: the libcds consumer (find_package(singleflight COMPONENTS libcds)) is built and run
#      with libcds in view.
#   3. asio, where the installation has the component: the asio consumer
#      (find_package(singleflight COMPONENTS asio)) is built and run with Asio in view, and
#      compiled once more by hand with exactly `c++ -std=c++20 -pthread -I PREFIX/include`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${1:?usage: check.sh PREFIX WORKDIR}
work=${2:?usage: check.sh PREFIX WORKDIR}
jobs=$(nproc)
mkdir -p "$work"

core() {
  local hidden=$1
  echo "==> consumer core: find_package(singleflight), no libcds, no Asio ($hidden)"
  local extra=()
  [[ $hidden == "hidden by a mount namespace" ]] ||
    extra=(-DCMAKE_DISABLE_FIND_PACKAGE_LibCDS=ON -DCMAKE_DISABLE_FIND_PACKAGE_Asio=ON)
  cmake -S "$here" -B "$work/core" -DCONSUMER=core -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}"
  cmake --build "$work/core" -j "$jobs"
  "$work/core/consumer"

  echo "==> consumer core: c++ -std=c++20 -pthread -I $prefix/include, nothing else"
  c++ -std=c++20 -pthread -I "$prefix/include" "$here/core.cpp" -o "$work/core-by-hand"
  "$work/core-by-hand"
  if c++ -std=c++20 -pthread -I "$prefix/include" -M "$here/core.cpp" | tr ' ' '\n' |
       grep -Eq '/cds/|/asio/|/asio\.hpp$'; then
    echo "consumer core: a libcds or Asio header was included" >&2
    exit 1
  fi
  if ldd "$work/core-by-hand" "$work/core/consumer" | grep -q libcds; then
    echo "consumer core: the program loads libcds" >&2
    exit 1
  fi
  echo "==> consumer core: no cds/ or asio header included, libcds not loaded"

  if [[ $hidden == "hidden by a mount namespace" ]]; then
    missing_component libcds "libcds was not found"
    missing_component asio "standalone Asio 1.22 or later was not found"
  fi
}

# missing_component NAME WHY: with NAME's dependency hidden, find_package(singleflight COMPONENTS
# NAME) must fail with the component's message, which names NAME and says WHY.
missing_component() {
  local name=$1 why=$2 log="$work/$1-missing.log"
  echo "==> consumer $name without its dependency: find_package must fail, naming the component"
  if cmake -S "$here" -B "$work/$name-missing" -DCONSUMER="$name" \
       -DCMAKE_PREFIX_PATH="$prefix" >"$log" 2>&1; then
    echo "consumer $name: configured although its dependency is hidden" >&2
    exit 1
  fi
  grep -q "singleflight component $name: $why" "$log" || {
    cat "$log" >&2
    echo "consumer $name: the failure does not name the missing component" >&2
    exit 1
  }
  echo "    failed as it must: $(grep -m1 "singleflight component $name" "$log" | sed 's/^ *//')"
}

# Everything of libcds and Asio the compiler or the linker could find, for hiding.
optional_paths() {
  local dir
  for dir in /usr/include /usr/local/include; do
    [[ -d $dir/cds ]] && echo "$dir/cds"
    [[ -d $dir/asio ]] && echo "$dir/asio"
    [[ -e $dir/asio.hpp ]] && echo "$dir/asio.hpp"
  done
  ldconfig -p 2>/dev/null | awk '/libcds\.so/ {print $NF}'
  find /usr/lib /usr/local/lib /usr/lib64 -maxdepth 2 -name 'libcds.so*' 2>/dev/null
}

hide_optional_and() {
  local path
  for path in $(optional_paths | sort -u); do
    if [[ -d $path ]]; then
      mount --bind "$work/empty" "$path"
    else
      mount --bind /dev/null "$path"
    fi
  done
  if [[ -e /usr/include/cds/version.h || -e /usr/include/asio/version.hpp ]]; then
    echo "consumer: libcds or Asio is still in view after hiding them" >&2
    exit 1
  fi
  "$@"
}

if ((EUID == 0)) && command -v unshare >/dev/null && unshare --mount --propagation private true 2>/dev/null; then
  mkdir -p "$work/empty"
  export -f core missing_component optional_paths hide_optional_and
  export here prefix work jobs
  unshare --mount --propagation private bash -c 'set -euo pipefail; hide_optional_and core "hidden by a mount namespace"'
else
  echo "==> consumer core: cannot hide libcds and Asio here (needs root and unshare); CMake's search for them is disabled"
  core "CMAKE_DISABLE_FIND_PACKAGE_LibCDS and _Asio"
fi

echo "==> consumer libcds: find_package(singleflight COMPONENTS libcds)"
cmake -S "$here" -B "$work/libcds" -DCONSUMER=libcds -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/libcds" -j "$jobs"
"$work/libcds/consumer"

if [[ -n $(find "$prefix" -name singleflightAsioTargets.cmake -print -quit) ]]; then
  echo "==> consumer asio: find_package(singleflight COMPONENTS asio)"
  cmake -S "$here" -B "$work/asio" -DCONSUMER=asio -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
  cmake --build "$work/asio" -j "$jobs"
  "$work/asio/consumer"
  echo "==> consumer asio: c++ -std=c++20 -pthread -I $prefix/include, Asio from the system"
  c++ -std=c++20 -pthread -I "$prefix/include" "$here/asio.cpp" -o "$work/asio-by-hand"
  "$work/asio-by-hand"
else
  echo "==> consumer asio: skipped, this installation was built without Asio (Debian: libasio-dev)"
fi
