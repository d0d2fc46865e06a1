"""The parse path page's tables and figure: medians per parse phase at the largest emulator
count, and the steady-state parse per corpus domain (its own distribution per domain). The page
loads the run, calls these and shows what they return."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis import plots, tables

PHASES = ["parse", "post-parse", "validate", "format"]


def phase_medians(at_n: pd.DataFrame, several_runs: bool) -> pd.DataFrame:
    """Median seconds per phase (columns, in parse order) per (benchmark, cache, strategy); with
    several runs the strategy is labelled with its run."""
    pooled = (at_n.assign(strategy=at_n["strategy"] + (" · " + at_n["run"] if several_runs else ""))
              .groupby(["benchmark", "cache", "strategy", "phase"])["time_s"].median().unstack("phase"))
    return pooled.reindex(columns=[p for p in PHASES if p in pooled.columns])


def phases_figure(pooled: pd.DataFrame, n_max: int) -> plt.Figure:
    """A panel per (benchmark, cache), its own time scale: a stacked bar per strategy, the total
    written at its end so that a bar too short to see still reads."""
    panels = list(dict.fromkeys(pooled.index.droplevel("strategy")))
    n_bars = pooled.index.get_level_values("strategy").nunique()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 0.5 * n_bars + 2.2), squeeze=False)
    for ax, (bench, cache) in zip(axes[0], panels):
        part = pooled.loc[(bench, cache)] * 1e3
        left = pd.Series(0.0, index=part.index)
        for i, phase in enumerate(part.columns):
            ax.barh(part.index, part[phase], left=left, color=f"C{i + 2}", label=phase)
            left += part[phase].fillna(0)
        for y, total in enumerate(left):
            ax.text(total, y, " " + tables.fmt_duration(total / 1e3), va="center", fontsize=8)
        ax.set_title(f"{bench} · {cache} cache · {n_max} emulators", fontsize=10)
        ax.set_xlabel("median time per parse (ms)")
        ax.set_xlim(0, left.max() * 1.35)
    axes[0][0].set_ylabel("strategy")
    plots.legend_beside(fig, title="phase")
    return fig


def steady_table(at: pd.DataFrame, several_runs: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(wide, rows): per corpus domain, each strategy's median and IQR side by side; rows are the
    quartiles per (run, case, strategy) with iqr_s."""
    t = plots.quartiles(at, ["run", "case", "strategy"])
    t["iqr_s"] = t["q3_s"] - t["q1_s"]
    wide = t.pivot_table(index="case", columns=["strategy"] + (["run"] if several_runs else []),
                         values=["median_s", "iqr_s"])
    wide.columns = [f"{s} {'median' if v == 'median_s' else 'IQR'}" + (f" · {r}" if several_runs else "")
                    for v, s, *r in [(c[0], c[1], *c[2:]) for c in wide.columns]]
    order = sorted(wide.columns, key=lambda c: (c.replace(" median", "").replace(" IQR", ""), "IQR" in c))
    return wide.reindex(columns=order), t


COUNTERS = ("cache_lookups", "probes")


def parse_counters(parse: pd.DataFrame) -> pd.DataFrame:
    """Median cache lookups and probes per parse per (benchmark, cache, strategy), from the parse
    rows that counted them; empty when none did. Other benchmarks' counts (the scenarios record
    probes per worker process) are not counts per parse and stay out."""
    counted = [c for c in COUNTERS if c in parse.columns and parse[c].notna().any()]
    if not counted:
        return pd.DataFrame()
    return parse.groupby(["benchmark", "cache", "strategy"])[counted].median()


def at_largest_count(rows: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The largest emulator count in rows and rows at that count."""
    n_max = int(rows["n_emulators"].max())
    return n_max, rows[rows["n_emulators"] == n_max]


def first_parse_medians(q: pd.DataFrame, several_runs: bool) -> pd.DataFrame:
    """The first parse's medians per count, a column per (cache, strategy[, run])."""
    return q.pivot_table(index="n_emulators", columns=["cache", "strategy"] + (["run"] if several_runs else []),
                         values="median_s")


def show_steady(parse: pd.DataFrame, several_runs: bool, output_dir) -> pd.DataFrame:
    """The steady-state parse per domain at the largest count (or a note: measured warm only);
    returns its quartile rows."""
    from IPython.display import display

    steady = parse[(parse["benchmark"] == "parse.steady") & (parse["phase"] == "total")]
    if steady.empty:
        plots.note("No `parse.steady` values in this run (they are measured on a warm cache only).")
        return steady
    n_max, at = at_largest_count(steady)
    wide, t = steady_table(at, several_runs)
    display(tables.show_table(wide, output_dir, "steady_parse", f"Steady-state parse per domain at {n_max} emulators "
                              "(median and interquartile range of each domain's own values)",
                              plots.kind(at), plots.provenance(at), time_columns="values",
                              names={"case": "domain"}, csv_frame=t.assign(n_emulators=n_max)))
    return t
