"""Appendix B of the paper: the mutant gallery (paper/generated/gallery.tex).

Globs proofs/gallery/<model>--<mutant>.png (drawn by proofs/explain; proofs/gallery/README.md is
the index) and writes one figure per picture, captioned with what the mutant breaks (the first
line of its patch) and what the checker reported (results/proofs/ci.log). Every mutant that
proofs/CMakeLists.txt lists must have at least one picture: a mutant without one is an error,
or, with SINGLEFLIGHT_PAPER_GALLERY=warn (paper/build --gallery-missing=warn), a warning and a
line in the appendix that names it.

reduce_images() writes smaller copies of very large pictures for the PDF (build/paper/gallery/);
the committed gallery.tex names the pictures only, so it does not depend on that step.
"""
from __future__ import annotations

import os
import pathlib
import re
import sys

import paper_common as pc
from paper_common import proofs_table, tex, tt

sys.path.insert(0, str(pc.ROOT / "proofs" / "gallery"))
from catalog import split_ctest_log  # noqa: E402  (proofs/gallery/: the ctest log's reader)

ENV = "SINGLEFLIGHT_PAPER_GALLERY"
NAME = re.compile(r"^(?P<model>[A-Za-z0-9_]+)--(?P<mutant>[A-Za-z0-9_]+)\.png$")


class GalleryIncomplete(Exception):
    pass


def pictures():
    d = pc.ROOT / "proofs/gallery"
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("*.png")):
        m = NAME.match(p.name)
        if m:
            out.append((m.group("mutant"), m.group("model"), p.name))
    return sorted(out)


def missing_pictures():
    listed = pc.mutants_by_model()
    have = {mu for mu, _, _ in pictures()}
    return sorted({(mu, model) for model, ms in listed.items() for mu in ms if mu not in have})


def results_by_test():
    """{ctest test name: [RESULT dict, ...]} from results/proofs/ci.log, split by test with the
    gallery's own reader of that log, so a picture <model>--<mutant> finds the runs of
    proof_<model>_mutant_<mutant>_is_caught (the log's model= field names a suite, such as
    table_collisions for the model table_slots)."""
    out = {}
    log = pc.need("proofs_ci").read_text(errors="replace")
    for test, text in split_ctest_log(log).items():
        for line in text.splitlines():
            if line.startswith("RESULT "):
                out.setdefault(test, []).append(
                    dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    return out


def policy(flag=None):
    value = (flag or os.environ.get(ENV) or "error").lower()
    if value not in ("error", "warn"):
        raise SystemExit(f"{ENV} (or --gallery-missing) must be 'error' or 'warn', not {value!r}")
    return value


def gallery_tex(R, missing_policy="error"):
    missing = missing_pictures()
    if missing and missing_policy == "error":
        names = sorted({mu for mu, _ in missing})
        raise GalleryIncomplete(
            f"the mutant gallery lacks a picture for {len(names)} mutant(s) that proofs/CMakeLists.txt "
            f"lists: {', '.join(names)}. Each needs proofs/gallery/<model>--<mutant>.png (made by "
            f"proofs/explain; see proofs/gallery/README.md). Until the gallery lands, build with "
            f"`paper/build --gallery-missing=warn` or {ENV}=warn.")
    if missing:
        names = sorted({mu for mu, _ in missing})
        print(f"paper_gallery: warning: no picture in proofs/gallery/ yet for {len(names)} mutant(s) of "
              f"proofs/CMakeLists.txt (the appendix names them)", file=sys.stderr)
    desc = proofs_table.mutant_descriptions()
    by_test = results_by_test()
    pics = pictures()
    out = [pc.HEADER.format(script="scripts/paper_gallery.py"),
           "% one figure per proofs/gallery/<model>--<mutant>.png; captions from the first line of",
           "% proofs/mutants/<mutant>.patch and the RESULT lines of results/proofs/ci.log", ""]
    readme = (pc.ROOT / "proofs/gallery/README.md").exists()
    out.append(f"The gallery holds {len(pics)} picture(s) of "
               f"{len({mu for mu, _, _ in pics})} mutant(s)"
               + (r"; its index, \texttt{proofs/gallery/README.md}, says how each is drawn." if readme else ".")
               + "\n")
    if missing:
        names = sorted({mu for mu, _ in missing})
        out.append(r"\paragraph{Not yet drawn.} " + f"{len(names)} mutant(s) that "
                   r"\texttt{proofs/CMakeLists.txt} lists have no picture yet: "
                   + ", ".join(tt(n) for n in names) + ".\n")
    for mutant, model, name in pics:
        caught = by_test.get(f"proof_{model}_mutant_{mutant}_is_caught", [])
        if caught:
            how = "; ".join(f"{tt(x['model'])} ({tex(x['property'])}) reported "
                            f"{tex(x['result'].replace('_', ' ').lower())} after "
                            f"{pc.count(int(x['iterations']))} execution(s)" for x in caught)
            how += " (\\texttt{results/proofs/ci.log})."
        else:
            how = "Not in the published log (\\texttt{results/proofs/ci.log})."
        what = desc.get(mutant, "")
        out += [r"\begin{figure}[!htbp]\centering",
                f"\\includegraphics[width=\\linewidth,height=0.40\\textheight,keepaspectratio]{{{name}}}",
                f"\\caption{{Mutant {tt(mutant)}, model {tt(model)}: {tex(what)}. {how}}}",
                r"\end{figure}", ""]
    out.append(r"\clearpage")
    return "\n".join(out) + "\n"


def reduce_images(dest, budget=2_300_000, min_scale=0.6):
    """Smaller copies of the gallery's pictures in dest, when together they are larger than
    `budget` bytes (the PDF should stay under about 3 MB): each is scaled by the same factor
    (not below min_scale) and quantized to 24 colours, and kept only if it came out smaller. The
    PDF takes dest's copies first (\\graphicspath in singleflight.tex) and the originals
    otherwise. Returns how many were made."""
    dest = pathlib.Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in dest.glob("*.png"):
        f.unlink()
    files = [pc.ROOT / "proofs/gallery" / name for _, _, name in pictures()]
    total = sum(f.stat().st_size for f in files)
    if total <= budget:
        return 0
    try:
        from PIL import Image
    except ImportError:
        print("paper_gallery: no PIL (Debian: python3-pil); the gallery goes into the PDF at full size",
              file=sys.stderr)
        return 0
    scale = max(min_scale, (budget / total) ** 0.5)
    for f in files:
        with Image.open(f) as img:
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            small = img.convert("RGB").resize(size, Image.LANCZOS).quantize(colors=24)
            small.save(dest / f.name, optimize=True)
        if (dest / f.name).stat().st_size >= f.stat().st_size:
            (dest / f.name).unlink()
    return len(list(dest.glob("*.png")))
