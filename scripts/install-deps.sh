#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs, and only those that are missing.
# As root it installs them (apt-get, non-interactive); otherwise it names them and exits 1.
# Everything comes from Debian's own archive: nothing is downloaded from anywhere else.
#
#   scripts/install-deps.sh           the build, tests, proofs, stress, benchmarks and plots
#   scripts/install-deps.sh --paper   only what paper/build needs besides those: TeX Live's
#                                     pdflatex with the LaTeX packages paper/singleflight.tex
#                                     uses (opt-in: about 100 MB that nothing else needs)
set -euo pipefail

set_name=project
case "${1:-}" in
  "") ;;
  --paper) set_name=paper ;;
  -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/install-deps.sh [--paper]" >&2; exit 2 ;;
esac

packages=(
  g++ make cmake                      # the build (g++ 12 also brings the TSan/ASan/UBSan runtimes)
  libcds-dev                          # the lock-free hash map under singleflight::group
  libgtest-dev                        # tests/
  libbenchmark-dev                    # bench/
  nlohmann-json3-dev libcli11-dev     # stress/: JSON output and flag parsing
  golang-go golang-golang-x-sync-dev  # Go's singleflight, benchmarked beside ours
  relacy-dev spin patch               # proofs/ (patch applies the mutants)
  libcpp-httplib-dev pkgconf curl wrk # examples/http_demo: HTTP library, its cflags, the clients
  libasio-dev                         # <singleflight/asio.hpp>, its tests, sf-http-demo-asio
  python3 python3-matplotlib          # plots of results/
)
if [[ $set_name == paper ]]; then
  packages=(
    texlive-latex-base                # pdflatex, LaTeX, graphicx, hyperref, url
    texlive-latex-recommended         # booktabs, microtype, xcolor, caption, enumitem's peers
    texlive-fonts-recommended lmodern # Latin Modern and Times/Helvetica metrics (T1 fonts)
    python3 python3-matplotlib        # scripts/paper_*.py: the generated tables and figures
  )
fi

if ! command -v dpkg-query >/dev/null; then
  echo "==> install-deps: no dpkg-query here; this script knows Debian 12 only. Install: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "==> install-deps: all ${#packages[@]} Debian packages ($set_name) are installed"
  exit 0
fi
if ((EUID != 0)); then
  echo "==> install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "    as root: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "==> install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "==> install-deps: done"
