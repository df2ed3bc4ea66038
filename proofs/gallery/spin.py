"""proofs/gallery: a Spin counterexample, read into a Trace.

proofs/spin/check.sh prints, for an error, the trail replayed by `spin -t -p -B`: one line per
Promela statement executed,

   45:	proc  1 (caller:1) singleflight.pml:574 (state 297)	[assert((node[2]==(r+1)))]

where 45 is the step (one atomic step may run several statements), then the error
(`spin: singleflight.pml:574, Error: assertion violated` and the assertion's text), or, for a
liveness claim, `<<<<<START OF CYCLE>>>>>` before the steps that repeat forever.

Each step becomes one row in its process's column. Its label is the Promela source line (which
names its constants: `state[r] | DONE`, where the trail says `state[r]|1`), and its context is the
C++ step that the model's comments name next to it (`flight::close`, `fetch_or(DONE) (2)`).
Ghost bookkeeping (variables only the properties read) and pure control flow are folded away.
"""
from __future__ import annotations

import re

from counterexample import Step, Trace

TRAIL_LINE = re.compile(r"^\s*(\d+):\s+proc\s+(\d+) \((\w+):\d+\) (\S+?):(\d+) \(state \d+\)\s+\[(.*)\]\s*$")
CONTROL = {"else", ".(goto)", "IF", "DO", "sub-sequence", "break", "skip", "(1)", "goto :b0"}


class PromelaSource:
    """The model's text: its lines, its ghost variables, and the C++ names in its comments."""

    def __init__(self, text: str | list[str]):
        self.lines = text.splitlines() if isinstance(text, str) else text
        self.ghosts = self._ghosts()
        self.callers = self._caller_notes()
        self.constants = self._constants()
        self.locals = {m.group(1) for line in self.lines
                       for m in [re.match(r"^\s+(?:byte|bool|int|short|bit)\s+(\w+)", line)] if m}
        self.protocol_names = {name for family in self.constants.values() for name in family.values()}

    def _ghosts(self) -> set[str]:
        """The variables declared after `/* ghosts: read by the properties only */`."""
        names, inside = set(), False
        for line in self.lines:
            if line.startswith("/* ghosts"):
                inside = True
                continue
            if inside:
                m = re.match(r"^(?:byte|bool|int|short|bit)\s+(\w+)", line)
                if m:
                    names.add(m.group(1))
                elif line.strip() and not line.startswith((" ", "\t")):
                    break
        return names

    def _caller_notes(self) -> dict[int, str]:
        """caller i -> how it waits and leaves, from the header (`caller 1  a stop token: ...`)."""
        notes = {}
        for line in self.lines[:60]:
            m = re.match(r"^\s*\*\s+caller (\d+)\s+(.+?):", line)
            if m:
                notes[int(m.group(1))] = m.group(2)
        return notes

    def _constants(self) -> dict[str, dict[int, str]]:
        """The model's named constants by family: the state word's bits (flight::k...), the
        parker's bits (waiter::k...), the callback states (CB_...)."""
        families: dict[str, dict[int, str]] = {"state": {}, "pbits": {}, "cb": {}}
        for line in self.lines:
            m = re.match(r"^#define (\w+)\s+(\d+)\s*/\*\s*(.*)", line)
            if not m:
                continue
            name, value, comment = m.group(1), int(m.group(2)), m.group(3)
            if comment.startswith("flight::k"):
                families["state"][value] = name
            elif comment.startswith("waiter::k"):
                families["pbits"][value] = name
            elif name.startswith("CB_"):
                families["cb"][value] = name
        return families

    def readable(self, statement: str) -> str:
        """A trail statement with the model's names put back and its extra parentheses gone:
        `state[r] = (state[r]|1)` -> `state[r] = state[r]|DONE`, `(((s&8)!=0))` ->
        `if (s&LISTED) != 0`."""
        text = re.sub(r"\(1<<(\w+)\)", r"BIT(\1)", statement)
        family = ("pbits" if "pbits[" in text else "cb" if re.search(r"\bcb\[", text)
                  else "state" if re.search(r"\b(state\[|s\b|t\b)", text) else "")
        names = self.constants.get(family, {})
        if family == "cb":
            text = re.sub(r"(cb\[\w+\]\s*(?:=|!=|==)\s*)(\d+)", lambda m: m.group(1) + names.get(int(m.group(2)), m.group(2)), text)
        elif names:
            text = re.sub(r"([|&~+\-]|&~)(\d+)\b", lambda m: m.group(1) + names.get(int(m.group(2)), m.group(2)), text)
        text = re.sub(r"\b255\b", "NIL", text)
        guard = False
        while text.startswith("(") and _balanced(text[1:-1]) and text.endswith(")"):
            text, guard = text[1:-1], True
        text = re.sub(r"^(\w+(?:\[\w+\])?) = \((.*)\)$", r"\1 = \2", text)
        text = re.sub(r"\s*(==|!=|<=|>=|&&|\|\|)\s*", r" \1 ", text)
        return f"if {text}" if guard and not text.startswith(("timeout", "1")) else text

    def as_written(self, number: int, statement: str) -> str:
        """The source's own text where it reads better than the trail's expansion: a guard
        (`:: MAY_LEAVE(me) -> ...` for `(((me==1)||...))`) or a macro whose expansion is a
        conditional expression (`LEAVE_OVER(who, r, departure)`)."""
        line = re.sub(r"/\*.*?(\*/|$)", "", self.line(number))
        line = re.sub(r"\b(d_step|atomic)\s*\{", "", line)
        guards = [g.split(";")[0].strip() for g in re.findall(r"::\s*(.+?)\s*->", line) if g != "else"]
        is_guard = statement.startswith("(") and _balanced(statement[1:-1]) and statement.endswith(")")
        if is_guard and len(guards) == 1 and not re.fullmatch(r"[\w\s()!=<>&|+\-\[\]]*\d+[\w\s()!=<>&|+\-\[\]]*", guards[0]):
            return f"if {guards[0]}"
        if " -> " in statement and " : " in statement:
            lhs = re.match(r"^(\w+(?:\[\w+\])?) = ", statement)
            own = re.search(re.escape(lhs.group(1)) + r"\s*=\s*[^;]+", line) if lhs else None
            if own:
                return own.group(0).strip()
            macro = re.search(r"\b([A-Z][A-Z_]+\([^()]*\))", line)
            return macro.group(1) if macro else ""
        return ""

    def skipped_guard(self, number: int) -> str:
        """For an `else` on a one-line if (`if :: (s & WAITERS) != 0 -> notify_all(r) :: else
        fi`), the guard that did not hold."""
        guards = [g for g in re.findall(r"::\s*(.+?)\s*->", self.line(number)) if g != "else"]
        return f"({guards[0]})" if len(guards) == 1 else ""

    def in_ghost_inline(self, number: int) -> bool:
        """Whether line `number` is in the body of an `inline ghost_...`."""
        for i in range(number, 0, -1):
            m = re.match(r"^(inline|active|proctype|init|never)\b\s*(?:\[\w+\]\s*)?(?:proctype\s+)?(\w*)", self.line(i))
            if m:
                return m.group(2).startswith("ghost_")
        return False

    def mutant_lines(self, mutant: str) -> set[int]:
        """The lines that -DMUTANT_<NAME> puts in (its `#ifdef` branch, or the `#else` of an
        `#ifndef`), or where it only takes lines out, the first line after its `#endif`."""
        want = f"MUTANT_{mutant.upper()}"
        lines: set[int] = set()
        stack: list[tuple[str, bool]] = []  # (directive, inside the mutant's own branch)
        for number, text in enumerate(self.lines, start=1):
            m = re.match(r"^#\s*(ifdef|ifndef|if|else|endif)\b\s*(\w*)", text)
            if m:
                kind, name = m.group(1), m.group(2)
                if kind in ("ifdef", "ifndef", "if"):
                    stack.append((kind if name == want else "", kind == "ifdef" and name == want))
                elif kind == "else" and stack:
                    mine, _ = stack[-1]
                    stack[-1] = (mine, mine == "ifndef")
                elif kind == "endif" and stack:
                    mine, inside = stack.pop()
                    if mine == "ifndef" and not inside:  # the mutant only removed lines
                        lines.add(number + 1)
                continue
            if any(inside for _, inside in stack):
                lines.add(number)
        return lines

    def only_private(self, text: str) -> bool:
        """Whether a step's text touches only the process's own locals and ghosts, and no
        protocol constant: bookkeeping such as `if s == 0` or `calls = calls+1`."""
        names = set(re.findall(r"\b[A-Za-z_]\w*\b", text))
        if names & self.protocol_names:
            return False
        shared = {n for n in names - self.locals - self.ghosts
                  if not n.isupper() and n not in ("if", "not", "goto", "break", "skip", "true", "false", "_pid")}
        return not shared

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def statement(self, number: int) -> str:
        """Line `number` without its comment, `d_step {`, braces and `::` guards' arrows."""
        text = re.sub(r"/\*.*?(\*/|$)", "", self.line(number))
        text = re.sub(r"\b(d_step|atomic)\s*\{", "", text)
        text = text.replace("{", "").replace("}", "").strip()
        text = re.sub(r"^::\s*", "", text)
        text = re.sub(r"\s+", " ", text).strip(" ;")
        return text

    def comment(self, number: int) -> str:
        m = re.search(r"/\*\s*(.*?)\s*(\*/|$)", self.line(number))
        return m.group(1) if m else ""

    def cpp_step(self, number: int) -> str:
        """What a line is part of: the nearest comment at or above it that stands on its own
        line or follows a label (`follow:  /* detail::follow */`), as the C++ name it starts
        with (`flight::try_join (1)`) or its first phrase (`the leader's result`)."""
        indent = lambda text: len(text) - len(text.lstrip())
        depth = indent(self.line(number))
        for i in range(number, max(0, number - 60), -1):
            raw = self.line(i)
            text = raw.strip()
            standalone = i < number or text.startswith("/*")
            m = re.match(r"^(?:\w+:\s*)?/\*\s*(.*?)\s*(\*/|$)", text) if standalone else None
            # a comment counts if it is not inside a block deeper than the line (another option's)
            if (m and m.group(1) and indent(raw) <= depth
                    and not re.match(r"^(S\d|ghost|mutant|-|\()", m.group(1))):
                return _phrase(m.group(1))
            if re.match(r"^(inline|active|proctype|init|never)\b", text):
                break
        return ""


def _phrase(comment: str) -> str:
    cpp = re.match(r"^((?:[A-Za-z_]\w*::|table\.|std::)[\w:.~]*\w(?:\s*\(\d+\))?)", comment)
    if cpp:
        return cpp.group(1)
    first = re.split(r"[:;.,(]", comment)[0].strip()
    return first if len(first) <= 40 else first[:39].rstrip() + "…"


def is_ghost_statement(text: str, ghosts: set[str]) -> bool:
    """An assignment to a ghost (`nwait[r] = nwait[r]+1`) or a check of ghosts only."""
    m = re.match(r"^(\w+)(\[[^\]]*\])?\s*=[^=]", text)
    if m:
        return m.group(1) in ghosts
    if text.startswith("assert("):
        used = set(re.findall(r"[A-Za-z_]\w*", text)) - {"assert"}
        return bool(used) and used <= ghosts | {"me", "r", "i"}
    return False


def parse_trail(output: str, source: PromelaSource, model: str, mutant: str,
                result: dict[str, str]) -> Trace:
    """The Trace of check.sh's counterexample."""
    entries = []          # (step, proc, name, line, statement)
    cycle_at = None
    failed_text, failed_line = "", 0
    for raw in output.splitlines():
        if "START OF CYCLE" in raw:
            cycle_at = len(entries)
            continue
        m = re.match(r"^spin: \S+?:(\d+), Error: (.*)$", raw)
        if m:
            failed_line = int(m.group(1))
            continue
        m = re.match(r"^spin: text of failed assertion: (.*)$", raw)
        if m:
            failed_text = m.group(1)
            continue
        m = TRAIL_LINE.match(raw)
        if m:
            entries.append((int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(5)), m.group(6)))

    procs = sorted({(p, n) for _, p, n, _, _ in entries})
    columns = [_process_name(p, n) for p, n in procs]
    notes = [source.callers.get(p, "") if n == "caller" else "" for p, n in procs]
    index = {p: i for i, (p, _) in enumerate(procs)}

    steps: list[Step] = []
    groups: list[list[tuple]] = []
    for entry in entries:
        if groups and groups[-1][0][0] == entry[0] and groups[-1][0][1] == entry[1]:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    cycle_order = None
    mutated = _lines_that_ran(source.mutant_lines(mutant), {e[3] for e in entries})
    for n, group in enumerate(groups):
        step_no, proc = group[0][0], group[0][1]
        if cycle_at is not None and cycle_order is None and entries.index(group[0]) >= cycle_at:
            cycle_order = step_no
        step = _step(group, index[proc], source, mutated)
        step.mutated = any(line in mutated for _, _, _, line, _ in group)
        if step.mutated:
            step.noise = False
        steps.append(step)
    trace = Trace(checker="Spin", model=model, mutant=mutant, suite=result.get("property", ""),
                  columns=columns, steps=steps, verdict="", column_notes=notes)
    _mark_end(trace, result, failed_text, failed_line, cycle_order, procs, source)
    states = result.get("iterations")
    if states:
        trace.found_after = f"{int(states):,} states searched, exhaustively"
    return trace


def _lines_that_ran(mutant_lines: set[int], ran: set[int]) -> set[int]:
    """The mutant's lines that the trail ran, or for one that ran none of its own (a removed
    line), the first line within a few below it that the trail ran."""
    shown = mutant_lines & ran
    for line in mutant_lines - ran:
        below = sorted(n for n in ran if line <= n <= line + 6)
        if below and not shown:
            shown.add(below[0])
    return shown


def _process_name(proc: int, name: str) -> str:
    return f"caller {proc}" if name == "caller" else name


def _step(group: list[tuple], column: int, source: PromelaSource, mutated: set[int]) -> Step:
    """One atomic step of one process: the statements it ran, minus control flow, checks that
    held, ghost bookkeeping and (beside anything else) the process's private bookkeeping, with
    the model's constant names put back; noise if nothing is left. A mutated line's statements
    always stay."""
    shown: list[str] = []
    lines: dict[str, int] = {}  # the line each shown text came from
    kept: set[str] = set()  # from mutated lines
    for _, _, _, line, statement in group:
        if source.in_ghost_inline(line) or is_ghost_statement(statement, source.ghosts):
            continue
        if statement == "else":
            skipped = source.skipped_guard(line)
            if skipped and len(group) == 1:
                shown.append(f"not {skipped}")
            continue
        if statement in CONTROL or statement.startswith(("assert(", "goto ")):
            continue
        text = source.readable(statement)
        written = source.as_written(line, statement)
        if written:
            text = written
        if text not in shown:
            shown.append(text)
            lines[text] = line
        if line in mutated:
            kept.add(text)
    public = [text for text in shown if text in kept or not source.only_private(text)]
    if public:  # `calls = calls+1`, `r = NIL`: the process's own bookkeeping, left out
        shown = public
    shown = [s for s in shown if s in kept] + [s for s in shown if s not in kept]  # the mutation first
    first_line = lines.get(shown[0], group[0][3]) if shown else group[0][3]
    note = source.comment(first_line)
    step = Step(order=group[0][0], column=column, label=_shorten("; ".join(shown) or group[0][4], 46),
                context=source.cpp_step(first_line),
                detail="\n".join(f"{s}: proc {p} ({n}) line {l} [{t}]" for s, p, n, l, t in group),
                noise=not shown or source.only_private("; ".join(shown)))
    if note and re.match(r"^[\w:.~]+\s*\(", note) and len(note) < 32:
        step.label = f"{step.label}   ‹{note}›"  # the C++ operation the line stands for
    step.landmark = any(re.search(r"\b(state|users|holds|pbits|listed|slot|stopped|fnstop|parked)\b", t)
                        for t in shown)
    return step


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _mark_end(trace: Trace, result: dict[str, str], failed_text: str, failed_line: int,
              cycle_order: int | None, procs: list[tuple[int, str]], source: PromelaSource) -> None:
    """The verdict, and where it shows: the failed assertion's step, or for a liveness cycle the
    callers that never return."""
    outcome = result.get("result", "")
    if outcome in ("ASSERTION", "CLAIM_VIOLATED") and trace.steps:
        failing = next((s for s in reversed(trace.steps) if failed_text and failed_text in s.detail), trace.steps[-1])
        failing.failing, failing.noise = True, False
        if failed_text and failed_text in failing.detail:
            condition = re.sub(r"^if ", "", PromelaSource([]).readable(failed_text[len("assert("):-1]))
            macro = re.search(r"\b(ASSERT_\w+\([^()]*\))", source.line(failed_line))
            if macro:  # the check as the model names it: ASSERT_WAKE_AFTER_CLOSE(r)
                condition = macro.group(1)
            failing.label = f"{condition} fails" if macro else f"assert({condition}) fails"
            failed_text = condition
        if outcome == "CLAIM_VIOLATED":
            name = trace.model.replace("spin_", "")
            formula = next((m.group(2) for m in re.finditer(r"^ltl (\w+) \{\s*(.*?)\s*\}", "\n".join(source.lines), re.M)
                            if m.group(1) == name), "")
            trace.verdict = f"CLAIM VIOLATED: ltl {name} {{ {formula} }}" if formula else f"CLAIM VIOLATED: {result.get('property', '')}"
            failing.label = _shorten(failing.label, 28) + "  — the claim fails here"
        else:
            trace.verdict = f"ASSERTION VIOLATED: {failed_text}"
        return
    for step in trace.steps:  # the process that only makes a deadlock an infinite run
        if trace.columns[step.column] == "environment":
            step.noise = True
    finished = {s.column for s in trace.steps if "finished[me] = 1" in s.detail}
    callers = [i for i, (_, n) in enumerate(procs) if n == "caller"]
    stuck = [i for i in callers if i not in finished]
    for column in stuck:
        mine = [s for s in trace.steps if s.column == column]
        if mine:
            last = next((s for s in reversed(mine) if not s.noise), mine[-1])
            last.blocked, last.noise = True, False
            last.label = _shorten(last.label, 56) + "  — stuck here"
    who = " and ".join(trace.columns[i] for i in stuck) or "a caller"
    if outcome == "ACCEPTANCE_CYCLE":
        trace.verdict = f"ACCEPTANCE CYCLE: {who} never return{'s' if len(stuck) == 1 else ''}"
    elif outcome == "INVALID_END_STATE":
        trace.verdict = f"INVALID END STATE (deadlock): {who} blocked forever"
    else:
        trace.verdict = outcome.replace("_", " ")
    blocked = [s for s in trace.steps if s.blocked]
    end = blocked[0] if blocked else (trace.steps[-1] if trace.steps else None)
    if end is not None:
        end.failing, end.noise = True, False
        if cycle_order is not None:
            trace.legend.append(f"From step {cycle_order} on, the run repeats forever (the cycle).")
