"""What the notebooks share: where a run is, what its numbers are, and the one plot shape.

The plot shape is the design's: median with an interquartile band against the number of
emulators, small multiples per code path, a ratio panel; y from 0 on linear axes. Every figure
and table carries a provenance line (measured on simulated/real emulators, replayed from a
recording, or computed by a model), so a PNG or CSV taken out of the report still says it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator
import pandas as pd

from workbench.paths import REPO_ROOT
from workbench.results import COLUMNS, load_run
from workbench.rundir import read_run_info

BASELINE = "full-caps"  # before the series: ratios are BASELINE / strategy (x times faster)
RECORDED = "recorded on real QEMU 7.2 (Debian 12), data/transcripts"
QUARTILES = ["median_s", "q1_s", "q3_s", "values"]


def resolve(path: str | Path) -> Path:
    """Relative paths are relative to the repository, so JupyterLab and papermill agree."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant digits readable: 1.02 s, 12.3 ms, 45.6 µs."""
    if seconds != seconds:  # NaN
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale or unit == "µs":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds} s"


def note(text: str) -> None:
    """A visible note in the notebook output (and so in the HTML report)."""
    from IPython.display import Markdown, display

    display(Markdown(f"> **Note.** {text}"))


def load(results_dir: str | Path, emulators: Sequence[int] = (),
         strategies: Sequence[str] = ()) -> tuple[pd.DataFrame, dict]:
    """The run's tidy table filtered to the emulator grid and strategies ([] = all), and its
    machine.json. A missing run gives an empty table and a note, not an exception."""
    run = resolve(results_dir)
    if not run.is_dir() or not any(run.glob("*.json")):
        note(f"No results in `{run}`: nothing measured to show. Make a run with "
             "`workbench sweep -o DIR` (or `workbench run`) and pass it as `results_dir`.")
        return pd.DataFrame(columns=COLUMNS), {}
    df = load_run(run)
    # replay_fidelity has its own axis (n = 1, no strategy): the filters leave it alone.
    grid = df["strategy"].notna()
    if emulators:
        df = df[~grid | df["n_emulators"].isin(list(emulators))]
    if strategies:
        df = df[~grid | df["strategy"].isin(list(strategies))]
    return df.reset_index(drop=True), read_run_info(run).data


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
    return "; ".join(parts) or "no data"


def quartiles(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, dropna=False, sort=True)["time_s"]
    return pd.DataFrame({"median_s": g.median(), "q1_s": g.quantile(0.25), "q3_s": g.quantile(0.75),
                         "values": g.size()}).reset_index()


def strategy_colors(strategies: Iterable[str]) -> dict[str, str]:
    """A fixed colour per strategy, registry order first, so every figure agrees."""
    from workbench.qemu.strategies import STRATEGIES

    names = list(STRATEGIES) + sorted(set(strategies) - set(STRATEGIES))
    return {s: f"C{i % 10}" for i, s in enumerate(names)}


def band(ax, q: pd.DataFrame, x: str, label: str, color: str, scale: float = 1.0) -> None:
    q = q.sort_values(x)
    xs = q[x].astype(float)
    ax.plot(xs, q["median_s"] * scale, "o-", color=color, label=label, ms=4)
    ax.fill_between(xs, q["q1_s"] * scale, q["q3_s"] * scale, color=color, alpha=0.2, lw=0)


def scaling_grid(q: pd.DataFrame, rows: str, cols: str, ylabel: str, title: str,
                 log: bool = False) -> tuple[plt.Figure, pd.DataFrame]:
    """Rows x cols small multiples of median+IQR vs n_emulators, one line per strategy, and a last
    column with the ratio BASELINE / strategy per col value. Returns the figure and the ratios."""
    row_vals = list(dict.fromkeys(q[rows]))
    col_vals = list(dict.fromkeys(q[cols]))
    colors = strategy_colors(q["strategy"].unique())
    fig, axes = plt.subplots(len(row_vals), len(col_vals) + 1, squeeze=False,
                             figsize=(4.2 * (len(col_vals) + 1), 3.4 * len(row_vals)))
    ratios = []
    for i, r in enumerate(row_vals):
        for j, c in enumerate(col_vals):
            ax = axes[i][j]
            cell = q[(q[rows] == r) & (q[cols] == c)]
            for s, g in cell.groupby("strategy", sort=False):
                band(ax, g, "n_emulators", s, colors[s])
            ax.set_title(f"{r} · {c}", fontsize=10)
            style_axes(ax, ylabel, log)
            base = cell[cell["strategy"] == BASELINE].set_index("n_emulators")["median_s"]
            for s, g in cell[cell["strategy"] != BASELINE].groupby("strategy", sort=False):
                ratio = base / g.set_index("n_emulators")["median_s"]
                ratios += [{rows: r, cols: c, "strategy": s, "n_emulators": int(n), "ratio": v}
                           for n, v in ratio.dropna().items()]
        ax = axes[i][-1]
        rt = pd.DataFrame(ratios, columns=[rows, cols, "strategy", "n_emulators", "ratio"])
        for (c, s), g in rt[rt[rows] == r].groupby([cols, "strategy"], sort=False):
            ax.plot(g["n_emulators"], g["ratio"], "o-" if c == col_vals[0] else "s--", ms=4,
                    color=colors[s], label=f"{c}: {BASELINE} / {s}")
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_title(f"{r} · ratio", fontsize=10)
        style_axes(ax, f"{BASELINE} / other (×, log)", log, ratio=True)
        ax.legend(fontsize=7)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    return fig, pd.DataFrame(ratios, columns=[rows, cols, "strategy", "n_emulators", "ratio"])


def style_axes(ax, ylabel: str, log: bool, ratio: bool = False) -> None:
    """Units on both axes; y from 0 on linear axes; log axes when the question is growth. A ratio
    axis is always log: 2x and 1/2x lie equally far from 1."""
    ax.set_xlabel("emulators installed (count)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log or ratio:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)


def save_figure(fig: plt.Figure, output_dir: str | Path, name: str, source: str) -> Path:
    """Stamp the provenance under the figure, write NAME.png, and show it once."""
    from IPython.display import display

    fig.text(0.01, 0.0, f"Source: {source}", fontsize=8, ha="left", va="top", style="italic")
    fig.tight_layout()
    out = resolve(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    display(fig)
    plt.close(fig)
    return path


def save_table(df: pd.DataFrame, output_dir: str | Path, name: str, source: str) -> pd.DataFrame:
    """Write NAME.csv with a `provenance` column and return the table for display."""
    out = resolve(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = df.assign(provenance=source)
    table.to_csv(out / f"{name}.csv", index=False)
    return table


def startup_headline(df: pd.DataFrame, paths: Sequence[str] = ("daemon_startup", "driver_startup"),
                     before: str = BASELINE, after: str = "per-emulator") -> pd.DataFrame:
    """The cover letter's comparison from the data: per startup path, cold cache, at the largest
    emulator count measured under both strategies, the two medians and their ratio."""
    rows = []
    for path in paths:
        c = df[(df["benchmark"] == path) & (df["cache"] == "cold") & (df["phase"] == "total")]
        wide = c.groupby(["n_emulators", "strategy"])["time_s"].median().unstack("strategy")
        if not {before, after} <= set(wide.columns) or wide[[before, after]].dropna().empty:
            continue
        n = int(wide[[before, after]].dropna().index.max())
        b, a = float(wide.loc[n, before]), float(wide.loc[n, after])
        rows.append({"benchmark": path, "n_emulators": n, "before": before, "after": after,
                     "before_s": b, "after_s": a, "ratio": b / a if a > 0 else float("nan")})
    return pd.DataFrame(rows, columns=["benchmark", "n_emulators", "before", "after", "before_s",
                                       "after_s", "ratio"])
