"""proofs/gallery: which models and mutants exist, what each mutant breaks, and what each
picture shows; and the ctest log of proofs/run, cut into one piece per test.

The list of models and mutants comes from ctest (the tests that proofs/CMakeLists.txt
declares), never from a list kept here:

  proof_<model>_mutant_<mutant>_is_caught              a Relacy model must catch a mutant
  proof_spin_<property>_mutant_<mutant>_is_caught      a Spin property must catch a mutant

A Spin check is named here as the model `spin_<property>`, so both kinds read `<model> <mutant>`.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import subprocess

MUTANT_TEST = re.compile(r"^proof_(?P<model>.+?)_mutant_(?P<mutant>.+)_is_caught$")


@dataclasses.dataclass
class MutantTest:
    model: str                 # s4_shared_is_exact, or spin_asserts
    mutant: str
    test: str                  # the ctest name
    command: list[str]         # as ctest runs it (empty until the target is built)
    workdir: str

    @property
    def is_spin(self) -> bool:
        return self.model.startswith("spin_")

    @property
    def picture_name(self) -> str:
        return f"{self.model}--{self.mutant}"


def ctest_tests(build: pathlib.Path) -> list[dict]:
    """ctest's own description of the tests in `build` (names, commands, properties)."""
    out = subprocess.run(["ctest", "--test-dir", str(build), "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out).get("tests", [])


def mutant_tests(build: pathlib.Path) -> list[MutantTest]:
    found = []
    for t in ctest_tests(build):
        m = MUTANT_TEST.match(t["name"])
        if not m:
            continue
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        found.append(MutantTest(m.group("model"), m.group("mutant"), t["name"],
                                t.get("command", []), props.get("WORKING_DIRECTORY", str(build))))
    return found


# ---- what each mutant breaks, and what its picture shows ----------------------------------

def patch_headers(repo: pathlib.Path) -> dict[str, tuple[str, str]]:
    """mutant -> (properties, what it breaks, as written, without its final period) from the
    first line of proofs/mutants/<mutant>.patch: `Mutant <name> (<S..>): <what it breaks>.`
    (also read by scripts/proofs_table.py)"""
    found = {}
    for patch in sorted((repo / "proofs/mutants").glob("*.patch")):
        first = patch.read_text(errors="replace").split("\n", 1)[0]
        m = re.match(r"^Mutant (\w+) \(([^)]*)\): (.*?)\.?$", first)
        if m:
            found[m.group(1)] = (m.group(2), m.group(3))
    return found


def spin_comments(repo: pathlib.Path) -> dict[str, str]:
    """mutant -> text, as written, of the `MUTANT <name>: <text>` comments of singleflight.pml
    (also read by scripts/proofs_table.py)"""
    pml = repo / "proofs/spin/singleflight.pml"
    if not pml.is_file():
        return {}
    return {m.group(1): m.group(2)
            for m in re.finditer(r"MUTANT (\w+):\s*(.*?)\s*(?:\*/)?$", pml.read_text(), re.M)}


def relacy_descriptions(repo: pathlib.Path) -> dict[str, tuple[str, str]]:
    """mutant -> (properties, sentence) from the patches' first lines."""
    return {name: (props, _sentence(text)) for name, (props, text) in patch_headers(repo).items()}


def spin_descriptions(repo: pathlib.Path) -> dict[str, str]:
    """mutant -> sentence from the Spin model's MUTANT comments."""
    return {name: _sentence(text) for name, text in spin_comments(repo).items()}


def _sentence(text: str) -> str:
    """The text as a sentence: capitalised, unless it starts with code (`try_join() ...`)."""
    text = text.strip()
    first = text.split(" ", 1)[0] if text else ""
    if text and not any(c in first for c in "_():"):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def describe_mutant(repo: pathlib.Path, test: MutantTest) -> tuple[str, str]:
    """(properties, what the mutant breaks) for a picture's title and first sentence."""
    relacy = relacy_descriptions(repo)
    if test.is_spin:
        spin = spin_descriptions(repo)
        props = relacy.get(test.mutant, ("", ""))[0]
        return props, spin.get(test.mutant) or relacy.get(test.mutant, ("", ""))[1]
    return relacy.get(test.mutant, ("", ""))


def explanations(repo: pathlib.Path) -> dict[str, str]:
    """`<model> <mutant>` -> what the picture shows went wrong, from proofs/mutants/explanations.txt.

    The file has one entry per picture: a line `<model> <mutant>:` followed by the sentence,
    which may go on over indented lines. Lines starting with # are comments."""
    path = repo / "proofs/mutants/explanations.txt"
    if not path.is_file():
        return {}
    entries: dict[str, str] = {}
    key = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            key = None
            continue
        m = re.match(r"^(\S+) (\S+):\s*(.*)$", line)
        if m and not line[0].isspace():
            key = f"{m.group(1)} {m.group(2)}"
            entries[key] = m.group(3).strip()
        elif key is not None:
            entries[key] = (entries[key] + " " + line.strip()).strip()
    return entries


# ---- the ctest log of proofs/run ------------------------------------------------------------

def split_ctest_log(text: str) -> dict[str, str]:
    """test name -> that test's own output, from a `ctest -V` log (each line of a test's output
    is prefixed with its number; `Start  N: name` says which number is which test)."""
    names: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+Start\s+(\d+): (\S+)$", line)
        if m:
            names[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^(\d+): (.*)$", line)
        if m and m.group(1) in names:
            output.setdefault(names[m.group(1)], []).append(m.group(2))
    return {names[n]: "\n".join(output.get(names[n], [])) for n in names}
