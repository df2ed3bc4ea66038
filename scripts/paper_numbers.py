"""paper/generated/numbers.tex: one \\newcommand per figure the paper's prose quotes, each with the
results file it comes from and the computation beside it, and paper/generated/runs.tex: the
machine, commit and load of every run the paper uses.

Called by scripts/paper_generate.py (see paper_common.py for the sources). Benchmark figures
are the medians over repetitions that scripts/bench_report.py computes, and the P1-P8 verdicts
are bench_report.targets()'s, so the paper and results/bench/summary.md cannot disagree.
"""
from __future__ import annotations

import re

import paper_common as pc
from paper_common import bench_report, fixed, sig, count


class Macros:
    def __init__(self, script):
        self.script = script
        self.items = []
        self.names = set()

    def add(self, name, value, source, how):
        if not re.fullmatch(r"[a-zA-Z]+", name):
            raise ValueError(f"macro name {name!r}: letters only")
        if name in self.names:
            raise ValueError(f"macro {name} defined twice")
        self.names.add(name)
        self.items.append((name, value, source, how))

    def render(self):
        out = [pc.HEADER.format(script=self.script)]
        for name, value, source, how in self.items:
            out.append(f"% {source}: {how}")
            out.append(f"\\newcommand{{\\{name}}}{{{value}}}")
        return "\n".join(out) + "\n"


BENCH = "results/bench/sf_bench.json"
GO = "results/bench/go_bench.json"
MED = "median over repetitions of"


def ips(r, scenario, impl, **params):
    x = r.get(scenario, impl, **params)
    if x is None:
        src = pc.SOURCES["bench16" if getattr(r, "sixteen", False) else "bench"]
        raise pc.MissingInput(f"{src.paths[0]} has no run {scenario}/{impl} {params}: rerun `{src.command}`")
    return x


def ns_per_call(r, scenario, impl, **params):
    return 1e9 / ips(r, scenario, impl, **params)


def word_number(n):
    words = {1: "One", 2: "Two", 4: "Four", 8: "Eight", 16: "Sixteen", 32: "ThirtyTwo",
             64: "SixtyFour", 1024: "OneK", 16384: "SixteenK", 10000: "TenK", 100000: "HundredK",
             0: "Zero", 1000: "OneUs", 200: "TwoHundredUs"}
    return words[n]


def bench_numbers(m, R):
    r = R.bench
    # P1: the uncontended call
    g1 = ns_per_call(r, "distinct_noop", "group", threads=1)
    for impl, name in (("group", "Group"), ("mutex_group", "Mutex"), ("sharded_group", "Sharded"),
                       ("go", "Go"), ("group_michael_dhp", "MichaelDhp")):
        src = GO if impl == "go" else BENCH
        m.add(f"nDistinct{name}Ns", sig(ns_per_call(r, "distinct_noop", impl, threads=1)), src,
              f"1e9 / ({MED} items_per_second of distinct_noop/{impl}, threads 1), ns per call")
    floor = ns_per_call(r, "floor", "atomics", threads=1)
    m.add("nFloorNs", sig(floor), BENCH, f"1e9 / ({MED} items_per_second of floor/atomics, threads 1)")
    for other, name, src in (("mutex_group", "Mutex", BENCH), ("go", "Go", GO)):
        m.add(f"nPOne{name}", fixed(g1 / ns_per_call(r, "distinct_noop", other, threads=1)), src,
              f"group's time per call over {other}'s, distinct_noop, threads 1 (P1)")
    m.add("nPOneFloor", fixed(g1 / floor), BENCH, "group's time per call over floor/atomics', threads 1 (P1)")
    # P2: two and eight threads
    for t in (2, 8):
        g = ips(r, "distinct_noop", "group", threads=t)
        for other, name in (("mutex_group", "Mutex"), ("sharded_group", "Sharded")):
            m.add(f"nDistinct{word_number(t)}{name}", fixed(g / ips(r, "distinct_noop", other, threads=t)),
                  BENCH, f"group's throughput over {other}'s, distinct_noop, threads {t} (P2)")
    for t in (1, 2, 8):
        m.add(f"nZipf{word_number(t)}Mutex",
              fixed(ips(r, "zipf", "group", fn_ns=0, threads=t) / ips(r, "zipf", "mutex_group", fn_ns=0, threads=t)),
              BENCH, f"group's throughput over mutex_group's, zipf fn 0, threads {t}")
    # P3: hot key, against mutex_group and against Go, per fn: min and max over threads
    threads = r.values("hot_key", "threads")
    for fn in (0, 1000, 100000):
        fname = {0: "Zero", 1000: "OneUs", 100000: "HundredUs"}[fn]
        for other, oname, src in (("mutex_group", "Mutex", BENCH), ("go", "Go", GO)):
            xs = [ips(r, "hot_key", "group", fn_ns=fn, threads=t) / ips(r, "hot_key", other, fn_ns=fn, threads=t)
                  for t in threads]
            m.add(f"nHot{fname}{oname}Min", fixed(min(xs)), src,
                  f"min over threads {threads} of group's throughput over {other}'s, hot_key fn {fn} ns")
            m.add(f"nHot{fname}{oname}Max", fixed(max(xs)), src,
                  f"max over threads {threads} of the same")
    for t in (2, 64):
        m.add(f"nHotHundredUsGo{word_number(t)}",
              fixed(ips(r, "hot_key", "group", fn_ns=100000, threads=t) / ips(r, "hot_key", "go", fn_ns=100000, threads=t)),
              GO, f"group's throughput over Go's, hot_key fn 100000 ns, threads {t}")
    m.add("nHotHundredUsGoOverMutexSixtyFour",
          fixed(ips(r, "hot_key", "go", fn_ns=100000, threads=64) / ips(r, "hot_key", "mutex_group", fn_ns=100000, threads=64)),
          GO, "Go's throughput over mutex_group's, hot_key fn 100000 ns, threads 64")
    # P6: coroutine callers against Go
    go = bench_report.vs_go_async(r)
    xs = [x for _, _, x in go]
    m.add("nAsyncGoMin", fixed(min(xs)), GO, "min over fn and callers of group's hot_key_async throughput over Go's (P6)")
    m.add("nAsyncGoMax", fixed(max(xs)), GO, "max over fn and callers of the same")
    for n in (1024, 16384):
        x = [x for f, c, x in go if f == 100000 and c == n][0]
        m.add(f"nAsyncHundredUs{word_number(n)}Go", fixed(x), GO,
              f"group's hot_key_async throughput over Go's, fn 100000 ns, {n} callers")
    for n in (1024, 16384):
        for impl, name in (("group", "Group"), ("go", "Go")):
            m.add(f"nAsyncHundredUs{word_number(n)}{name}Calls",
                  sig(r.get("hot_key_async", impl, "calls_per_flight", fn_ns=100000, callers=n)),
                  GO if impl == "go" else BENCH,
                  f"{MED} calls_per_flight of hot_key_async/{impl}, fn 100000 ns, {n} callers")
    # P3 wake latency against the bare atomic wait
    waiters = r.values("wake_latency", "waiters")
    ratios = {w: r.get("wake_latency", "group", "wake_ns_p50", waiters=w) /
                 r.get("wake_latency", "atomic_wait_floor", "wake_ns_p50", waiters=w) for w in waiters}
    many = [x for w, x in ratios.items() if w >= 2]
    m.add("nWakeRatioOne", fixed(ratios[1]), BENCH, "wake_latency p50 of group over atomic_wait_floor's, 1 waiter")
    m.add("nWakeRatioMin", fixed(min(many)), BENCH, "min over 2..64 waiters of the same ratio")
    m.add("nWakeRatioMax", fixed(max(many)), BENCH, "max over 2..64 waiters of the same ratio")
    over = [w for w in waiters if ratios[w] > 1.2]
    m.add("nWakeMissedAt", " and ".join(str(w) for w in over) if over else "no",
          BENCH, "waiter counts whose group/floor p50 ratio exceeds P3's 1.2 (bench_report's bound)")
    m.add("nWakeFloorOneUs", pc.ns_text(r.get("wake_latency", "atomic_wait_floor", "wake_ns_p50", waiters=1)),
          BENCH, "wake_latency p50 of atomic_wait_floor, 1 waiter")
    m.add("nWakeGroupOneUs", pc.ns_text(r.get("wake_latency", "group", "wake_ns_p50", waiters=1)),
          BENCH, "wake_latency p50 of group, 1 waiter")
    for w in (64,):
        x = r.get("wake_latency_call_for", "group", "wake_ns_p50", waiters=w) / \
            r.get("wake_latency", "group", "wake_ns_p50", waiters=w)
        m.add(f"nWakeCallForSixtyFour", fixed(x), BENCH,
              "wake_latency_call_for p50 over wake_latency p50, group, 64 waiters (listed parkers vs the word)")
    # P7 resume cost
    for f in (1, 64, 10000):
        g, fl = bench_report.resume_ns(r, "group", f), bench_report.resume_ns(r, "floor", f)
        m.add(f"nResume{word_number(f)}Ratio", fixed(g / fl), BENCH,
              f"resume_cost: group's time per resumed caller over the floor's, {f} callers (P7)")
        m.add(f"nResume{word_number(f)}GroupNs", sig(g), BENCH, f"resume_cost/group, {f} callers, ns per caller")
        m.add(f"nResume{word_number(f)}FloorNs", sig(fl), BENCH, f"resume_cost/floor, {f} callers, ns per caller")
    # P8 flights in progress
    t10 = 1e9 / ips(r, "distinct_noop_in_flight", "group", flights=10)
    t100k = 1e9 / ips(r, "distinct_noop_in_flight", "group", flights=100000)
    m.add("nInFlightTenNs", sig(t10), BENCH, "1e9 / items_per_second of distinct_noop_in_flight/group, 10 flights held")
    m.add("nInFlightHundredKNs", sig(t100k), BENCH, "the same with 100,000 flights held")
    m.add("nInFlightRatio", fixed(t100k / t10), BENCH, "the ratio of the two (P8)")
    mt = {n: 1e9 / ips(r, "distinct_noop_in_flight", "mutex_group", flights=n) for n in (10, 100000)}
    m.add("nInFlightMutexRatio", fixed(mt[100000] / mt[10]), BENCH, "the same ratio for mutex_group")
    m.add("nInFlightAllocs", fixed(r.get("distinct_noop_in_flight", "group", "allocs_per_flight", flights=100000), 3),
          BENCH, "allocs_per_flight of distinct_noop_in_flight/group, 100,000 flights held")
    # deadlines
    m.add("nCallForDistinctOne", fixed(ips(r, "distinct_noop", "group", threads=1) /
                                       ips(r, "distinct_noop_call_for", "group", threads=1), 3),
          BENCH, "time per call of call_for (deadline never passes) over call's, group, distinct_noop, 1 thread")
    for us in (200, 1000):
        d = bench_report.find_one(r, "deadline_late", "group", timeout_us=us)
        tag = {200: "TwoHundredUs", 1000: "OneMs"}[us]
        m.add(f"nLate{tag}Pfifty", pc.ns_text(d["late_ns_p50"]), BENCH,
              f"deadline_late/group timeout {us} us: late_ns_p50 (catch - call - timeout)")
        m.add(f"nLate{tag}FloorPfifty", pc.ns_text(d["floor_late_ns_p50"]), BENCH,
              f"the same run's floor_late_ns_p50 (a bare condition_variable::wait_until)")
        m.add(f"nLate{tag}Pninetynine", pc.ns_text(d["late_ns_p99"]), BENCH, f"late_ns_p99, timeout {us} us")
        m.add(f"nLate{tag}FloorPninetynine", pc.ns_text(d["floor_late_ns_p99"]), BENCH,
              f"floor_late_ns_p99, timeout {us} us")
        m.add(f"nLate{tag}Samples", count(d["samples"]), BENCH, f"samples, timeout {us} us")
    woken = [mm.get("woken_per_leave") for _, _, _, mm in r.find("leave_wakeups", "group")]
    m.add("nLeaveWokenMax", fixed(max(woken), 0), BENCH,
          "max over the four leave_wakeups/group runs of woken_per_leave (of 64 parked followers)")
    m.add("nLeaveRuns", count(len(woken)), BENCH, "how many leave_wakeups/group runs")
    # counters
    m.add("nAllocsGroup", fixed(r.get("distinct_noop", "group", "allocs_per_flight", threads=1), 0), BENCH,
          "allocs_per_flight of distinct_noop/group, threads 1 (P5)")
    m.add("nAllocsMichaelDhp", fixed(r.get("distinct_noop", "group_michael_dhp", "allocs_per_flight", threads=1), 4),
          BENCH, "allocs_per_flight of distinct_noop/group_michael_dhp, threads 1 (P5)")
    m.add("nAllocsMutex", fixed(r.get("distinct_noop", "mutex_group", "allocs_per_flight", threads=1), 0), BENCH,
          "allocs_per_flight of distinct_noop/mutex_group, threads 1")
    lone = [mm["futex_per_lone_call"] for _, _, _, mm in r.find(impl="group") if "futex_per_lone_call" in mm]
    m.add("nFutexLoneMax", fixed(max(lone), 0), BENCH, "max over every group run of futex_per_lone_call (P4)")
    m.add("nFutexLoneRuns", count(len(lone)), BENCH, "how many group runs report futex_per_lone_call")
    # the table ablation: the own table over the best libcds container, per configuration
    configs = [("distinct_noop", {"threads": t}) for t in (1, 2, 8)] + \
              [("zipf", {"fn_ns": 0, "threads": t}) for t in (1, 2, 8)]
    libcds = [i for i in bench_report.ABLATION if i != "group"]
    lead = [ips(r, s, "group", **p) / max(ips(r, s, i, **p) for i in libcds) for s, p in configs]
    m.add("nAblationLeadMin", fixed(min(lead)), BENCH,
          "min over distinct_noop and zipf fn 0 at 1, 2, 8 threads of group's throughput over the best libcds table's")
    m.add("nAblationLeadMax", fixed(max(lead)), BENCH, "max of the same")
    m.add("nBytesRecordGroup", fixed(r.get("distinct_noop", "group", "bytes_per_record", threads=1), 0), BENCH,
          "bytes_per_record of distinct_noop/group")
    # the targets, as bench_report judges them: a verdict macro per target the prose discusses
    rows = bench_report.targets(r)

    def verdict(p, text):
        hits = [row for row in rows if row[0] == p and text in row[1]]
        if not hits:
            raise pc.MissingInput(f"bench_report.targets() has no {p} row about {text!r}")
        return "met" if all(row[3] == "**met**" for row in hits) else "missed"
    for name, p, text in (("vPOneMutex", "P1", "mutex_group"), ("vPOneGo", "P1", "Go's"),
                          ("vPOneFloor", "P1", "floor"), ("vPTwo", "P2", "distinct_noop"),
                          ("vPThreeHot", "P3", "hot_key"), ("vPThreeWake", "P3", "wake latency"),
                          ("vPFour", "P4", "futex"), ("vPFiveGroup", "P5", "(group, distinct_noop)"),
                          ("vPFiveDhp", "P5", "group_michael_dhp"), ("vPFiveFollower", "P5", "follower"),
                          ("vPSix", "P6", "hot_key_async"), ("vPSeven", "P7", "resume_cost"),
                          ("vPEight", "P8", "in_flight")):
        m.add(name, verdict(p, text), "results/bench/*.json",
              f"bench_report.targets(): the {p} row(s) about {text!r}, all met -> met, else missed")
    a, b = verdict("P1", "mutex_group"), verdict("P1", "Go's")
    m.add("vPOneBoth", f"both {a}" if a == b else f"{a} and {b}", "results/bench/*.json",
          "the two P1 verdicts against mutex_group and Go, in words")
    missed = sorted({row[0] for row in rows if row[3] != "**met**"})
    m.add("nTargetsMissed", (", ".join(missed[:-1]) + " and " + missed[-1]) if len(missed) > 1 else
          (missed[0] if missed else "none"), "results/bench/*.json", "targets with a row not met")
    met = sum(1 for row in rows if row[3] == "**met**")
    m.add("nTargetsMet", str(met), "results/bench/*.json", "rows of bench_report.targets() judged met")
    m.add("nTargetsAll", str(len(rows)), "results/bench/*.json", "rows of bench_report.targets()")


def bench16_numbers(m, R):
    ctx, r = R.bench16
    r.sixteen = True
    src = pc.SOURCES["bench16"].paths[0]
    for t in (1, 8):
        m.add(f"nSixteenDistinct{word_number(t)}Mutex",
              fixed(ips(r, "distinct_noop", "group", threads=t) / ips(r, "distinct_noop", "mutex_group", threads=t)),
              src, f"group's (libcds Michael set, commit of the run) throughput over mutex_group's, distinct_noop, threads {t}")
    m.add("nSixteenDistinctEightSharded",
          fixed(ips(r, "distinct_noop", "group", threads=8) / ips(r, "distinct_noop", "sharded_group", threads=8)),
          src, "the same over sharded_group's, threads 8")
    m.add("nSixteenCpus", str(ctx.get("num_cpus", "?")), src, "context.num_cpus")


def stress_numbers(m, R):
    src = pc.SOURCES["sweep"].paths[0]
    sweep = R.stress_json("sweep")
    runs = [x for x in sweep["runs"] if x["workload"] == "poisson"]
    g = [x["measured_over_model"] for x in runs if x["implementation"] == "group"]
    allr = [x["measured_over_model"] for x in runs]
    m.add("nSweepGroupMin", fixed(min(g), 3), src, "min over λD of group's coalescing_ratio / (λD/(1+λD))")
    m.add("nSweepGroupMax", fixed(max(g), 3), src, "max over λD of the same")
    m.add("nSweepAllMin", fixed(min(allr), 3), src, "min over λD and implementations of the same ratio")
    m.add("nSweepAllMax", fixed(max(allr), 3), src, "max over λD and implementations")
    sched = [x["measured_over_schedule_optimum"] for x in runs]
    m.add("nSweepScheduleMax", fixed(max(sched), 3), src,
          "max over runs of coalescing_ratio over the optimum of the arrivals actually scheduled")
    m.add("nSweepCalls", count(sum(x["calls"] for x in runs)), src, "sum of calls over the sweep's runs")
    m.add("nSweepSeconds", count(runs[0]["params"]["duration_s"]), src, "params.duration_s of each run")
    late = [x.get("late_fraction", 0) for x in runs]
    m.add("nSweepLateMaxPct", fixed(100 * max(late), 1), src, "max over runs of late_fraction, in %")
    src = pc.SOURCES["stress"].paths[0]
    d = R.stress_json("stress")
    runs = d["runs"]
    m.add("nStressRuns", count(len(runs)), src, "number of runs")
    m.add("nStressCalls", count(sum(x["calls"] for x in runs)), src, "sum of calls")
    m.add("nStressViolations", count(sum(x["violations"] for x in runs)), src, "sum of violations")
    m.add("nStressWorkloads", count(len({x["workload"] for x in runs})), src, "distinct workloads")
    late = [x.get("late_fraction", 0) for x in runs if x["workload"] == "poisson"]
    m.add("nStressPoissonLateMaxPct", fixed(100 * max(late), 0), src, "max over its poisson runs of late_fraction, in %")
    by = {(x["workload"], x["implementation"]): x for x in runs}
    for w, name in (("hot", "Hot"), ("zipf", "Zipf"), ("coro", "Coro")):
        m.add(f"nStress{name}Mutex",
              fixed(by[(w, "group")]["throughput_per_s"] / by[(w, "mutex_group")]["throughput_per_s"]),
              src, f"throughput_per_s of group over mutex_group's, workload {w}")
    wide = by[("wide", "group")]
    m.add("nStressWideFlights", count(wide["flights"]), src, "flights of the wide workload (group)")
    coro = by[("coro", "group")]
    m.add("nStressCoroCalls", count(coro["calls"]), src, "calls of the coro workload (group)")
    s16 = R.stress_json("stress16")
    m.add("nSixteenStressCommit", pc.short_commit(s16["meta"].get("commit")), pc.SOURCES["stress16"].paths[0],
          "meta.commit (the 16-CPU session that also ran 16core_sf_bench_distinct.json)")


def http_numbers(m, R):
    for key, name in (("http_threads", "Threads"), ("http_asio", "Asio")):
        h = R.http(key)
        src = pc.SOURCES[key].paths[0] + "summary.txt"
        rows = {(x["endpoint"], int(x["conns"])): x for x in h["rows"]}
        for c in (64, 2048):
            cn = word_number(c) if c == 64 else "TwoK"
            d, co = rows[("/direct", c)], rows[("/coalesced", c)]
            m.add(f"nHttp{name}{cn}Speedup", fixed(co["req_s"] / d["req_s"], 1), src,
                  f"req/s of /coalesced over /direct, {c} connections")
            m.add(f"nHttp{name}{cn}Saved", fixed(co["saved"], 1), src, f"saved % of /coalesced, {c} connections")
            m.add(f"nHttp{name}{cn}DirectPninetynine", sig(d["p99_ms"]), src, f"p99 ms of /direct, {c} connections")
            m.add(f"nHttp{name}{cn}CoalescedPninetynine", sig(co["p99_ms"]), src,
                  f"p99 ms of /coalesced, {c} connections")
            m.add(f"nHttp{name}{cn}CoalescedReqs", count(co["req_s"]), src, f"req/s of /coalesced, {c} connections")
            m.add(f"nHttp{name}{cn}CoalescedPfifty", fixed(co["p50_ms"], 1), src, f"p50 ms of /coalesced, {c} connections")
            m.add(f"nHttp{name}{cn}CoalescedPninety", fixed(co["wrk_p90_ms"], 1),
                  pc.SOURCES[key].paths[0] + f"wrk-coalesced-c{c}.txt", "p90_us / 1000 of its sf-wrk line")
            m.add(f"nHttp{name}{cn}DirectReqs", count(d["req_s"]), src, f"req/s of /direct, {c} connections")
        co = rows[("/coalesced", 2048)]
        m.add(f"nHttp{name}KibPerRequest", fixed(co["kib_per_request"], 1), src,
              "KiB resident per extra waiting request, /coalesced, 64 to 2048 connections")
        m.add(f"nHttp{name}ThreadsPerRequest", fixed(co["threads_per_request"], 2), src,
              "threads per extra waiting request, /coalesced, 64 to 2048 connections")
        m.add(f"nHttp{name}PeakThreads", count(co["threads"]), src, "server's peak threads, /coalesced, 2048 connections")
        header = h["header"]
        mm = re.search(r"has (\d+) connections and takes (\d+) ms per call", header)
        if not mm:
            raise pc.MissingInput(f"{src}: first line does not name the origin's pool and time")
        if name == "Threads":
            m.add("nHttpOriginPool", mm.group(1), src, "the origin's connections (first line)")
            m.add("nHttpOriginMs", mm.group(2), src, "the origin's time per call in ms (first line)")


def proofs_numbers(m, R):
    src = pc.SOURCES["proofs_ci"].paths[0]
    meta, rows = R.proofs("proofs_ci")
    models = [x for x in rows if x["mutant"] == "none"]
    mutants = [x for x in rows if x["mutant"] != "none"]
    m.add("nProofModelRuns", count(len(models)), src, "RESULT lines with mutant=none")
    m.add("nProofMutantRuns", count(len(mutants)), src, "RESULT lines with a mutant")
    m.add("nProofMutantsCaught", count(sum(x["verdict"] == "pass" for x in mutants)), src,
          "mutant RESULT lines with verdict=pass (reported as the failure the mutant must cause)")
    m.add("nProofFailed", count(sum(x["verdict"] != "pass" for x in rows)), src, "RESULT lines with verdict other than pass")
    m.add("nProofDistinctMutants", count(len({x["mutant"] for x in mutants})), src, "distinct mutants in the log")
    m.add("nProofSeconds", fixed(sum(int(x["time_ms"]) for x in rows) / 1000, 1), src, "sum of time_ms, in s")
    m.add("nProofMaxExecutions", count(max(int(x["iterations"]) for x in models)), src,
          "max iterations over the models' runs")
    listed = pc.mutants_by_model()
    all_listed = sorted({mu for ms in listed.values() for mu in ms})
    m.add("nProofListedMutants", count(len(all_listed)), "proofs/CMakeLists.txt",
          "distinct mutants named in sf_model(...) and sf_spin(...)")
    logged = {x["mutant"] for x in mutants}
    m.add("nProofUnloggedMutants", count(len([mu for mu in all_listed if mu not in logged])),
          "proofs/CMakeLists.txt and " + src, "listed mutants with no RESULT line in the CI log")
    m.add("nProofListedModels", count(len(listed)), "proofs/CMakeLists.txt", "sf_model and sf_spin entries")
    log = pc.need("proofs_ci").read_text(errors="replace")
    ran = set(re.findall(r"Start\s+\d+: proof_(\w+?)(?:_mutant_\w+)?\s", log))
    absent = [name for name in listed if name not in ran]
    m.add("nProofUnloggedModels", ", ".join(pc.tt(x) for x in absent) if absent else "none",
          "proofs/CMakeLists.txt and " + src, "models with no ctest 'Start N: proof_<model>' line in the log")
    m.add("nProofUnloggedModelCount", count(len(absent)), "proofs/CMakeLists.txt and " + src,
          "how many such models")
    lsrc = pc.SOURCES["proofs_long"].paths[0]
    lmeta, lrows = R.proofs("proofs_long")
    m.add("nProofLongRuns", count(len(lrows)), lsrc, "RESULT lines")
    m.add("nProofLongMaxExecutions", count(max(int(x["iterations"]) for x in lrows)), lsrc, "max iterations")
    m.add("nProofLongMinutes", fixed(sum(int(x["time_ms"]) for x in lrows) / 60000, 1), lsrc, "sum of time_ms, in min")
    m.add("nProofLongFailed", count(sum(x["verdict"] != "pass" for x in lrows)), lsrc, "verdicts other than pass")


def memory_numbers(m, R):
    src = pc.SOURCES["memory"].paths[0]
    text = pc.need("memory").read_text()
    section = None
    found = {}
    for line in text.splitlines():
        if line.startswith("# before"):
            section = "Before"
        elif line.startswith("# after"):
            section = "After"
        mm = re.match(r"^(\w+): .*\(\+([\d.]+) MiB\)", line)
        if mm and section:
            found[(section, mm.group(1))] = float(mm.group(2))
    mm = re.search(r"^\w+: (\d+) threads x (\d+) lone flights, Value std::array<char, (\d+)>", text, re.M)
    if not mm:
        raise pc.MissingInput(f"{src}: no line naming the threads, flights and value size")
    m.add("nMemThreads", mm.group(1), src, "threads of the run (first result line)")
    m.add("nMemFlights", count(int(mm.group(2))), src, "lone flights per thread (first result line)")
    m.add("nMemValueKib", str(int(mm.group(3)) // 1024), src, "the value's size in KiB (std::array<char, N>)")
    for (section, impl), name in ((("Before", "group"), "Group"), (("Before", "group_michael_hp"), "MichaelHp"),
                                  (("After", "group"), "Group"), (("After", "group_michael_hp"), "MichaelHp"),
                                  (("After", "mutex_group"), "Mutex")):
        if (section, impl) not in found:
            raise pc.MissingInput(f"{src}: no '{impl}' line in the '{section.lower()}' section")
        m.add(f"nMem{section}{name}", fixed(found[(section, impl)], 1), src,
              f"RSS growth in MiB, {impl}, '{section.lower()}' section (64 threads x 2,000 lone flights, 64 KiB value)")


def config_numbers(m, R):
    src = pc.SOURCES["config"].paths[0]
    c = pc.config_constants()
    for key, name in (("SLOT_SPLIT_AT", "cSplitAt"), ("SLOT_CHILD_BITS", "cChildBits"),
                      ("SPIN_BEFORE_PARK", "cSpinBeforePark"), ("INLINE_VALUE_BYTES", "cInlineValueBytes"),
                      ("RECORD_POOL_BLOCKS", "cRecordPoolBlocks")):
        if key not in c:
            raise pc.MissingInput(f"{src}: no #define SINGLEFLIGHT_{key}")
        m.add(name, str(c[key]), src, f"default of SINGLEFLIGHT_{key}")
    m.add("cChildSlots", str(2 ** c["SLOT_CHILD_BITS"]), src, "2 ** SINGLEFLIGHT_SLOT_CHILD_BITS")


def run_macros(m, R):
    """Where each run was made: machine, commit, load (also tabulated in runs.tex)."""
    meta = R.bench_meta
    src = pc.SOURCES["bench"].paths[2]
    m.add("runBenchCommit", pc.short_commit(meta.get("commit")), src, "commit")
    m.add("runBenchDate", pc.tex(meta.get("date", "?")[:10]), src, "date")
    m.add("runBenchLoadBefore", pc.tex(", ".join(meta.get("load_before", "?").split())), src,
          "load_before (1, 5, 15 min)")
    m.add("runBenchLoadAfter", pc.tex(", ".join(meta.get("load_after", "?").split())), src,
          "load_after (1, 5, 15 min)")
    m.add("runBenchCpu", pc.tex(meta.get("machine", {}).get("cpu", "?")), src, "machine.cpu")
    m.add("runBenchCores", str(meta.get("machine", {}).get("nproc", "?")), src, "machine.nproc")
    m.add("runBenchReps", str(meta.get("repetitions", "?")), src, "repetitions")
    s16 = R.stress_json("stress16")
    m.add("runSixteenCommit", pc.short_commit(s16["meta"].get("commit")), pc.SOURCES["stress16"].paths[0],
          "meta.commit")
    sw = R.stress_json("sweep")["meta"]
    m.add("runSweepCommit", pc.tex(pc.short_commit(sw.get("commit")) + ("+dirty" if sw.get("dirty") else "")),
          pc.SOURCES["sweep"].paths[0], "meta.commit (+dirty when meta.dirty)")
    st = R.stress_json("stress")["meta"]
    m.add("runStressCommit", pc.short_commit(st.get("commit")), pc.SOURCES["stress"].paths[0], "meta.commit")
    m.add("runStressLoadAfter", fixed(st.get("load_average_after", 0), 1), pc.SOURCES["stress"].paths[0],
          "meta.load_average_after (1 min)")
    ci, _ = R.proofs("proofs_ci")
    m.add("runProofsCommit", pc.tex(ci.get("commit", "?")), pc.SOURCES["proofs_ci"].paths[0], "# commit:")
    lg, _ = R.proofs("proofs_long")
    m.add("runProofsLongCommit", pc.tex(lg.get("commit", "?")), pc.SOURCES["proofs_long"].paths[0], "# commit:")
    for key, name in (("http_threads", "Threads"), ("http_asio", "Asio")):
        h = R.http(key)["meta"]
        m.add(f"runHttp{name}Commit", pc.tex(pc.short_commit(h.get("commit", "?").split()[0])),
              pc.SOURCES[key].paths[0] + "meta.txt", "commit:")


def numbers(R):
    m = Macros("scripts/paper_numbers.py")
    for part in (run_macros, bench_numbers, bench16_numbers, stress_numbers, http_numbers, proofs_numbers,
                 memory_numbers, config_numbers):
        part(m, R)
    return m.render()


# ---- runs.tex: the table of runs -----------------------------------------------------------------

def runs_table(R):
    rows = []
    meta = R.bench_meta
    mach = meta.get("machine", {})
    rows.append(("results/bench/", pc.short_commit(meta.get("commit")), meta.get("date", "?")[:10],
                 f"{mach.get('cpu', '?')}, {mach.get('nproc', '?')} CPUs",
                 f"{meta.get('load_before', '?').split()[0]} $\\to$ {meta.get('load_after', '?').split()[0]}",
                 meta.get("command", "?")))
    ctx, _ = R.bench16
    s16 = R.stress_json("stress16")["meta"]
    la = ctx.get("load_avg", ["?"])
    rows.append((pc.SOURCES["bench16"].paths[0], pc.short_commit(s16.get("commit")),
                 str(ctx.get("date", "?"))[:10],
                 f"{s16['machine'].get('cpu', '?')}, {ctx.get('num_cpus', '?')} CPUs",
                 f"{la[0]:.2g} (at the end)" if isinstance(la[0], (int, float)) else "?",
                 pc.SOURCES["bench16"].command.split(" (")[0]))
    for key in ("sweep", "stress", "stress16"):
        d = R.stress_json(key)["meta"]
        mm = d.get("machine", {})
        cpus = mm.get("usable_cpus", "?")
        hw = mm.get("hardware_threads", "?")
        commit = pc.short_commit(d.get("commit")) + ("+dirty" if d.get("dirty") else "")
        rows.append((pc.SOURCES[key].paths[0], commit, str(d.get("started_at", "?"))[:10],
                     f"{mm.get('cpu', '?')}, {cpus}" + (f" of {hw}" if cpus != hw else "") + " CPUs",
                     f"{mm.get('load_average_before', '?'):g} $\\to$ {d.get('load_average_after', '?'):g}",
                     " ".join(["sf-stress"] + d.get("argv", [])[1:])))
    for key in ("http_threads", "http_asio"):
        h = R.http(key)["meta"]
        machine = h.get("machine", "?")
        mm = re.search(r"(\d+) CPUs, (.*)$", machine)
        rows.append((pc.SOURCES[key].paths[0], h.get("commit", "?").split()[0][:7] +
                     (" (demo modified)" if "modified" in h.get("commit", "") else ""),
                     h.get("date", "?")[:10], f"{mm.group(2)}, {mm.group(1)} CPUs" if mm else machine,
                     h.get("load average at the start", "?").split()[0] + " (start)", h.get("command", "?")))
    for key in ("proofs_ci", "proofs_long"):
        meta, _ = R.proofs(key)
        machine = meta.get("machine", "?")
        parts = re.findall(r"(Relacy|Spin)[^:]*:[^;]*?(\d+) cores", machine)
        if parts:
            machine = "; ".join(f"{who}: {n} CPUs" for who, n in parts)
        else:
            mm = re.search(r"(\d+) cores, (.*)$", machine)
            machine = f"{mm.group(2)}, {mm.group(1)} CPUs" if mm else machine
        rows.append((pc.SOURCES[key].paths[0], meta.get("commit", "?"), meta.get("date", "?")[:10], machine,
                     "not recorded", pc.SOURCES[key].command))
    out = [pc.HEADER.format(script="scripts/paper_numbers.py"),
           "% The meta files of each run: results/bench/meta.json, the JSON context and meta of the",
           "% others, results/http_demo/*/meta.txt, the header of results/proofs/*.log.",
           r"\begin{tabular}{@{}p{0.28\linewidth}p{0.13\linewidth}p{0.09\linewidth}p{0.26\linewidth}p{0.11\linewidth}@{}}",
           r"\toprule",
           r"results & commit & date & machine & load \\",
           r"\midrule"]
    for path, commit, date, machine, load, command in rows:
        p = pc.tt(path.replace("\\_", "_"))
        out.append(f"{p} & {pc.tex(commit)} & {pc.tex(date)} & {pc.tex(machine)} & {load} \\\\")
        out.append(r"\multicolumn{5}{@{}p{0.98\linewidth}@{}}{\quad\textit{command:} " + pc.tt(command) +
                   r"} \\[2pt]")
    out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)
