#!/usr/bin/env python3
"""Regenerates the results table in proofs/README.md from the raw logs of proofs/run.

usage: scripts/proofs_table.py README LOG [LOG...]
       scripts/proofs_table.py --compare BEFORE_LOG AFTER_LOG

The second form prints, for every (model, mutant) pair of either log, what each run reported and
whether the verdicts agree: the check that a change to the proofs' machinery left every model
and every mutant with the same result.

Each model prints one line per suite it ran:
  RESULT model=... property=... mutant=... threads=... search=... iterations=... time_ms=...
         result=... expected=... verdict=pass|FAIL
The table goes between the markers <!-- results:begin --> and <!-- results:end --> in README.
Mutant descriptions come from the first line of each patch in proofs/mutants/ (Relacy:
`Mutant <name> (<S..>): <text>.`) and from `MUTANT <name>: <text>` comments in
proofs/spin/singleflight.pml (Spin), so that each is written once.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "proofs" / "gallery"))
import catalog  # noqa: E402  (proofs/gallery/: what each mutant breaks, read once)

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def parse_results(log):
    rows, meta = [], {}
    for line in pathlib.Path(log).read_text(errors="replace").splitlines():
        m = re.match(r"^# (\w+):\s+(.*)$", line)
        if m:
            meta[m.group(1)] = m.group(2)
        line = re.sub(r"^\d+: ", "", line)  # ctest -V prefixes each line with the test number
        if line.startswith("RESULT model="):
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    return meta, rows


def mutant_descriptions():
    """mutant -> `what it breaks (S..)` for Relacy's mutants, and the Spin model's own text for
    the mutants only Spin has, read by proofs/gallery/catalog.py."""
    text = {name: f"{what} ({props})" for name, (props, what) in catalog.patch_headers(ROOT).items()}
    for name, what in catalog.spin_comments(ROOT).items():
        text.setdefault(name, what)
    return text


def seconds(ms):
    ms = int(ms)
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.1f} s" if ms < 100_000 else f"{ms / 60_000:.1f} min"


def table(tier, meta, rows, descriptions):
    out = [f"**Tier `{tier}`** — {meta.get('date', '?')}, commit {meta.get('commit', '?')}, "
           f"{meta.get('machine', '?')}; {meta.get('compiler', '?')}; "
           f"Relacy {meta.get('relacy', '?')}; {meta.get('spin', '?')}. "
           f"Raw log: [`results/proofs/{tier}.log`](../results/proofs/{tier}.log).", ""]
    models = [r for r in rows if r["mutant"] == "none"]
    mutants = [r for r in rows if r["mutant"] != "none"]
    out += ["| model | property | threads | search | executions | time | result |",
            "|---|---|---|---|---|---|---|"]
    for r in models:
        out.append(f"| `{r['model']}` | {r['property']} | {r['threads']} | {r['search']} | "
                   f"{int(r['iterations']):,} | {seconds(r['time_ms'])} | "
                   f"{'no failure' if r['verdict'] == 'pass' else '**FAIL**: ' + r['result']} |")
    if mutants:
        out += ["", "| mutant | what it breaks | caught by | reported | after (executions) | time | caught? |",
                "|---|---|---|---|---|---|---|"]
        for r in mutants:
            out.append(f"| `{r['mutant']}` | {descriptions.get(r['mutant'], '')} | `{r['model']}` | "
                       f"{r['result'].replace('_', ' ')} | {int(r['iterations']):,} | "
                       f"{seconds(r['time_ms'])} | {'yes' if r['verdict'] == 'pass' else '**NO**'} |")
    total = sum(int(r["time_ms"]) for r in rows)
    failed = sum(r["verdict"] != "pass" for r in rows)
    out += ["", f"{len(models)} model runs, {len(mutants)} mutant runs, {seconds(total)} of checking; "
                f"{failed} verdict(s) failed.", ""]
    return out


def compare(before_log, after_log):
    (mb, before), (ma, after) = parse_results(before_log), parse_results(after_log)
    key = lambda r: (r["model"], r["property"], r["mutant"])
    b, a = {key(r): r for r in before}, {key(r): r for r in after}
    print(f"Before: commit {mb.get('commit', '?')}, {mb.get('date', '?')}. "
          f"After: commit {ma.get('commit', '?')}, {ma.get('date', '?')}.\n")
    print("| model | property | mutant | before: reported (executions) | after: reported (executions) | same verdict |")
    print("|---|---|---|---|---|---|")
    same = 0
    for k in list(b) + [k for k in a if k not in b]:
        rb, ra = b.get(k), a.get(k)
        cell = lambda r: f"{r['result'].replace('_', ' ')} ({int(r['iterations']):,})" if r else "—"
        ok = bool(rb and ra and rb["result"] == ra["result"] and rb["verdict"] == ra["verdict"] == "pass")
        same += ok
        print(f"| `{k[0]}` | {k[1]} | {k[2]} | {cell(rb)} | {cell(ra)} | {'yes' if ok else '**no**'} |")
    print(f"\n{same} of {len(set(b) | set(a))} runs report the same result with a passing verdict.")


def main(argv):
    if len(argv) == 4 and argv[1] == "--compare":
        compare(argv[2], argv[3])
        return
    if len(argv) < 3:
        sys.exit(__doc__)
    readme = pathlib.Path(argv[1])
    descriptions = mutant_descriptions()
    body = []
    for log in argv[2:]:
        meta, rows = parse_results(log)
        if not rows:
            sys.exit(f"{log}: no RESULT lines; did the models run?")
        body += table(pathlib.Path(log).stem, meta, rows, descriptions)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + "\n".join(body) + END + tail)


if __name__ == "__main__":
    main(sys.argv)
