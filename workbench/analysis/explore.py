"""What the explore notebook shows of the run it just measured: per strategy and count the
geometric mean of the worker processes' medians with its 95% CI, the figure of them, and the
ratio of the first strategy to each other with its CI (workbench.analysis.precision)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workbench.analysis import plots, tables
from workbench.analysis.precision import mean_interval, process_medians, ratio_interval


def summary(df: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """Per (case, strategy, count): the estimate, its 95% CI and the processes behind it."""
    rows = []
    for (case, s, n), g in df.groupby(["case", "strategy", "n_emulators"], dropna=False):
        iv = mean_interval(process_medians(g))
        rows.append({"case": case or benchmark, "strategy": s, "n_emulators": int(n), "time_s": iv.estimate,
                     "ci_low_s": iv.low, "ci_high_s": iv.high, "processes": iv.processes})
    return pd.DataFrame(rows, columns=["case", "strategy", "n_emulators", "time_s", "ci_low_s", "ci_high_s",
                                       "processes"])


def summary_figure(table: pd.DataFrame, benchmark: str, cache: str, label: str) -> plt.Figure:
    """The estimates against emulators installed with their CI as error bars (log axis); label
    is the provenance line under the figure."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colors = plots.strategy_colors(table["strategy"].unique())
    for (case, s), g in table.groupby(["case", "strategy"]):
        g = g.sort_values("n_emulators")
        err = [g["time_s"] - g["ci_low_s"].fillna(g["time_s"]),
               np.where(np.isfinite(g["ci_high_s"]), g["ci_high_s"] - g["time_s"], 0)]
        ax.errorbar(g["n_emulators"], g["time_s"], yerr=err, marker="o", capsize=3, color=colors[s],
                    label=s if table["case"].nunique() == 1 else f"{s} · {case}")
    ax.set_yscale("log")
    ax.set_xlabel("emulators installed")
    ax.set_ylabel(f"{benchmark} (s, log scale)")
    ax.set_title(f"{benchmark}, {cache} cache: geometric mean with 95% CI across processes")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.text(0.01, -0.02, label, fontsize=8, style="italic")
    return fig


def ratio_lines(df: pd.DataFrame, chosen: Sequence[str]) -> list[str]:
    """At each count and case: the first strategy / each other, with the CI across processes."""
    lines = []
    first = chosen[0]
    for n, at in df.groupby("n_emulators"):
        for s in chosen[1:]:
            for case, g in at[at["strategy"] == s].groupby("case", dropna=False):
                base = at[(at["strategy"] == first) & (at["case"] == case)]
                iv = ratio_interval(process_medians(base), process_medians(g))
                ci = (f"95% CI {tables.sig(iv.low)}–{tables.sig(iv.high)}×" if np.isfinite(iv.high)
                      else "no CI: fewer than 2 processes a side")
                lines.append(f"- at {n} emulators: {first} / {s} = **{tables.fmt_ratio(iv.estimate)}** ({ci})")
    return lines
