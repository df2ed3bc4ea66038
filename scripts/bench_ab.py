#!/usr/bin/env python3
"""The table of scripts/bench_ab.sh: for each benchmark shape, the median time per call of `group`
and of `mutex_group` in build A and in build B (medians over every repetition of every round),
each build's ratio group/mutex_group, and how far B's ratio is from A's. Scenarios whose
iteration time means nothing (COUNTED) get a table of their counters instead: A's and B's
medians, side by side, for every implementation.

usage: scripts/bench_ab.py OUTDIR
"""
import json
import pathlib
import re
import statistics
import sys


# Scenarios read by their counters (sf_bench.cpp): their iteration time is a whole round.
COUNTED = {
    "leave_wakeups": ["woken_per_leave", "switches_per_leave", "control_woken_per_round",
                      "leave_ns_p50", "leaves"],
    "deadline_late": ["late_ns_p50", "late_ns_p99", "late_ns_p999", "floor_late_ns_p50",
                      "floor_late_ns_p99", "floor_late_ns_p999"],
    "wake_latency": ["wake_ns_p50", "wake_ns_p90"],
    "wake_latency_call_for": ["wake_ns_p50", "wake_ns_p90"],
}


def load(out, side):
    """Medians over every repetition of every round, and each round's own medians; and the
    counters of the COUNTED scenarios, each round's value in a list."""
    times, rounds, counters = {}, [], {}
    for path in sorted(out.glob(f"{side}_*.json")):
        this = {}
        for b in json.loads(path.read_text())["benchmarks"]:
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            times.setdefault(b["name"], []).append(b["real_time"])  # ns per call (real_time)
            this.setdefault(b["name"], []).append(b["real_time"])
            for c in COUNTED.get(b["name"].split("/")[0], []):
                if isinstance(b.get(c), (int, float)):
                    counters.setdefault((b["name"], c), []).append(b[c])
        rounds.append({name: statistics.median(v) for name, v in this.items()})
    return {name: statistics.median(v) for name, v in times.items()}, rounds, counters


def counter_table(a, b, an, bn):
    """One row per benchmark and counter that both builds report."""
    def span(v):
        return f"{min(v):g}–{max(v):g}" if len(v) > 1 else f"{v[0]:g}"

    rows = []
    for name, c in sorted(a, key=lambda k: (k[0], COUNTED[k[0].split("/")[0]].index(k[1]))):
        if (name, c) not in b:
            continue
        ma, mb = statistics.median(a[(name, c)]), statistics.median(b[(name, c)])
        moved = f"{mb / ma:.3f}" if ma else "n/a"
        rows.append(f"| {name.split('/iterations:')[0]} | {c} | {ma:g} | {mb:g} | {moved} | "
                    f"{span(a[(name, c)])} / {span(b[(name, c)])} |")
    if not rows:
        return []
    return ["", f"## Counters, {an} against {bn}", "",
            "Medians over the rounds; the last column is each build's range over its rounds.", "",
            f"| benchmark | counter | {an} | {bn} | {bn}/{an} | range {an} / {bn} |",
            "|---|---|---|---|---|---|", *rows]


def spread(rounds, g, m):
    """How far one build's ratio moves from round to round: max/min of the per-round ratios."""
    ratios = [r[g] / r[m] for r in rounds if g in r and m in r]
    return max(ratios) / min(ratios) if len(ratios) > 1 else float("nan")


def shape_and_impl(name):
    m = re.match(r"^(\w+)/(group|mutex_group)/(.*)$", name)
    if not m or m.group(1) in COUNTED:
        return None, None
    return f"{m.group(1)}/{m.group(3)}", m.group(2)


def main():
    out = pathlib.Path(sys.argv[1])
    meta = json.loads((out / "meta.json").read_text())
    (a, a_rounds, a_counters), (b, b_rounds, b_counters) = load(out, "a"), load(out, "b")
    an, bn = meta["a"]["name"], meta["b"]["name"]
    shapes = {}
    for name in a:
        shape, impl = shape_and_impl(name)
        if shape:
            shapes.setdefault(shape, {})[impl] = name
    if not shapes:
        print(f"# {an} against {bn}\n")
        print(f"{meta['date']}, {meta['machine']}, {meta['compiler']}; {meta['rounds']} "
              f"alternating rounds. Load before: {meta['load_before']}. Command: "
              f"`{meta['command']}`.")
        print("\n".join(counter_table(a_counters, b_counters, an, bn)))
        return
    print(f"# {an} against {bn}: group / mutex_group, side by side\n")
    print(f"{meta['date']}, {meta['machine']}, {meta['compiler']}; {meta['rounds']} alternating rounds "
          f"× {meta['repetitions']} repetitions × {meta['min_time_s']} s; medians of real time per "
          f"call. Load before: {meta['load_before']}. Command: `{meta['command']}`.\n")
    print(f"| shape | group {an} | mutex {an} | ratio {an} | group {bn} | mutex {bn} | ratio {bn} | "
          f"{bn}/{an} | round-to-round spread of the ratio, {an} / {bn} |")
    print("|---|---|---|---|---|---|---|---|---|")
    moves = []
    for shape in sorted(shapes, key=lambda s: (s.split("/")[0], len(s), s)):
        g, m = shapes[shape].get("group"), shapes[shape].get("mutex_group")
        if not g or not m or g not in b or m not in b:
            continue
        ra, rb = a[g] / a[m], b[g] / b[m]
        moves.append(rb / ra)
        print(f"| {shape} | {a[g]:.1f} ns | {a[m]:.1f} ns | {ra:.3f} | {b[g]:.1f} ns | {b[m]:.1f} ns | "
              f"{rb:.3f} | {rb / ra:.3f} | {spread(a_rounds, g, m):.2f}× / {spread(b_rounds, g, m):.2f}× |")
    if moves:
        print(f"\nRatio of ratios ({bn}/{an}): median {statistics.median(moves):.3f}, "
              f"range {min(moves):.3f}–{max(moves):.3f} over {len(moves)} shapes "
              "(1.000 = unchanged; below 1, group gained on mutex_group). The last column is the "
              "noise: how much one build's own ratio moved between its rounds.")
    print("\n".join(counter_table(a_counters, b_counters, an, bn)))


if __name__ == "__main__":
    main()
