"""The paper's figures (paper/generated/figures/*.pdf) and, beside each, the numbers it plots
(paper/generated/data/*.csv).

Called by scripts/paper_generate.py. Each measured figure has a data function (results/ -> rows;
scripts/paper_check.py compares the CSV it writes) and a draw function (rows -> PDF; images are
not byte-compared, matplotlib's output varies). The state diagram is drawn by hand here: it is
the protocol of paper/design.md §2, not a measurement.
"""
from __future__ import annotations

import csv
import io

import paper_common as pc
from paper_common import bench_report

IMPL_STYLE = {  # the same colours as scripts/bench_report.py's plots
    "group": ("tab:blue", "o", "group (own table)"),
    "group_michael_dhp": ("tab:purple", "v", "group, libcds Michael/DHP"),
    "group_michael_hp": ("tab:cyan", "D", "group, libcds Michael/HP"),
    "mutex_group": ("tab:red", "s", "mutex_group"),
    "sharded_group": ("tab:orange", "^", "sharded_group"),
    "go": ("tab:green", "P", "Go x/sync"),
    "atomics": ("black", "x", "floor: hash + 3 atomic RMWs"),
    "atomic_wait_floor": ("black", "x", "floor: bare atomic wait/notify_all"),
    "floor": ("black", "x", "floor: bare resume() loop"),
}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams.update({
        "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 6.5,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "pdf.fonttype": 42, "axes.grid": True,
        "grid.alpha": 0.3, "lines.markersize": 4, "lines.linewidth": 1.2,
        "font.family": "serif", "savefig.dpi": 160,
    })
    return plt


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, metadata={"CreationDate": None, "ModDate": None, "Producer": None,
                                "Creator": "scripts/paper_figures.py"})
    import matplotlib.pyplot as plt
    plt.close(fig)


def csv_text(columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["# " + columns[0]] + list(columns[1:]))
    for row in rows:
        w.writerow([f"{x:.6g}" if isinstance(x, float) else x for x in row])
    return buf.getvalue()


def rows_of(text):
    """CSV text back to dict rows (the draw functions read what the data functions wrote)."""
    lines = [l for l in text.splitlines() if l]
    header = [h.lstrip("# ") for h in next(csv.reader([lines[0]]))]
    out = []
    for rec in csv.reader(lines[1:]):
        row = {}
        for k, v in zip(header, rec):
            try:
                row[k] = float(v)
            except ValueError:
                row[k] = v
        out.append(row)
    return out


def _style(impl):
    return IMPL_STYLE.get(impl, ("gray", ".", impl))


def _xticks(ax, values):
    """A log2 x axis labelled with the measured values themselves."""
    from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    values = sorted({int(v) for v in values})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:,}" for v in values]))
    ax.xaxis.set_minor_locator(NullLocator())


def _yticks(ax, values, fmt="{:g}"):
    from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    lo, hi = ax.get_ylim()
    values = [v for v in values if lo <= v <= hi]
    ax.yaxis.set_major_locator(FixedLocator(values))
    ax.yaxis.set_major_formatter(FixedFormatter([fmt.format(v) for v in values]))
    ax.yaxis.set_minor_locator(NullLocator())


# ---- the state machine (hand-drawn) ---------------------------------------------------------------

def draw_states(R, path):
    """The record's life (paper/design.md §2): boxes are states, arrows the step that moves a
    record and who takes it. Coordinates are in a 100 x 70 box."""
    plt = _plt()
    from matplotlib.patches import FancyBboxPatch
    fig, ax = plt.subplots(figsize=(6.4, 4.3))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 72)
    ax.axis("off")
    W, H = 21, 8.5
    boxes = {  # key: (centre x, centre y, text, fill)
        "new": (11, 50, "unpublished\n(the leader's own)", "#f4f4f4"),
        "reg": (47, 50, "REGISTERED, open\njoins succeed", "#f4f4f4"),
        "aband": (86, 50, "REGISTERED,\nABANDONED: joins fail,\nfn's stop requested", "#fbe9e9"),
        "discard": (11, 28, "discarded: block to\nthe thread's pool", "#f4f4f4"),
        "unreg": (47, 28, "UNREGISTERED, open\n(a stale finder may\nstill join)", "#f4f4f4"),
        "closed": (47, 7, "CLOSED (DONE)\njoins fail,\nwaiters return", "#e6eefa"),
        "gone": (76, 7, "OUTCOME GONE\n(users = 0)", "#f4f4f4"),
        "freed": (86, 28, "FREED, or retired\nto the hazard\ndomain", "#e9e9e9"),
    }
    for key, (x, y, label, face) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - W / 2, y - H / 2), W, H, boxstyle="round,pad=0.5",
                                    fc=face, ec="black", lw=0.7))
        ax.text(x, y, label, ha="center", va="center", fontsize=6.6)

    def edge(key, side):
        x, y = boxes[key][:2]
        return {"l": (x - W / 2 - 0.6, y), "r": (x + W / 2 + 0.6, y), "t": (x, y + H / 2 + 0.6),
                "b": (x, y - H / 2 - 0.6)}[side]

    def arrow(a, sa, b, sb, label, lx, ly, color="black", ha="center"):
        ax.annotate("", xy=edge(b, sb), xytext=edge(a, sa),
                    arrowprops=dict(arrowstyle="-|>", lw=0.8, color=color, shrinkA=0, shrinkB=0))
        ax.text(lx, ly, label, ha=ha, va="center", fontsize=5.9, color=color)

    arrow("new", "r", "reg", "l", "leader: insert-if-absent\n(one CAS on the slot word)", 29, 58)
    arrow("new", "b", "discard", "t", "insert lost the race:\nbecome a follower", 12.5, 39, ha="left")
    arrow("reg", "r", "aband", "l", "last caller leaves (S12):\none CAS: count 0 + ABANDONED", 66.5, 58,
          color="darkred")
    arrow("reg", "b", "unreg", "t", "leader: erase by identity\n(or forget erased it)", 48.5, 39, ha="left")
    arrow("aband", "b", "unreg", "r", "a finder (or the leader's\nend) erases it by identity", 79, 37,
          color="darkred", ha="left")
    arrow("unreg", "b", "closed", "t", "leader: close = fetch_or(DONE);\nnotify_all if WAITERS, signal\n"
          "the LISTED parkers and coroutines", 48.5, 17.5, ha="left")
    arrow("closed", "r", "gone", "l", "last user:\ndestroy outcome", 65, 2)
    arrow("gone", "t", "freed", "b", "last hold", 83, 17.5, ha="left")
    ax.annotate("", xy=(53, 54.9), xytext=(41, 54.9),
                arrowprops=dict(arrowstyle="-|>", lw=0.7, color="tab:blue",
                                connectionstyle="arc3,rad=-1.2"))
    ax.text(47, 66, "followers: find, take a reference, join (JOINED);\nwait: spin, then park on the word "
            "(WAITERS) or on a node of\ntheir own in the list (LISTED); a leaver unlinks its node",
            ha="center", va="center", fontsize=5.9, color="tab:blue")
    _save(fig, path)


# ---- coalescing against λD/(1+λD) -------------------------------------------------------------------

def data_coalescing(R):
    rows = []
    for key in ("sweep", "stress"):
        d = R.stress_json(key)
        commit = pc.short_commit(d["meta"].get("commit"))
        for x in d["runs"]:
            if x["workload"] != "poisson" or not x.get("lambda_d"):
                continue
            rows.append((key, commit, x["implementation"], float(x["lambda_d"]),
                         float(x["params"].get("duration_s", 0)), x["calls"],
                         float(x["coalescing_ratio"]), float(x["model_ratio"]),
                         float(x["measured_over_model"]), float(x.get("late_fraction", 0.0))))
    rows.sort(key=lambda r: (r[0], r[2], r[3]))
    return ("source", "commit", "implementation", "lambda_d", "duration_s", "calls", "measured",
            "optimum", "measured_over_optimum", "late_fraction"), rows


def draw_coalescing(R, rows, path):
    plt = _plt()
    fig, (top, bottom) = plt.subplots(1, 2, figsize=(6.4, 2.6))
    lds = sorted({r["lambda_d"] for r in rows})
    lo, hi = min(lds) / 2, max(lds) * 2
    xs = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    top.plot(xs, [x / (1 + x) for x in xs], color="black", lw=0.8, label=r"optimum $\lambda D/(1+\lambda D)$")
    impls = ["group", "mutex_group", "sharded_group"]
    for k, impl in enumerate(impls):
        colour, marker, label = _style(impl)
        for src, filled in (("sweep", True), ("stress", False)):
            pts = [r for r in rows if r["implementation"] == impl and r["source"] == src]
            if not pts:
                continue
            shift = 1.1 ** (k - 1)
            kw = dict(color=colour, marker=marker, linestyle="none", mfc=colour if filled else "white")
            top.plot([p["lambda_d"] * shift for p in pts], [p["measured"] for p in pts], **kw)
            bottom.plot([p["lambda_d"] * shift for p in pts], [p["measured_over_optimum"] for p in pts], **kw)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="black", lw=0.8, label=r"optimum $\lambda D/(1+\lambda D)$")]
    handles += [Line2D([], [], color=_style(i)[0], marker=_style(i)[1], ls="none", label=_style(i)[2])
                for i in impls]
    for src, filled in (("sweep", True), ("stress", False)):
        pts = [r for r in rows if r["source"] == src]
        if pts:
            handles.append(Line2D([], [], color="gray", marker="o", ls="none", mfc="gray" if filled else "white",
                                  label=f"{'sweep' if src == 'sweep' else 'default run'}: "
                                        f"{pts[0]['duration_s']:g} s per point, commit {pts[0]['commit']}"))
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.set_xlabel(r"$\lambda D$ (arrivals per key per fn duration)")
    top.set_ylabel("coalescing ratio 1 - flights/calls")
    top.set_title("measured against the Poisson optimum")
    top.legend(handles=handles, loc="upper left", fontsize=5.5)
    bottom.axhline(1.0, color="black", lw=0.8)
    bottom.set_ylabel("measured / optimum")
    bottom.set_title("ratio to the optimum")
    _save(fig, path)


# ---- per-call cost, and flights in progress ----------------------------------------------------------

PERCALL_IMPLS = ["atomics", "group", "group_michael_dhp", "group_michael_hp", "mutex_group",
                 "sharded_group", "go"]


def data_percall(R):
    r = R.bench
    rows = []
    for impl in PERCALL_IMPLS:
        scenario = "floor" if impl == "atomics" else "distinct_noop"
        x = r.get(scenario, impl, threads=1)
        if x is not None:
            rows.append(("distinct_noop_1thr", impl, 0, 1e9 / x))
    for impl in ("group", "mutex_group", "sharded_group"):
        for n in (10, 100000):
            x = r.get("distinct_noop_in_flight", impl, flights=n)
            if x is not None:
                rows.append(("in_flight", impl, n, 1e9 / x))
    return ("panel", "implementation", "flights_in_progress", "ns_per_call"), rows


def draw_percall(R, rows, path):
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.0), gridspec_kw={"width_ratios": [1.3, 1]})
    one = [r for r in rows if r["panel"] == "distinct_noop_1thr"]
    ys = list(range(len(one)))[::-1]
    for y, r in zip(ys, one):
        colour, _, label = _style(r["implementation"])
        left.barh(y, r["ns_per_call"], color=colour, alpha=0.8)
        left.text(r["ns_per_call"], y, f" {r['ns_per_call']:.3g} ns", va="center", fontsize=6)
    left.set_yticks(ys)
    left.set_yticklabels([_style(r["implementation"])[2] for r in one], fontsize=6.5)
    by = {r["implementation"]: r["ns_per_call"] for r in one}
    targets = [(0.5 * by["mutex_group"], "P1 target: 0.5x mutex_group", "--"),
               (0.25 * by["go"], "P1 target: 0.25x Go", ":"), (4 * by["atomics"], "P1 target: 4x floor", "-.")]
    for x, label, ls in targets:
        left.axvline(x, color="dimgray", lw=0.8, ls=ls, label=f"{label} ({x:.3g} ns)")
    left.legend(fontsize=5.3, loc="upper left", bbox_to_anchor=(-0.05, -0.2), ncol=2, frameon=False)
    left.set_xlabel("ns per call (1 thread, no-op fn, distinct keys)")
    left.set_xlim(0, max(by.values()) * 1.25)
    left.set_title("an uncontended call against its floor")
    left.grid(axis="y", visible=False)
    inflight = [r for r in rows if r["panel"] == "in_flight"]
    impls = [i for i in ("group", "mutex_group", "sharded_group") if any(r["implementation"] == i for r in inflight)]
    for k, impl in enumerate(impls):
        colour, _, label = _style(impl)
        for j, n in enumerate((10, 100000)):
            v = [r["ns_per_call"] for r in inflight if r["implementation"] == impl and r["flights_in_progress"] == n]
            if v:
                right.bar(k * 3.8 + j, v[0], color=colour, alpha=0.45 if n == 10 else 0.9, width=0.9)
                right.text(k * 3.8 + j, v[0], f"{v[0]:.3g}", ha="center", va="bottom", fontsize=5.5)
    right.set_ylim(0, max(r["ns_per_call"] for r in inflight) * 1.35)
    g10 = [r["ns_per_call"] for r in inflight if r["implementation"] == "group" and r["flights_in_progress"] == 10]
    if g10:
        right.plot([-0.5, 1.5], [1.5 * g10[0]] * 2, color="dimgray", ls="--", lw=0.8,
                   label="P8 target: 1.5x group's time with 10")
        right.legend(fontsize=5.3, loc="upper left", frameon=False)
    right.set_xticks([k * 3.8 + 0.5 for k in range(len(impls))])
    right.set_xticklabels([f"{i}\n10 | 100,000" for i in impls], fontsize=5.4)
    right.set_ylabel("ns per call")
    right.set_title("other flights in progress")
    right.grid(axis="x", visible=False)
    _save(fig, path)


# ---- thread scaling ---------------------------------------------------------------------------------

def data_threads(R):
    rows = []
    r = R.bench
    commit = pc.short_commit(R.bench_meta.get("commit"))
    for impl in ("atomics", "group", "group_michael_dhp", "mutex_group", "sharded_group", "go"):
        scenario = "floor" if impl == "atomics" else "distinct_noop"
        for t in r.values(scenario, "threads"):
            x = r.get(scenario, impl, threads=t)
            if x is not None:
                rows.append(("2cpu", commit, impl, t, x / 1e6))
    ctx, r16 = R.bench16
    commit16 = pc.short_commit(R.stress_json("stress16")["meta"].get("commit"))
    for impl in ("atomics", "group", "group_michael_hp", "mutex_group", "sharded_group"):
        scenario = "floor" if impl == "atomics" else "distinct_noop"
        for t in r16.values(scenario, "threads"):
            x = r16.get(scenario, impl, threads=t)
            if x is not None:
                rows.append(("16cpu", commit16, impl, t, x / 1e6))
    return ("machine", "commit", "implementation", "threads", "million_calls_per_s"), rows


def draw_threads(R, rows, path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.3), sharey=False)
    for ax, machine in zip(axes, ("2cpu", "16cpu")):
        pts = [r for r in rows if r["machine"] == machine]
        if not pts:
            continue
        commit = pts[0]["commit"]
        for impl in dict.fromkeys(r["implementation"] for r in pts):
            colour, marker, label = _style(impl)
            if machine == "16cpu" and impl == "group":
                label = "group on libcds Michael/DHP (then the default)"
            s = sorted((r for r in pts if r["implementation"] == impl), key=lambda r: r["threads"])
            ax.plot([r["threads"] for r in s], [r["million_calls_per_s"] for r in s], marker=marker,
                    color=colour, ls="--" if impl == "atomics" else "-", label=label)
        _xticks(ax, [r["threads"] for r in pts])
        ax.set_yscale("log")
        ax.set_xlabel("threads")
        ax.set_ylabel("million calls/s (all threads)")
        _yticks(ax, [0.5, 1, 2, 5, 10, 20, 50, 100])
        cpus = "2 CPUs, shared" if machine == "2cpu" else "16 CPUs, lent"
        ax.set_title(f"{cpus}; commit {commit}")
        ax.legend(fontsize=5.2, loc="upper left", bbox_to_anchor=(0, -0.22), ncol=2, frameon=False)
    _save(fig, path)


# ---- hot key against Go --------------------------------------------------------------------------------

def data_hotkey(R):
    r = R.bench
    rows = []
    for fn in r.values("hot_key", "fn_ns"):
        for t in r.values("hot_key", "threads"):
            go = r.get("hot_key", "go", fn_ns=fn, threads=t)
            for impl in ("group", "mutex_group"):
                x = r.get("hot_key", impl, fn_ns=fn, threads=t)
                if x is not None and go:
                    rows.append(("threads", impl, fn, t, x, go, x / go))
    for fn in r.values("hot_key_async", "fn_ns"):
        for n in r.values("hot_key_async", "callers"):
            go = r.get("hot_key_async", "go", fn_ns=fn, callers=n)
            for impl in ("group", "mutex_group"):
                x = r.get("hot_key_async", impl, fn_ns=fn, callers=n)
                if x is not None and go:
                    rows.append(("coroutines", impl, fn, n, x, go, x / go))
    return ("callers_are", "implementation", "fn_ns", "callers", "calls_per_s", "go_calls_per_s",
            "over_go"), rows


FN_STYLE = {0: ("-", "fn 0"), 1000: ("--", "fn 1 µs"), 100000: (":", "fn 100 µs")}


def draw_hotkey(R, rows, path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.2))
    for ax, kind, xlabel in ((axes[0], "threads", "threads (Go: as many goroutines)"),
                             (axes[1], "coroutines", "coroutine callers (Go: as many goroutines)")):
        pts = [r for r in rows if r["callers_are"] == kind]
        for impl in ("group", "mutex_group"):
            colour, marker, label = _style(impl)
            for fn, (ls, fl) in FN_STYLE.items():
                s = sorted((r for r in pts if r["implementation"] == impl and r["fn_ns"] == fn),
                           key=lambda r: r["callers"])
                if s:
                    ax.plot([r["callers"] for r in s], [r["over_go"] for r in s], color=colour, marker=marker,
                            ls=ls, label=f"{label}, {fl}")
        ax.axhline(1.0, color="black", lw=0.8)
        if kind == "coroutines":
            ax.axhline(2.0, color="dimgray", lw=0.8, ls="--", label="P6 target at fn 100 µs, from 1,024: 2x")
        _xticks(ax, [r["callers"] for r in pts])
        ax.set_yscale("log")
        _yticks(ax, [0.25, 0.5, 1, 2, 4, 8])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("throughput over Go's at equal callers")
        ax.set_title("hot_key: threads that block" if kind == "threads"
                     else "hot_key_async: coroutines on 2 event loops")
        ax.legend(fontsize=5.2, loc="upper left", bbox_to_anchor=(0, -0.2), ncol=2, frameon=False)
    _save(fig, path)


# ---- wake and resume latency ---------------------------------------------------------------------------

def data_wake(R):
    r = R.bench
    rows = []
    for w in r.values("wake_latency", "waiters"):
        for impl in ("atomic_wait_floor", "group", "mutex_group", "sharded_group"):
            x = r.get("wake_latency", impl, "wake_ns_p50", waiters=w)
            if x is not None:
                rows.append(("wake_p50", impl, w, x))
        x = r.get("wake_latency_call_for", "group", "wake_ns_p50", waiters=w)
        if x is not None:
            rows.append(("wake_p50_call_for", "group", w, x))
    for f in r.values("resume_cost", "followers"):
        for impl in ("floor", "group", "mutex_group", "sharded_group"):
            x = bench_report.resume_ns(r, impl, f)
            if x is not None:
                rows.append(("resume_ns_per_caller", impl, f, x))
    return ("metric", "implementation", "callers", "ns"), rows


def draw_wake(R, rows, path):
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 2.6))
    for ax, metric in ((left, "wake_p50"), (right, "resume_ns_per_caller")):
        pts = [r for r in rows if r["metric"] == metric]
        for impl in dict.fromkeys(r["implementation"] for r in pts):
            colour, marker, label = _style(impl)
            s = sorted((r for r in pts if r["implementation"] == impl), key=lambda r: r["callers"])
            scale = 1e3 if metric == "wake_p50" else 1.0
            ax.plot([r["callers"] for r in s], [r["ns"] / scale for r in s], color=colour, marker=marker,
                    ls="--" if impl in ("atomic_wait_floor", "floor") else "-", label=label)
        if metric == "wake_p50":
            s = sorted((r for r in rows if r["metric"] == "wake_p50_call_for"), key=lambda r: r["callers"])
            ax.plot([r["callers"] for r in s], [r["ns"] / 1e3 for r in s], color="tab:blue", marker="o",
                    mfc="white", ls=":", label="group, every waiter call_for (listed parkers)")
            ax.set_ylabel("µs from publication to return (median)")
            ax.set_xlabel("parked followers")
            ax.set_title("wake latency: threads parked on one flight")
        else:
            ax.set_ylabel("ns per resumed caller")
            ax.set_xlabel("coroutine callers suspended on one flight")
            ax.set_title("resume cost, paid by the completing thread")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.legend(fontsize=5.5)
    _save(fig, path)


# ---- deadline accuracy ------------------------------------------------------------------------------------

def data_deadline(R):
    r = R.bench
    rows = []
    for impl in ("group", "mutex_group", "sharded_group"):
        for us in r.values("deadline_late", "timeout_us"):
            m = bench_report.find_one(r, "deadline_late", impl, timeout_us=us)
            if m is None:
                continue
            for q in ("p50", "p99", "p999"):
                rows.append((impl, us, q, m[f"late_ns_{q}"], m[f"floor_late_ns_{q}"], int(m["samples"])))
    return ("implementation", "timeout_us", "percentile", "late_ns_call_for", "late_ns_floor", "samples"), rows


def draw_deadline(R, rows, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    cats = list(dict.fromkeys((r["implementation"], int(r["timeout_us"])) for r in rows))
    qmark = {"p50": "o", "p99": "s", "p999": "^"}
    for i, (impl, us) in enumerate(cats):
        colour = _style(impl)[0]
        for q, marker in qmark.items():
            v = [r for r in rows if r["implementation"] == impl and int(r["timeout_us"]) == us and r["percentile"] == q]
            if not v:
                continue
            ax.plot(i - 0.12, v[0]["late_ns_call_for"] / 1e3, marker=marker, color=colour, ls="none")
            ax.plot(i + 0.12, v[0]["late_ns_floor"] / 1e3, marker=marker, color="black", mfc="white", ls="none")
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels([f"{impl}\ntimeout {us} µs" for impl, us in cats], fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("µs late (catch - call - timeout)")
    ax.set_title("deadline_exceeded: how late (filled: call_for; hollow: a bare condition_variable::wait_until)")
    from matplotlib.lines import Line2D
    ax.legend(handles=[Line2D([], [], marker=m, color="gray", ls="none", label=q.replace("p999", "p99.9"))
                       for q, m in qmark.items()], fontsize=6, loc="upper left", ncol=3)
    ax.grid(axis="x", visible=False)
    _save(fig, path)


# ---- the table ablation ---------------------------------------------------------------------------------

ABLATION_CONFIGS = [("distinct_noop", 0, t) for t in (1, 2, 8)] + [("zipf", 0, t) for t in (1, 2, 8)]


def data_ablation(R):
    r = R.bench
    rows = []
    for scenario, fn, t in ABLATION_CONFIGS:
        params = {"threads": t} if scenario == "distinct_noop" else {"fn_ns": fn, "threads": t}
        base = r.get(scenario, "group", **params)
        for impl in bench_report.ABLATION:
            x = r.get(scenario, impl, **params)
            if x is not None and base:
                rows.append((scenario, t, impl, x / 1e6, x / base))
    return ("scenario", "threads", "table", "million_calls_per_s", "over_group"), rows


def draw_ablation(R, rows, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.5))
    configs = list(dict.fromkeys((r["scenario"], int(r["threads"])) for r in rows))
    tables = list(dict.fromkeys(r["table"] for r in rows))
    width = 0.8 / len(tables)
    colours = ["tab:blue", "tab:purple", "tab:cyan", "tab:brown", "tab:pink", "tab:olive", "tab:gray"]
    for k, table in enumerate(tables):
        ys = []
        for c in configs:
            v = [r["million_calls_per_s"] for r in rows if (r["scenario"], int(r["threads"])) == c and r["table"] == table]
            ys.append(v[0] if v else 0)
        ax.bar([i + k * width for i in range(len(configs))], ys, width, label=table, color=colours[k % len(colours)])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(configs))])
    ax.set_xticklabels([f"{s}{' fn 0' if s == 'zipf' else ''}\n{t} thr" for s, t in configs], fontsize=6.5)
    ax.set_ylabel("million calls/s (all threads)")
    ax.set_title("the same group over each table: the own table (group) and libcds's containers")
    ax.legend(fontsize=5.5, ncol=4, loc="upper right")
    ax.grid(axis="x", visible=False)
    _save(fig, path)


# ---- the HTTP demo ----------------------------------------------------------------------------------------

def data_http(R):
    rows = []
    for key, label in (("http_threads", "threads"), ("http_asio", "asio")):
        h = R.http(key)
        for x in h["rows"]:
            rows.append((label, x["endpoint"], int(x["conns"]), x["req_s"], x["p50_ms"], x["wrk_p90_ms"],
                         x["p99_ms"], int(x["origin"]), x["saved"], int(x["threads"]), x["rss_mib"]))
    return ("server", "endpoint", "conns", "req_s", "p50_ms", "p90_ms", "p99_ms", "origin_calls", "saved_pct",
            "threads", "rss_mib"), rows


def draw_http(R, rows, path):
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 2.5))
    cats = list(dict.fromkeys((r["server"], int(r["conns"])) for r in rows))
    for ax, metric, ylabel in ((left, "req_s", "requests/s (wrk)"), (right, "p99_ms", "p99 latency, ms (wrk)")):
        for j, endpoint in enumerate(("/direct", "/coalesced")):
            ys = []
            for c in cats:
                v = [r[metric] for r in rows if (r["server"], int(r["conns"])) == c and r["endpoint"] == endpoint]
                ys.append(v[0] if v else 0)
            ax.bar([i + j * 0.4 for i in range(len(cats))], ys, 0.4, label=endpoint,
                   color="tab:red" if endpoint == "/direct" else "tab:blue", alpha=0.85)
        ax.set_xticks([i + 0.2 for i in range(len(cats))])
        ax.set_xticklabels([f"{s}\n{c} conns" for s, c in cats], fontsize=6.5)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6)
        ax.grid(axis="x", visible=False)
    import re
    mm = re.search(r"has (\d+) connections and takes (\d+) ms per call", R.http("http_threads")["header"])
    left.set_title(f"one hot key; origin: {mm.group(1)} connections, {mm.group(2)} ms per call" if mm
                   else "one hot key")
    right.set_title("latency the clients saw")
    _save(fig, path)
