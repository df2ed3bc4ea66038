#!/usr/bin/env python3
"""Shows why a mutant is caught: runs its check and draws the failing execution.

usage: proofs/explain [options] <model> <mutant>   a Relacy model and a mutant it catches
       proofs/explain [options] spin <mutant>      the first Spin property that catches it
       proofs/explain [options] spin_<property> <mutant>
       proofs/explain --list                       every model and mutant, with what it breaks
       proofs/explain --gallery LOG                every picture, from the log of proofs/run
       proofs/explain --selftest                   the parsers on captured output (ctest)

options: --all          every step, the checker's bookkeeping included, nothing folded
         --build DIR    the build to use (default build/proofs, or $SINGLEFLIGHT_PROOFS_BUILD;
                        configured as proofs/run does if it is not yet)
         --out DIR      where the pictures go (default proofs/gallery)
         Relative paths are taken from the repository's root.
         --no-picture   the text trace only

For a model and a mutant, explain builds that one mutant's target, runs it with the search of
its ctest test (the arguments come from ctest, so they are stated once, in
proofs/CMakeLists.txt), prints the failing execution as a trace, and writes the picture
<out>/<model>--<mutant>.svg and .png. The pictures of every mutant, and their index
proofs/gallery/README.md, come from `proofs/run`, which calls `--gallery` on its log.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "gallery"))

import catalog  # noqa: E402
import relacy  # noqa: E402
import spin  # noqa: E402
import counterexample as traces  # noqa: E402
from sources import Sources  # noqa: E402

GALLERY = HERE / "gallery"


class Failure(Exception):
    """An error to report in one sentence, and exit non-zero."""


# ---- finding the test of a model and a mutant ---------------------------------------------

def configure(build: pathlib.Path) -> None:
    """Configures `build` as proofs/run does if it is not configured yet. A build configured
    some other way is left alone: it must have the proofs."""
    if (build / "CMakeCache.txt").is_file():
        if not (build / "proofs/CTestTestfile.cmake").is_file():
            raise Failure(f"{build} is configured without the proofs: configure it with "
                          "-DSINGLEFLIGHT_BUILD_PROOFS=ON, or use proofs/run's build/proofs")
        return
    print(f"==> configuring {build} (proofs/run --configure-only)", file=sys.stderr)
    subprocess.run([str(HERE / "run"), "--configure-only", "--build", str(build)], check=True)


def find_test(build: pathlib.Path, model: str, mutant: str) -> catalog.MutantTest:
    tests = catalog.mutant_tests(build)
    if model == "spin":  # the first property that catches it, in CMakeLists.txt's order
        model = next((t.model for t in tests if t.is_spin and t.mutant == mutant), "spin_?")
    match = [t for t in tests if t.model == model and t.mutant == mutant]
    if match:
        return match[0]
    models = sorted({t.model for t in tests})
    if model not in models:
        raise Failure(f"unknown model '{model}'. Models with mutants: {', '.join(models)} "
                      "(or 'spin' for the first Spin property that catches the mutant)")
    mutants = sorted(t.mutant for t in tests if t.model == model)
    raise Failure(f"model '{model}' catches no mutant '{mutant}'. Its mutants: {', '.join(mutants)}")


def run_test(build: pathlib.Path, test: catalog.MutantTest) -> str:
    """Builds the test's target (Relacy) and runs its ctest command; returns what it printed."""
    if not test.is_spin:
        target = f"sf-proof-{test.model}-mutant-{test.mutant}"
        print(f"==> building {target}", file=sys.stderr)
        subprocess.run(["cmake", "--build", str(build), "--target", target], check=True,
                       stdout=sys.stderr)
        test = next(t for t in catalog.mutant_tests(build) if t.test == test.test)
    if not test.command:
        raise Failure(f"ctest has no command for {test.test}; is {build} configured with the proofs?")
    print(f"==> running {test.test}: {' '.join(test.command)}", file=sys.stderr)
    done = subprocess.run(test.command, cwd=test.workdir, capture_output=True, text=True, timeout=900)
    return done.stdout + done.stderr


# ---- from a test's output to a trace -------------------------------------------------------

def result_of(output: str) -> dict[str, str]:
    for line in output.splitlines():
        if line.startswith("RESULT model="):
            return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return {}


def trace_of(test: catalog.MutantTest, output: str, sources: Sources,
             repo: pathlib.Path = REPO, pml: pathlib.Path | None = None,
             patch: pathlib.Path | None = None) -> traces.Trace:
    """The failing execution in a mutant test's output. Raises Failure if the checker did not
    catch the mutant (the test's verdict is FAIL) or printed no counterexample."""
    if test.is_spin:
        result = result_of(output)
        _require_caught(test, [result])
        source = spin.PromelaSource((pml or repo / "proofs/spin/singleflight.pml").read_text())
        t = spin.parse_trail(output, source, test.model, test.mutant, result)
        if not t.steps:
            raise Failure(f"{test.test}: Spin printed no counterexample trail")
        return t
    runs = relacy.split_suites(output)
    _require_caught(test, [r.result for r in runs])
    failing = [r for r in runs if r.events and r.result.get("verdict") == "pass"]
    if not failing:
        raise Failure(f"{test.test}: Relacy printed no execution history")
    run = failing[0]
    patch = patch or repo / "proofs/mutants" / f"{test.mutant}.patch"
    mutated = relacy.mutated_lines(run.events, sources, repo, patch)
    return relacy.build_trace(run, test.model, test.mutant, sources, mutated)


def _require_caught(test: catalog.MutantTest, results: list[dict[str, str]]) -> None:
    if not any(results):
        raise Failure(f"{test.test}: no RESULT line: the check did not run to the end")
    missed = [r for r in results if r.get("verdict") != "pass"]
    if missed:
        r = missed[0]
        raise Failure(f"NOT CAUGHT: {test.test}: the checker reported {r.get('result', '?')}, "
                      f"but the mutant must cause {r.get('expected', '?')}. The mutant survives: "
                      "the check no longer tests what it claims")


# ---- words and pictures --------------------------------------------------------------------

def words(test: catalog.MutantTest, repo: pathlib.Path = REPO) -> tuple[str, list[str]]:
    """The title and the two sentences under it."""
    properties, broke = catalog.describe_mutant(repo, test)
    shows = catalog.explanations(repo).get(f"{test.model} {test.mutant}", "")
    if not shows:
        print(f"warning: no explanation for '{test.model} {test.mutant}' in "
              "proofs/mutants/explanations.txt", file=sys.stderr)
    title = f"{test.model} / {test.mutant}" + (f" ({properties})" if properties else "")
    return title, [broke, shows]


def regenerate_command(test: catalog.MutantTest) -> str:
    return f"proofs/explain {test.model} {test.mutant}"


def footer(t: traces.Trace, test: catalog.MutantTest) -> str:
    marks = ["red: the step the checker reported", "✎ orange: the mutant's change (or the step next to a changed line that makes none)"]
    if t.checker == "Relacy":
        marks.append("(n): the numbered memory-order site of the source line")
    else:
        marks.append("Promela steps of proofs/spin/singleflight.pml; ‹…›: the C++ operation it stands for")
    if any(s.blocked for s in t.steps):
        marks.append("purple: where a thread waits forever")
    return "   ·   ".join(marks) + f".   Regenerate: {regenerate_command(test)}"


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def draw(t: traces.Trace, test: catalog.MutantTest, out: pathlib.Path, show_all: bool,
         repo: pathlib.Path = REPO) -> list[pathlib.Path]:
    import picture  # matplotlib is needed only here
    title, sentences = words(test, repo)
    rows = traces.fold(t, show_all=show_all)
    return picture.draw(t, rows, title, sentences, footer(t, test), out / test.picture_name)


# ---- the commands --------------------------------------------------------------------------

def explain_one(args) -> int:
    build = pathlib.Path(args.build)
    configure(build)
    test = find_test(build, args.model, args.mutant)
    start = time.monotonic()
    output = run_test(build, test)
    t = trace_of(test, output, Sources([REPO]))
    title, sentences = words(test)
    print(traces.render_text(t, traces.fold(t, show_all=args.all), title, sentences))
    if not args.no_picture:
        if have_matplotlib():
            files = draw(t, test, pathlib.Path(args.out), args.all)
            print(f"\npicture: {', '.join(str(_shown(f)) for f in files)}")
        else:
            print(f"\nno picture: matplotlib is not installed for {sys.executable}", file=sys.stderr)
    print(f"({time.monotonic() - start:.1f} s)", file=sys.stderr)
    return 0


def list_all(args) -> int:
    build = pathlib.Path(args.build)
    configure(build)
    tests = catalog.mutant_tests(build)
    for model in dict.fromkeys(t.model for t in tests):  # in proofs/CMakeLists.txt's order
        print(model)
        for t in (t for t in tests if t.model == model):
            properties, broke = catalog.describe_mutant(REPO, t)
            print(f"  {t.mutant:<28} {('(' + properties + ') ') if properties else ''}{broke}")
    print("\nproofs/explain <model> <mutant> draws one; 'spin <mutant>' picks the first Spin property.")
    return 0


def gallery(args) -> int:
    """Draws every mutant test's counterexample found in a `ctest -V` log of the proofs, and
    writes the gallery's index."""
    log = pathlib.Path(args.gallery)
    out = pathlib.Path(args.out)
    if not have_matplotlib():
        print(f"proofs/explain: matplotlib not found ({sys.executable}): the gallery is not redrawn",
              file=sys.stderr)
        return 0
    outputs = catalog.split_ctest_log(log.read_text(errors="replace"))
    tests = []
    for name, output in outputs.items():
        m = catalog.MUTANT_TEST.match(name)
        if m:
            tests.append((catalog.MutantTest(m.group("model"), m.group("mutant"), name, [], ""), output))
    if not tests:
        raise Failure(f"{log}: no mutant tests in this log")
    entries, failures = [], 0
    sources = Sources([REPO])
    for test, output in tests:
        try:
            t = trace_of(test, output, sources)
            draw(t, test, out, show_all=False)
            entries.append((test, t, None))
        except Failure as e:
            print(f"proofs/explain: {e}", file=sys.stderr)
            entries.append((test, None, str(e)))
            failures += 1
    keep = {f"{test.picture_name}{ext}" for test, _, _ in entries for ext in (".svg", ".png")}
    for old in list(out.glob("*--*.svg")) + list(out.glob("*--*.png")):
        if old.name not in keep:
            old.unlink()
    write_index(out, entries, log)
    print(f"==> gallery: {len(entries) - failures} pictures in {_shown(out)}/ (index: {_shown(out / 'README.md')})")
    return 1 if failures else 0


def write_index(out: pathlib.Path, entries, log: pathlib.Path) -> None:
    lines = ["# The mutant gallery", "",
             "Each picture is the execution in which a checker catches one mutant (a deliberate",
             "breakage, `proofs/mutants/<name>.patch` or a `MUTANT_<NAME>` of",
             "`proofs/spin/singleflight.pml`): one column per thread (Relacy) or process (Spin),",
             "one row per step in the order the checker ran them. The step the checker reported",
             "is red; ✎ orange steps run a line the mutant changed (or, where the changed line makes",
             "no step of its own, the step next to it); purple ones wait forever;",
             "(n) is the memory-order site numbered in the source line's comment. Steps that do",
             "not touch the failure are folded into \"⋯ k steps\"; `proofs/explain --all` shows",
             "them all.", "",
             "Generated by `proofs/run` (the CI tier) from its log; one picture is regenerated by the",
             "command under it. The second sentence under each title is written by hand in",
             "[`proofs/mutants/explanations.txt`](../mutants/explanations.txt). Do not edit this file.", ""]
    relacy_entries = [e for e in entries if not e[0].is_spin]
    spin_entries = [e for e in entries if e[0].is_spin]
    lines += ["| picture | caught as |", "|---|---|"]
    for test, t, error in relacy_entries + spin_entries:
        what = t.verdict if t else f"**not drawn**: {error}"
        lines.append(f"| [`{test.model} / {test.mutant}`](#{_anchor(test)}) | {what} |")
    lines.append("")
    for heading, group in (("Relacy: the shipped headers, mutated", relacy_entries),
                           ("Spin: the Promela model, mutated", spin_entries)):
        if not group:
            continue
        lines += [f"## {heading}", ""]
        for test, t, error in group:
            title, sentences = words(test)
            lines += [f"### {title}", ""]
            lines += [" ".join(s for s in sentences if s), ""]
            if t is None:
                lines += [f"**Not drawn:** {error}", ""]
                continue
            lines += [f"![{test.model} / {test.mutant}]({test.picture_name}.svg)", "",
                      f"`{regenerate_command(test)}` · [PNG]({test.picture_name}.png)", ""]
    (out / "README.md").write_text("\n".join(lines))


def _anchor(test: catalog.MutantTest) -> str:
    title, _ = words(test)
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


def _shown(path: pathlib.Path) -> pathlib.Path:
    try:
        return path.resolve().relative_to(pathlib.Path.cwd())
    except ValueError:
        return path


# ---- the self-test (ctest proof_explain_parser) ---------------------------------------------

def selftest(args) -> int:
    """Parses the captured Relacy history and Spin trail in proofs/gallery/testdata/ and checks
    that names, site numbers and verdicts come out; draws them too if matplotlib is here."""
    data = GALLERY / "testdata"
    checks: list[tuple[str, bool]] = []

    relacy_test = catalog.MutantTest("s3_s8_publication", "relaxed_publish", "t", [], "")
    output = (data / "relacy_relaxed_publish.log").read_text()
    t = trace_of(relacy_test, output, Sources([data / "relacy"]), repo=data / "relacy",
                 patch=data / "relacy/relaxed_publish.patch")
    labels = [s.label for s in t.steps]
    has = lambda text: any(text in label for label in labels)
    checks += [
        ("Relacy verdict names the raced field", t.verdict == "DATA RACE on outcome_access_"),
        ("the join is state_.fetch_or(JOINED) at site (1)", has("state_.fetch_or(JOINED) acq_rel (1)")),
        ("the mutated close is relaxed at site (2)", has("state_.fetch_or(DONE) relaxed (2)")),
        ("the close is marked as a mutated line", any(s.mutated and "fetch_or(DONE)" in s.label for s in t.steps)),
        ("users_ is named, try_add_user's load is site (7)", has("users_.load acquire (7)")),
        ("the follower's acquire load is site (3)", has("state_.load acquire (3)")),
        ("state_ values are named by their bits", has("JOINED|WAITERS")),
        ("the constructor stores are folded as noise", all(s.noise for s in t.steps if "relacy/atomic.hpp" in s.detail)),
        ("the race links the write and the read", any("nothing orders the two" in link.label for link in t.links)),
        ("the failing step is thread 1's", (t.failing_step() or traces.Step(0, -1, "")).column == 1),
    ]
    text = traces.render_text(t, traces.fold(t), "selftest", [])
    checks.append(("the text trace prints the verdict", "DATA RACE on outcome_access_" in text))

    spin_test = catalog.MutantTest("spin_asserts", "leave_despite_close", "t", [], "")
    output = (data / "spin_leave_despite_close.log").read_text()
    s = trace_of(spin_test, output, Sources([]), pml=data / "singleflight.pml")
    labels = [step.label for step in s.steps]
    has = lambda text: any(text in label for label in labels)
    checks += [
        ("Spin verdict is the failed assertion", s.verdict == "ASSERTION VIOLATED: node[2] == (r+1)"),
        ("processes are columns", s.columns[:3] == ["caller 0", "caller 1", "caller 2"]),
        ("the close names DONE and its C++ site", has("state[r] = state[r]|DONE   ‹fetch_or(DONE) (2)›")),
        ("the failing step is caller 1's", (s.failing_step() or traces.Step(0, -1, "")).column == 1),
        ("ghost bookkeeping is left out", not has("stale[") and not has("nwait[")),
        ("the C++ step of a join is named", any(step.context == "flight::try_join (1)" for step in s.steps)),
        ("the mutant's delist is marked", any(step.mutated and step.context == "flight::delist" for step in s.steps)),
    ]

    # a mutant the checker did not catch is an error, loudly
    survivor = output.replace("verdict=pass", "verdict=FAIL").replace("result=ASSERTION", "result=SUCCESS")
    try:
        trace_of(spin_test, survivor, Sources([]), pml=data / "singleflight.pml")
        checks.append(("a surviving mutant is an error", False))
    except Failure as e:
        checks.append(("a surviving mutant is an error", str(e).startswith("NOT CAUGHT")))

    if have_matplotlib():
        with tempfile.TemporaryDirectory() as tmp:
            drawn = draw(t, relacy_test, pathlib.Path(tmp), False)
            drawn += draw(s, spin_test, pathlib.Path(tmp), False)
            checks.append(("pictures are drawn", all(f.stat().st_size > 1000 for f in drawn)))
    else:
        print("matplotlib not found: the pictures are not checked, the text traces are")

    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    failed = [n for n, ok in checks if not ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `proofs/explain --list | head` ends quietly
    parser = argparse.ArgumentParser(prog="proofs/explain", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?")
    parser.add_argument("mutant", nargs="?")
    parser.add_argument("--all", action="store_true", help="every step, nothing folded")
    parser.add_argument("--build", default=os.environ.get("SINGLEFLIGHT_PROOFS_BUILD", "build/proofs"),
                        help="the build to use (default build/proofs)")
    parser.add_argument("--out", default=str(GALLERY), help="where pictures go (default proofs/gallery)")
    parser.add_argument("--no-picture", action="store_true", help="the text trace only")
    parser.add_argument("--list", action="store_true", help="every model and mutant")
    parser.add_argument("--gallery", metavar="LOG", help="every picture, from proofs/run's log")
    parser.add_argument("--selftest", action="store_true", help="check the parsers (ctest)")
    args = parser.parse_args(argv)
    # Relative paths are the repository's, wherever explain is run from.
    for name in ("build", "out", "gallery"):
        value = getattr(args, name)
        if value and not pathlib.Path(value).is_absolute():
            setattr(args, name, str(REPO / value))
    try:
        if args.selftest:
            return selftest(args)
        if args.list:
            return list_all(args)
        if args.gallery:
            return gallery(args)
        if not (args.model and args.mutant):
            parser.print_usage(sys.stderr)
            print("proofs/explain: name a model and a mutant (proofs/explain --list shows them)", file=sys.stderr)
            return 2
        return explain_one(args)
    except Failure as e:
        print(f"proofs/explain: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"proofs/explain: {' '.join(map(str, e.cmd))} failed (exit {e.returncode})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
