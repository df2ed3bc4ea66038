#!/usr/bin/python3
"""Checks that the paper's generated files match results/, without TeX (ctest -L paper).

usage: /usr/bin/python3 scripts/paper_check.py [--gallery-missing error|warn] [--keep DIR]

1. Regenerates every generated text file (numbers.tex, the tables, the manifest, the gallery
   appendix) and the numbers behind every figure (paper/generated/data/*.csv) into a temporary
   directory, and compares each with the committed one under paper/generated/. A difference
   fails the check with a diff that names the file and the results files it comes from: either
   results/ changed (rerun paper/build and commit paper/generated/ and paper/singleflight.pdf) or
   a generated file was edited by hand. Figure images are not compared (matplotlib's output
   varies); their CSVs are, and each image must exist.
2. Fails when a .tex file of the paper names a generated file (\\input{generated/...},
   \\includegraphics{generated/...}) that no script produces (scripts/paper_generate.py's OUTPUTS,
   the manifest), or a gallery picture that is not there.
A missing results file fails with the command that makes it. A mutant of proofs/CMakeLists.txt
without a picture in proofs/gallery/ fails too, unless --gallery-missing=warn or
SINGLEFLIGHT_PAPER_GALLERY=warn. Needs Python 3.11's standard library only.
"""
from __future__ import annotations

import argparse
import difflib
import pathlib
import re
import sys
import tempfile

import paper_common as pc
import paper_gallery as pg
import paper_generate as gen


def tex_files():
    return sorted(pc.PAPER.glob("*.tex")) + sorted((pc.PAPER / "sections").glob("*.tex"))


def referenced(text):
    """Generated files a .tex names: \\input{generated/x} (-> x.tex) and
    \\includegraphics[...]{generated/x}."""
    text = re.sub(r"(?<!\\)%.*", "", text)
    out = set()
    for m in re.finditer(r"\\(input|include)\{generated/([^}]+)\}", text):
        name = m.group(2)
        out.add(name if "." in pathlib.PurePath(name).name else name + ".tex")
    for m in re.finditer(r"\\includegraphics(?:\[[^\]]*\])?\{generated/([^}]+)\}", text):
        out.add(m.group(1))
    return out


def macros(text):
    """{name: (value, 'results file: computation')} from numbers.tex (each macro's comment line
    names its source)."""
    out, comment = {}, ""
    for line in text.splitlines():
        if line.startswith("% "):
            comment = line[2:]
        m = re.match(r"\\newcommand\{\\(\w+)\}\{(.*)\}$", line)
        if m:
            out[m.group(1)] = (m.group(2), comment)
    return out


def macro_changes(committed, fresh):
    old, new = macros(committed), macros(fresh)
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None:
            lines.append(f"\\{name}: new, {b[0]}  [{b[1]}]")
        elif b is None:
            lines.append(f"\\{name}: no longer generated (was {a[0]})")
        else:
            lines.append(f"\\{name}: {a[0]} -> {b[0]}  [{b[1]}]")
    return lines


def check(args):
    failures = []
    outputs = {o.name: o for o in gen.OUTPUTS}
    with tempfile.TemporaryDirectory(prefix="paper-check-") as tmp:
        out = pathlib.Path(args.keep or tmp)
        try:
            written = gen.generate(out, data_only=True, gallery_missing=args.gallery_missing, quiet=True)
        except pc.MissingInput as e:
            return [f"a results file is missing or unusable: {e}"]
        except pg.GalleryIncomplete as e:
            return [f"{e}"]
        for name in written:
            o = outputs[name]
            fresh = (out / name).read_text(encoding="utf-8")
            committed_path = pc.GENERATED / name
            sources = ", ".join(p for k in o.sources for p in pc.SOURCES[k].paths) or "(no results file)"
            if not committed_path.exists():
                failures.append(f"paper/generated/{name} is not there (made by {o.script} from {sources}): "
                                f"run paper/build and commit it")
                continue
            committed = committed_path.read_text(encoding="utf-8")
            if committed != fresh and name == "numbers.tex":
                changed = macro_changes(committed, fresh)
                if changed:
                    failures.append(f"paper/generated/numbers.tex no longer matches results/ ({o.script}); "
                                    f"{len(changed)} macro(s) changed:\n    " + "\n    ".join(changed[:40]))
                    continue
            if committed != fresh:
                diff = list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                                 f"paper/generated/{name} (committed)",
                                                 f"paper/generated/{name} (from results/ now)", lineterm="", n=1))
                shown = diff[:40] + ([f"... {len(diff) - 40} more diff lines"] if len(diff) > 40 else [])
                failures.append(f"paper/generated/{name} no longer matches what {o.script} makes from "
                                f"{sources}:\n    " + "\n    ".join(shown))
        for o in gen.OUTPUTS:
            if o.image and not (pc.GENERATED / o.name).exists():
                failures.append(f"paper/generated/{o.name} (a figure, drawn by {o.script}) is not there: "
                                "run paper/build")
    named = {}
    for f in tex_files():
        for name in referenced(f.read_text(encoding="utf-8")):
            named.setdefault(name, f.relative_to(pc.ROOT))
    for name, where in sorted(named.items()):
        if name not in outputs:
            failures.append(f"{where} names generated/{name}, which no script produces (not in "
                            "scripts/paper_generate.py's OUTPUTS)")
    gallery = (pc.GENERATED / "gallery.tex")
    if gallery.exists():
        for m in re.finditer(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+\.png)\}", gallery.read_text()):
            if not (pc.ROOT / "proofs/gallery" / m.group(1)).exists():
                failures.append(f"paper/generated/gallery.tex shows proofs/gallery/{m.group(1)}, which is not there")
    stray = sorted(p.relative_to(pc.GENERATED).as_posix() for p in pc.GENERATED.rglob("*")
                   if p.is_file() and p.relative_to(pc.GENERATED).as_posix() not in outputs)
    for s in stray:
        failures.append(f"paper/generated/{s} is in no script's manifest: remove it or add it to OUTPUTS")
    return failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gallery-missing", choices=("error", "warn"))
    ap.add_argument("--keep", type=pathlib.Path, help="regenerate into DIR and keep it")
    args = ap.parse_args(argv)
    failures = check(args)
    if failures:
        print(f"paper_check: {len(failures)} problem(s):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        if any(f.startswith("paper/generated/") for f in failures):
            print("paper_check: regenerate with `paper/build` (or /usr/bin/python3 scripts/paper_generate.py) "
                  "and commit paper/generated/ and paper/singleflight.pdf", file=sys.stderr)
        return 1
    print(f"paper_check: paper/generated/ matches results/ ({len(gen.OUTPUTS)} outputs in the manifest; "
          f"figure images not compared, their data is)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
