#!/usr/bin/env python3
"""The table of scripts/bench_ab.sh: for each benchmark shape, the median time per call of `group`
and of `mutex_group` in build A and in build B (medians over every repetition of every round),
each build's ratio group/mutex_group, and how far B's ratio is from A's.

usage: scripts/bench_ab.py OUTDIR
"""
import json
import pathlib
import re
import statistics
import sys


def load(out, side):
    """Medians over every repetition of every round, and each round's own medians."""
    times, rounds = {}, []
    for path in sorted(out.glob(f"{side}_*.json")):
        this = {}
        for b in json.loads(path.read_text())["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            times.setdefault(b["name"], []).append(b["real_time"])  # ns per call (real_time)
            this.setdefault(b["name"], []).append(b["real_time"])
        rounds.append({name: statistics.median(v) for name, v in this.items()})
    return {name: statistics.median(v) for name, v in times.items()}, rounds


def spread(rounds, g, m):
    """How far one build's ratio moves from round to round: max/min of the per-round ratios."""
    ratios = [r[g] / r[m] for r in rounds if g in r and m in r]
    return max(ratios) / min(ratios) if len(ratios) > 1 else float("nan")


def shape_and_impl(name):
    m = re.match(r"^(\w+)/(group|mutex_group)/(.*)$", name)
    return (f"{m.group(1)}/{m.group(3)}", m.group(2)) if m else (None, None)


def main():
    out = pathlib.Path(sys.argv[1])
    meta = json.loads((out / "meta.json").read_text())
    (a, a_rounds), (b, b_rounds) = load(out, "a"), load(out, "b")
    an, bn = meta["a"]["name"], meta["b"]["name"]
    shapes = {}
    for name in a:
        shape, impl = shape_and_impl(name)
        if shape:
            shapes.setdefault(shape, {})[impl] = name
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


if __name__ == "__main__":
    main()
