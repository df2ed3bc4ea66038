"""proofs/gallery: draws a folded Trace as an SVG and a PNG with matplotlib.

One column per thread (or Spin process), one row per step, top to bottom in the order the
checker ran them. Each step is a dot on its thread's lane and a short label; the step the
checker reported is red, with the checker's verdict under the last row; steps that ran a line
the mutant changed are orange; a step where a thread waits forever is purple. Folded steps leave
a "⋯ k steps" row. Above: the title and the two sentences on what the mutant broke and what
went wrong; below: what the marks and values mean.
"""
from __future__ import annotations

import pathlib
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib import patches  # noqa: E402

from counterexample import Gap, Step, Trace, legend_for  # noqa: E402

LABEL_PT = 6.9          # step labels
CONTEXT_PT = 5.6        # the function a step ran in, over its first step there
ROW_IN = 0.23           # one step
GAP_IN = 0.15           # a fold marker
GUTTER_IN = 0.45        # the step numbers on the left
MIN_COLUMN_IN, MAX_COLUMN_IN = 1.25, 3.8
RED, ORANGE, PURPLE, GREY = "#c0392b", "#d35400", "#6c3483", "#7f8c8d"
LANES = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "singleflight-gallery",
                            "font.family": "DejaVu Sans"})


class _Measure:
    """Text widths in inches, from the Agg renderer of a scratch figure."""

    def __init__(self):
        self.fig = plt.figure(figsize=(4, 4), dpi=100)
        self.renderer = self.fig.canvas.get_renderer()
        self.cache: dict[tuple[str, float, str], float] = {}

    def width(self, text: str, size: float, weight: str = "normal") -> float:
        """The width of `text` in inches."""
        key = (text, size, weight)
        if key not in self.cache:
            t = self.fig.text(0, 0, text, fontsize=size, fontweight=weight)
            self.cache[key] = t.get_window_extent(self.renderer).width / self.fig.dpi
            t.remove()
        return self.cache[key]

    def fit(self, text: str, size: float, limit: float, weight: str = "normal") -> str:
        """`text`, cut with an ellipsis until it is at most `limit` inches wide."""
        if self.width(text, size, weight) <= limit:
            return text
        while len(text) > 4 and self.width(text + "…", size, weight) > limit:
            text = text[:-1]
        return text.rstrip() + "…"

    def close(self):
        plt.close(self.fig)


def _cell_text(step: Step, show_context: bool) -> tuple[str, str]:
    context = (step.context + ("()" if step.context.isidentifier() else "")) if show_context and step.context else ""
    label = step.label + (f"  ×{step.repeat}" if step.repeat > 1 else "")
    if step.mutated:
        label = "✎ " + label
    return context, label


def draw(trace: Trace, rows: list[Step | Gap], title: str, sentences: list[str],
         footer: str, out_base: pathlib.Path, dpi: int = 110) -> list[pathlib.Path]:
    """Writes out_base.svg and out_base.png; returns their paths."""
    measure = _Measure()
    columns = _columns_in_use(trace, rows)
    # four or more columns (Spin's processes) get narrower ones, so the page stays readable
    widest = MAX_COLUMN_IN if len(columns) <= 3 else 2.7
    widths, cells = _layout_cells(trace, rows, columns, measure, widest)
    body_width = GUTTER_IN + sum(widths[c] for c in columns) + 0.2
    width = max(body_width, 7.0)
    wrap_chars = int((width - 0.4) / 0.066)
    header = [textwrap.fill(s, wrap_chars) for s in sentences if s]
    header_lines = sum(h.count("\n") + 1 for h in header)
    verdict = f"{trace.checker}: {trace.verdict}"
    found = trace.found_after
    notes = legend_for(trace, rows) + [footer]
    notes_text = "\n".join(textwrap.fill(n, int((width - 0.4) / 0.056)) for n in notes if n)
    notes_lines = notes_text.count("\n") + 1 if notes_text else 0

    top_in = 0.42 + header_lines * 0.16 + 0.22 + 0.42   # title, sentences, found-after, lane heads
    body_in = sum(_gap_height(r) if isinstance(r, Gap) else ROW_IN for r in rows)
    bottom_in = 0.45 + 0.17 * len(trace.links) + notes_lines * 0.14 + 0.1
    height = top_in + body_in + bottom_in
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # inches from the top
    ax.axis("off")

    y = 0.3
    ax.text(0.2, y, title, fontsize=12, fontweight="bold", va="center")
    y += 0.26
    for h in header:
        ax.text(0.2, y - 0.08, h, fontsize=8.6, va="top", linespacing=1.35)
        y += (h.count("\n") + 1) * 0.16
    y += 0.1
    ax.text(0.2, y, f"{trace.checker}'s counterexample ({trace.suite}); {found}." if found
            else f"{trace.checker}'s counterexample ({trace.suite}).", fontsize=7.2, color=GREY, va="center")
    y += 0.3

    x_of = {}
    x = GUTTER_IN
    for c in columns:
        x_of[c] = x
        name = trace.columns[c]
        note = trace.column_notes[c] if c < len(trace.column_notes) else ""
        ax.text(x + 0.02, y - 0.06, name, fontsize=8.4, fontweight="bold", color=LANES[c % len(LANES)], va="bottom")
        if note:
            ax.text(x + 0.02, y + 0.06, measure.fit(note, 6.6, widths[c] - 0.1), fontsize=6.6, color=GREY, va="bottom")
        x += widths[c]
    y += 0.12
    lane_top = y
    y_of: dict[int, float] = {}
    for row in rows:
        if isinstance(row, Gap):
            height = _gap_height(row)
            if row.hidden >= 3:
                ax.text(GUTTER_IN - 0.08, y + height / 2, f"⋯ {row.hidden}", fontsize=5.8, color=GREY,
                        va="center", ha="right", style="italic")
            ax.plot([GUTTER_IN, body_width - 0.2], [y + height / 2] * 2, color="#dddddd", lw=0.5, ls=(0, (1, 2)))
            y += height
            continue
        yc = y + ROW_IN / 2
        y_of[row.order] = yc
        _draw_step(ax, row, cells[id(row)], x_of[row.column], yc, widths[row.column], measure)
        ax.text(GUTTER_IN - 0.08, yc, str(row.order), fontsize=6.2, color=GREY, ha="right", va="center")
        y += ROW_IN
    for c in columns:
        ax.plot([x_of[c] + 0.06] * 2, [lane_top, y], color=LANES[c % len(LANES)], lw=0.8, alpha=0.35, zorder=0)
    for link in trace.links:
        if link.first in y_of and link.second in y_of:
            first = next(r for r in rows if isinstance(r, Step) and r.order == link.first)
            second = next(r for r in rows if isinstance(r, Step) and r.order == link.second)
            xa, xb = x_of[first.column] + 0.06, x_of[second.column] + 0.06
            ax.annotate("", xy=(xb, y_of[link.second]), xytext=(xa, y_of[link.first]),
                        arrowprops=dict(arrowstyle="-", color=RED, lw=0.9, ls="--", alpha=0.6,
                                        connectionstyle="arc3,rad=-0.25" if xa == xb else "arc3,rad=0"))
    y += 0.12
    ax.text(0.2, y + 0.12, verdict, fontsize=9.2, fontweight="bold", color=RED, va="center")
    y += 0.3
    for link in trace.links:  # what the dashed line joins
        ax.text(0.2, y, f"- - -  {link.label}", fontsize=7.2, color=RED, va="center")
        y += 0.17
    y += 0.08
    if notes_text:
        ax.text(0.2, y, notes_text, fontsize=6.6, color=GREY, va="top", linespacing=1.3)
    measure.close()
    return _save(fig, out_base, dpi)


def _gap_height(gap: Gap) -> float:
    """A fold of one or two steps is a dotted line; a longer one also says how many."""
    return GAP_IN if gap.hidden >= 3 else 0.07


def _columns_in_use(trace: Trace, rows: list[Step | Gap]) -> list[int]:
    used = sorted({r.column for r in rows if isinstance(r, Step)})
    return used or [0]


def _layout_cells(trace: Trace, rows, columns, measure: _Measure, widest: float):
    """Each column's width (its widest cell, within limits), and each step's (context, label),
    cut to fit."""
    widths = {c: MIN_COLUMN_IN for c in columns}
    cells = {}
    last_context: dict[int, str] = {}
    for row in rows:
        if isinstance(row, Gap):
            continue
        show = row.context != last_context.get(row.column)
        last_context[row.column] = row.context
        context, label = _cell_text(row, show)
        cells[id(row)] = (context, label)
        need = 0.2 + max(measure.width(context, CONTEXT_PT), measure.width(label, LABEL_PT, _weight(row))) + 0.15
        widths[row.column] = min(widest, max(widths[row.column], need))
    for row in rows:
        if isinstance(row, Gap):
            continue
        context, label = cells[id(row)]
        room = widths[row.column] - 0.35
        cells[id(row)] = (context, measure.fit(label, LABEL_PT, max(room, 0.6), _weight(row)))
    return widths, cells


def _draw_step(ax, step: Step, cell: tuple[str, str], x: float, y: float, width: float,
               measure: _Measure) -> None:
    context, label = cell
    lane = LANES[step.column % len(LANES)]
    colour = RED if step.failing else PURPLE if step.blocked else ORANGE if step.mutated else "#222222"
    ax.plot([x + 0.06], [y], marker="o", ms=3.2, color=RED if step.failing else lane, zorder=3)
    tx = x + 0.16
    if context:  # the function, in small type over the step's label
        ax.text(tx, y - 0.062, context, fontsize=CONTEXT_PT, color=GREY, va="bottom", style="italic")
    if step.failing or step.mutated or step.blocked:
        w = measure.width(label, LABEL_PT, _weight(step)) + 0.08
        ax.add_patch(patches.FancyBboxPatch((tx - 0.04, y - 0.075), w, 0.15,
                                            boxstyle="round,pad=0.0,rounding_size=0.03",
                                            fc={RED: "#fdecea", PURPLE: "#f4ecf7", ORANGE: "#fdf2e9"}[colour],
                                            ec=colour, lw=0.6, zorder=1))
    ax.text(tx, y, label, fontsize=LABEL_PT, color=colour, va="center", fontweight=_weight(step), zorder=2)


def _weight(step: Step) -> str:
    return "bold" if step.failing else "normal"


def _save(fig, out_base: pathlib.Path, dpi: int) -> list[pathlib.Path]:
    out_base.parent.mkdir(parents=True, exist_ok=True)
    svg, png = out_base.with_suffix(".svg"), out_base.with_suffix(".png")
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    fig.savefig(png, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    _shrink_png(png)
    return [svg, png]


def _shrink_png(png: pathlib.Path) -> None:
    """Re-encodes the PNG with a 96-colour palette: a third of the bytes, the same to the eye.
    Pillow comes with matplotlib; without it the PNG stays as matplotlib wrote it."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=96, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(png, optimize=True)
