"""proofs/gallery: Relacy's output, read into a Trace.

A Relacy model prints, for each suite that failed, a headline (e.g. "DATA RACE (data race
detected)"), "iteration: N", and "execution history (N):" with one line per step:

  [28] 0: <0x55c53e8005b0> fetch_or , prev=0, arg=1, new=1, order=acq_rel, in bool
          singleflight::detail::flight<Value>::close() [with Value = int], /path/flight.hpp(248)

then each thread's history again, then the model's RESULT line (proofs/model.hpp). Addresses
mean nothing to a reader, so each is named after the identifier the operation is applied to on
its source line (`state_.fetch_or(...)` names `state_`), and each operation on a line under a
numbered memory-order comment (`// (2) acq_rel, pairs with (1)`) carries that site number.
"""
from __future__ import annotations

import collections
import dataclasses
import pathlib
import re

from sources import Sources, changed_lines
from counterexample import Link, Step, Trace

# ---- the raw history ------------------------------------------------------------------------

# How Relacy's reports begin (rl::test_result_str), as a headline and as the history's last step.
HEADLINES = ("DATA RACE", "USER ASSERT FAILED", "DEADLOCK", "LIVELOCK", "MEMORY LEAK",
             "ACCESS TO FREED MEMORY", "DESTROYING OWNED MUTEX", "DOUBLE FREE",
             "ACCESS TO NONEXISTENT MEMORY", "UNLOCK OF NOT OWNED MUTEX",
             "RECURSION ON NONRECURSIVE MUTEX", "UNINITIALIZED ACCESS", "UNHANDLED EXCEPTION")

STEP_LINE = re.compile(r"^\[(\d+)\] (\d+): (.*)$")
WHERE = re.compile(r"^(.*?), in (.*), (\S*)\((\d+)\)$")
ADDRESS = re.compile(r"^<(0x[0-9a-f]+)> (.*)$")
FIELDS = re.compile(r"\b(\w+)=(\[[^\]]*\]|[^,)]*)")

# What a history line's text starts with, and the kind of step it is (Event.kind). None of these
# prefixes begins a read-modify-write, which RMW matches.
KIND_BY_PREFIX = (
    ("memory deallocation", "free"),
    ("blocking current thread", "block"),
    ("unblocking thread", "unblock"),
    ("atomic load", "load"),
    ("atomic store", "store"),
    ("CAS", "cas"),
    ("load,", "var_load"),
    ("store,", "var_store"),
    ("futex(", "futex"),
    ("mutex:", "mutex"),
    ("cond_var:", "condvar"),
    ("access to freed memory", "freed_access"),
)
RMW = re.compile(r"^(fetch_\w+|exchange) ,")


@dataclasses.dataclass
class Event:
    """One line of Relacy's execution history."""
    order: int
    thread: int
    what: str                  # the text before ", in": "fetch_or , prev=0, arg=1, ..."
    function: str = ""
    file: str = ""
    line: int = 0
    address: str = ""          # "0x..." for an operation on memory
    raw: str = ""

    @property
    def kind(self) -> str:
        """The operation: load, store, rmw, cas (atomics); var_load, var_store (an rl::var, a
        plain access); futex, mutex, condvar; block, unblock, finish (the scheduler); free,
        freed_access, failure, marker (Relacy's BEGIN/END), or other."""
        w = self.what
        if w.startswith("[") and w.endswith("]"):
            return "finish" if "THREAD FINISHED" in w else "marker"
        if any(w.startswith(h) for h in HEADLINES):
            return "failure"
        for prefix, kind in KIND_BY_PREFIX:
            if w.startswith(prefix):
                return kind
        if RMW.match(w):
            return "rmw"
        return "other"

    def fields(self) -> dict[str, str]:
        """`fetch_or , prev=0, arg=1, new=1, order=acq_rel` -> {prev: 0, arg: 1, ...}; the first
        of two equal keys wins (`value=0, (prev value=0)`)."""
        found: dict[str, str] = {}
        for k, v in FIELDS.findall(self.what):
            found.setdefault(k, v.strip())
        return found


def parse_event(text: str) -> Event | None:
    m = STEP_LINE.match(text)
    if not m:
        return None
    order, thread, rest = int(m.group(1)), int(m.group(2)), m.group(3)
    event = Event(order, thread, rest, raw=text)
    where = WHERE.match(rest)
    if where:
        event.what, event.function, event.file, event.line = (
            where.group(1), where.group(2), where.group(3), int(where.group(4)))
    a = ADDRESS.match(event.what)
    if a:
        event.address, event.what = a.group(1), a.group(2)
    if event.what.startswith("memory deallocation"):
        m = re.search(r"addr=(0x[0-9a-f]+)", event.what)
        event.address = m.group(1) if m else ""
        event.what = "memory deallocation"
    return event


@dataclasses.dataclass
class SuiteRun:
    """One suite's part of a model's output: its failure, if any, and its RESULT line."""
    headline: str = ""
    iteration: str = ""
    events: list[Event] = dataclasses.field(default_factory=list)
    result: dict[str, str] = dataclasses.field(default_factory=dict)


def split_suites(output: str) -> list[SuiteRun]:
    """The suites of one model binary's output, each ending at its RESULT line."""
    runs, current, in_history = [], SuiteRun(), False
    for line in output.splitlines():
        if line.startswith("RESULT model="):
            current.result = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            runs.append(current)
            current, in_history = SuiteRun(), False
        elif line.startswith("execution history"):
            in_history = True
        elif in_history and line.startswith("thread "):
            in_history = False  # the per-thread repetition of the same history
        elif in_history:
            event = parse_event(line)
            if event:
                current.events.append(event)
        elif any(line.startswith(h) for h in HEADLINES) and not current.headline:
            current.headline = line
        elif line.startswith("iteration:"):
            current.iteration = line.split(":", 1)[1].strip()
    return runs


# ---- names for functions and locations ------------------------------------------------------

def short_function(signature: str) -> str:
    """`bool singleflight::detail::flight<Value>::close() [with Value = int]` -> `close`; a
    lambda's `operator()` (in the models, fn) -> `fn`."""
    lambda_in = re.match(r"^(.*)::<lambda\([^)]*\)>$", signature.strip())
    if lambda_in:  # a lambda inside a function: wait_listed's callback, say
        return f"{short_function(lambda_in.group(1))}'s lambda"
    if re.search(r"\boperator\(\)\s*(\(|$)", signature):
        return "fn"
    s = re.sub(r"\s*\[with .*\]$", "", signature).strip()
    s = re.sub(r"\s+(const|noexcept)\s*$", "", s)
    if s.endswith(")"):
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    s = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", s))  # template arguments, two levels
    words = s.split("::")[-1].split()
    name = words[-1] if words else signature
    return "fn" if name == "operator()" else name


ATOMIC_METHODS = {
    "load": ["load"], "store": ["store"],
    "cas": ["compare_exchange_weak", "compare_exchange_strong"],
    "rmw": ["fetch_add", "fetch_sub", "fetch_or", "fetch_and", "fetch_xor", "exchange"],
}
OBJECT = r"([A-Za-z_][\w]*(?:\[[^\]]*\])?(?:(?:\.|->)[A-Za-z_]\w*(?:\[[^\]]*\])?)*)"
PARKER_PARTS = {"m_", "bits_", "cv_"}
WEAK_NAMES = {"word", "a_", "self", "other", "it", "p", "w", "h", "r", "f", "v"}


def identifier_on_line(text: str, kind: str, what: str) -> str:
    """The identifier that the operation of `kind` is applied to on source line `text`, or ""."""
    code = text.split("//")[0]
    methods = ATOMIC_METHODS.get(kind)
    if kind == "rmw":
        methods = [what.split()[0]]
    candidates: list[str] = []
    if methods:
        for m in re.finditer(OBJECT + r"\s*(?:\.|->)\s*(" + "|".join(methods) + r")\s*\(", code):
            candidates.append(m.group(1))
    elif kind in ("var_load", "var_store"):
        candidates += re.findall(OBJECT + r"\s*\(\s*(?:RL_INFO|\$)\s*\)", code)
        candidates += re.findall(OBJECT + r"\s*\.\s*(?:read|write)\s*\(\s*\)", code)
    elif kind == "futex":
        candidates += re.findall(r"\b(?:wait|notify_all|notify_one|rl_futex)\s*\(\s*&?" + OBJECT, code)
    elif kind == "mutex":
        candidates += re.findall(OBJECT + r"\s*(?:\.|->)\s*(?:lock|unlock|try_lock)\s*\(", code)
    else:  # an access of unknown kind (one to freed memory): whatever the line accesses
        candidates += re.findall(OBJECT + r"\s*\.\s*(?:read|write)\s*\(\s*\)", code)
        every = [m for ms in ATOMIC_METHODS.values() for m in ms] + ["destroy", "get"]
        candidates += re.findall(OBJECT + r"\s*(?:\.|->)\s*(?:" + "|".join(every) + r")\s*\(", code)
    for c in candidates:
        c = re.sub(r"^(this->|\*)", "", c)
        if c:
            return c
    # a parker's own steps carry the caller's line (`w.park.wait(mask)`): name its parts
    parker = re.search(OBJECT + r"\s*\.\s*(?:wait|wait_until|signal)\s*\(", code)
    part = {"mutex": "m_", "var_load": "bits_", "var_store": "bits_", "condvar": "cv_"}.get(kind)
    if parker and part:
        return f"{parker.group(1)}.{part}"
    return ""


ORDERS = ("relaxed", "consume", "acquire", "release", "acq_rel", "seq_cst")


def site_on_line(sources: Sources, path: str, line: int, order: str = "") -> str:
    """The memory-order site number of the operation at path(line), e.g. `2` for a line under
    `// (2) acq_rel, pairs with (1) ...`. A trailing comment on the statement decides (`// (3)`;
    a relaxed operation's `// relaxed: ...` has no number); otherwise the comment block just
    above the statement, where a block that numbers several sites (`(8) acquire ... (9)
    acq_rel ...`) gives the one with the operation's order. "" if there is none."""
    lines = sources.lines(path)
    if not lines or line < 1 or line > len(lines):
        return ""
    code = lambda i: lines[i].split("//")[0].strip()
    # the statement's own lines, from this one to its end: a trailing comment decides
    for i in range(line - 1, min(line + 3, len(lines))):
        if "//" in lines[i] and code(i):
            m = re.search(r"//\s*\(([A-Z]?\d+)\)", lines[i])
            return m.group(1) if m else ""
        if re.search(r"[;{}]$", code(i)):
            break
    # back to the statement's first line, then up through the comment block above it
    first = line - 1
    while first > 0 and line - first < 5 and code(first - 1) and not re.search(r"[;{}:]$", code(first - 1)) \
            and not lines[first - 1].strip().startswith("//"):
        first -= 1
    block = []
    i = first - 1
    while i >= 0 and first - i <= 8 and lines[i].strip().startswith("//"):
        block.insert(0, lines[i].strip().lstrip("/ "))
        i -= 1
    if not block:
        return ""
    text = " ".join(block)
    numbered = re.findall(r"\(([A-Z]?\d+)\)\s+(" + "|".join(ORDERS) + r")\b", text)
    for site, site_order in numbered:
        if site_order == order:
            return site
    m = re.match(r"\(([A-Z]?\d+)\)", block[0])
    if m:
        return m.group(1)
    return numbered[0][0] if numbered else ""


class LocationNames:
    """Names each address after the identifiers its operations are applied to, and tells apart
    several objects with one field name (two records' `state_`) by the record they belong to."""

    def __init__(self, events: list[Event], sources: Sources):
        votes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.files: dict[str, str] = {}
        for e in events:
            if not e.address or e.kind in ("free", "failure") or _in_relacy(e):
                continue  # Relacy's own lines name its internals, not the model's fields
            text = sources.line(e.file, e.line)
            name = identifier_on_line(text, e.kind, e.what) if text else ""
            if name and len(name) <= 2:  # `for (auto& h : me.hazard) h.store(...)`: name the container
                above = " ".join(sources.line(e.file, n) for n in range(max(1, e.line - 3), e.line + 1))
                m = re.search(r"for\s*\(\s*(?:const\s+)?auto\s*&{0,2}\s*" + re.escape(name) + r"\s*:\s*" + OBJECT, above)
                name = m.group(1) if m else name
            if name:
                votes[e.address][name] += 1
                if e.file.endswith("flight.hpp") or e.address not in self.files:
                    self.files[e.address] = e.file
        self.names: dict[str, str] = {}
        for address, counter in votes.items():
            # `at.slot` and `s` name one slot word; the field's own name, `slot`, is shown
            fields: collections.Counter = collections.Counter()
            for n, c in counter.items():
                n = re.sub(r"\[[^\]]*[^\d\]][^\]]*\]", "", n)  # slots[slot_of(*run)] is one of the slots
                parts = re.split(r"\.|->", n)
                # a parker's parts keep their owner: park.m_, not m_
                fields[".".join(parts[-2:]) if parts[-1] in PARKER_PARTS else parts[-1]] += c
            strong = [(n, c) for n, c in fields.items() if n not in WEAK_NAMES and len(n.split(".")[-1]) > 2]
            pool = strong or list(fields.items())
            pool.sort(key=lambda nc: (-nc[1], -len(nc[0])))
            self.names[address] = pool[0][0]
        # the flight's fields: the names of whatever flight.hpp's own lines touch
        self.flight_fields = ({self.names[a] for a, f in self.files.items()
                               if f.endswith("flight.hpp") and a in self.names} | {"state_"}
                              | {self.names[e.address] for e in events  # the table record's own
                                 if e.address in self.names and short_function(e.function) == "record"})
        self._objects = self._group_into_records(events)
        self._label = self._disambiguate(events)

    def _group_into_records(self, events: list[Event]) -> dict[str, str]:
        """Flight records, lettered A, B, ... by first appearance. A record starts at its
        `state_` (the flight's first field, and the address its deallocation names); the
        flight's other fields belong to the nearest record start below them."""
        bases = sorted({int(a, 16) for a, n in self.names.items() if n == "state_"}
                       | self._constructed_flights(events))
        letters: dict[int, str] = {}
        record_of: dict[str, str] = {}
        for e in events:
            if not e.address:
                continue
            a = int(e.address, 16)
            if e.kind == "free":
                below = [a] if a in bases else []
            elif self.names.get(e.address) in self.flight_fields or short_function(e.function) == "record":
                # a flight's field, or one the table's record constructor (`record`) marks
                below = [b for b in bases if b <= a < b + 1024]
            else:
                below = []
            if below:
                base = below[-1]
                letters.setdefault(base, chr(ord("A") + len(letters)) if len(letters) < 26 else f"R{len(letters)}")
                record_of[e.address] = letters[base]
        self.record_letters = {hex(b): l for b, l in letters.items()}
        return record_of

    @staticmethod
    def _constructed_flights(events: list[Event]) -> set[int]:
        """The start of every flight the history constructs, even one whose state word is never
        touched afterwards: the first atomic that Relacy initialises just before the flight's
        constructor body runs (`flight::flight` marks `published_`)."""
        starts = set()
        for i, e in enumerate(events):
            if not (e.file.endswith("flight.hpp") and short_function(e.function) == "flight"):
                continue
            run = []
            for before in reversed(events[:i]):
                if before.thread != e.thread:
                    continue
                if before.kind == "store" and _in_relacy(before):
                    run.append(int(before.address, 16))
                elif run or before.kind != "store":
                    break
            if run:
                starts.add(min(run))
        return starts

    def _disambiguate(self, events: list[Event]) -> dict[str, str]:
        by_name: dict[str, list[str]] = collections.defaultdict(list)
        for e in events:
            if e.address in self.names and e.address not in by_name[self.names[e.address]]:
                by_name[self.names[e.address]].append(e.address)
        records = set(self._objects.values())
        label: dict[str, str] = {}
        unnamed = 0
        for name, addresses in by_name.items():
            plain = re.sub(r"\[[A-Za-z_][^\]]*\]", "", name)  # hazard[i] is one of several hazards
            others = [a for a in addresses if not (a in self._objects and len(records) > 1)]
            for address in addresses:
                if address in self._objects and len(records) > 1:
                    label[address] = f"{self._objects[address]}.{name}"
                elif len(others) == 1:
                    label[address] = name
                else:
                    label[address] = f"{plain}#{others.index(address) + 1}"
        for e in events:
            if e.address and e.address not in label and e.kind not in ("free", "failure"):
                unnamed += 1
                label[e.address] = f"loc#{unnamed}"
        return label

    def __call__(self, address: str) -> str:
        return self._label.get(address, "")

    def record(self, address: str) -> str:
        return self.record_letters.get(address, "")


# ---- values ---------------------------------------------------------------------------------

class StateBits:
    """Names the bits of flight::state_ from the constants in flight.hpp (kDone = 1u << 0, ...),
    so that a value reads `JOINED|WAITERS` instead of 6."""

    def __init__(self, flight_hpp_lines: list[str]):
        consts: dict[str, int] = {}
        for text in flight_hpp_lines:
            m = re.search(r"constexpr\s+(?:std::uint32_t|int)\s+k(\w+)\s*=\s*([^;]+);", text)
            if not m:
                continue
            expr = re.sub(r"(\d+)u\b", r"\1", m.group(2))
            expr = re.sub(r"\bk(\w+)", lambda mm: str(consts.get(mm.group(1), "x")), expr)
            if re.fullmatch(r"[\d\s<>|&~()+\-]+", expr):
                consts[m.group(1)] = eval(expr, {"__builtins__": {}})  # digits and operators only
        self.caller = consts.get("Caller", 0)
        self.bits = [(name.upper(), v) for name, v in consts.items()
                     if v and v & (v - 1) == 0 and name not in ("Caller", "SharedShift")
                     and (not self.caller or v < self.caller)]

    def name(self, value: int) -> str:
        if not self.bits:
            return str(value)
        parts = [n for n, v in self.bits if value & v]
        if self.caller and value >= self.caller:
            n = value // self.caller
            parts.append(f"{n} CALLER" + ("S" if n != 1 else ""))
        return "|".join(parts) if parts else "0"

    def change(self, before: int, after: int) -> str:
        """What a read-modify-write did to the word: `+DONE`, `−WAITERS`, `+1 CALLER`."""
        parts = [f"+{n}" for n, v in self.bits if after & v and not before & v]
        parts += [f"−{n}" for n, v in self.bits if before & v and not after & v]
        if self.caller:
            delta = after // self.caller - before // self.caller
            if delta:
                parts.append(f"{delta:+d} CALLER" + ("S" if abs(delta) != 1 else ""))
        return " ".join(parts) if parts else "unchanged"

    def constant(self, text: str) -> str:
        """`kJoined` -> `JOINED` in an operation's argument as written in the source."""
        return re.sub(r"\bk([A-Z]\w*)", lambda m: m.group(1).upper(), text)


def is_state_word(location: str) -> bool:
    """`state_`, `A.state_`, `state_#2`: a flight's state word, whose values have named bits."""
    return re.search(r"(^|\.)state_(#\d+)?$", location) is not None


class Values:
    """Formats values: state_ by its bits, pointers as the record they point to (`&A`) or a
    short label (`p1`), small numbers as they are."""

    def __init__(self, names: LocationNames, bits: StateBits | None):
        self.names, self.bits = names, bits
        self.pointers: dict[int, str] = {}

    def transition(self, before: str, after: str, location: str) -> str:
        """`JOINED|WAITERS → +DONE` for the state word; `2 → 1` for anything else."""
        if self.bits and is_state_word(location):
            try:
                return f"{self(before, location)} → {self.bits.change(int(before), int(after))}"
            except ValueError:
                pass
        return f"{self(before, location)} → {self(after, location)}"

    def __call__(self, raw: str, location: str) -> str:
        raw = raw.strip()
        try:
            value = int(raw, 16) if raw.startswith("0x") else int(raw)
        except ValueError:
            return raw
        if self.bits and is_state_word(location):
            return self.bits.name(value)
        if value < 0x10000:
            return str(value)
        tag = value & 3
        record = self.names.record(hex(value - tag))
        if record:
            return f"&{record}" + (f"+{tag}" if tag else "")
        base = value - tag
        label = self.pointers.setdefault(base, f"p{len(self.pointers) + 1}")
        return label + (f"+{tag}" if tag else "")


# ---- from events to steps -------------------------------------------------------------------

NOISY_FILES = ("/relacy/",)


def is_model_table(e: Event) -> bool:
    return e.file.endswith("proofs/model.hpp") and e.kind == "mutex"


def is_model_file(path: str) -> bool:
    """A model's own source (proofs/<model>.cpp): fn's body, the model's checks."""
    return "/proofs/" in path and path.endswith(".cpp")


def describe(e: Event, name: str, site: str, values: Values, sources: Sources, bits: StateBits | None) -> str:
    """The label of one operation, e.g. `state_.fetch_or(DONE) acq_rel (2)  was JOINED`."""
    f = e.fields()
    order = f.get("order", "")
    at = f" ({site})" if site else ""
    kind = e.kind
    if kind == "load":
        raw = f.get("value", "?")
        stale = "  (stale)" if "NOT CURRENT" in raw else ""
        return f"{name}.load {order}{at} = {values(raw.replace('[NOT CURRENT]', ''), name)}{stale}"
    if kind == "store":
        return f"{name}.store {order}{at} ← {values(f.get('value', '?'), name)}"
    if kind == "rmw":
        op = e.what.split()[0]
        arg = _argument_text(sources.line(e.file, e.line), op, bits) or values(f.get("arg", "?"), "")
        return f"{name}.{op}({arg}) {order}{at}  {values.transition(f.get('prev', '?'), f.get('new', '?'), name)}"
    if kind == "cas":
        seen = values(f.get("orig", "?"), name)
        if e.what.startswith("CAS succ"):
            return f"{name}.CAS {order}{at}  {values.transition(f.get('orig', '?'), f.get('xchg', '?'), name)}"
        return f"{name}.CAS fails{at}: sees {seen}, expected {values(f.get('cmp', '?'), name)}"
    if kind == "var_load":
        return f"reads {name}"
    if kind == "var_store":
        return f"writes {name}"
    if kind == "futex":
        m = re.match(r"futex\((FUTEX_\w+), (\d+), \d+\) = (\w+)", e.what)
        if m and m.group(1) == "FUTEX_WAIT":
            outcome = {"0": "woken", "EINTR": "returns spuriously", "EWOULDBLOCK": "value changed",
                       "UNKNOWN": "blocks"}.get(m.group(3), m.group(3))
            return f"wait({name} = {values(m.group(2), name)}){at}: {outcome}"
        if m:
            return f"notify_all({name}){at}: wakes {m.group(3)}"
        return e.what
    if kind == "mutex" and "destroying owned mutex" in e.what:
        return f"destroys {name} (still locked)"
    if kind == "mutex":
        action = e.what.split(":", 1)[1].strip()
        action = {"exclusive lock": "lock", "exclusive unlock": "unlock",
                  "blocking": "lock: blocks"}.get(action, action)
        return f"{name}.{action}"
    if kind == "condvar":
        what = e.what.split(":", 1)[1].strip()
        if what.startswith("notify"):
            return f"{name}.notify_one"
        return f"{name}.{what.replace(' ', '_')}" if what.startswith("wait") else f"{name}: {what}"
    if kind == "block":
        return "blocks"
    if kind == "unblock":
        return "wakes " + e.what.replace("unblocking thread ", "T")
    if kind == "finish":
        return "returns (thread finished)"
    if kind == "free":
        record = values.names.record(e.address)
        if record:
            return f"frees record {record}"
        pointer = values.pointers.get(int(e.address, 16))
        return f"frees {pointer}" if pointer else "frees memory"
    if kind == "failure":
        return e.what
    if kind == "freed_access":
        return f"touches {name or 'memory'}, already freed"
    return e.what.strip(" ,")


def _argument_text(source_line: str, op: str, bits: StateBits | None) -> str:
    """The first argument of `op` as written in the source (`kJoined` -> `JOINED`), if simple."""
    m = re.search(re.escape(op) + r"\s*\(\s*([A-Za-z_]\w*|\d+)\s*,", source_line or "")
    if not m:
        return ""
    return bits.constant(m.group(1)) if bits else m.group(1)


def verdict_of(headline: str, failing: Event | None, access: Step | None) -> str:
    """`DATA RACE on outcome_access_`, `USER ASSERT FAILED: a.shared() && b.shared()`, ..."""
    text = re.sub(r"\s*\((?:data race|deadlock|memory leak|access to freed memory)[^)]*\)", "", headline).strip()
    m = re.match(r"USER ASSERT FAILED \(assertion: (.*)\)$", headline)
    if m:
        return f"USER ASSERT FAILED: {m.group(1)}"
    if access is not None and access.location and text in ("DATA RACE", "ACCESS TO FREED MEMORY"):
        return f"{text} on {access.location}"
    if access is not None and access.location and text == "DESTROYING OWNED MUTEX":
        return f"{text}: {access.location}"
    return text


def build_trace(run: SuiteRun, model: str, mutant: str, sources: Sources,
                mutated_lines: set[tuple[str, int]]) -> Trace:
    """The Trace of one failing suite: a Step per history line, named, numbered and marked."""
    events = run.events
    names = LocationNames(events, sources)
    flight_hpp = next((e.file for e in events if e.file.endswith("detail/flight.hpp")), "")
    bits = StateBits(sources.lines(flight_hpp)) if flight_hpp else None
    values = Values(names, bits)
    threads = sorted({e.thread for e in events}) or [0]
    mutated_lines = _lines_that_ran(events, mutated_lines)
    steps: list[Step] = []
    for e in events:
        name = names(e.address) if e.address else ""
        site = site_on_line(sources, e.file, e.line, e.fields().get("order", "")) if e.kind in ("load", "store", "rmw", "cas", "futex") else ""
        step = Step(order=e.order, column=threads.index(e.thread),
                    label=describe(e, name, site, values, sources, bits),
                    context=short_function(e.function) if e.function and not _in_relacy(e) else "",
                    detail=e.raw, location=name)
        step.noise = _is_noise(e)
        step.mutated = (_relative(e.file), e.line) in mutated_lines
        step.landmark = bool(site) or is_model_file(e.file) or e.kind in ("unblock", "finish", "free")
        steps.append(step)
    _describe_blocking(steps, events)
    trace = Trace(checker="Relacy", model=model, mutant=mutant, suite=run.result.get("model", ""),
                  columns=[f"thread {t}" for t in threads], steps=steps, verdict="")
    _mark_failure(trace, events, run)
    _name_leak(trace, events, names)
    _mark_blocked(trace, events)
    _mark_focus(trace, events, names)
    trace.column_notes = _roles(events, threads)
    iterations = run.result.get("iterations") or run.iteration
    search = run.result.get("search", "")
    if iterations:
        trace.found_after = (f"found after {int(iterations):,} execution{'s' if iterations != '1' else ''}"
                             + (f", {search} search" if search else ""))
    if any(s.label.endswith("(stale)") for s in steps):
        trace.legend.append("(stale): the load read a value older than the latest store to that location, "
                            "which the memory model allows when nothing orders the two")
    if bits and any(is_state_word(s.location) for s in steps):
        trace.legend.append("state_ bits: " + ", ".join(f"{n} = {v}" for n, v in bits.bits)
                            + (f"; CALLERS count from {bits.caller}" if bits.caller else ""))
    if len(set(names.record_letters.values())) > 1:
        trace.legend.append("A., B., …: the flight record a field belongs to; &A: a pointer to record A")
    return trace


def _lines_that_ran(events: list[Event], changed: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """The lines whose steps show a mutation: a changed line itself where a step ran it, else the
    first line below it (within a few) where one did, else the last just above it. A changed
    condition (`if ((next & kCallerMask) <= kCaller)`) makes no step of its own; the CAS it feeds
    does, or the load whose value it tests."""
    ran: dict[str, set[int]] = {}
    for e in events:
        ran.setdefault(_relative(e.file), set()).add(e.line)
    shown = set()
    for path, line in changed:
        below = sorted(n for n in ran.get(path, ()) if line <= n <= line + 6)
        above = sorted(n for n in ran.get(path, ()) if line - 3 <= n < line)
        if below:
            shown.add((path, below[0]))
        elif above:  # `return joined;` where `(prev & kDone)` decided: the step that read prev
            shown.add((path, above[-1]))
    return shown


def _describe_blocking(steps: list[Step], events: list[Event]) -> None:
    """`blocking current thread` says what blocks from the steps before it on the same line: a
    blocked lock of the model table's mutex already said so (the repetition is noise); a wait
    names the word or condition variable it waits on."""
    for i, (step, e) in enumerate(zip(steps, events)):
        mine = [(s, b) for s, b in zip(reversed(steps[:i]), reversed(events[:i])) if b.thread == e.thread]
        if e.kind == "block" and mine:
            before = mine[0][1]
            if before.kind == "mutex" and "blocking" in before.what:
                step.noise = True
                continue
            same_line = [(s, b) for s, b in mine if b.file == e.file and b.line == e.line and s.location]
            waits = [s for s, b in same_line if b.kind in ("condvar", "futex")] or [s for s, _ in same_line]
            if waits and not step.location:
                step.location = waits[0].location
            if step.location:
                step.label = f"parks on {step.location}"
        if e.kind == "futex" and step.noise and mine:  # woken spuriously: its park was no step either
            park = mine[0][0]
            if park.label.startswith(("parks", "blocks")):
                park.noise = True


def _relative(path: str) -> str:
    """`.../mutants/<m>/src/singleflight/detail/flight.hpp` -> `singleflight/detail/flight.hpp`."""
    return path.split("/src/", 1)[1] if "/src/" in path else path


def _in_relacy(e: Event) -> bool:
    return any(n in e.file for n in NOISY_FILES)


def _is_noise(e: Event) -> bool:
    if e.kind == "marker":
        return True
    if e.kind == "cas" and "SPURIOUSLY" in e.what:
        return True
    if e.kind == "futex" and e.what.endswith("= EINTR"):
        return True  # a spurious return of the futex: the waiter parks again
    if e.kind == "store" and any(n in e.file for n in NOISY_FILES):
        return True  # the constructor of an atomic, inside Relacy
    if is_model_table(e) and "blocking" not in e.what:
        return True
    if e.kind in ("block", "unblock") and e.file.endswith("proofs/model.hpp"):
        return False
    return False


def _mark_failure(trace: Trace, events: list[Event], run: SuiteRun) -> None:
    """Marks the reported step, and for a data race or a freed access names the access and
    links it to the conflicting access or the free."""
    failing = next((e for e in reversed(events) if e.kind == "failure"), None)
    access_step = None
    if failing is not None:
        step = next(s for s in trace.steps if s.order == failing.order)
        step.failing, step.noise = True, False
        earlier = [e for e in events if e.thread == failing.thread and e.order < failing.order and e.address
                   and e.kind not in ("free",)]
        if earlier and failing.what.startswith("DESTROYING OWNED MUTEX"):
            mutex = earlier[-1]
            access_step = next(s for s in trace.steps if s.order == mutex.order)
            access_step.focus = True
            locks = [e for e in events if e.address == mutex.address and e.order < mutex.order
                     and e.thread != mutex.thread and e.what.endswith("exclusive lock")]
            if locks:
                lock = locks[-1]
                trace.links.append(Link(lock.order, mutex.order,
                                        f"locked at step {lock.order} by thread {lock.thread}, destroyed "
                                        f"at step {mutex.order} by thread {mutex.thread} while still locked"))
        elif earlier and failing.what.startswith(("DATA RACE", "ACCESS TO FREED MEMORY")):
            access = earlier[-1]
            access_step = next(s for s in trace.steps if s.order == access.order)
            access_step.focus = True
            _link_conflict(trace, events, access, failing)
    trace.verdict = verdict_of(run.headline or (failing.what if failing else run.result.get("result", "")),
                               failing, access_step)
    if failing is not None:
        step = next(s for s in trace.steps if s.order == failing.order)
        step.label = trace.verdict


def _link_conflict(trace: Trace, events: list[Event], access: Event, failing: Event) -> None:
    """Links the failing access to the free before it, or to the other thread's conflicting
    access (the other half of the race)."""
    if failing.what.startswith("ACCESS TO FREED MEMORY"):
        a = int(access.address, 16)
        frees = [e for e in events if e.kind == "free" and e.order < access.order
                 and int(e.address, 16) <= a < int(e.address, 16) + 1024]
        if frees:
            free = frees[-1]
            freed = next(s for s in trace.steps if s.order == free.order)
            touched = next(s for s in trace.steps if s.order == access.order)
            if touched.location.startswith("loc#") or not touched.location:
                whose = freed.label.replace("frees ", "")
                touched.location = f"{whose}'s memory"
                touched.label = f"touches {touched.location}, already freed"
            trace.links.append(Link(free.order, access.order,
                                    f"freed at step {free.order} by thread {free.thread}, "
                                    f"touched at step {access.order} by thread {access.thread}"))
            next(s for s in trace.steps if s.order == free.order).focus = True
        return
    writes = ("store", "var_store", "rmw", "cas")
    others = [e for e in events if e.address == access.address and e.thread != access.thread
              and e.order < access.order and (e.kind in writes or access.kind in writes)]
    if others:
        other = others[-1]
        verb = lambda e: "written" if e.kind in writes else "read"
        trace.links.append(Link(other.order, access.order,
                                f"{verb(other)} at step {other.order} by thread {other.thread}, "
                                f"{verb(access)} at step {access.order} by thread {access.thread}: "
                                "nothing orders the two"))
        next(s for s in trace.steps if s.order == other.order).focus = True


def _name_leak(trace: Trace, events: list[Event], names: LocationNames) -> None:
    """A memory leak names the records that were never freed, and keeps their counts in view."""
    if not trace.verdict.startswith("MEMORY LEAK"):
        return
    freed = {names.record(e.address) for e in events if e.kind == "free"}
    leaked = sorted(set(names.record_letters.values()) - freed)
    if not leaked:
        return
    if len(set(names.record_letters.values())) == 1:
        trace.verdict = "MEMORY LEAK: the flight record is never freed"
    else:
        trace.verdict = f"MEMORY LEAK: record {' and '.join(leaked)} never freed"
    next(s for s in trace.steps if s.failing).label = trace.verdict
    for step in trace.steps:
        if step.location.split(".")[0] in leaked and step.location.endswith(("holds_", "users_")):
            step.focus = True


def _mark_blocked(trace: Trace, events: list[Event]) -> None:
    """In a deadlock, the last step of each thread that never finished is where it waits forever."""
    if not any(s.failing and s.label.startswith("DEADLOCK") for s in trace.steps):
        return
    finished = {e.thread for e in events if e.kind == "finish"}
    stuck = sorted({e.thread for e in events} - finished)
    if stuck:
        who = " and ".join(f"thread {t}" for t in stuck)
        trace.verdict = f"DEADLOCK: {who} wait{'s' if len(stuck) == 1 else ''} forever"
        next(s for s in trace.steps if s.failing).label = trace.verdict
    for thread in stuck:
        mine = [e for e in events if e.thread == thread and e.kind not in ("failure", "marker")]
        waits = [e for e in mine if e.kind in ("block", "futex", "condvar")]
        if waits:
            step = next(s for s in trace.steps if s.order == waits[-1].order)
            step.blocked, step.noise = True, False
            step.label += "  — waits forever"


def _mark_focus(trace: Trace, events: list[Event], names: LocationNames) -> None:
    """The locations involved in the failure: those of the failing access and what it conflicts
    with, of the waits that never end, and of the mutated lines; where the failure is about a
    record's life (a leak, a freed access), every field of that record and the steps that store
    a pointer to it (`&A`). Every step on them is kept when a long trace is folded."""
    seeds = [s for s in trace.steps if (s.focus or s.blocked or s.mutated) and s.location]
    locations = {s.location for s in seeds}
    records = set()
    if trace.verdict.startswith(("MEMORY LEAK", "ACCESS TO FREED MEMORY")):  # about a record's life
        records = {s.location.split(".")[0] for s in seeds if re.match(r"^[A-Z]\.", s.location)}
    m = re.search(r"record ([A-Z](?: and [A-Z])*) never freed", trace.verdict)
    if m:
        records |= set(m.group(1).split(" and "))
    for step in trace.steps:
        if step.location in locations or step.location.split(".")[0] in records and "." in step.location:
            step.focus = True
        elif any(f"&{r}" in step.label or f"record {r}" in step.label for r in records):
            step.focus = True


def _roles(events: list[Event], threads: list[int]) -> list[str]:
    """What each thread does, from the protocol functions it ran: leads, follows, forgets."""
    roles = []
    for t in threads:
        functions = [short_function(e.function) for e in events if e.thread == t and e.function]
        seen: list[str] = []
        for f, role in (("produce", "leads"), ("fail", "leads"), ("try_join", "joins"),
                        ("forget", "forgets"), ("request_stop", "requests a stop")):
            if f in functions and role not in seen:
                seen.append(role)
        roles.append(", ".join(seen))
    return roles


def mutated_lines(events: list[Event], sources: Sources, repo: pathlib.Path,
                  patch: pathlib.Path | None) -> set[tuple[str, int]]:
    """(path below src/, line) of each line the mutant changed, in the mutated file's numbering:
    the mutated copy that the history points into, compared with the shipped file. Where that
    copy is not here, the line numbers of the patch's added lines (exact when it applies
    without an offset)."""
    lines: set[tuple[str, int]] = set()
    compared = False
    for path in sorted({e.file for e in events if "/mutants/" in e.file and "/src/" in e.file}):
        relative = _relative(path)
        mutated, shipped = sources.resolve(path), repo / "src" / relative
        if mutated is None or not shipped.is_file() or mutated.resolve() == shipped.resolve():
            continue
        compared = True
        original = shipped.read_text(errors="replace").splitlines()
        lines |= {(relative, n) for n in changed_lines(original, sources.lines(path))}
    if not compared and patch is not None and patch.is_file():
        lines = added_lines_of(patch)
    return lines


def added_lines_of(patch: pathlib.Path) -> set[tuple[str, int]]:
    """(path below src/, line) for each line the patch adds, as the patch numbers them."""
    lines: set[tuple[str, int]] = set()
    current, number = "", 0
    for text in patch.read_text(errors="replace").splitlines():
        if text.startswith("+++ "):
            path = re.sub(r"^[ab]/", "", text[4:].split("\t")[0])
            current = path[4:] if path.startswith("src/") else path
        elif text.startswith("@@"):
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", text)
            number = int(m.group(1)) if m else 0
        elif current and number:
            if text.startswith("+"):
                lines.add((current, number))
                number += 1
            elif text.startswith(" "):
                number += 1
    return lines
