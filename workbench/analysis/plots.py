"""What the notebooks share: where a run is, what its numbers are, and the one plot shape.

The plot shape is the design's: median with an interquartile band and the raw values against
the number of emulators, small multiples per code path, a ratio panel; legends beside the axes,
never on the data; log axes where values span 100x. Every figure and table carries a provenance
line (measured on real binaries, replayed by simulated emulators, recorded, or modelled), so a
PNG or CSV taken out of the report still says it; on the page it is the caption, and the
caption is the image's alt text.

Several runs (machines, QEMU versions, a reference) can be loaded at once: `load` adds a `run`
column, and the plots draw one series per (strategy, run): colour = strategy, line style = run.
"""
from __future__ import annotations

import base64
import html
import re
import io
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator
import pandas as pd

from workbench.analysis import tables
from workbench.paths import REPO_ROOT
from workbench.analysis.results import COLUMNS, load_run
from workbench.analysis.rundir import read_run_info
from workbench.qemu.strategy_names import BASELINE, PER_EMULATOR

RECORDED = "recorded on real QEMU 7.2 (Debian 12), data/transcripts"
QUARTILES = ["median_s", "q1_s", "q3_s", "values"]
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D"]


def resolve(path: str | Path) -> Path:
    """Relative paths are relative to the repository, so JupyterLab and papermill agree."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant figures readable: 4.2 s, 12.3 ms, 45 µs."""
    if seconds != seconds:  # NaN
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds} s"


# What makes Markdown live inline: code spans, emphasis, links and images (brackets), headings,
# table cells, strikethrough, math, and the backslash itself. A line break is flattened first,
# and HTML's own characters are escaped as HTML; the rest of the punctuation stays as written.
_MD_PUNCT = re.compile(r"([\\`*_\[\]#|~$])")


def md_text(text: object) -> str:
    """`text` (a run's folder name, a path, metadata: anything a user or a file chose) for
    Markdown prose, shown as written and never live: line breaks made spaces (a new line could
    start a heading or a list), HTML escaped, then Markdown's active punctuation backslash-escaped
    (a backtick would end a `code span`, brackets make a link, a pipe splits a table cell)."""
    flat = str(text).replace("\r", " ").replace("\n", " ")
    return _MD_PUNCT.sub(r"\\\1", html.escape(flat, quote=False))  # quotes: no attribute here


def md_literal(text: object) -> str:
    """md_text(text) shown as code: names and paths."""
    return "<code>" + md_text(text) + "</code>"


def note(text: str) -> None:
    """A visible note in the notebook output (and so in the HTML report)."""
    from IPython.display import Markdown, display

    display(Markdown(f"> **Note.** {text}"))


def as_list(paths: str | Path | Sequence[str | Path] | None) -> list[Path]:
    """A notebook parameter that names one run or a list of them -> a list of resolved paths."""
    if paths is None or paths == "" or paths == []:
        return []
    if isinstance(paths, (str, Path)):
        return [resolve(paths)]
    return [resolve(p) for p in paths if str(p)]


def run_labels(runs: Sequence[Path]) -> list[str]:
    """Short unique labels: the directory name, with as many parents as needed to tell apart."""
    parts = [p.resolve().parts for p in runs]
    for k in range(1, max((len(p) for p in parts), default=1) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in runs]


def load(results_dir: str | Path | Sequence[str | Path], emulators: Sequence[int] = (),
         strategies: Sequence[str] = (), reference_dir: str | Path | None = None,
         all_teardowns: bool = False) -> tuple[pd.DataFrame, dict]:
    """The tidy table of one run (or several, and a reference run), filtered to the emulator grid
    and strategies ([] = all), with a `run` column labelling each run; and the first run's
    machine.json. A missing run gives an empty table and a note, not an exception. The model's
    rows are those of its default teardown (libvirt 9.0's) unless `all_teardowns` (the teardown
    comparison, workbench.analysis.teardown)."""
    runs = as_list(results_dir)
    ref = as_list(reference_dir)
    if ref and ref[0].resolve() not in {r.resolve() for r in runs}:
        runs = runs + ref
    frames, labels = [], run_labels(runs) if runs else []
    ref_label = labels[runs.index(ref[0])] if ref and ref[0] in runs else None
    for run, label in zip(runs, labels):
        if not run.is_dir() or not any(run.glob("*.json")):
            note(f"No results in {md_literal(run)}: nothing measured to show. Make a run with "
                 "`workbench sweep -o DIR` (or `workbench run`) and pass it as `results_dir`.")
            continue
        frames.append(with_run_machine(load_run(run), run).assign(
            run=label + (" (reference)" if label == ref_label and len(runs) > 1 else "")))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["run"]), {}
    df = pd.concat(frames, ignore_index=True)
    if not all_teardowns:
        from workbench.analysis.teardown import at_default_teardown
        df = at_default_teardown(df)
    # replay_fidelity has its own axis (n = 1, no strategy): the filters leave it alone.
    grid = df["strategy"].notna()
    if emulators:
        df = df[~grid | df["n_emulators"].isin(list(emulators))]
    if strategies:
        df = df[~grid | df["strategy"].isin(list(strategies))]
    return df.reset_index(drop=True), read_run_info(runs[0]).data


def n_runs(df: pd.DataFrame) -> int:
    return df["run"].nunique() if "run" in df else 1


def series_style(df: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """matplotlib style per (strategy, run): colour by strategy, line style and marker by run;
    the label names the run only when there are several."""
    runs = list(dict.fromkeys(df["run"])) if "run" in df else [""]
    colors = strategy_colors(df["strategy"].dropna().unique())
    out = {}
    for s in colors:
        for i, r in enumerate(runs):
            out[(s, r)] = {"color": colors[s], "ls": LINESTYLES[i % len(LINESTYLES)],
                           "marker": MARKERS[i % len(MARKERS)],
                           "label": f"{s} · {r}" if len(runs) > 1 else s}
    return out


KIND_OF_SOURCE = {"measured-real": "measured", "measured-replay": "replayed", "modelled": "modelled"}


def kind(df: pd.DataFrame) -> str:
    """The provenance label of df's rows, from their `source` only: measured (real binaries),
    replayed (simulated emulators replaying recordings of real QEMU), modelled, or a list of
    these. A source this table does not know is named as such, never taken for measured; rows
    without a source say "no data"."""
    sources = list(dict.fromkeys(df["source"].dropna())) if "source" in df else []
    known = [KIND_OF_SOURCE[s] for s in KIND_OF_SOURCE if s in sources]
    unknown = [f"unknown source {s!r}" for s in sources if s not in KIND_OF_SOURCE]
    return " and ".join(known + unknown) or "no data"


def provenance(df: pd.DataFrame) -> str:
    """'measured on simulated emulators (replaying ..., latency recorded)' for the rows of df."""
    parts = []
    for (source, kind), g in df.groupby(["source", "emulators"], dropna=False, sort=True):
        lat = ", ".join(sorted({str(x) for x in g["latency"].dropna()} - {"real"}))
        if kind == "simulated":
            parts.append(f"{source} on simulated emulators (replaying recordings of real QEMU 7.2"
                         + (f", latency {lat})" if lat else ")"))
        else:
            parts.append(f"{source} on {kind} QEMU binaries")
    text = "; ".join(parts) or "no data"
    labels = [r for r in dict.fromkeys(df["run"]) if r] if "run" in df else []
    if labels:
        text += "; run" + ("s " if len(labels) > 1 else " ") + ", ".join(labels)
    return text


def quartiles(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, dropna=False, sort=True)["time_s"]
    return pd.DataFrame({"median_s": g.median(), "q1_s": g.quantile(0.25), "q3_s": g.quantile(0.75),
                         "values": g.size()}).reset_index()


def strategy_colors(strategies: Iterable[str]) -> dict[str, str]:
    """A fixed colour per strategy, registry order first, so every figure agrees."""
    from workbench.qemu.strategies import STRATEGIES

    names = list(STRATEGIES) + sorted(set(strategies) - set(STRATEGIES))
    return {s: f"C{i % 10}" for i, s in enumerate(names)}


def band(ax, q: pd.DataFrame, x: str, label: str, color: str, scale: float = 1.0,
         ls: str = "-", marker: str = "o") -> None:
    """Median line with its interquartile band."""
    q = q.sort_values(x)
    xs = q[x].astype(float)
    ax.plot(xs, q["median_s"] * scale, ls=ls, marker=marker, color=color, label=label, ms=4)
    ax.fill_between(xs, q["q1_s"] * scale, q["q3_s"] * scale, color=color, alpha=0.2, lw=0)


def points(ax, raw: pd.DataFrame, x: str, color: str, scale: float = 1.0, y: str = "time_s") -> None:
    """Every measured value as a small dot: the spread behind a median, unsmoothed."""
    ax.scatter(raw[x].astype(float), raw[y] * scale, s=7, color=color, alpha=0.35, lw=0, zorder=3)


def legend_beside(fig: plt.Figure, axes: Iterable | None = None, title: str | None = None) -> None:
    """One legend for the figure, right of the axes (never on the data); duplicates merged."""
    seen: dict[str, object] = {}
    for ax in (axes if axes is not None else fig.axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if not lab.startswith("_"):
                seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5),
                   fontsize=8, title=title, title_fontsize=8, frameon=False)


def ratio_interval(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """BASELINE / other per n: ratio of medians, and the range the interquartile ranges allow
    (base Q1 / other Q3 .. base Q3 / other Q1): the spread of a ratio of two noisy medians."""
    b, o = base.set_index("n_emulators"), other.set_index("n_emulators")
    out = pd.DataFrame({"ratio": b["median_s"] / o["median_s"], "ratio_low": b["q1_s"] / o["q3_s"],
                        "ratio_high": b["q3_s"] / o["q1_s"]}).dropna(subset=["ratio"])
    return out.reset_index()


def scaling_grid(data: pd.DataFrame, rows: str, cols: str, ylabel: str, title: str,
                 log: bool = True) -> tuple[plt.Figure, pd.DataFrame]:
    """Rows x cols small multiples of time against n_emulators from the raw values of `data`:
    median line, interquartile band and every value as a dot, one series per (strategy, run);
    a last column with the ratio BASELINE / strategy (with its IQR range) per col value.
    Log y by default: a 0.1 ms strategy beside a 4 s one is otherwise flat on zero.
    Returns the figure and the ratios."""
    data = data if "run" in data else data.assign(run="")
    q = quartiles(data, [rows, cols, "strategy", "run", "n_emulators"])
    row_vals = list(dict.fromkeys(q[rows]))
    col_vals = list(dict.fromkeys(q[cols]))
    style = series_style(data)
    fig, axes = plt.subplots(len(row_vals), len(col_vals) + 1, squeeze=False,
                             figsize=(3.9 * (len(col_vals) + 1), 3.2 * len(row_vals)))
    ratios = []
    for i, r in enumerate(row_vals):
        for j, c in enumerate(col_vals):
            ax = axes[i][j]
            cell = q[(q[rows] == r) & (q[cols] == c)]
            raw = data[(data[rows] == r) & (data[cols] == c)]
            for (s, run), g in cell.groupby(["strategy", "run"], sort=False):
                st = style[(s, run)]
                band(ax, g, "n_emulators", st["label"], st["color"], ls=st["ls"], marker=st["marker"])
                points(ax, raw[(raw["strategy"] == s) & (raw["run"] == run)], "n_emulators", st["color"])
            ax.set_title(f"{r} · {c}", fontsize=10)
            style_axes(ax, ylabel + (", log" if log else ""), False, ratio=log)
            for run, by_run in cell.groupby("run", sort=False):
                base = by_run[by_run["strategy"] == BASELINE]
                for s, g in by_run[by_run["strategy"] != BASELINE].groupby("strategy", sort=False):
                    ratios += [{rows: r, cols: c, "run": run, "strategy": s} | rec
                               for rec in ratio_interval(base, g).to_dict("records")]
        ax = axes[i][-1]
        rt = pd.DataFrame(ratios, columns=[rows, cols, "run", "strategy", "n_emulators", "ratio",
                                           "ratio_low", "ratio_high"])
        for (c, run, s), g in rt[rt[rows] == r].groupby([cols, "run", "strategy"], sort=False):
            st = style[(s, run)]
            k = col_vals.index(c)
            ax.errorbar(g["n_emulators"], g["ratio"], yerr=[g["ratio"] - g["ratio_low"],
                                                           g["ratio_high"] - g["ratio"]],
                        ls=LINESTYLES[k % 4], marker=MARKERS[k % 4], ms=4, capsize=2,
                        color=st["color"], label=f"ratio, {c}: {BASELINE} / {st['label']}")
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_title(f"{r} · ratio (bars: IQR range)", fontsize=10)
        style_axes(ax, f"{BASELINE} / other (×, log)", False, ratio=True)
    fig.suptitle(title)
    legend_beside(fig)
    rt = pd.DataFrame(ratios, columns=[rows, cols, "run", "strategy", "n_emulators", "ratio",
                                       "ratio_low", "ratio_high"])
    return fig, rt


def style_axes(ax, ylabel: str, log: bool, ratio: bool = False) -> None:
    """Units on both axes; y from 0 on linear axes; log axes when the question is growth. A ratio
    axis is always log: 2x and 1/2x lie equally far from 1. `ratio` alone: log y, linear x."""
    ax.set_xlabel("emulators installed (count)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log or ratio:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 0.2, not 2×10⁻¹
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if _few_decades(ax) else ""))
    else:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def _few_decades(ax) -> bool:
    """Label minor log ticks only when the axis spans less than a decade (else they crowd)."""
    lo, hi = ax.get_ylim()
    return lo > 0 and hi / lo < 10


def _out_dir(output_dir: str | Path) -> Path:
    out = resolve(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def figure_html(png: bytes, caption: str, label: str) -> str:
    """<figure> with the PNG embedded; the caption is both the visible caption and the alt text."""
    b64 = base64.b64encode(png).decode()
    alt = html.escape(f"{caption} ({label})", quote=True)
    return (f'<figure style="margin:0.5em 0 1.5em"><img src="data:image/png;base64,{b64}" '
            f'alt="{alt}" style="max-width:100%;height:auto">'
            f'<figcaption style="font-size:13px"><strong>{html.escape(caption)}</strong><br>'
            f'<em style="color:#555">{html.escape(label)}</em></figcaption></figure>')


def show_figure(fig: plt.Figure, output_dir: str | Path, name: str, caption: str, kind: str,
                source: str) -> None:
    """Stamp the provenance under the figure, write NAME.png, and show it once with its caption
    (which is also the image's alt text)."""
    from IPython.display import HTML, display

    label = tables.provenance_label(kind, source)
    fig.text(0.01, 0.0, label, fontsize=8, ha="left", va="top", style="italic", wrap=True)
    fig.tight_layout()
    path = _out_dir(output_dir) / f"{name}.png"
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, bbox_inches="tight", format="png")
    path.write_bytes(buf.getvalue())
    plt.close(fig)
    display(HTML(figure_html(buf.getvalue(), caption, label)))


def save_figure(fig: plt.Figure, output_dir: str | Path, name: str, source: str,
                caption: str | None = None, kind: str = "measured") -> None:
    """show_figure with the figure's title as caption (older notebooks' call)."""
    title = caption or (fig._suptitle.get_text() if fig._suptitle else name.replace("_", " "))
    show_figure(fig, output_dir, name, title, kind, source)


def save_table(df: pd.DataFrame, output_dir: str | Path, name: str, source: str) -> pd.DataFrame:
    """Write NAME.csv with a `provenance` column and return the table (CSV only, not shown)."""
    table = df.assign(provenance=source)
    table.to_csv(_out_dir(output_dir) / f"{name}.csv", index=False)
    return table


def startup_headline(df: pd.DataFrame, paths: Sequence[str] = ("daemon_startup", "driver_startup"),
                     before: str = BASELINE, after: str = PER_EMULATOR) -> pd.DataFrame:
    """The cover letter's comparison from the data: per run and startup path, cold cache, at the
    largest emulator count measured under both strategies, the two medians and their ratio."""
    rows = []
    df = df if "run" in df else df.assign(run="")
    for run, by_run in df.groupby("run", sort=False):
        for path in paths:
            c = by_run[(by_run["benchmark"] == path) & (by_run["cache"] == "cold")
                       & (by_run["phase"] == "total")]
            wide = c.groupby(["n_emulators", "strategy"])["time_s"].median().unstack("strategy")
            if not {before, after} <= set(wide.columns) or wide[[before, after]].dropna().empty:
                continue
            n = int(wide[[before, after]].dropna().index.max())
            b, a = float(wide.loc[n, before]), float(wide.loc[n, after])
            qemu = replayed_qemu_s(by_run, n) if before == BASELINE else float("nan")
            rows.append({"run": run, "benchmark": path, "n_emulators": n, "before": before,
                         "after": after, "before_s": b, "after_s": a,
                         "ratio": b / a if a > 0 else float("nan"),
                         "before_qemu_share": qemu / b if b > 0 else float("nan")})
    return pd.DataFrame(rows, columns=["run", "benchmark", "n_emulators", "before", "after",
                                       "before_s", "after_s", "ratio", "before_qemu_share"])


def replayed_qemu_s(run_rows: pd.DataFrame, n: int) -> float:
    """The replayed QEMU's own seconds in a full-caps startup of n emulators (every emulator
    probed once), from the transcripts, with the run's KVM (the `kvm_usable` column that load()
    takes from machine.json); NaN where the run does not say or did not replay."""
    from workbench.sim.qemu_time import install_qemu_s

    if "kvm_usable" not in run_rows or run_rows["kvm_usable"].isna().all():
        return float("nan")
    if not (run_rows["emulators"] == "simulated").any():
        return float("nan")
    return install_qemu_s(n, bool(run_rows["kvm_usable"].dropna().iloc[0]))


def with_run_machine(df: pd.DataFrame, run: Path) -> pd.DataFrame:
    """The run's rows with the machine facts the headlines need (kvm_usable)."""
    return df.assign(kvm_usable=read_run_info(run).data.get("kvm_usable"))


# -- startup timeline (Gantt) from a Chrome trace -------------------------------------------
# The spans drawn, per row: a driver row (startup, the parse phases) and one row per emulator
# binary (its launches, the QMP connection and every QMP command).
DRIVER_SPANS = ("driver.startup", "parse", "post-parse", "validate", "format")
TIMELINE_COLORS = {"driver.startup": "#444444", "parse": "C2", "post-parse": "C3", "validate": "C4",
                   "format": "C5", "probe.launch": "#dddddd", "probe.spawn": "C0",
                   "qmp.connect": "black", "qmp": "C1"}
COMMAND_COLORS = ["C6", "C8", "C9", "C7"]  # the longest QMP commands, in order


def trace_spans(path: str | Path) -> pd.DataFrame:
    """The complete ("X") events of a Chrome trace JSON as rows: name, start and duration in ms
    from the trace's first span, binary (target name) and QMP command where the span has them."""
    import json

    doc = json.loads(Path(path).read_text())
    events = [e for e in doc.get("traceEvents", doc if isinstance(doc, list) else [])
              if e.get("ph") == "X"]
    if not events:
        return pd.DataFrame(columns=["name", "start_ms", "dur_ms", "target", "command"])
    t0 = min(e["ts"] for e in events)
    rows = []
    for e in events:
        args = e.get("args", {})
        binary = str(args.get("binary", ""))
        rows.append({"name": e["name"], "start_ms": (e["ts"] - t0) / 1000, "dur_ms": e.get("dur", 0) / 1000,
                     "target": Path(binary).name.removeprefix("qemu-system-") if binary else "",
                     "command": args.get("command", "")})
    return pd.DataFrame(rows)


def longest_commands(frames: Sequence[pd.DataFrame], n: int = 3) -> list[str]:
    qmp = pd.concat([f[f["name"] == "qmp"] for f in frames]) if frames else pd.DataFrame()
    return list(qmp.groupby("command")["dur_ms"].sum().nlargest(n).index) if len(qmp) else []


def timeline(ax, spans: pd.DataFrame, title: str, top: Sequence[str] | None = None) -> None:
    """A Gantt chart of one trace on ax: the driver row on top, then one row per emulator in the
    order it was first launched. QMP commands: `top` (default: the 3 longest by total time) in
    their own colours, the others in one; a launch's light bar is the whole launch (spawn to quit)."""
    from matplotlib.patches import Patch

    drv = spans[spans["name"].isin(DRIVER_SPANS)]
    emu = spans[spans["target"].ne("") & spans["name"].isin(["probe.launch", "probe.spawn", "qmp.connect", "qmp"])]
    order = list(emu.sort_values("start_ms").drop_duplicates("target")["target"])
    rows = (["driver"] if len(drv) else []) + order
    y = {r: i for i, r in enumerate(rows)}
    top = list(top) if top is not None else longest_commands([spans])
    cmd_colors = dict(zip(top, COMMAND_COLORS))
    handles = {}

    def bar(row: str, g: pd.DataFrame, color: str, label: str, h: float = 0.6) -> None:
        ax.broken_barh(list(zip(g["start_ms"], g["dur_ms"])), (y[row] - h / 2, h), color=color, lw=0)
        handles.setdefault(label, Patch(color=color, label=label))

    for name in DRIVER_SPANS:
        g = drv[drv["name"] == name]
        if len(g):
            bar("driver", g, TIMELINE_COLORS[name], name if name == "driver.startup" else f"parse phase: {name}",
                0.8 if name == "driver.startup" else 0.5)
    for target, g in emu.groupby("target"):
        bar(target, g[g["name"] == "probe.launch"], TIMELINE_COLORS["probe.launch"], "probe launch (spawn to quit)", 0.8)
        bar(target, g[g["name"] == "probe.spawn"], TIMELINE_COLORS["probe.spawn"], "spawn to QMP socket ready")
        bar(target, g[g["name"] == "qmp.connect"], TIMELINE_COLORS["qmp.connect"], "QMP connect")
        q = g[g["name"] == "qmp"]
        bar(target, q[~q["command"].isin(top)], TIMELINE_COLORS["qmp"], "other QMP commands")
        for c in top:
            if (q["command"] == c).any():
                bar(target, q[q["command"] == c], cmd_colors[c], f"QMP {c}")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("time since the first span (ms)")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax._timeline_handles = list(handles.values())  # for one legend over several panels


def timeline_figure(traces: Sequence[tuple[str, str | Path]]) -> plt.Figure:
    """One Gantt panel per (title, trace JSON path), stacked, each on its own time scale."""
    frames = [(title, trace_spans(path)) for title, path in traces]
    heights = [max(2, 1 + f["target"].replace("", pd.NA).nunique() + 1) for _, f in frames]
    fig, axes = plt.subplots(len(frames), 1, figsize=(11, 0.32 * sum(heights) + 1.2 * len(frames)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    handles: dict[str, object] = {}
    top = longest_commands([f for _, f in frames])
    for ax, (title, spans) in zip(axes[:, 0], frames):
        timeline(ax, spans, title, top)
        for h in ax._timeline_handles:
            handles.setdefault(h.get_label(), h)
    fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5),
               fontsize=8, frameon=False)
    return fig
