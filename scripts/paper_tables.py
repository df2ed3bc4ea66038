"""The paper's generated tables (paper/generated/tab-*.tex), each from results/ only.

Called by scripts/paper_generate.py. The P1-P8 rows are scripts/bench_report.py's targets(),
the proofs' rows scripts/proofs_table.py's parse_results() and mutant_descriptions(), so the
paper, results/bench/summary.md and proofs/README.md read the same numbers the same way.
"""
from __future__ import annotations

import paper_common as pc
from paper_common import bench_report, proofs_table, tex, tt, count, fixed, sig


def _head(extra=""):
    return pc.HEADER.format(script="scripts/paper_tables.py") + extra


def targets_table(R):
    rows = bench_report.targets(R.bench)
    out = [_head("% rows: scripts/bench_report.py targets() over results/bench/{sf,go}_bench.json\n"),
           *pc.longtable_head(r"@{}lp{0.36\linewidth}p{0.40\linewidth}l@{}", r" & target & measured & ", 4)]
    for p, target, measured, verdict in rows:
        v = r"\textbf{met}" if verdict == "**met**" else (r"\textit{not met}" if verdict == "not met" else tex(verdict))
        out.append(f"{p} & {tex(target)} & {tex(measured)} & {v} \\\\")
    out += [r"\bottomrule", r"\end{longtable}", ""]
    return "\n".join(out)


def _seconds(ms):
    return tex(proofs_table.seconds(ms))


def proofs_table_tex(R):
    out = [_head("% rows: RESULT lines (mutant=none) of results/proofs/ci.log and long.log,\n"
                 "% read by scripts/proofs_table.py parse_results()\n"),
           r"\setlength{\tabcolsep}{4pt}",
           *pc.longtable_head(r"@{}p{0.33\linewidth}p{0.15\linewidth}cp{0.21\linewidth}rr@{}",
                              r"model (suite) & property & threads & search & executions & time", 6)]
    for key, label in (("proofs_ci", "CI tier"), ("proofs_long", "long tier")):
        meta, rows = R.proofs(key)
        models = [x for x in rows if x["mutant"] == "none"]
        out.append(r"\multicolumn{6}{@{}l}{\textit{" + f"{label}: commit {tex(meta.get('commit', '?'))}, "
                   f"{tex(meta.get('date', '?')[:10])}; {count(len(models))} runs, "
                   f"{count(sum(x['verdict'] != 'pass' for x in models))} failed" + r"}} \\")
        for x in models:
            prop = tex(x["property"]).replace("+", r"+\allowbreak{}").replace(",", r",\allowbreak{}")
            search = r"\texttt{" + tex(x["search"]).replace(";", r";\allowbreak{}").replace("(", r"(\allowbreak{}") + "}"
            out.append(f"{tt(x['model'])} & {prop} & {x['threads']} & {search} & "
                       f"{count(int(x['iterations']))} & {_seconds(x['time_ms'])} \\\\")
        out.append(r"\addlinespace")
    out += [r"\bottomrule", r"\end{longtable}", ""]
    return "\n".join(out)


def mutants_table(R):
    meta, rows = R.proofs("proofs_ci")
    desc = proofs_table.mutant_descriptions()
    listed = pc.mutants_by_model()
    mutants = [x for x in rows if x["mutant"] != "none"]
    logged = {x["mutant"] for x in mutants}
    out = [_head("% rows: RESULT lines with a mutant in results/proofs/ci.log; 'what it breaks' is the\n"
                 "% first line of proofs/mutants/<mutant>.patch (or the MUTANT comment of\n"
                 "% proofs/spin/singleflight.pml); the last rows: mutants that proofs/CMakeLists.txt lists\n"
                 "% but the published log does not contain (it predates them).\n"),
           r"\setlength{\tabcolsep}{4pt}",
           *pc.longtable_head(r"@{}p{0.19\linewidth}p{0.37\linewidth}p{0.17\linewidth}p{0.11\linewidth}r@{}",
                              r"mutant & what it breaks & caught by & reported as & after", 5)]
    order = sorted(mutants, key=lambda x: (x["mutant"], x["model"]))
    last = None
    for x in order:
        name = tt(x["mutant"]) if x["mutant"] != last else ""
        what = tex(desc.get(x["mutant"], "")) if x["mutant"] != last else ""
        reported = tex(x["result"].replace("_", " ").lower())
        if x["verdict"] != "pass":
            reported = r"\textbf{NOT CAUGHT}: " + reported
        out.append(f"{name} & {what} & {tt(x['model'])} & {reported} & {count(int(x['iterations']))} \\\\")
        last = x["mutant"]
    missing = [(mu, model) for model, ms in listed.items() for mu in ms if mu not in logged]
    if missing:
        out.append(r"\midrule")
        out.append(r"\multicolumn{5}{@{}p{0.95\linewidth}}{\textit{Listed in proofs/CMakeLists.txt, "
                   r"not in the published log (commit " + tex(meta.get("commit", "?")) +
                   r"): no verdict is claimed here until the log is regenerated.}} \\")
        last = None
        for mu, model in sorted(missing):
            out.append(f"{tt(mu) if mu != last else ''} & {tex(desc.get(mu, '')) if mu != last else ''} & "
                       f"{tt(model)} & --- & --- \\\\")
            last = mu
    out += [r"\bottomrule", r"\end{longtable}", ""]
    return "\n".join(out)


def http_table(R):
    out = [_head("% rows: the table of results/http_demo/wrk-{threads,asio}-5s/summary.txt; requests and p90:\n"
                 "% the sf-wrk line of wrk-<endpoint>-c<conns>.txt beside it (its req/s must agree)\n"),
           r"\begin{tabular}{@{}llrrrrrrrr@{}}",
           r"\toprule",
           r"server & endpoint & conns & requests & req/s & p50 ms & p90 ms & p99 ms & origin calls & saved \\",
           r"\midrule"]
    for key, label in (("http_threads", "threads"), ("http_asio", "Asio")):
        h = R.http(key)
        for x in h["rows"]:
            out.append(f"{label} & {tt(x['endpoint'])} & {count(x['conns'])} & {count(x['wrk_requests'])} & "
                       f"{count(x['req_s'])} & {fixed(x['p50_ms'], 1)} & {fixed(x['wrk_p90_ms'], 1)} & "
                       f"{fixed(x['p99_ms'], 1)} & {count(x['origin'])} & {fixed(x['saved'], 1)}\\% \\\\")
        out.append(r"\addlinespace")
    out[-1] = r"\bottomrule"
    out += [r"\end{tabular}", ""]
    return "\n".join(out)


WORKLOADS = ["seed", "hot", "zipf", "churn", "deadline", "coro", "wide"]


def stress_table(R):
    d = R.stress_json("stress")
    by = {(x["workload"], x["implementation"]): x for x in d["runs"]}
    out = [_head("% rows: results/stress/default.json, one per non-Poisson workload\n"),
           r"\begin{tabular}{@{}lrrrrrr@{}}",
           r"\toprule",
           r" & \multicolumn{3}{c}{coalescing ratio} & \multicolumn{2}{c}{calls/s} & violations \\",
           r"\cmidrule(lr){2-4}\cmidrule(lr){5-6}",
           r"workload & group & mutex & sharded & group & group/mutex & (all three) \\",
           r"\midrule"]
    for w in WORKLOADS:
        g, mu, sh = (by.get((w, i)) for i in ("group", "mutex_group", "sharded_group"))
        if not g:
            continue
        viol = sum(x["violations"] for x in (g, mu, sh) if x)
        out.append(f"{tt(w)} & {fixed(g['coalescing_ratio'], 3)} & {fixed(mu['coalescing_ratio'], 3)} & "
                   f"{fixed(sh['coalescing_ratio'], 3)} & {pc.rate_text(g['throughput_per_s'])} & "
                   f"{fixed(g['throughput_per_s'] / mu['throughput_per_s'])} & {count(viol)} \\\\")
    out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


def stress_descriptions(R):
    """The workloads as the stress JSON describes them (group's run of each)."""
    d = R.stress_json("stress")
    by = {(x["workload"], x["implementation"]): x for x in d["runs"]}
    out = [_head("% descriptions: the 'description' of group's run of each workload, results/stress/default.json\n"),
           r"\begin{itemize}\setlength{\itemsep}{0pt}"]
    for w in WORKLOADS:
        g = by.get((w, "group"))
        if g:
            out.append(f"\\item {tt(w)}: {tex(g['description'])}")
    out += [r"\end{itemize}", ""]
    return "\n".join(out)
