"""proofs/gallery: what both checkers' counterexamples become, and how one is folded and printed.

A Trace is one failing execution: the threads (Relacy) or processes (Spin) as columns, and the
steps in the order the checker ran them. Each Step knows its column, a short label, the function
or section it ran in, and why it may matter. `fold` picks the steps worth showing: noise is left
out unless asked for, and a long trace keeps only what touches the failure.
"""
from __future__ import annotations

import dataclasses
import re
import textwrap

# How many step rows a picture may have before less important steps are folded away.
ROW_BUDGET = 34


@dataclasses.dataclass
class Step:
    order: int                 # the checker's own step number ([N] in Relacy, the trail's step in Spin)
    column: int                # the thread or process that ran it
    label: str                 # what it did, e.g. "state_.fetch_or(DONE) acq_rel (2)  JOINED → +DONE"
    context: str = ""          # the function (Relacy) or protocol step (Spin) it belongs to
    noise: bool = False        # checker bookkeeping: hidden unless --all
    failing: bool = False      # the step the checker reported
    mutated: bool = False      # it ran a line the mutant changed, or the one next to such a line
    focus: bool = False        # it touches a location involved in the failure
    landmark: bool = False     # worth keeping in a folded picture (a numbered site, fn, a wake-up)
    blocked: bool = False      # the thread blocks here (forever, in a deadlock or a lost wake-up)
    detail: str = ""           # the raw checker line, for the text trace with --all
    location: str = ""         # the named memory location (or Promela variable) it touches
    repeat: int = 1            # how many identical steps of its thread this row stands for


@dataclasses.dataclass
class Link:
    """A line the picture draws between two steps, e.g. the two accesses of a data race."""
    first: int                 # Step.order of the earlier step
    second: int                # Step.order of the later step
    label: str


@dataclasses.dataclass
class Trace:
    checker: str                              # "Relacy" or "Spin"
    model: str                                # the CMake model (or spin_<property>)
    mutant: str
    suite: str                                # Relacy's test suite, or Spin's property
    columns: list[str]                        # a name per thread or process
    steps: list[Step]
    verdict: str                              # e.g. "DATA RACE on outcome_access_"
    found_after: str = ""                     # e.g. "found after 865 executions, ..."
    legend: list[str] = dataclasses.field(default_factory=list)
    links: list[Link] = dataclasses.field(default_factory=list)
    column_notes: list[str] = dataclasses.field(default_factory=list)

    def failing_step(self) -> Step | None:
        return next((s for s in self.steps if s.failing), None)


@dataclasses.dataclass
class Gap:
    """Steps folded away between two shown steps."""
    hidden: int


def merge_repeats(steps: list[Step]) -> list[Step]:
    """Merges a step into the same thread's previous step when both say the same (a loop that
    keeps reading the value it read before), even if other threads ran in between: the row
    shows it once, with ×n."""
    merged: list[Step] = []
    last_of: dict[int, Step] = {}
    for step in steps:
        last = last_of.get(step.column)
        if (last is not None and last.label == step.label and last.context == step.context
                and last.mutated == step.mutated and not (last.failing or step.failing or step.blocked)):
            last.repeat += 1
            continue
        copy = dataclasses.replace(step)
        merged.append(copy)
        last_of[step.column] = copy
    return merged


def fold(trace: Trace, show_all: bool = False, budget: int = ROW_BUDGET) -> list[Step | Gap]:
    """The rows to show: every step with show_all; otherwise the steps that are not noise, and,
    when those exceed `budget`, only the most telling ones (the failure, the mutated lines, the
    locations involved, then the landmarks), with a Gap where steps were left out."""
    if show_all:
        return list(trace.steps)
    candidates = merge_repeats([s for s in trace.steps if not s.noise])
    if len(candidates) > budget:
        keep = _most_telling(candidates, budget)
        candidates = [s for s in candidates if id(s) in keep]
    rows: list[Step | Gap] = []
    visible = [s for s in trace.steps if not s.noise]
    position = {s.order: i for i, s in enumerate(visible)}
    previous = -1
    for step in candidates:
        here = position.get(step.order, previous + 1)
        hidden = here - previous - 1
        if rows and hidden > 0:
            rows.append(Gap(hidden))
        rows.append(step)
        previous = here
    return rows


def _most_telling(steps: list[Step], budget: int) -> set[int]:
    """The ids of at most `budget` steps, chosen by rank: the failure and the steps that block
    or ran a mutated line first, then the steps on the failing locations, then landmarks, and
    within a rank the latest first (the end of a trace explains its failure)."""
    def rank(s: Step) -> int:
        if s.failing or s.blocked or s.mutated:
            return 0
        if s.focus:
            return 1
        if s.landmark:
            return 2
        return 3
    chosen: set[int] = set()
    for level in range(4):
        tier = [s for s in steps if rank(s) == level]
        room = budget - len(chosen)
        if room <= 0:
            break
        for s in tier[-room:] if len(tier) > room else tier:
            chosen.add(id(s))
    return chosen


def legend_for(trace: Trace, rows: list[Step | Gap]) -> list[str]:
    """The legend lines that explain something the rows show."""
    shown = " ".join(r.label + " " + r.location for r in rows if isinstance(r, Step))
    needed = {"(stale)": "(stale)" in shown, "state_ bits": "state_" in shown,
              "A., B.": re.search(r"\b[A-Z]\.\w|&[A-Z]\b", shown) is not None}
    return [line for line in trace.legend
            if all(ok for key, ok in needed.items() if line.startswith(key))]


def render_text(trace: Trace, rows: list[Step | Gap], title: str, sentences: list[str]) -> str:
    """The trace as text: one line per step, the thread marked and indented by column."""
    width = 100
    out = [title, "=" * min(len(title), width)]
    for sentence in sentences:
        if sentence:
            out += textwrap.wrap(sentence, width)
    out.append("")
    out.append(f"{trace.checker}: {trace.verdict}" + (f" ({trace.found_after})" if trace.found_after else ""))
    for i, name in enumerate(trace.columns):
        note = trace.column_notes[i] if i < len(trace.column_notes) else ""
        out.append(f"  T{i} = {name}" + (f" — {note}" if note else ""))
    out.append("")
    last_context: dict[int, str] = {}
    for row in rows:
        if isinstance(row, Gap):
            out.append(f"{'':>6}  ⋯ {row.hidden} step{'s' if row.hidden != 1 else ''} folded")
            continue
        marks = ("✗" if row.failing else "✎" if row.mutated else "·" if row.noise else " ")
        context = ""
        if row.context and last_context.get(row.column) != row.context:
            context = f"{row.context}: "
            last_context[row.column] = row.context
        repeat = f"  (×{row.repeat})" if row.repeat > 1 else ""
        indent = "    " * row.column
        out.append(f"{row.order:>6} {marks} T{row.column} {indent}{context}{row.label}{repeat}")
        if row.failing:
            out.append(f"{'':>8}  {indent}^^^ {trace.verdict}")
    for link in trace.links:
        out.append(f"  [{link.first}] … [{link.second}]: {link.label}")
    legend = legend_for(trace, rows)
    if legend:
        out.append("")
        out += [f"  {line}" for line in legend]
    out.append("  ✎ at (or next to) a line the mutant changed; ✗ the step the checker reported"
               + ("; (n) the numbered memory-order site in the source" if trace.checker == "Relacy" else ""))
    return "\n".join(out)
