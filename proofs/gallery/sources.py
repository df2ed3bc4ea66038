"""proofs/gallery: the source files a counterexample points into, read once each.

Relacy names the file of each step by the path it was compiled from: a shipped header under
src/, a mutated copy under build/.../proofs/mutants/<mutant>/src/, or a model under proofs/.
Where that path does not exist here (a log from another checkout, or the captured histories in
testdata/), the same file is looked for under the fallback roots, by its path below src/ or
proofs/.
"""
from __future__ import annotations

import difflib
import pathlib


class Sources:
    def __init__(self, fallback_roots: list[pathlib.Path] | None = None):
        self.fallback_roots = list(fallback_roots or [])
        self._cache: dict[str, list[str]] = {}

    def resolve(self, path: str) -> pathlib.Path | None:
        if not path:
            return None
        candidate = pathlib.Path(path)
        if candidate.is_file():
            return candidate
        tails = []
        for marker in ("/src/", "/proofs/"):
            if marker in path:
                tails.append(pathlib.Path(marker.strip("/")) / path.rsplit(marker, 1)[1])
                tails.append(pathlib.Path(path.rsplit(marker, 1)[1]))
        for root in self.fallback_roots:
            for tail in tails:
                if (root / tail).is_file():
                    return root / tail
        return None

    def lines(self, path: str) -> list[str]:
        if path not in self._cache:
            found = self.resolve(path)
            self._cache[path] = found.read_text(errors="replace").splitlines() if found else []
        return self._cache[path]

    def line(self, path: str, number: int) -> str:
        lines = self.lines(path)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def changed_lines(original: list[str], mutated: list[str]) -> set[int]:
    """The 1-based lines of `mutated` that differ from `original`: replaced or inserted lines,
    and where lines were only deleted, the line that now stands in their place."""
    changed: set[int] = set()
    matcher = difflib.SequenceMatcher(a=original, b=mutated, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            changed.update(range(j1 + 1, j2 + 1))
        elif tag == "delete":
            changed.add(j1 + 1)
    return changed
