"""Shared parts of the paper's generators (scripts/paper_*.py): where things are, the results
sources and the commands that make them, reading them once, and LaTeX formatting.

Not run by itself. scripts/paper_generate.py writes paper/generated/ from results/;
scripts/paper_check.py regenerates it into a temporary directory and compares.

Every generated file is declared once, in scripts/paper_generate.py's OUTPUTS, with the
results files it reads (SOURCES below, each with the command that regenerates it). That list is
the manifest: it is written to paper/generated/manifest.json, and the artifact appendix of the
paper is generated from it.
"""
from __future__ import annotations

import json
import math
import pathlib
import re
import sys
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAPER = ROOT / "paper"
GENERATED = PAPER / "generated"
sys.path.insert(0, str(ROOT / "scripts"))

import bench_report  # noqa: E402  (the benchmark report's reading and its P1-P8 verdicts)
import proofs_table  # noqa: E402  (the proofs' RESULT lines and mutant descriptions)


class MissingInput(Exception):
    """A results file the paper needs is not there, or disagrees with its own raw files; the
    message names the command that makes it."""


# ---- the results sources ---------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    key: str
    paths: tuple[str, ...]  # relative to the repository root; a trailing / is a directory
    command: str            # what regenerates it
    what: str               # one line for the artifact appendix


SOURCES = {s.key: s for s in [
    Source("bench", ("results/bench/sf_bench.json", "results/bench/go_bench.json",
                     "results/bench/meta.json"),
           "bench/run --publish",
           "sf-bench (every implementation) and Go's x/sync/singleflight, 5 repetitions"),
    Source("bench16", ("results/bench/16core_sf_bench_distinct.json",),
           "sf-bench --benchmark_filter='^(distinct_noop|floor)/' --benchmark_repetitions=3 "
           "(on a lent 16-CPU machine, binaries built at 75cf55b)",
           "distinct_noop and floor on 16 CPUs, before the own table"),
    Source("stress16", ("results/stress/16core_default.json",),
           "sf-stress --json 16core_default.json (on the same 16-CPU machine)",
           "the default stress comparison on 16 CPUs (its meta names the commit)"),
    Source("sweep", ("results/stress/poisson_sweep.json",),
           "scripts/stress-sweep.sh --publish",
           "open-loop Poisson arrivals, 15 s per λD"),
    Source("stress", ("results/stress/default.json",),
           "scripts/run-main.sh --publish",
           "the default stress comparison (all workloads, checkers on every call)"),
    Source("http_threads", ("results/http_demo/wrk-threads-5s/",),
           "examples/http_demo/drive.sh --wrk -d 5 --raw results/http_demo/wrk-threads-5s",
           "the HTTP demo (a thread per connection) under wrk"),
    Source("http_asio", ("results/http_demo/wrk-asio-5s/",),
           "examples/http_demo/drive.sh --wrk --server asio -d 5 --raw "
           "results/http_demo/wrk-asio-5s",
           "the HTTP demo (Asio coroutines) under wrk"),
    Source("proofs_ci", ("results/proofs/ci.log",), "proofs/run --publish",
           "the CI tier of the model checks, with every mutant"),
    Source("proofs_long", ("results/proofs/long.log",), "proofs/run --publish --long",
           "the long tier of the model checks"),
    Source("mutants", ("proofs/CMakeLists.txt", "proofs/mutants/", "proofs/spin/singleflight.pml"),
           "(source files: the models' mutants and their descriptions)",
           "which mutant each model must catch, and what each breaks"),
    Source("gallery", ("proofs/gallery/",),
           "(the mutant gallery; its README.md says how each picture is made)",
           "one picture per caught mutant: proofs/gallery/<model>--<mutant>.png"),
    Source("memory", ("results/memory/large_values.txt",),
           "build/release/tests/sf-memory-bound (ctest -L unit, memory_of_*)",
           "resident memory after 64 threads x 2,000 lone flights with a 64 KiB value"),
    Source("config", ("src/singleflight/detail/config.hpp", "src/singleflight/detail/record_pool.hpp"),
           "(source file: the library's tuning constants)",
           "the design constants the prose names"),
]}


def need(key, index=0):
    """The path of SOURCES[key].paths[index], or MissingInput naming the command."""
    src = SOURCES[key]
    rel = src.paths[index]
    path = ROOT / rel
    if not path.exists():
        raise MissingInput(f"{rel} is missing: it is made by `{src.command}`")
    return path


# ---- reading ---------------------------------------------------------------------------------

class Results:
    """Every results source, read at most once."""

    def __init__(self):
        self._cache = {}

    def _once(self, name, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    @property
    def bench(self):
        """bench_report.Results over sf_bench.json and go_bench.json (medians of repetitions)."""
        def make():
            ctx, runs = bench_report.load_runs(need("bench", 0))
            if not runs:
                raise MissingInput(f"{SOURCES['bench'].paths[0]} holds no benchmark runs: "
                                   f"rerun `{SOURCES['bench'].command}`")
            _, go = bench_report.load_runs(need("bench", 1))
            runs.update(go)
            return bench_report.Results(runs)
        return self._once("bench", make)

    @property
    def bench_meta(self):
        return self._once("bench_meta", lambda: json.loads(need("bench", 2).read_text()))

    @property
    def bench16(self):
        """The 16-CPU run: written with aggregates only, so its medians are Google Benchmark's
        own median aggregates (bench_report reads repetitions, of which this file has none)."""
        def make():
            path = need("bench16")
            ctx, runs = bench_report.load_runs(path)
            if not runs:
                ctx, runs = load_median_aggregates(path)
            if not runs:
                raise MissingInput(f"{SOURCES['bench16'].paths[0]} holds no runs: rerun "
                                   f"`{SOURCES['bench16'].command}`")
            return ctx, bench_report.Results(runs)
        return self._once("bench16", make)

    def stress_json(self, key):
        return self._once(key, lambda: json.loads(need(key).read_text()))

    def http(self, key):
        """{'meta': {...}, 'rows': [...]} from summary.txt and meta.txt of one drive.sh --wrk run."""
        def make():
            d = need(key)
            for f in ("summary.txt", "meta.txt"):
                if not (d / f).exists():
                    raise MissingInput(f"{SOURCES[key].paths[0]}{f} is missing: it is made by "
                                       f"`{SOURCES[key].command}`")
            meta = {}
            for line in (d / "meta.txt").read_text().splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    meta[k.strip()] = v.strip()
            rows = parse_http_summary((d / "summary.txt").read_text())
            for row in rows:
                add_wrk(row, d, key)
            return {"meta": meta, "rows": rows, "header": (d / "summary.txt").read_text().splitlines()[0]}
        return self._once(key, make)

    def proofs(self, key):
        def make():
            meta, rows = proofs_table.parse_results(need(key))
            if not rows:
                raise MissingInput(f"{SOURCES[key].paths[0]} has no RESULT lines: rerun "
                                   f"`{SOURCES[key].command}`")
            return meta, rows
        return self._once(key, make)


def load_median_aggregates(path):
    """{(scenario, impl, params): {metric: value}} from the median aggregates of a Google
    Benchmark JSON file written with --benchmark_report_aggregates_only."""
    doc = json.loads(path.read_text())
    runs = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
            continue
        scenario, impl, params = bench_report.parse_name(b.get("run_name", b["name"]))
        metrics = {k: v for k, v in b.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        runs[(scenario, impl, tuple(sorted(params.items())))] = metrics
    return doc.get("context", {}), runs


HTTP_COLUMNS = ["endpoint", "conns", "req_s", "p50_ms", "p90_ms", "p99_ms", "errors", "origin",
                "saved", "peak", "wait_ms", "threads", "rss_mib"]


def add_wrk(row, d, key):
    """Adds wrk's own figures (wrk-<endpoint>-c<conns>.txt: its 'sf-wrk' line) to a summary row,
    and refuses a summary whose req/s disagrees with wrk's."""
    name = f"wrk-{row['endpoint'].strip('/')}-c{int(row['conns'])}.txt"
    path = d / name
    if not path.exists():
        raise MissingInput(f"{SOURCES[key].paths[0]}{name} is missing: it is made by `{SOURCES[key].command}`")
    m = re.search(r"^sf-wrk (.*)$", path.read_text(), re.M)
    if not m:
        raise MissingInput(f"{SOURCES[key].paths[0]}{name} has no 'sf-wrk' line: rerun `{SOURCES[key].command}`")
    f = {k: float(v) for k, v in (kv.split("=", 1) for kv in m.group(1).split())}
    rate = f["requests"] / (f["duration_us"] / 1e6)
    if abs(rate - row["req_s"]) > max(1.0, 0.001 * rate):
        raise MissingInput(f"{SOURCES[key].paths[0]}: summary.txt says {row['req_s']:g} req/s for {row['endpoint']} "
                           f"at {int(row['conns'])} connections, {name} {rate:.0f}: rerun `{SOURCES[key].command}`")
    row["wrk_requests"] = int(f["requests"])
    row["wrk_p90_ms"] = f["p90_us"] / 1000


def parse_http_summary(text):
    """The table of examples/http_demo/drive.sh --wrk's summary.txt, one dict per row."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == len(HTTP_COLUMNS) and parts[0].startswith("/"):
            row = dict(zip(HTTP_COLUMNS, parts))
            row["saved"] = row["saved"].rstrip("%")
            for k in HTTP_COLUMNS[1:]:
                row[k] = float(row[k])
            rows.append(row)
    extra = {}
    for m in re.finditer(r"^(/\w+)\s+from (\d+) to (\d+) connections: ([\d.]+) threads and "
                         r"([\d.]+) KiB resident per extra waiting request", text, re.M):
        extra[m.group(1)] = {"threads_per_request": float(m.group(4)),
                             "kib_per_request": float(m.group(5))}
    for row in rows:
        row.update(extra.get(row["endpoint"], {}))
    return rows


def mutants_by_model():
    """{model: [mutant, ...]} as proofs/CMakeLists.txt lists them: sf_model(...) for Relacy,
    sf_spin(...) for Spin (model 'spin_<property>')."""
    text = need("mutants", 0).read_text()
    out = {}
    for m in re.finditer(r"^sf_(model|spin)\((\w+)(.*?)\)\s*$", text, re.M | re.S):
        kind, name, body = m.groups()
        mm = re.search(r"MUTANTS\s+(.*?)(?:\s+LONG\b|\s+CI\b|$)", body, re.S)
        mutants = mm.group(1).split() if mm else []
        out[("spin_" if kind == "spin" else "") + name] = mutants
    return out


def config_constants():
    """{NAME: int} for the #define SINGLEFLIGHT_<NAME> <int> defaults in config.hpp and
    record_pool.hpp."""
    text = "".join(need("config", i).read_text() for i in range(len(SOURCES["config"].paths)))
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^#define SINGLEFLIGHT_(\w+) (\d+)\s*$", text, re.M)}


# ---- formatting ------------------------------------------------------------------------------

def sig(x, digits=3):
    """x to `digits` significant figures, without exponent, trailing zeros kept for < 1000."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        raise ValueError("no value")
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}" if abs(x) >= 1000 else f"{x:.{decimals}f}"


def fixed(x, decimals=2):
    return f"{x:,.{decimals}f}"


def count(n):
    return f"{int(round(n)):,}"


def ns_text(x):
    """A duration given in ns, as LaTeX text in ns, µs or ms, 3 significant figures."""
    if x >= 1e6:
        return f"{sig(x / 1e6)}\\,ms"
    if x >= 1e3:
        return f"{sig(x / 1e3)}\\,\\textmu s"
    return f"{sig(x)}\\,ns"


def rate_text(x):
    for unit, scale in (("M/s", 1e6), ("k/s", 1e3)):
        if x >= scale * 0.9995:
            return f"{sig(x / scale)}\\,{unit}"
    return f"{sig(x)}/s"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "µ": r"\textmu{}", "λ": r"$\lambda$",
                "→": r"$\to$", "×": r"$\times$", "≤": r"$\le$", "≥": r"$\ge$", "–": "--",
                "—": "---", "’": "'", "…": r"\ldots{}", "φ": r"$\varphi$"}


def tex(s):
    """Plain text (a file name, a command, a description) escaped for LaTeX."""
    return "".join(_TEX_ESCAPES.get(c, c) for c in str(s))


def tt(s):
    """Monospaced, breakable at / and _ (commands, paths, identifiers)."""
    text = tex(s).replace("--", "-{}-").replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")
    return r"\texttt{" + text + "}"


def short_commit(c):
    c = (c or "?").strip()
    m = re.match(r"([0-9a-f]{7,40})(.*)$", c)
    return (m.group(1)[:7] + m.group(2)) if m else c


HEADER = ("% Generated by {script} from results/ -- do not edit; regenerate with paper/build\n"
          "% (or /usr/bin/python3 scripts/paper_generate.py). scripts/paper_check.py compares it.\n")


def longtable_head(colspec, header, ncols):
    """The opening of a longtable whose caption and label the including .tex sets first, as
    \\def\\LTcap{...}\\def\\LTlabel{...} (the prose owns captions; the data owns rows)."""
    return [r"\begin{longtable}{" + colspec + "}",
            r"\caption{\LTcap}\label{\LTlabel}\\",
            r"\toprule", header + r" \\", r"\midrule", r"\endfirsthead",
            r"\multicolumn{" + str(ncols) + r"}{@{}l}{\small\textit{(continued)}} \\",
            r"\toprule", header + r" \\", r"\midrule", r"\endhead"]


@dataclass
class Output:
    """One generated file under paper/generated/."""
    name: str                   # path relative to paper/generated
    script: str                 # the script whose function writes it
    sources: tuple[str, ...]    # SOURCES keys it reads
    make: object                # make(results) -> str (text files) or draw(results, path)
    what: str = ""              # one line for the artifact appendix
    image: bool = False         # a figure image: regenerated, never byte-compared
    data: str | None = None     # for an image: the CSV (an Output name) of its plotted numbers
    extra: dict = field(default_factory=dict)
