#!/usr/bin/env python3
"""Plots sf-stress results (the JSON written by `sf-stress --json PATH`).

usage: scripts/plot_stress.py [--out DIR] [--summary] [--readme FILE] JSON [JSON...]

For each JSON file, next to it (or in --out DIR):
  <name>_ratio.png       if it has poisson runs: the measured coalescing ratio against the
                         analytic optimum λD/(1+λD), per implementation, and measured/optimum.
  <name>_comparison.png  if it has runs of other workloads: coalescing ratio and throughput per
                         workload, the implementations side by side.
--summary prints the figures as Markdown tables as well; --readme FILE writes those tables into
FILE between the lines <!-- stress:begin --> and <!-- stress:end --> (stress/README.md), so that
the figures there always come from the JSON.

Needs python3-matplotlib (Debian); nothing else.
"""
import argparse
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# group_hp: the libcds HP variant's name in runs made before the own table became the default.
IMPL_ORDER = ["group", "group_michael_dhp", "group_michael_hp", "group_hp", "mutex_group",
              "sharded_group"]
COLORS = {"group": "#1f77b4", "group_michael_dhp": "#9467bd", "group_michael_hp": "#17becf",
          "group_hp": "#17becf", "mutex_group": "#d62728", "sharded_group": "#ff7f0e"}
MARKERS = {"group": "o", "group_michael_dhp": "v", "group_michael_hp": "D", "group_hp": "D",
           "mutex_group": "s", "sharded_group": "^"}


def impl_key(name):
    return (IMPL_ORDER.index(name) if name in IMPL_ORDER else len(IMPL_ORDER), name)


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    runs = doc.get("runs", [])
    # A soak file holds many rounds: plot the last complete one.
    last_round = max((r.get("round", 1) for r in runs), default=1)
    runs = [r for r in runs if r.get("round", 1) == last_round]
    return doc.get("meta", {}), runs


def caption(meta):
    machine = meta.get("machine", {})
    commit = (meta.get("commit") or "no commit")[:10]
    if meta.get("dirty"):
        commit += "+dirty"
    cpus = machine.get("usable_cpus", machine.get("hardware_threads", "?"))
    hw = machine.get("hardware_threads", "?")
    cpu_text = f"{cpus} CPUs" if cpus == hw else f"{cpus} of {hw} CPUs"
    load = ""
    before, after = machine.get("load_average_before"), meta.get("load_average_after")
    if before is not None and after is not None:
        load = f", load average {before:g} → {after:g}"
    return (f"{machine.get('cpu', '?')} ({cpu_text}{load}), "
            f"{meta.get('compiler', '?')}, {meta.get('flags', {}).get('build_type', '?')}, "
            f"commit {commit}, seed {meta.get('seed', '?')}")


def plot_ratio(meta, runs, out):
    poisson = [r for r in runs if r["workload"] == "poisson" and r.get("lambda_d")]
    if not poisson:
        return None
    impls = sorted({r["implementation"] for r in poisson}, key=impl_key)
    lds = sorted({r["lambda_d"] for r in poisson})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 8), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    lo, hi = min(lds) / 2, max(lds) * 2
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    top.plot(xs, [x / (1 + x) for x in xs], color="black", lw=1,
             label="optimum λD/(1+λD)")
    # Spread the markers of the implementations a little so that none hides another.
    spread = {impl: 1.08 ** (i - (len(impls) - 1) / 2) for i, impl in enumerate(impls)}
    for impl in impls:
        mine = sorted((r for r in poisson if r["implementation"] == impl),
                      key=lambda r: r["lambda_d"])
        x = [r["lambda_d"] * spread[impl] for r in mine]
        top.plot(x, [r["coalescing_ratio"] for r in mine], ls="none",
                 marker=MARKERS.get(impl, "o"), color=COLORS.get(impl), label=impl)
        bottom.plot(x, [r["measured_over_model"] for r in mine], ls="-", lw=0.8,
                    marker=MARKERS.get(impl, "o"), color=COLORS.get(impl), label=impl)
        # The same runs against the optimum for the arrivals this run actually drew (every arrival
        # within D of its flight's start joins it): what the harness could have reached.
        exact = [(xi, r["measured_over_schedule_optimum"]) for xi, r in zip(x, mine)
                 if r.get("measured_over_schedule_optimum")]
        if exact:
            bottom.plot([e[0] for e in exact], [e[1] for e in exact], ls=":", lw=0.8,
                        marker=MARKERS.get(impl, "o"), mfc="none", color=COLORS.get(impl),
                        label=f"{impl}, vs the drawn schedule")
    top.set_xscale("log")
    top.set_ylabel("coalescing ratio 1 − flights/calls")
    top.set_ylim(0, 1.02)
    top.grid(True, which="both", alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    d_ms = poisson[0]["params"].get("d_ns", 0) / 1e6
    dur = poisson[0]["params"].get("duration_s", 0)
    top.set_title(f"Poisson arrivals, fn sleeps D = {d_ms:g} ms, {dur:g} s of arrivals per λD",
                  fontsize=10)
    bottom.axhline(1.0, color="black", lw=1)
    bottom.axhline(0.97, color="grey", lw=1, ls="--",
                   label="0.97: the harness's target, measured ≥ 97% of the optimum")
    bottom.set_xscale("log")
    bottom.set_xlabel("λD (arrivals per key during one execution of fn)")
    bottom.set_ylabel("measured / optimum")
    vals = [r["measured_over_model"] for r in poisson if r.get("measured_over_model")]
    vals += [r["measured_over_schedule_optimum"] for r in poisson
             if r.get("measured_over_schedule_optimum")]
    pad = max(0.05, max(abs(v - 1) for v in vals) * 1.2) if vals else 0.1
    bottom.set_ylim(1 - pad, 1 + pad)
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(loc="upper right", fontsize=7, ncol=2)
    low = min(lds)
    joins = [r.get("followers", 0) for r in poisson if r["lambda_d"] == low]
    fig.text(0.01, 0.028,
             f"Filled: against λD/(1+λD), the mean over all schedules. Hollow: against the optimum "
             f"of the arrivals this run drew. At λD = {low:g} a short run has few joins "
             f"({min(joins, default=0):,}–{max(joins, default=0):,}), so its filled point scatters "
             f"by sampling and may sit below 0.97; its hollow point shows the harness coalesced "
             f"what it was given.", fontsize=6.5, color="dimgrey", wrap=True)
    fig.text(0.01, 0.005, caption(meta), fontsize=6.5, color="grey")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def category(r):
    if r["workload"] == "poisson":
        return f"poisson\nλD={r['lambda_d']:g}"
    return r["workload"]


def plot_comparison(meta, runs, out):
    others = [r for r in runs if r["workload"] != "poisson"]
    if not others:
        return None
    cats = []
    for r in runs:
        c = category(r)
        if c not in cats:
            cats.append(c)
    impls = sorted({r["implementation"] for r in runs}, key=impl_key)
    by = {(category(r), r["implementation"]): r for r in runs}
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(impls)
    for i, impl in enumerate(impls):
        xs = [c + (i - (len(impls) - 1) / 2) * width for c in range(len(cats))]
        ratio = [by[(c, impl)]["coalescing_ratio"] if (c, impl) in by else 0 for c in cats]
        tput = [by[(c, impl)]["throughput_per_s"] if (c, impl) in by else 0 for c in cats]
        left.bar(xs, ratio, width, color=COLORS.get(impl), label=impl)
        right.bar(xs, tput, width, color=COLORS.get(impl), label=impl)
    for ax in (left, right):
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels(cats, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    left.set_ylabel("coalescing ratio 1 − flights/calls")
    left.set_ylim(0, 1.05)
    left.legend(fontsize=8)
    right.set_ylabel("calls per second")
    right.set_yscale("log")
    right.legend(fontsize=8)
    fig.suptitle("sf-stress default comparison: every workload, every implementation", fontsize=11)
    fig.text(0.01, 0.005, caption(meta), fontsize=6.5, color="grey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def ns(v):
    if v < 1e3:
        return f"{v:.0f}ns"
    if v < 1e6:
        return f"{v / 1e3:.3g}µs"
    if v < 1e9:
        return f"{v / 1e6:.3g}ms"
    return f"{v / 1e9:.3g}s"


def si(v):
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.0f}"


def summary(path, meta, runs):
    """The runs of one file as Markdown: a caption line, then one table."""
    lines = [f"`{path}`: `{meta.get('command', '?')}` on {caption(meta)}, "
             f"started {meta.get('started_at', '?')}.", ""]
    lines.append("| workload | impl | calls | flights | ratio | optimum | meas/opt | "
                 "meas/opt (schedule) | late | calls/s | p50 | p99 | p99.9 | wake p50 | wake p99 | "
                 "violations |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        lat, wake = r["latency_ns"], r["wake_ns"]
        opt = r.get("model_ratio")
        mo = r.get("measured_over_model")
        ms = r.get("measured_over_schedule_optimum")
        late = r.get("late_fraction")
        lines.append(
            f"| {category(r).replace(chr(10), ' ')} | {r['implementation']} | {r['calls']} | "
            f"{r['flights']} | {r['coalescing_ratio']:.4f} | "
            f"{'' if opt is None else f'{opt:.4f}'} | {'' if mo is None else f'{mo:.3f}'} | "
            f"{'' if ms is None else f'{ms:.3f}'} | "
            f"{'' if late is None else f'{100 * late:.2f}%'} | {si(r['throughput_per_s'])} | "
            f"{ns(lat['p50'])} | {ns(lat['p99'])} | {ns(lat['p999'])} | "
            f"{ns(wake['p50']) if wake['samples'] else ''} | "
            f"{ns(wake['p99']) if wake['samples'] else ''} | {r['violations']} |")
    return "\n".join(lines)


BEGIN, END = "<!-- stress:begin -->", "<!-- stress:end -->"


def write_readme(readme, tables):
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n\n".join(tables)
    readme.write_text(f"{head}{BEGIN}\n<!-- written by scripts/plot_stress.py --readme; do not edit "
                      f"-->\n\n{body}\n\n{END}{tail}", encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+", help="files written by sf-stress --json")
    ap.add_argument("--out", help="directory for the PNG files (default: next to each JSON)")
    ap.add_argument("--summary", action="store_true", help="also print Markdown tables")
    ap.add_argument("--readme", help="write the tables into this file between the markers")
    args = ap.parse_args()
    status = 0
    tables = []
    for name in args.json:
        path = pathlib.Path(name)
        try:
            meta, runs = load(path)
        except (OSError, ValueError) as e:
            print(f"plot_stress: cannot read {path}: {e}", file=sys.stderr)
            status = 1
            continue
        out_dir = pathlib.Path(args.out) if args.out else path.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        for made in (plot_ratio(meta, runs, out_dir / f"{path.stem}_ratio.png"),
                     plot_comparison(meta, runs, out_dir / f"{path.stem}_comparison.png")):
            if made:
                print(f"plot_stress: wrote {made}")
        table = summary(path, meta, runs)
        tables.append(table)
        if args.summary:
            print("\n" + table)
    if args.readme and tables:
        try:
            write_readme(pathlib.Path(args.readme), tables)
            print(f"plot_stress: wrote the tables into {args.readme}")
        except (OSError, ValueError) as e:
            print(f"plot_stress: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
