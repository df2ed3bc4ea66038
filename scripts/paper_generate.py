#!/usr/bin/python3
"""Regenerates paper/generated/ (every number, table and figure of paper/singleflight.tex) from
results/.

usage: /usr/bin/python3 scripts/paper_generate.py [--out DIR] [--data-only]
                                                  [--gallery-missing error|warn] [--quiet]

  --out DIR          write there instead of paper/generated/ (scripts/paper_check.py does)
  --data-only        skip drawing the figure images (their CSVs are still written)
  --gallery-missing  what a mutant of proofs/CMakeLists.txt without a picture in
                     proofs/gallery/ is: an error (default) or a warning; the environment
                     variable SINGLEFLIGHT_PAPER_GALLERY=warn does the same

OUTPUTS below is the manifest: each generated file, the script that writes it, and the results
files it reads (scripts/paper_common.py's SOURCES, each with the command that regenerates it).
It is written to DIR/manifest.json, and Appendix A of the paper (tab-artifact.tex) is made from
it. A missing results file stops the run with the command that makes it.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import paper_common as pc
import paper_figures as pf
import paper_gallery as pg
import paper_numbers as pn
import paper_tables as pt

Output = pc.Output
ALL_RESULTS = ("bench", "bench16", "stress16", "sweep", "stress", "http_threads", "http_asio",
               "proofs_ci", "proofs_long", "mutants", "memory", "config")


def figure(stem, sources, data, draw, what, label):
    """A figure: its CSV (compared by the check) and its PDF (drawn from that CSV)."""
    csv_name = f"data/{stem}.csv"
    return [
        Output(csv_name, "scripts/paper_figures.py", sources, lambda R, d=data: pf.csv_text(*d(R)),
               f"the numbers plotted in Figure {label}", extra={"label": label}),
        Output(f"figures/{stem}.pdf", "scripts/paper_figures.py", sources,
               lambda R, path, d=data, w=draw: w(R, pf.rows_of(pf.csv_text(*d(R))), path),
               what, image=True, data=csv_name, extra={"label": label}),
    ]


OUTPUTS = [
    Output("numbers.tex", "scripts/paper_numbers.py", ALL_RESULTS, pn.numbers,
           "every measured figure the prose quotes, as \\newcommand macros", extra={"label": None}),
    Output("runs.tex", "scripts/paper_numbers.py",
           ("bench", "bench16", "stress16", "sweep", "stress", "http_threads", "http_asio",
            "proofs_ci", "proofs_long"), pn.runs_table,
           "machine, commit, date and load of every run", extra={"label": "tab:runs"}),
    Output("tab-targets.tex", "scripts/paper_tables.py", ("bench",), pt.targets_table,
           "the performance targets P1-P8, met or not (bench_report.targets())",
           extra={"label": "tab:targets"}),
    Output("tab-stress.tex", "scripts/paper_tables.py", ("stress",), pt.stress_table,
           "the stress workloads: coalescing, throughput, violations", extra={"label": "tab:stress"}),
    Output("stress-workloads.tex", "scripts/paper_tables.py", ("stress",), pt.stress_descriptions,
           "what each stress workload does (the JSON's descriptions)", extra={"label": None}),
    Output("tab-http.tex", "scripts/paper_tables.py", ("http_threads", "http_asio"), pt.http_table,
           "the HTTP demo under wrk", extra={"label": "tab:http"}),
    Output("tab-proofs.tex", "scripts/paper_tables.py", ("proofs_ci", "proofs_long"), pt.proofs_table_tex,
           "the models, their search bounds and executions", extra={"label": "tab:proofs"}),
    Output("tab-mutants.tex", "scripts/paper_tables.py", ("proofs_ci", "mutants"), pt.mutants_table,
           "the mutants and what caught each", extra={"label": "tab:mutants"}),
    *figure("coalescing", ("sweep", "stress"), pf.data_coalescing, pf.draw_coalescing,
            "coalescing ratio against λD/(1+λD)", "fig:coalescing"),
    *figure("percall", ("bench",), pf.data_percall, pf.draw_percall,
            "per-call cost against the floor, mutex_group, sharded_group and Go; flights in progress",
            "fig:percall"),
    *figure("threads", ("bench", "bench16", "stress16"), pf.data_threads, pf.draw_threads,
            "thread scaling on 2 CPUs (now) and 16 CPUs (libcds era)", "fig:threads"),
    *figure("hotkey", ("bench",), pf.data_hotkey, pf.draw_hotkey,
            "one hot key against Go at equal concurrency, threads and coroutines", "fig:hotkey"),
    *figure("wake", ("bench",), pf.data_wake, pf.draw_wake,
            "wake latency and resume cost against their floors", "fig:wake"),
    *figure("deadline", ("bench",), pf.data_deadline, pf.draw_deadline,
            "how late deadline_exceeded comes, against a bare timed wait", "fig:deadline"),
    *figure("ablation", ("bench",), pf.data_ablation, pf.draw_ablation,
            "the table ablation: the own table against libcds's", "fig:ablation"),
    *figure("http", ("http_threads", "http_asio"), pf.data_http, pf.draw_http,
            "the HTTP demo under wrk", "fig:http"),
    Output("figures/states.pdf", "scripts/paper_figures.py", (), lambda R, path: pf.draw_states(R, path),
           "the flight record's states (drawn by hand from paper/design.md §2; no data)", image=True,
           extra={"label": "fig:states"}),
    Output("gallery.tex", "scripts/paper_gallery.py", ("gallery", "mutants", "proofs_ci"), None,
           "Appendix B: every picture of proofs/gallery/", extra={"label": None}),
    Output("tab-artifact.tex", "scripts/paper_generate.py", (), None,
           "Appendix A: this manifest as a table", extra={"label": None}),
    Output("manifest.json", "scripts/paper_generate.py", (), None,
           "the manifest: output -> script -> inputs", extra={"label": None}),
]


# The order in which the paper shows its figures and tables (Appendix A lists them so).
PAPER_ORDER = ["fig:states", "fig:coalescing", "fig:percall", "fig:threads", "fig:hotkey", "fig:wake",
               "fig:deadline", "fig:ablation", "fig:http", "tab:proofs", "tab:mutants", "tab:stress",
               "tab:runs", "tab:http", "tab:targets"]


def manifest():
    out = {"outputs": [], "sources": {}}
    for o in OUTPUTS:
        out["outputs"].append({"file": f"paper/generated/{o.name}", "script": o.script,
                               "inputs": [p for k in o.sources for p in pc.SOURCES[k].paths],
                               "image": o.image, "data": f"paper/generated/{o.data}" if o.data else None,
                               "what": o.what})
    for k, s in pc.SOURCES.items():
        out["sources"][k] = {"paths": list(s.paths), "command": s.command, "what": s.what}
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def artifact_table():
    rows = [o for o in OUTPUTS if o.extra.get("label") and not (o.name.startswith("data/"))]
    order = {label: i for i, label in enumerate(PAPER_ORDER)}
    rows.sort(key=lambda o: order.get(o.extra["label"], len(order)))
    out = [pc.HEADER.format(script="scripts/paper_generate.py"),
           "% rows: OUTPUTS of scripts/paper_generate.py (the manifest, paper/generated/manifest.json)",
           *pc.longtable_head(r"@{}p{0.08\linewidth}p{0.27\linewidth}p{0.40\linewidth}p{0.17\linewidth}@{}",
                              r" & generated file & its data: the command that regenerates it & drawn by", 4)]
    for o in rows:
        label = o.extra["label"]
        ref = ("Fig.~" if label.startswith("fig") else "Tab.~") + f"\\ref{{{label}}}"
        cmds = []
        for k in o.sources:
            s = pc.SOURCES[k]
            cmds.append(f"{pc.tt(s.command)} $\\to$ " + ", ".join(pc.tt(p) for p in s.paths))
        data = r"\newline ".join(cmds) if cmds else r"\textit{none: drawn from paper/design.md}"
        name = pc.tt("paper/generated/" + o.name)
        if o.data:
            name += r"\newline (numbers: " + pc.tt(o.data) + ")"
        out.append(f"{ref} & {name} & {data} & {pc.tt(o.script)} \\\\")
    out.append(r"\midrule")
    src = [pc.SOURCES[k] for k in ALL_RESULTS]
    out.append(r"prose & " + pc.tt("paper/generated/numbers.tex") + r" & every source above & " +
               pc.tt("scripts/paper_numbers.py") + r" \\")
    out += [r"\bottomrule", r"\end{longtable}", ""]
    return "\n".join(out)


def generate(out_dir, data_only=False, gallery_missing=None, quiet=False, only=None):
    """Writes every output (or those named in `only`) under out_dir; returns the list written."""
    out_dir = pathlib.Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    R = pc.Results()
    missing_policy = pg.policy(gallery_missing)
    written = []
    for o in OUTPUTS:
        if only and o.name not in only:
            continue
        path = out_dir / o.name
        t0 = time.monotonic()
        if o.image:
            if data_only:
                continue
            o.make(R, path)
        else:
            if o.name == "gallery.tex":
                text = pg.gallery_tex(R, missing_policy)
            elif o.name == "tab-artifact.tex":
                text = artifact_table()
            elif o.name == "manifest.json":
                text = manifest()
            else:
                text = o.make(R)
            path.write_text(text, encoding="utf-8")
        written.append(o.name)
        if not quiet:
            print(f"  {o.name:28s} {o.script:28s} {time.monotonic() - t0:5.2f} s")
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=pc.GENERATED)
    ap.add_argument("--data-only", action="store_true")
    ap.add_argument("--gallery-missing", choices=("error", "warn"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        written = generate(args.out, args.data_only, args.gallery_missing, args.quiet)
    except pc.MissingInput as e:
        sys.exit(f"paper_generate: {e}")
    except pg.GalleryIncomplete as e:
        sys.exit(f"paper_generate: {e}")
    if not args.quiet:
        print(f"paper_generate: {len(written)} files in {args.out}")


if __name__ == "__main__":
    main()
