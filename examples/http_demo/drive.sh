#!/usr/bin/env bash
# Drives sf-http-demo with real HTTP clients: N curl processes at once (xargs -P) for one key on
# /direct, then on /coalesced, and prints per endpoint the origin calls that the burst caused and
# the latency the clients saw.
#
#   examples/http_demo/drive.sh [-n N] [-k KEY] [--origin-ms MS] [--deadline-ms MS] [URL]
#
# With no URL it builds sf-http-demo if needed (in build/release, or $SF_BUILD_DIR), starts it on
# an ephemeral loopback port with --origin-ms (default 500) and stops it at the end. With a URL
# (http://127.0.0.1:8080) it drives a server that is already running; --origin-ms is then the
# server's business. --deadline-ms gives every /coalesced request that budget (?deadline_ms=MS):
# a request whose budget runs out gets 504, and once no request waits for an origin call any
# more, the call is stopped (the "stopped" column); a request that comes after that starts a new
# one. Needs cmake, g++, curl and cpp-httplib: scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

n=32
key=user42
origin_ms=500
url=""
deadline_ms=""
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    -n) n=$2; shift 2 ;;
    -k) key=$2; shift 2 ;;
    --origin-ms) origin_ms=$2; shift 2 ;;
    --deadline-ms) deadline_ms=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    http://*) url=${1%/}; shift ;;
    *) usage >&2; exit 2 ;;
  esac
done
if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 512)); then
  echo "drive.sh: -n wants 1..512" >&2
  exit 2
fi
if [[ -n $deadline_ms ]] &&
  { ! [[ $deadline_ms =~ ^[0-9]+$ ]] || ((deadline_ms < 1 || deadline_ms > 600000)); }; then
  echo "drive.sh: --deadline-ms wants 1..600000" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "drive.sh: needs curl (scripts/install-deps.sh)" >&2; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [[ -z $url ]]; then
  build=${SF_BUILD_DIR:-build/release}
  if [[ ! -f $build/CMakeCache.txt ]]; then
    echo "==> configuring $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSINGLEFLIGHT_BUILD_EXAMPLES=ON \
      >"$tmp/configure.log" || { cat "$tmp/configure.log" >&2; exit 1; }
  fi
  echo "==> building sf-http-demo in $build"
  cmake --build "$build" --target sf-http-demo -j "$(nproc)" >"$tmp/build.log" ||
    { cat "$tmp/build.log" >&2; exit 1; }
  # Enough server threads for every client at once, or the burst queues behind them.
  "$build/examples/http_demo/sf-http-demo" --port 0 --origin-ms "$origin_ms" \
    --threads $((n + 8)) >"$tmp/server.out" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "drive.sh: the server exited" >&2; exit 1; }
    sleep 0.1
  done
  url="http://$(sed -n 's/^listening on //p' "$tmp/server.out")"
  [[ $url != http:// ]] || { echo "drive.sh: the server did not start" >&2; exit 1; }
fi

# stat_of ENDPOINT FIELD: a number from /stats, e.g. stat_of coalesced origin_calls.
stat_of() {
  curl -fsS "$url/stats" | sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"
}
server_origin_ms=$(curl -fsS "$url/stats" | sed -n 's/.*"origin_ms":\([0-9]*\).*/\1/p')

echo "sf-http-demo at $url: the origin takes ${server_origin_ms} ms per call"
echo "$n curl clients at once per endpoint, all for key \"$key\""
[[ -z $deadline_ms ]] ||
  echo "each /coalesced request with a budget of $deadline_ms ms (?deadline_ms=$deadline_ms)"
echo
printf '%-12s %8s %6s %6s %13s %8s %12s %8s %8s %8s\n' endpoint requests 2xx 504 "origin calls" \
  stopped "origin peak" "p50 ms" "max ms" "wall ms"
for endpoint in direct coalesced; do
  query=""
  [[ $endpoint != coalesced || -z $deadline_ms ]] || query="?deadline_ms=$deadline_ms"
  curl -fsS -d '' "$url/reset" >/dev/null
  start=$(date +%s%N)
  seq "$n" | xargs -P "$n" -I{} \
    curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' "$url/$endpoint/$key$query" \
    >"$tmp/$endpoint"
  wall_ms=$((($(date +%s%N) - start) / 1000000))
  ok=$(grep -c '^2' "$tmp/$endpoint" || true)
  timeouts=$(grep -c '^504' "$tmp/$endpoint" || true)
  # time_total is in seconds: sort, then the median (lower middle) and the largest, in ms.
  read -r p50 max < <(awk '{print $2 * 1000}' "$tmp/$endpoint" | sort -n |
    awk '{v[NR] = $1} END {printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR]}')
  printf '%-12s %8d %6d %6d %13s %8s %12s %8s %8s %8d\n' "/$endpoint" "$n" "$ok" "$timeouts" \
    "$(stat_of "$endpoint" origin_calls)" "$(stat_of "$endpoint" abandoned)" \
    "$(stat_of "$endpoint" origin_peak)" "$p50" "$max" "$wall_ms"
done
echo
echo "origin calls: how often the burst reached the origin; stopped: how many of them were"
echo "stopped because no request was waiting any more; origin peak: the most origin calls at"
echo "once. A /direct request always waits for a whole origin call of its own; a /coalesced request"
echo "that arrives while the call for its key is under way joins it and waits only for the rest"
echo "(or, with --deadline-ms, until its budget runs out)."
