#!/usr/bin/env bash
# Drives sf-http-demo with real HTTP clients, on /direct/KEY (every request calls the origin) and
# /coalesced/KEY (concurrent requests for KEY share one origin call).
#
#   examples/http_demo/drive.sh [-n N] [-k KEY] [--deadline-ms MS] [COMMON] [URL]
#   examples/http_demo/drive.sh --wrk [-c "C1 C2"] [-d SECONDS] [-t THREADS] [-k KEY] [COMMON] [URL]
#   COMMON: [--origin-ms MS] [--origin-pool P] [--server threads|asio] [--raw DIR] [--pid PID]
#
# curl mode (the default): one burst of N curl processes at once (xargs -P, default 32) per
# endpoint, and per endpoint the origin calls that the burst caused and the latency the clients
# saw. --deadline-ms gives every /coalesced request that budget (?deadline_ms=MS): a request whose
# budget runs out gets 504, and once no request waits for an origin call any more, the call is
# stopped (the "stopped" column); a request that comes after that starts a new one.
#
# --wrk: for each connection count (-c, default "64 2048") and each endpoint, wrk keeps that many
# connections busy for -d seconds (default 10) with -t threads (default 2) on one hot key, and the
# script prints requests/s, latency p50/p90/p99, errors, the origin calls (from the server's
# /stats), and the server's threads and resident memory (from /proc/PID/status, sampled every
# 100 ms), then what each extra waiting request cost between the smallest and largest -c. Each
# run gets a fresh server. The file descriptor limit is raised as far as the connections need.
#
# With no URL the script builds the server if needed (in build/release, or $SF_BUILD_DIR) and
# starts it on an ephemeral loopback port: --server threads (default) is sf-http-demo, a thread
# per connection; --server asio is sf-http-demo-asio, the same endpoints and options served by
# coroutines. --origin-ms (default 500 for curl, 5 for wrk) and --origin-pool (default 8) set its
# origin. With a URL (http://127.0.0.1:8080) it drives a server that is already running, whose
# origin is its own business; --pid PID names its process for the thread and memory figures.
# --raw DIR keeps every run's raw output there. Needs cmake, g++, curl, cpp-httplib and wrk:
# scripts/install-deps.sh. examples/http_demo/README.md says what the figures mean.
set -euo pipefail
command_line="examples/http_demo/drive.sh $*"
caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

mode=curl
server=threads
n=32
key=user42
origin_ms=""
origin_pool=8
url=""
pid=""
raw=""
deadline_ms=""
conns="64 2048"
duration=10
wrk_threads=2
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --wrk) mode=wrk; shift ;;
    -n) n=$2; shift 2 ;;
    -k) key=$2; shift 2 ;;
    -c) conns=$2; shift 2 ;;
    -d) duration=$2; shift 2 ;;
    -t) wrk_threads=$2; shift 2 ;;
    --origin-ms) origin_ms=$2; shift 2 ;;
    --origin-pool) origin_pool=$2; shift 2 ;;
    --deadline-ms) deadline_ms=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    --pid) pid=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    http://*) url=${1%/}; shift ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ -n $origin_ms ]] || origin_ms=$([[ $mode == wrk ]] && echo 5 || echo 500)
[[ -z $raw || $raw == /* ]] || raw=$caller_dir/$raw

die() { echo "drive.sh: $*" >&2; exit 2; }
# in_range NAME VALUE MIN MAX
in_range() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then die "$1 wants $3..$4"; fi
}
in_range -n "$n" 1 512
in_range -d "$duration" 1 3600
in_range -t "$wrk_threads" 1 64
in_range --origin-ms "$origin_ms" 0 60000
in_range --origin-pool "$origin_pool" 1 4096
for c in $conns; do in_range -c "$c" "$wrk_threads" 16384; done
[[ -z $deadline_ms ]] || in_range --deadline-ms "$deadline_ms" 1 600000
[[ -z $pid ]] || in_range --pid "$pid" 1 4194304
[[ -z $pid || -n $url ]] || die "--pid names the process of a server given by URL"
[[ -z $deadline_ms || $mode == curl ]] || die "--deadline-ms is for curl mode"
command -v curl >/dev/null || die "needs curl (scripts/install-deps.sh)"
[[ $mode == curl ]] || command -v wrk >/dev/null || die "needs wrk (scripts/install-deps.sh)"

# The servers this script can start. To add one: its CMake target here, and in server_args what
# it needs to serve CONNECTIONS connections at once.
case $server in
  threads) target=sf-http-demo ;;
  asio) target=sf-http-demo-asio ;;
  *) die "--server wants threads or asio" ;;
esac
# server_args CONNECTIONS: the flags, beyond the origin's, for that many connections at once.
server_args() {
  case $server in
    # A pool thread per connection, or the surplus connections queue for a thread and the run
    # measures that queue. 8 more for /stats, /reset and slack.
    threads) echo --threads $(($1 + 8)) ;;
    # Coroutines: a waiting request holds no thread, so its own defaults serve any number.
    asio) ;;
  esac
}

tmp=$(mktemp -d)
server_pid=""
sampler_pid=""
# finish VAR: ends the background process whose pid VAR holds, if any, and empties VAR.
finish() {
  local -n process=$1
  if [[ -n $process ]]; then
    kill "$process" 2>/dev/null || true
    wait "$process" 2>/dev/null || true
    process=""
  fi
}
cleanup() {
  finish sampler_pid
  finish server_pid
  rm -rf "$tmp"
}
trap cleanup EXIT

build=${SF_BUILD_DIR:-build/release}
binary=$build/examples/http_demo/$target
build_server() {
  if [[ ! -f $build/CMakeCache.txt ]]; then
    echo "==> configuring $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSINGLEFLIGHT_BUILD_EXAMPLES=ON \
      >"$tmp/configure.log" || { cat "$tmp/configure.log" >&2; exit 1; }
  fi
  echo "==> building $target in $build"
  cmake --build "$build" --target "$target" -j "$(nproc)" >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log" >&2
    echo "drive.sh: cannot build $target for --server $server" >&2
    exit 1
  }
}

# start_server CONNECTIONS: a fresh server on an ephemeral port; sets server_pid and url.
start_server() {
  # shellcheck disable=SC2046  # server_args is a list of words
  "$binary" --port 0 --origin-ms "$origin_ms" --origin-pool "$origin_pool" \
    $(server_args "$1") >"$tmp/server.out" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/server.out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "drive.sh: the server exited" >&2; exit 1; }
    sleep 0.1
  done
  url="http://$(sed -n 's/^listening on //p' "$tmp/server.out")"
  [[ $url != http:// ]] || { echo "drive.sh: the server did not start" >&2; exit 1; }
}

# field JSON SECTION NAME: a number from /stats; SECTION "" for the top level.
field() {
  if [[ -z $2 ]]; then
    sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p" <<<"$1"
  else
    sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9]*\).*/\1/p" <<<"$1"
  fi
}
stats() { curl -fsS "$url/stats"; }
reset() { curl -fsS -d '' "$url/reset" >/dev/null; }
describe_origin() {
  local s
  s=$(stats)
  echo "sf-http-demo ($server) at $url: the origin has $(field "$s" "" origin_pool) connections" \
    "and takes $(field "$s" "" origin_ms) ms per call"
}

local_server=false
if [[ -z $url ]]; then
  local_server=true
  build_server
fi

run_curl() {
  if $local_server; then
    start_server "$n"
    pid=$server_pid
  fi
  describe_origin
  echo "$n curl clients at once per endpoint, all for key \"$key\""
  [[ -z $deadline_ms ]] ||
    echo "each /coalesced request with a budget of $deadline_ms ms (?deadline_ms=$deadline_ms)"
  echo
  printf '%-12s %8s %6s %6s %13s %8s %12s %8s %8s %8s\n' endpoint requests 2xx 504 \
    "origin calls" stopped "origin peak" "p50 ms" "max ms" "wall ms"
  for endpoint in direct coalesced; do
    query=""
    [[ $endpoint != coalesced || -z $deadline_ms ]] || query="?deadline_ms=$deadline_ms"
    reset
    start=$(date +%s%N)
    seq "$n" | xargs -P "$n" -I{} \
      curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' "$url/$endpoint/$key$query" \
      >"$tmp/$endpoint"
    wall_ms=$((($(date +%s%N) - start) / 1000000))
    [[ -z $raw ]] || cp "$tmp/$endpoint" "$raw/curl-$endpoint.txt"
    ok=$(grep -c '^2' "$tmp/$endpoint" || true)
    timeouts=$(grep -c '^504' "$tmp/$endpoint" || true)
    # time_total is in seconds: sort, then the median (lower middle) and the largest, in ms.
    read -r p50 max < <(awk '{print $2 * 1000}' "$tmp/$endpoint" | sort -n |
      awk '{v[NR] = $1} END {printf "%.0f %.0f\n", v[int((NR + 1) / 2)], v[NR]}')
    s=$(stats)
    printf '%-12s %8d %6d %6d %13s %8s %12s %8s %8s %8d\n' "/$endpoint" "$n" "$ok" "$timeouts" \
      "$(field "$s" "$endpoint" origin_calls)" "$(field "$s" "$endpoint" abandoned)" \
      "$(field "$s" "$endpoint" origin_peak)" "$p50" "$max" "$wall_ms"
  done
  echo
  echo "origin calls: how often the burst reached the origin; stopped: how many of them were"
  echo "stopped because no request was waiting any more; origin peak: the most origin calls at"
  echo "once, those queued for a connection included. A /direct request always waits for a whole"
  echo "origin call of its own, behind the others in the pool's queue; a /coalesced request that"
  echo "arrives while the call for its key is under way joins it and waits only for the rest (or,"
  echo "with --deadline-ms, until its budget runs out)."
}

# Both wrk and the server hold a descriptor per connection: raise the soft limit that they
# inherit as far as the largest -c needs.
raise_fd_limit() {
  local need=$1 soft hard
  soft=$(ulimit -Sn)
  if [[ $soft == unlimited ]] || ((soft >= need)); then return 0; fi
  hard=$(ulimit -Hn)
  if [[ $hard != unlimited ]] && ((hard < need)); then
    ulimit -Hn "$need" 2>/dev/null ||
      die "$need file descriptors needed, the hard limit is $hard: raise it" \
        "(as root: ulimit -Hn $need)"
  fi
  ulimit -Sn "$need"
  echo "fd limit: raised from $soft to $need open files" \
    "(wrk and the server each hold one per connection)"
}

# sample_server PID FILE: "threads rss_kib" from /proc/PID/status every 100 ms until killed.
sample_server() {
  while [[ -r /proc/$1/status ]]; do
    awk '/^Threads:/ {t = $2} /^VmRSS:/ {r = $2} END {print t, r}' "/proc/$1/status" 2>/dev/null ||
      true
    sleep 0.1
  done >"$2"
}

run_wrk() {
  local max_conns=0 c endpoint run=0 runs
  for c in $conns; do ((c > max_conns)) && max_conns=$c; done
  raise_fd_limit $((max_conns + 256))
  runs=$(($(wc -w <<<"$conns") * 2))
  # One line, from wrk's own histogram (the same one --latency prints), for this script to read.
  cat >"$tmp/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "sf-wrk requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d errors=%d" ..
    " connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
  local header=false rows=()
  for c in $conns; do
    for endpoint in direct coalesced; do
      run=$((run + 1))
      echo "==> run $run/$runs: /$endpoint/$key, $c connections, ${duration} s" >&2
      if $local_server; then
        start_server "$c"
        pid=$server_pid
      fi
      if ! $header; then
        describe_origin
        echo "wrk: -t $wrk_threads, -d ${duration}s, one hot key (\"$key\"); $(nproc) CPUs shared" \
          "by wrk and the server"
        header=true
      fi
      reset
      # shellcheck disable=SC2034  # finish reads it, through a nameref
      [[ -z $pid ]] || { sample_server "$pid" "$tmp/samples" & sampler_pid=$!; }
      wrk -t "$wrk_threads" -c "$c" -d "${duration}s" --timeout 30s --latency \
        -s "$tmp/report.lua" "$url/$endpoint/$key" >"$tmp/wrk.out" 2>&1 ||
        { cat "$tmp/wrk.out" >&2; die "wrk failed"; }
      finish sampler_pid
      local s threads=- rss=- line
      s=$(stats)
      line=$(grep '^sf-wrk ' "$tmp/wrk.out") || { cat "$tmp/wrk.out" >&2; die "no wrk summary"; }
      if [[ -n $pid ]]; then
        read -r threads rss < <(awk '$1 > t {t = $1} $2 > r {r = $2} END {print t + 0, r + 0}' \
          "$tmp/samples")
      fi
      if [[ -n $raw ]]; then
        cp "$tmp/wrk.out" "$raw/wrk-$endpoint-c$c.txt"
        echo "$s" >"$raw/stats-$endpoint-c$c.json"
        [[ -z $pid ]] || cp "$tmp/samples" "$raw/proc-$endpoint-c$c.txt"
      fi
      finish server_pid
      # One row: c endpoint wrk-fields... server-requests origin-calls peak wait-us threads rss
      rows+=("$c $endpoint ${line#sf-wrk } $(field "$s" "$endpoint" requests)\
 $(field "$s" "$endpoint" origin_calls) $(field "$s" "$endpoint" origin_peak)\
 $(field "$s" "$endpoint" origin_wait_us) $threads $rss")
    done
  done

  echo
  printf '%-11s %6s %8s %8s %8s %8s %7s %9s %7s %7s %9s %8s %8s\n' endpoint conns "req/s" \
    "p50 ms" "p90 ms" "p99 ms" errors "origin" saved "peak" "wait ms" threads "RSS MiB"
  local row
  for row in "${rows[@]}"; do
    awk '{
      for (i = 3; i <= 13; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      served = $14; calls = $15; peak = $16; wait_us = $17; threads = $18; rss = $19
      printf "%-11s %6d %8.0f %8.1f %8.1f %8.1f %7d %9d %6.1f%% %7d %9.1f %8s %8s\n",
        "/" $2, $1, f["requests"] / (f["duration_us"] / 1e6), f["p50_us"] / 1e3,
        f["p90_us"] / 1e3, f["p99_us"] / 1e3, f["errors"], calls,
        (served > 0 ? 100 * (1 - calls / served) : 0), peak,
        (calls > 0 ? wait_us / calls / 1e3 : 0), threads,
        (rss == "-" ? "-" : sprintf("%.1f", rss / 1024))
    }' <<<"$row"
  done
  # Per extra waiting request: the slope from the smallest to the largest -c, per endpoint. wrk
  # keeps one request outstanding per connection, so C connections are C waiting requests.
  if [[ -n $pid ]] && (($(wc -w <<<"$conns") > 1)); then
    echo
    for endpoint in direct coalesced; do
      printf '%s\n' "${rows[@]}" | awk -v e="$endpoint" '
        $2 == e { if (lo == "" || $1 < lo) { lo = $1; lt = $18; lr = $19 }
                  if (hi == "" || $1 > hi) { hi = $1; ht = $18; hr = $19 } }
        END { if (hi > lo)
          printf "/%-10s from %d to %d connections: %.2f threads and %.1f KiB resident %s\n",
            e, lo, hi, (ht - lt) / (hi - lo), (hr - lr) / (hi - lo),
            "per extra waiting request" }'
    done
  fi
  echo
  echo "req/s and p50/p90/p99: wrk's, for the requests it completed in ${duration} s (latency from"
  echo "sending a request to its whole reply; it includes queueing for the origin's connections)."
  echo "errors: wrk's socket errors, timeouts (30 s) and non-2xx replies. origin: origin calls"
  echo "during the run; saved: the share of requests that did not call the origin; peak: the most"
  echo "origin calls at once, queued ones included; wait ms: the mean wait of a call for one of the"
  echo "origin's connections. threads, RSS MiB: the server process's peak, sampled every 100 ms."
}

if [[ -n $raw ]]; then
  mkdir -p "$raw"
  {
    echo "command: $command_line"
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- \
      examples/http_demo 2>/dev/null || echo ' (examples/http_demo modified)')"
    echo "machine: $(uname -srm), $(nproc) CPUs," \
      "$(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)"
    echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
    if $local_server; then
      echo "server: $binary, CMAKE_BUILD_TYPE" \
        "$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")"
    fi
    echo "wrk: $(wrk -v 2>&1 | head -1)"
  } >"$raw/meta.txt"
fi
# In this shell, not a pipeline's subshell: the limits it raises and the processes it starts
# are this shell's to pass on and to clean up.
if [[ -n $raw ]]; then
  "run_$mode" > >(tee "$raw/summary.txt")
  wait $!  # for tee
else
  "run_$mode"
fi
