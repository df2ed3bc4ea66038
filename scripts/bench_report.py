#!/usr/bin/env python3
"""Turns the raw output of bench/run into plots and a markdown summary.

usage: scripts/bench_report.py RESULTS_DIR [--readme README.md]

Reads, from RESULTS_DIR (build/results/bench/ in bench/run, results/bench/ with --publish):
  sf_bench.json   Google Benchmark JSON of sf-bench
  go_bench.json   the same format, from bench/go/singleflight_bench.go (optional)
  meta.json       how the run was made: command, machine, compiler, flags, commit (optional)
Writes, to RESULTS_DIR:
  summary.md                      ratios against mutex_group and against Go, the targets P1-P5
                                  with the measured figure beside each, the table ablation, the
                                  wake latencies, the per-call counters, and the deadlines:
                                  call_for beside call, deadline accuracy against the condition
                                  variable's, wake-ups per leaving caller; the coroutine callers:
                                  hot_key_async against Go at equal callers, resume cost against
                                  bare resumption, distinct_noop with flights held in progress
  distinct_noop.png, hot_key.png, zipf.png, forget_mix.png   throughput against threads
  hot_key_async.png               coroutine callers' throughput, and its ratio to Go's, against
                                  the number of callers
  wake_latency.png                follower wake latency against waiters, with the floor
  ablation.png                    the own table and libcds's tables behind group, side by side
With --readme, also replaces the text between <!-- bench:begin --> and <!-- bench:end --> in
that file with the summary's headline tables.

Every figure is the median over repetitions (run_type "iteration" entries), so both JSON files
are read alike. Throughput is items_per_second; "time" is its inverse.
"""
import argparse
import json
import math
import pathlib
import statistics
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

MAIN = ["group", "group_michael_dhp", "group_michael_hp", "mutex_group", "sharded_group"]
# group is the project's own table (tables::slots); the rest are libcds's containers.
ABLATION = ["group", "group_michael_dhp", "group_michael_hp", "group_iterable_dhp",
            "group_iterable_hp", "group_splitlist_dhp", "group_splitlist_hp"]
WAKE = ["group", "mutex_group", "sharded_group", "atomic_wait_floor"]
STYLE = {  # colour and line style per implementation, the same in every plot
    "group": ("tab:blue", "-"), "group_michael_dhp": ("tab:purple", "-"),
    "group_michael_hp": ("tab:cyan", "-"),
    "mutex_group": ("tab:red", "-"), "sharded_group": ("tab:orange", "-"),
    "go": ("tab:green", "-"), "atomics": ("black", "--"), "atomic_wait_floor": ("black", "--"),
}


SCENARIOS = """What each scenario times (bench/sf_bench.cpp says it in full):

- `distinct_noop`: a no-op fn on keys no other call uses; 1, 2 and 8 threads (8 oversubscribes
  two cores). The cost of the machinery itself.
- `floor`: hash the key, register a record in a shared slot array, remove it, close it: three
  atomic read-modify-writes, no allocation, no waiting. `distinct_noop`'s yardstick.
- `hot_key`: every thread calls one key; fn busy-waits 0, 1 µs or 100 µs.
- `zipf`: Zipf(0.99) keys over 100,000 keys; fn busy-waits 0 or 1 µs.
- `forget_mix`: the zipf keys with fn 1 µs, a stated percentage of operations being `forget`.
- `wake_latency`: one leader, N parked followers; from the leader's publication (a timestamp
  taken as fn returns) to each follower's return. `atomic_wait_floor`: the same rounds with a bare
  `atomic<uint32_t>::wait`/`notify_all`.
- `distinct_noop_call_for`, `hot_key_call_for`, `wake_latency_call_for`: the same shapes with
  every call (wake_latency: every waiter's) a `call_for(key, fn, 1 s)` whose deadline never
  passes.
- `deadline_late`: a follower's `call_for(key, fn, T)` on a flight held open far longer than T;
  how late `deadline_exceeded` comes back (catch time minus call time minus T), beside a bare
  `condition_variable::wait_until` of the same deadline sampled alternately in the same run.
- `leave_wakeups`: 64 followers parked on one flight (without tokens: on the state word; with
  tokens: on parkers of their own); one more caller joins with a stop token or a deadline and
  leaves. How many of the 64 woke, from their voluntary context switches in /proc.
- `hot_key_async`: N coroutine callers (64, 1,024, 16,384), half on each of two threads' event
  loops, each calling one key with `co_await g.async_call` in a loop; fn returns at once, or its
  loader completes after 1 µs or 100 µs on the loop's timer (holding no thread). Completed calls
  per second. Go's `hot_key_async`: as many goroutines calling `Do`, fn returning at once or
  sleeping in `time.Sleep`. `loop_only`: the same callers and loops without the call.
- `resume_cost`: F coroutine callers (1 to 10,000) suspended on one flight whose loader waits on a
  gate; the time from opening the gate to the last resumption, per caller. `floor`: as many bare
  coroutines on a plain list resumed by a loop of `std::coroutine_handle<>::resume()`.
- `distinct_noop_in_flight`: `distinct_noop` at 1 thread while 10 or 100,000 flights of other
  keys are held in progress (coroutine callers whose loaders wait on a gate)."""

ASYNC_CALLERS = (64, 1024, 16384)


# ---- reading ------------------------------------------------------------------------------------

def parse_name(run_name):
    """'hot_key/group/fn_ns:1000/real_time/threads:4' -> ('hot_key', 'group', {...})"""
    parts = run_name.split("/")
    params = {}
    for p in parts[2:]:
        if ":" in p:
            k, v = p.split(":", 1)
            params[k] = int(v) if v.lstrip("-").isdigit() else v
    params.setdefault("threads", 1)
    return parts[0], parts[1], params


def load_runs(path):
    """{(scenario, impl, params-tuple): {metric: median}} from one Google Benchmark JSON file."""
    if not path.exists():
        return {}, {}
    doc = json.loads(path.read_text())
    reps = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        run_name = b.get("run_name", b["name"])
        reps.setdefault(run_name, []).append(b)
    runs = {}
    for run_name, entries in reps.items():
        scenario, impl, params = parse_name(run_name)
        metrics = {}
        for key in entries[0]:
            values = [e[key] for e in entries if isinstance(e.get(key), (int, float))
                      and not isinstance(e.get(key), bool) and not math.isnan(e[key])]
            if values and key not in ("repetitions", "repetition_index", "family_index",
                                      "per_family_instance_index", "threads"):
                metrics[key] = statistics.median(values)
        metrics["repetitions"] = len(entries)
        runs[(scenario, impl, tuple(sorted(params.items())))] = metrics
    return doc.get("context", {}), runs


class Results:
    def __init__(self, runs):
        self.runs = runs

    def get(self, scenario, impl, metric="items_per_second", **params):
        params.setdefault("threads", 1)
        m = self.runs.get((scenario, impl, tuple(sorted(params.items()))))
        return None if m is None else m.get(metric)

    def values(self, scenario, param):
        """Sorted distinct values of one parameter in a scenario."""
        return sorted({dict(p)[param] for (s, _, p) in self.runs if s == scenario and param in dict(p)})

    def impls(self, scenario):
        return {i for (s, i, _) in self.runs if s == scenario}

    def find(self, scenario=None, impl=None):
        for (s, i, p), m in self.runs.items():
            if (scenario is None or s == scenario) and (impl is None or i == impl):
                yield s, i, dict(p), m


# ---- formatting ---------------------------------------------------------------------------------

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt(x, digits=2):
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}" if abs(x) >= 0.01 else f"{x:.2g}"


def rate(x):
    if x is None:
        return "n/a"
    for unit, scale in (("M/s", 1e6), ("k/s", 1e3)):
        if x >= scale * 0.9995:  # so that 999.6k reads 1 M/s, not 1e+03 k/s
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} /s"


def ns(x):
    if x is None:
        return "n/a"
    return f"{x / 1000:.3g} µs" if x >= 1000 else f"{x:.3g} ns"


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "not met")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def config_label(scenario, params):
    bits = []
    for k in ("fn_ns", "forget_pct", "waiters"):
        if k in params:
            v = params[k]
            bits.append({"fn_ns": f"fn {ns(v) if v else '0'}", "forget_pct": f"forget {v}%",
                         "waiters": f"{v} waiters"}[k])
    bits.append(f"{params['threads']} thr")
    return f"{scenario} " + ", ".join(bits)


# ---- the targets --------------------------------------------------------------------------------

def targets(r):
    rows = []
    ips = r.get
    # P1: time per call at one thread, as a multiple of the others'.
    t = lambda impl, scen="distinct_noop": ratio(1.0, ips(scen, impl, threads=1))
    g1 = t("group")
    for label, other, bound in (("≤ 0.5× mutex_group's time", t("mutex_group"), 0.5),
                                ("≤ 0.25× Go's time", t("go"), 0.25),
                                ("≤ 4× the floor's time", t("atomics", "floor"), 4.0)):
        x = ratio(g1, other)
        rows.append(("P1", f"distinct_noop, 1 thread: group {label}",
                     f"{fmt(x)}× ({ns(g1 * 1e9) if g1 else 'n/a'} vs "
                     f"{ns(other * 1e9) if other else 'n/a'})",
                     verdict(None if x is None else x <= bound)))
    # P2: throughput at 2 and 8 threads.
    for threads in (2, 8):
        g = ips("distinct_noop", "group", threads=threads)
        for other, bound in (("mutex_group", 3.0), ("sharded_group", 1.5)):
            x = ratio(g, ips("distinct_noop", other, threads=threads))
            rows.append(("P2", f"distinct_noop, {threads} threads: group ≥ {bound:g}× {other}'s "
                               "throughput", f"{fmt(x)}×",
                         verdict(None if x is None else x >= bound)))
    # P3: hot key throughput, every configuration; wake latency, every number of waiters.
    hot = []
    for _, _, p, m in r.find("hot_key", "group"):
        x = ratio(m.get("items_per_second"), ips("hot_key", "mutex_group", **p))
        if x is not None:
            hot.append((x, p))
    if hot:
        worst = min(hot, key=lambda h: h[0])
        per_fn = []
        for fn in sorted({p["fn_ns"] for _, p in hot}):
            xs = [x for x, p in hot if p["fn_ns"] == fn]
            per_fn.append(f"fn {ns(fn) if fn else '0'}: {fmt(min(xs))}–{fmt(max(xs))}×")
        rows.append(("P3", "hot_key: group ≥ 2× mutex_group's throughput (every fn and thread "
                           "count)", "; ".join(per_fn) + f" (lowest at {worst[1]['threads']} "
                                                         f"threads, fn {ns(worst[1]['fn_ns'])})",
                     verdict(all(x >= 2.0 for x, _ in hot))))
    else:
        rows.append(("P3", "hot_key: group ≥ 2× mutex_group's throughput", "n/a", "n/a"))
    wake = []
    for w in r.values("wake_latency", "waiters"):
        x = ratio(r.get("wake_latency", "group", "wake_ns_p50", waiters=w),
                  r.get("wake_latency", "atomic_wait_floor", "wake_ns_p50", waiters=w))
        if x is not None:
            wake.append((w, x))
    rows.append(("P3", "wake latency (median): group ≤ 1.2× atomic_wait_floor, every number of "
                       "waiters",
                 ", ".join(f"{w}: {fmt(x)}×" for w, x in wake) or "n/a",
                 verdict(None if not wake else all(x <= 1.2 for _, x in wake))))
    # P4: futex syscalls on calls that no follower joined, anywhere group ran.
    lone = [(s, p, m["futex_per_lone_call"]) for s, _, p, m in r.find(impl="group")
            if "futex_per_lone_call" in m]
    worst = max((x for _, _, x in lone), default=None)
    rows.append(("P4", "zero futex syscalls on a call no follower joined (group, every run)",
                 f"max {fmt(worst, 3)} per lone call over {len(lone)} runs" if lone else "n/a",
                 verdict(None if worst is None else worst == 0)))
    # P5: allocations per flight, and per follower that joined a registered flight.
    for impl in ("group", "group_michael_dhp", "group_michael_hp"):
        x = r.get("distinct_noop", impl, "allocs_per_flight", threads=1)
        rows.append(("P5", f"≤ 1 heap allocation per flight ({impl}, distinct_noop)",
                     f"{fmt(x, 4)}", verdict(None if x is None else x <= 1.0 + 1e-9)))
    fol = [m["allocs_per_follower_call"] for _, _, p, m in r.find("wake_latency", "group")
           if "allocs_per_follower_call" in m]
    worst = max(fol, default=None)
    rows.append(("P5", "no heap allocation per follower (group, wake_latency: followers of a "
                       "registered flight)", f"max {fmt(worst, 4)}" if fol else "n/a",
                 verdict(None if worst is None else worst == 0)))
    rows += async_targets(r)
    return rows


def vs_go_async(r, impl="group"):
    """[(fn_ns, callers, impl's hot_key_async throughput over Go's)] where both ran."""
    out = []
    for fn in r.values("hot_key_async", "fn_ns"):
        for n in r.values("hot_key_async", "callers"):
            x = ratio(r.get("hot_key_async", impl, fn_ns=fn, callers=n),
                      r.get("hot_key_async", "go", fn_ns=fn, callers=n))
            if x is not None:
                out.append((fn, n, x))
    return out


def resume_ns(r, impl, followers):
    """Time per resumed caller in resume_cost (its runs carry iterations in their names)."""
    m = find_one(r, "resume_cost", impl, followers=followers)
    return None if m is None or not m.get("items_per_second") else 1e9 / m["items_per_second"]


def async_targets(r):
    """P6-P8 (issue 14): coroutine callers against Go, resumption against the floor, and the
    cost of a call with many flights in progress."""
    rows = []
    # P6: hot_key_async throughput against Go's at the same number of callers.
    go = vs_go_async(r)
    if go:
        per_fn = []
        for fn in sorted({f for f, _, _ in go}):
            per_fn.append(f"fn {ns(fn) if fn else '0'}: " +
                          ", ".join(f"{n}: {fmt(x)}×" for f, n, x in go if f == fn))
        worst = min(go, key=lambda g: g[2])
        rows.append(("P6", "hot_key_async: group ≥ 1× Go's throughput (every fn and number of "
                           "callers)", "; ".join(per_fn) + f" (lowest at {worst[1]} callers, fn "
                                                           f"{ns(worst[0]) if worst[0] else '0'})",
                     verdict(all(x >= 1.0 for _, _, x in go))))
    else:
        rows.append(("P6", "hot_key_async: group ≥ 1× Go's throughput", "n/a", "n/a"))
    big = [(n, x) for f, n, x in go if f == 100000 and n >= 1024]
    rows.append(("P6", "hot_key_async, fn 100 µs, ≥ 1,024 callers: group ≥ 2× Go's throughput",
                 ", ".join(f"{n} callers: {fmt(x)}×" for n, x in big) or "n/a",
                 verdict(None if not big else all(x >= 2.0 for _, x in big))))
    # P7: what the completing thread pays per resumed coroutine caller.
    res = []
    for f in r.values("resume_cost", "followers"):
        x = ratio(resume_ns(r, "group", f), resume_ns(r, "floor", f))
        if x is not None:
            res.append((f, x))
    # Judged from 64 followers up: with one follower, the whole close of its flight (the table's
    # erase, the state word, the list lock) falls on that one resumption; it is shown, not judged.
    judged = [(f, x) for f, x in res if f >= 64]
    rows.append(("P7", "resume_cost: group ≤ 3× the floor's time per resumed caller (64 "
                       "followers or more; 1 follower shown for the record)",
                 ", ".join(f"{f}: {fmt(x)}× ({ns(resume_ns(r, 'group', f))} vs "
                           f"{ns(resume_ns(r, 'floor', f))})" for f, x in res) or "n/a",
                 verdict(None if not judged else all(x <= 3.0 for _, x in judged))))
    # P8: a lone call's time with 100,000 flights in progress over its time with 10.
    t = {m: ratio(1e9, r.get("distinct_noop_in_flight", "group", flights=m)) for m in (10, 100000)}
    x = ratio(t[100000], t[10])
    rows.append(("P8", "distinct_noop_in_flight, group: time with 100,000 flights in progress "
                       "≤ 1.5× with 10",
                 f"{fmt(x)}× ({ns(t[100000])} vs {ns(t[10])})" if x is not None else "n/a",
                 verdict(None if x is None else x <= 1.5)))
    return rows


# ---- sections -----------------------------------------------------------------------------------

def ratio_tables(r):
    """Throughput ratios against mutex_group and against Go, every configuration."""
    vs_mutex, vs_go = [], []
    for scenario in ("distinct_noop", "hot_key", "zipf", "forget_mix"):
        configs = sorted({p for (s, i, p) in r.runs if s == scenario and i == "mutex_group"})
        for p in configs:
            params = dict(p)
            base = r.get(scenario, "mutex_group", **params)
            row = [config_label(scenario, params), rate(base)]
            for impl in ("group", "group_michael_dhp", "group_michael_hp", "sharded_group", "go"):
                row.append(fmt(ratio(r.get(scenario, impl, **params), base)))
            vs_mutex.append(row)
            go = r.get(scenario, "go", **params)
            if go is not None:
                vs_go.append([config_label(scenario, params), rate(go)] +
                             [fmt(ratio(r.get(scenario, impl, **params), go))
                              for impl in ("group", "group_michael_dhp", "group_michael_hp",
                                           "mutex_group", "sharded_group")])
    return (table(["configuration", "mutex_group", "group", "group_michael_dhp",
                   "group_michael_hp", "sharded_group", "go"], vs_mutex),
            table(["configuration", "go", "group", "group_michael_dhp", "group_michael_hp",
                   "mutex_group", "sharded_group"], vs_go) if vs_go else "(no Go results)")


def ablation_table(r):
    configs = [("distinct_noop", {"threads": t}) for t in (1, 2, 8)] + \
              [("zipf", {"fn_ns": 0, "threads": t}) for t in (1, 2, 8)]
    rows = []
    for impl in ABLATION:
        row = [impl]
        for scenario, params in configs:
            x = r.get(scenario, impl, **params)
            base = r.get(scenario, "group", **params)
            row.append(f"{rate(x)} ({fmt(ratio(x, base))}×)" if x is not None else "n/a")
        row.append(fmt(r.get("distinct_noop", impl, "allocs_per_flight", threads=1), 4))
        row.append(fmt(r.get("distinct_noop", impl, "bytes_per_record", threads=1), 0))
        rows.append(row)
    header = ["table"] + [config_label(s, p) for s, p in configs] + ["allocs/flight",
                                                                     "bytes/record"]
    return table(header, rows)


def wake_table(r):
    rows = []
    for w in r.values("wake_latency", "waiters"):
        floor = r.get("wake_latency", "atomic_wait_floor", "wake_ns_p50", waiters=w)
        row = [w, ns(floor)]
        for impl in ("group", "mutex_group", "sharded_group"):
            x = r.get("wake_latency", impl, "wake_ns_p50", waiters=w)
            row.append(f"{ns(x)} ({fmt(ratio(x, floor))}×)")
        row.append(ns(r.get("wake_latency", "group", "wake_ns_mean", waiters=w)))
        row.append(fmt(r.get("wake_latency", "group", "late_fraction", waiters=w), 3))
        rows.append(row)
    return table(["waiters", "floor p50", "group p50", "mutex_group p50", "sharded_group p50",
                  "group mean", "group late fraction"], rows)


def counter_table(r):
    rows = []
    for impl in MAIN:
        d = lambda k: r.get("distinct_noop", impl, k, threads=1)
        h = lambda k: r.get("hot_key", impl, k, fn_ns=1000, threads=8)
        rows.append([impl, fmt(d("bytes_per_record"), 0), fmt(d("alloc_bytes_per_call"), 1),
                     fmt(d("allocs_per_flight"), 4), fmt(h("allocs_per_flight"), 4),
                     fmt(h("allocs_per_leader_call"), 3), fmt(h("allocs_per_follower_call"), 3),
                     fmt(h("futex_per_call"), 3), fmt(h("futex_per_lone_call"), 3),
                     fmt(h("shared_fraction"), 3)])
    return table(["implementation", "bytes/record", "alloc bytes/call (distinct)",
                  "allocs/flight (distinct)", "allocs/flight (hot)", "allocs/leader call (hot)",
                  "allocs/follower call (hot)", "futex/call (hot)", "futex/lone call (hot)",
                  "shared fraction (hot)"], rows)


def dur(x):
    """A duration in ns, in ns, µs or ms (the deadline tables span all three)."""
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.3g} ms"
    return ns(x)


def find_one(r, scenario, impl, **params):
    """The metrics of the one run of `scenario`/`impl` whose parameters include `params`
    (fixed-sample runs carry iterations and repeats in their names too)."""
    for _, _, p, m in r.find(scenario, impl):
        if all(p.get(k) == v for k, v in params.items()):
            return m
    return None


def call_for_table(r):
    """Time per call of call_for (a deadline that never passes) over call's, shape for shape."""
    rows = []
    for impl in MAIN:
        row = [impl]
        for t in (1, 2, 8):
            x = ratio(r.get("distinct_noop", impl, threads=t),
                      r.get("distinct_noop_call_for", impl, threads=t))
            row.append(fmt(x, 3))
        for fn in r.values("hot_key_call_for", "fn_ns"):
            xs = [ratio(r.get("hot_key", impl, fn_ns=fn, threads=t),
                        r.get("hot_key_call_for", impl, fn_ns=fn, threads=t))
                  for t in r.values("hot_key_call_for", "threads")]
            xs = [x for x in xs if x is not None]
            row.append(f"{fmt(min(xs), 3)}–{fmt(max(xs), 3)}" if xs else "n/a")
        fired = [m.get("deadline_fired", 0) for _, _, _, m in r.find("hot_key_call_for", impl)]
        row.append(fmt(max(fired), 0) if fired else "n/a")
        rows.append(row)
    header = ["implementation"] + [f"distinct_noop, {t} thr" for t in (1, 2, 8)] + \
             [f"hot_key, fn {ns(fn) if fn else '0'}, 2–64 thr"
              for fn in r.values("hot_key_call_for", "fn_ns")] + ["deadlines fired (hot_key)"]
    return table(header, rows)


def wake_call_for_table(r):
    """Median wake latency of followers that wait with a deadline, over those that do not."""
    rows = []
    for w in r.values("wake_latency_call_for", "waiters"):
        row = [w]
        for impl in WAKE[:-1]:
            x = r.get("wake_latency_call_for", impl, "wake_ns_p50", waiters=w)
            base = r.get("wake_latency", impl, "wake_ns_p50", waiters=w)
            row.append(f"{ns(x)} / {ns(base)} ({fmt(ratio(x, base))}×)")
        rows.append(row)
    return table(["waiters"] + [f"{impl} p50, call_for / call" for impl in WAKE[:-1]], rows)


def late_table(r):
    rows = []
    for impl in WAKE[:-1]:
        for us in r.values("deadline_late", "timeout_us"):
            m = find_one(r, "deadline_late", impl, timeout_us=us)
            if m is None:
                continue
            cells = [impl, dur(us * 1000)]
            for q in ("p50", "p99", "p999"):
                lib, floor = m.get(f"late_ns_{q}"), m.get(f"floor_late_ns_{q}")
                cells.append(f"{dur(lib)} / {dur(floor)}")
            cells.append(fmt(ratio(m.get("late_ns_p50"), m.get("floor_late_ns_p50"))))
            cells.append(f"{dur(m.get('late_ns_max'))} / {dur(m.get('floor_late_ns_max'))}")
            cells.append(fmt(m.get("samples"), 0))
            rows.append(cells)
    return table(["implementation", "timeout", "p50 late: call_for / floor",
                  "p99 late: call_for / floor", "p99.9 late: call_for / floor",
                  "p50 call_for / floor", "max: call_for / floor", "samples"], rows)


def leave_table(r):
    rows = []
    for impl in WAKE[:-1]:
        for followers in ("no_token", "stop_token"):
            for leaver in ("stop_token", "deadline"):
                m = find_one(r, "leave_wakeups", impl, followers=followers, leaver=leaver)
                if m is None:
                    continue
                rows.append([impl, followers, leaver, fmt(m.get("woken_per_leave"), 2),
                             fmt(m.get("switches_per_leave"), 2),
                             fmt(m.get("control_woken_per_round"), 2),
                             dur(m.get("leave_ns_p50")) if "leave_ns_p50" in m else "n/a",
                             fmt(m.get("leaves"), 0)])
    return table(["implementation", "64 followers with", "leaver with",
                  "followers woken per leave", "their context switches per leave",
                  "woken per control window", "leave time p50", "leaves"], rows)


def async_table(r):
    """hot_key_async beside Go's at equal callers: throughputs, ratios, and what a flight was."""
    have = r.impls("hot_key_async")
    impls = [i for i in MAIN if i in have]
    rows = []
    for fn in r.values("hot_key_async", "fn_ns"):
        for n in r.values("hot_key_async", "callers"):
            p = {"fn_ns": fn, "callers": n}
            go = r.get("hot_key_async", "go", **p)
            g = r.get("hot_key_async", "group", **p)
            row = [f"fn {ns(fn) if fn else '0'}, {n} callers", rate(go), rate(g)]
            row += [fmt(ratio(r.get("hot_key_async", i, **p), go)) for i in impls]
            row.append(f"{fmt(r.get('hot_key_async', 'group', 'calls_per_flight', **p), 1)} / "
                       f"{fmt(r.get('hot_key_async', 'go', 'calls_per_flight', **p), 1)}")
            if fn:
                row.append(f"{dur(r.get('hot_key_async', 'group', 'loader_ns_mean', **p))} / "
                           f"{dur(r.get('hot_key_async', 'go', 'loader_ns_mean', **p))}")
            else:
                row.append("")
            rows.append(row)
    return table(["configuration", "Go", "group"] + [f"{i} / Go" for i in impls] +
                 ["calls per flight: group / Go", "fn's wait: group / Go"], rows)


def loop_only_line(r):
    xs = [(n, r.get("hot_key_async", "loop_only", fn_ns=0, callers=n))
          for n in r.values("hot_key_async", "callers")]
    xs = [(n, x) for n, x in xs if x is not None]
    if not xs:
        return ""
    return ("The harness alone (`hot_key_async/loop_only`: the same callers and loops, each "
            "\"call\" only the trip home): " + ", ".join(f"{n} callers {rate(x)}" for n, x in xs) +
            ".")


def resume_table(r):
    rows = []
    for f in r.values("resume_cost", "followers"):
        floor = resume_ns(r, "floor", f)
        row = [f, ns(floor)]
        for impl in WAKE[:-1]:
            x = resume_ns(r, impl, f)
            row.append(f"{ns(x)} ({fmt(ratio(x, floor))}×)")
        rows.append(row)
    return table(["callers per flight", "floor"] + [f"{i}" for i in WAKE[:-1]], rows)


def in_flight_table(r):
    rows = []
    for impl in WAKE[:-1]:
        t = {m: ratio(1e9, r.get("distinct_noop_in_flight", impl, flights=m)) for m in (10, 100000)}
        rows.append([impl, ns(ratio(1e9, r.get("distinct_noop", impl, threads=1))), ns(t[10]),
                     ns(t[100000]), fmt(ratio(t[100000], t[10])),
                     fmt(r.get("distinct_noop_in_flight", impl, "allocs_per_flight", flights=100000), 3)])
    return table(["implementation", "distinct_noop, 1 thr", "10 in progress",
                  "100,000 in progress", "100,000 / 10", "allocs per call (100,000)"], rows)


def meta_lines(meta, ctx, go_ctx):
    m = meta.get("machine", {})
    lines = [
        f"- date: {meta.get('date', ctx.get('date', 'unknown'))}",
        f"- commit: {meta.get('commit', 'unknown')}",
        f"- machine: {m.get('cpu', 'unknown')}, {m.get('nproc', ctx.get('num_cpus', '?'))} "
        f"cores; {m.get('uname', '')}",
        f"- load average before / after: {meta.get('load_before', '?')} / "
        f"{meta.get('load_after', '?')}",
        f"- compiler: {meta.get('compiler', 'unknown')}; flags: `{meta.get('flags', 'unknown')}`",
        f"- Go: {go_ctx.get('go_version', meta.get('go', 'not run'))}",
        f"- command: `{meta.get('command', 'unknown')}`; repetitions {meta.get('repetitions', '?')}"
        f", min time {meta.get('min_time', '?')} s per repetition",
    ]
    return "\n".join(lines)


def summary(r, meta, ctx, go_ctx, plots):
    p_rows = targets(r)
    vs_mutex, vs_go = ratio_tables(r)
    out = [
        "# sf-bench results",
        "",
        "Generated by `scripts/bench_report.py` from the raw JSON beside this file "
        "(`sf_bench.json`, `go_bench.json`, `meta.json`). Every figure is the median over "
        "repetitions. Ratios are throughput ratios (higher is better for the first "
        "implementation) unless a row says time.",
        "",
        meta_lines(meta, ctx, go_ctx),
        "",
        SCENARIOS,
        "",
        "## Targets",
        "",
        table(["", "target", "measured", ""], p_rows),
        "",
        "## Throughput against mutex_group",
        "",
        "Each cell is the implementation's calls per second over mutex_group's in the same "
        "configuration; the mutex_group column is its own throughput.",
        "",
        vs_mutex,
        "",
        "## Throughput against Go",
        "",
        "Go's `golang.org/x/sync/singleflight` on the same shapes (string keys, as its API "
        "requires; GOMAXPROCS as recorded in `go_bench.json`), run right after sf-bench.",
        "",
        vs_go,
        "",
        "## Table ablation",
        "",
        "The tables behind the same `group`: `group` is the project's own (`tables::slots`, "
        "`src/singleflight/detail/slots_table.hpp`), `group_michael_*` libcds's Michael set "
        "(`<singleflight/libcds.hpp>`), the rest libcds's other containers "
        "(`bench/libcds_ablation_tables.hpp`); in brackets, throughput over `group`'s.",
        "",
        ablation_table(r),
        "",
        "## Wake latency",
        "",
        "Median time from the leader's publication to a parked follower's return, against a "
        "bare `atomic<uint32_t>::wait`/`notify_all` with the same number of waiters (in "
        "brackets, the multiple of the floor).",
        "",
        wake_table(r),
        "",
        "## Counters",
        "",
        "Allocations and futex syscalls per call (sf-bench's counting `operator new` and "
        "`syscall()`; glibc's own mutex futexes are not seen). distinct: `distinct_noop` at 1 "
        "thread; hot: `hot_key` with fn 1 µs at 8 threads. In `group` a caller that loses the "
        "race to register keeps its block for its thread's next flight, so per-role figures "
        "can differ from the per-flight one.",
        "",
        counter_table(r),
        "",
    ]
    if r.impls("distinct_noop_call_for") or r.impls("deadline_late") or r.impls("leave_wakeups"):
        out += [
            "## Deadlines: call_for beside call",
            "",
            "Time per call of `call_for(key, fn, 1 s)`, whose deadline never passes, over the "
            "time per call of `call(key, fn)` in the same shape (1.00 = the same; hot_key: the "
            "range over 2–64 threads). In distinct_noop every call is a lone leader; in hot_key "
            "most calls are followers, which with a deadline wait on a parker of their own "
            "(mutex and condition variable) that the close signals one by one.",
            "",
            call_for_table(r),
            "",
            "What a follower pays, directly: `wake_latency` with every waiter a `call_for` "
            "(median time from the leader's publication to the follower's return; in brackets, "
            "over the same with `call`).",
            "",
            wake_call_for_table(r),
            "",
            "## Deadline accuracy",
            "",
            "How late `deadline_exceeded` reaches a follower whose deadline passes while the "
            "flight is held open: catch time minus (time before the call + timeout), against a "
            "bare `std::condition_variable::wait_until` of the same deadline, sampled "
            "alternately in the same run (the floor: the parker's own timed wait). Percentiles "
            "over the samples of one repetition.",
            "",
            late_table(r),
            "",
            "## Wake-ups per leaving caller",
            "",
            "64 followers parked on one held flight; one more caller joins and leaves (stop "
            "token requested once it is asleep, or a 5 ms deadline). Followers woken: how many "
            "of the 64 had their voluntary context switch count move (/proc), per leave; the "
            "control window is as long without a leaver. Leave time: from `request_stop()` to "
            "the leaver's catch (a fresh thread's first throw included).",
            "",
            leave_table(r),
            "",
        ]
        ab = pathlib.Path(meta.get("leave_ab", ""))
        if meta.get("leave_ab"):
            out += [f"Before and after, the same bench source built against {meta.get('leave_ab_base')}'s "
                    f"headers and this checkout's: [{ab.name}/summary.md]({ab.name}/summary.md) "
                    "(`scripts/bench_leave_ab.sh`).", ""]
    if r.impls("hot_key_async") or r.impls("resume_cost") or r.impls("distinct_noop_in_flight"):
        out += [
            "## Coroutine callers against Go",
            "",
            "`hot_key_async` beside Go's at the same number of callers (coroutines on two threads' "
            "event loops; goroutines with GOMAXPROCS as recorded): calls per second, and each "
            "implementation's over Go's. With fn > 0 the loader waits on a timer without holding a "
            "thread. C++: the loop's timer, which a busy loop looks at every 64 resumptions and an "
            "idle one sleeps for in the kernel (timer slack 1 ns). Go: `time.Sleep`, which fires "
            "when the scheduler next looks and, when it idles, after epoll_wait's timeout, which Go "
            "1.19 rounds up to 1 ms. So how long fn's wait really took is shown: from arming the "
            "timer to its firing (C++), the sleep's length inside fn (Go). Calls per flight: how "
            "many callers each flight served.",
            "",
            async_table(r),
            "",
            loop_only_line(r),
            "",
            "## Resume cost",
            "",
            "Time per resumed coroutine caller, paid by the thread that completes the flight: from "
            "opening the loader's gate to the last caller's resumption (the loader's completion, "
            "the record's removal and the close included, spread over the callers), against bare "
            "`std::coroutine_handle<>::resume()` calls on a plain list (the floor; in brackets the "
            "multiple of it).",
            "",
            resume_table(r),
            "",
            "## Flights in progress",
            "",
            "Time per `distinct_noop` call (1 thread) while 10 or 100,000 flights of other keys are "
            "in progress in the same group (held by coroutine callers whose loaders wait on a gate), "
            "beside plain `distinct_noop`.",
            "",
            in_flight_table(r),
            "",
        ]
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out), p_rows, vs_mutex


def readme_block(p_rows, r):
    headline = []
    for scenario, impl_params in (("distinct_noop", [1, 2, 8]),):
        for t in impl_params:
            base = r.get(scenario, "mutex_group", threads=t)
            headline.append([f"distinct_noop, {t} thr", rate(r.get(scenario, "group", threads=t)),
                             rate(base), fmt(ratio(r.get(scenario, "group", threads=t), base)),
                             fmt(ratio(r.get(scenario, "group", threads=t),
                                       r.get(scenario, "go", threads=t)))])
    for fn in (0, 1000, 100000):
        for t in (2, 64):
            g = r.get("hot_key", "group", fn_ns=fn, threads=t)
            base = r.get("hot_key", "mutex_group", fn_ns=fn, threads=t)
            headline.append([f"hot_key, fn {ns(fn) if fn else '0'}, {t} thr", rate(g), rate(base),
                             fmt(ratio(g, base)),
                             fmt(ratio(g, r.get("hot_key", "go", fn_ns=fn, threads=t)))])
    for fn, n in ((100000, 1024), (100000, 16384)):
        g = r.get("hot_key_async", "group", fn_ns=fn, callers=n)
        base = r.get("hot_key_async", "mutex_group", fn_ns=fn, callers=n)
        if g is not None:
            headline.append([f"hot_key_async, fn {ns(fn)}, {n} callers", rate(g), rate(base),
                             fmt(ratio(g, base)),
                             fmt(ratio(g, r.get("hot_key_async", "go", fn_ns=fn, callers=n)))])
    return "\n".join([
        "",
        table(["", "target", "measured", ""], p_rows),
        "",
        table(["configuration", "group", "mutex_group", "group / mutex_group", "group / Go"],
              headline),
        "",
        "All configurations, the table ablation, wake latencies, counters and plots: "
        "[results/bench/summary.md](results/bench/summary.md).",
        "",
    ])


# ---- plots --------------------------------------------------------------------------------------

def plot_all(r, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench_report: matplotlib is not available; no plots (Debian: python3-matplotlib)",
              file=sys.stderr)
        return []
    made = []

    def line(ax, scenario, impl, x_param, fixed, label=None):
        xs, ys = [], []
        for x in r.values(scenario, x_param):
            y = r.get(scenario, impl, **{**fixed, x_param: x})
            if y is not None:
                xs.append(x)
                ys.append(y / 1e6)
        if xs:
            colour, style = STYLE.get(impl, (None, "-"))
            ax.plot(xs, ys, marker="o", color=colour, linestyle=style, label=label or impl)

    def finish(fig, name):
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
        made.append(name)

    def threads_axis(ax, title):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("threads")
        ax.set_ylabel("million calls / s (all threads)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)

    if r.impls("distinct_noop"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for impl in MAIN + ["go"]:
            line(ax, "distinct_noop", impl, "threads", {})
        line(ax, "floor", "atomics", "threads", {}, label="floor (hash + 3 atomics)")
        threads_axis(ax, "distinct_noop: no-op fn, distinct keys")
        ax.legend(fontsize=8)
        finish(fig, "distinct_noop.png")

    for scenario, param, title in (("hot_key", "fn_ns", "hot_key"), ("zipf", "fn_ns", "zipf")):
        values = r.values(scenario, param)
        if not values:
            continue
        fig, axes = plt.subplots(1, len(values), figsize=(5 * len(values), 4.5), squeeze=False)
        for ax, v in zip(axes[0], values):
            for impl in MAIN + ["go"]:
                line(ax, scenario, impl, "threads", {param: v})
            threads_axis(ax, f"{title}: fn {ns(v) if v else '0'}")
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        finish(fig, f"{scenario}.png")

    threads = r.values("forget_mix", "threads")
    if threads:
        fig, axes = plt.subplots(1, len(threads), figsize=(5 * len(threads), 4.5), squeeze=False)
        for ax, t in zip(axes[0], threads):
            for impl in MAIN:
                line(ax, "forget_mix", impl, "forget_pct", {"threads": t})
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlabel("forget, % of operations")
            ax.set_ylabel("million operations / s")
            ax.set_title(f"forget_mix: zipf keys, fn 1 µs, {t} threads")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        finish(fig, "forget_mix.png")

    waiters = r.values("wake_latency", "waiters")
    if waiters:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for ax, metric, title in ((axes[0], "wake_ns_p50", "median"),
                                  (axes[1], "wake_ns_p90", "90th percentile")):
            for impl in WAKE:
                xs = [w for w in waiters if r.get("wake_latency", impl, metric, waiters=w)]
                ys = [r.get("wake_latency", impl, metric, waiters=w) / 1000 for w in xs]
                if xs:
                    colour, style = STYLE.get(impl, (None, "-"))
                    ax.plot(xs, ys, marker="o", color=colour, linestyle=style, label=impl)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("parked followers")
            ax.set_ylabel("µs from publication to return")
            ax.set_title(f"wake latency, {title}")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
        finish(fig, "wake_latency.png")

    configs = [("distinct_noop", {"threads": t}) for t in (1, 2, 8)] + \
              [("zipf", {"fn_ns": 0, "threads": t}) for t in (1, 2, 8)]
    tables = [i for i in ABLATION if r.get("distinct_noop", i, threads=1) is not None]
    if tables:
        fig, ax = plt.subplots(figsize=(12, 5))
        width = 0.8 / len(tables)
        for k, impl in enumerate(tables):
            ys = [(r.get(s, impl, **p) or 0) / 1e6 for s, p in configs]
            ax.bar([c + k * width for c in range(len(configs))], ys, width, label=impl)
        ax.set_xticks([c + 0.4 - width / 2 for c in range(len(configs))])
        ax.set_xticklabels([config_label(s, p) for s, p in configs], fontsize=8)
        ax.set_ylabel("million calls / s (all threads)")
        ax.set_title("table ablation: the own table (group) and libcds's, behind the same group")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        finish(fig, "ablation.png")

    fns = r.values("hot_key_async", "fn_ns")
    if fns and "go" in r.impls("hot_key_async"):
        fig, axes = plt.subplots(2, len(fns), figsize=(5 * len(fns), 8), squeeze=False)
        for col, fn in enumerate(fns):
            top, bottom = axes[0][col], axes[1][col]
            for impl in MAIN + ["go"]:
                line(top, "hot_key_async", impl, "callers", {"fn_ns": fn})
                if impl == "go":
                    continue
                xs = [n for n in r.values("hot_key_async", "callers")
                      if ratio(r.get("hot_key_async", impl, fn_ns=fn, callers=n),
                               r.get("hot_key_async", "go", fn_ns=fn, callers=n)) is not None]
                if xs:
                    colour, style = STYLE.get(impl, (None, "-"))
                    bottom.plot(xs, [ratio(r.get("hot_key_async", impl, fn_ns=fn, callers=n),
                                           r.get("hot_key_async", "go", fn_ns=fn, callers=n))
                                     for n in xs],
                                marker="o", color=colour, linestyle=style, label=impl)
            for ax in (top, bottom):
                ax.set_xscale("log", base=2)
                ax.set_xlabel("coroutine callers (Go: goroutines)")
                ax.grid(True, alpha=0.3)
            top.set_yscale("log")
            top.set_ylabel("million calls / s (all callers)")
            top.set_title(f"hot_key_async: fn {ns(fn) if fn else '0'}")
            top.legend(fontsize=8)
            bottom.axhline(1.0, color="black", linewidth=0.8, label="target: 1×")
            if fn == 100000:
                bottom.axhline(2.0, color="black", linewidth=0.8, linestyle="--",
                               label="target at ≥ 1,024 callers: 2×")
            bottom.set_yscale("log")
            bottom.set_ylabel("throughput over Go's")
            bottom.set_title(f"C++ / Go: fn {ns(fn) if fn else '0'}")
            bottom.legend(fontsize=8)
        finish(fig, "hot_key_async.png")
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=pathlib.Path)
    ap.add_argument("--readme", type=pathlib.Path)
    args = ap.parse_args()

    ctx, runs = load_runs(args.results / "sf_bench.json")
    if not runs:
        sys.exit(f"bench_report: no benchmark results in {args.results / 'sf_bench.json'}")
    go_ctx, go_runs = load_runs(args.results / "go_bench.json")
    runs.update(go_runs)
    meta_path = args.results / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    r = Results(runs)

    plots = plot_all(r, args.results)
    text, p_rows, _ = summary(r, meta, ctx, go_ctx, plots)
    (args.results / "summary.md").write_text(text)
    print(f"bench_report: wrote {args.results / 'summary.md'} and {len(plots)} plots")
    for p in p_rows:
        print(f"  {p[0]}  {p[3].replace('**', ''):8s} {p[1]}: {p[2]}")

    if args.readme:
        readme = args.readme.read_text()
        if BEGIN not in readme or END not in readme:
            sys.exit(f"bench_report: {args.readme} has no {BEGIN} ... {END} markers")
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        args.readme.write_text(head + BEGIN + "\n" + readme_block(p_rows, r) + END + tail)
        print(f"bench_report: updated the performance section of {args.readme}")


if __name__ == "__main__":
    main()
