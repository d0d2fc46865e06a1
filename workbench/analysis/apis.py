"""The driver API page's figure and tables: one call per API against emulators installed, and
which APIs still pay for every emulator (the growth between the smallest and the largest count,
computed from the measured medians)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis import plots, tables

KNOWN = ["get_capabilities", "get_domain_capabilities", "get_version", "define_xml"]
GROWTH_COLUMNS = ["run", "api", "cache", "strategy", "n_from", "n_to", "median_from_s", "median_to_s",
                  "growth_vs_proportional", "added_s_per_emulator", "pays_for_every_emulator"]


def apis_figure(apis: pd.DataFrame, q: pd.DataFrame) -> plt.Figure:
    """A panel per (cache, API): median line, IQR band and every value per strategy and run, on
    log-log axes, with a slope-1 guide through the smallest median at the smallest count."""
    cases = sorted(q["case"].unique(), key=lambda c: (KNOWN.index(c) if c in KNOWN else len(KNOWN), c))
    style = plots.series_style(apis)
    fig, axes = plt.subplots(2, len(cases), figsize=(3.6 * len(cases), 6.4), squeeze=False)
    for i, cache in enumerate(["cold", "warm"]):
        for j, case in enumerate(cases):
            ax = axes[i][j]
            cell = q[(q["case"] == case) & (q["cache"] == cache)]
            raw = apis[(apis["case"] == case) & (apis["cache"] == cache)]
            for (s, run), g in cell.groupby(["strategy", "run"]):
                st = style[(s, run)]
                plots.band(ax, g, "n_emulators", st["label"], st["color"], ls=st["ls"], marker=st["marker"])
                plots.points(ax, raw[(raw["strategy"] == s) & (raw["run"] == run)], "n_emulators", st["color"])
            if len(cell):
                n0 = cell["n_emulators"].min()
                y0 = cell[cell["n_emulators"] == n0]["median_s"].max()
                ns = sorted(cell["n_emulators"].unique())
                ax.plot(ns, [y0 * n / n0 for n in ns], ":", color="grey", lw=1, label="∝ emulators")
            ax.set_title(f"{case} · {cache}", fontsize=10)
            plots.style_axes(ax, "time per call (s, log)", log=True)
    fig.suptitle("Driver API calls after startup")
    plots.legend_beside(fig)
    return fig


def medians_at_largest(q: pd.DataFrame, several_runs: bool) -> tuple[int, pd.DataFrame]:
    """The largest count and the medians there: an API per row, a column per (cache, strategy[, run])."""
    n_max = int(q["n_emulators"].max())
    wide = q[q["n_emulators"] == n_max].pivot_table(
        index=["case"], columns=["cache", "strategy"] + (["run"] if several_runs else []), values="median_s")
    return n_max, wide


def api_growth(q: pd.DataFrame, min_per_emulator_s: float) -> pd.DataFrame:
    """Per (run, API, cache, strategy): what each emulator added between the smallest and the
    largest count, that growth as a fraction of proportional growth (1: every emulator costs what
    the first did; 0: flat), and whether it reaches min_per_emulator_s per emulator."""
    rows = []
    for (run, case, cache, s), g in q.groupby(["run", "case", "cache", "strategy"]):
        g = g.sort_values("n_emulators")
        n0, n1 = g["n_emulators"].iloc[0], g["n_emulators"].iloc[-1]
        m0, m1 = g["median_s"].iloc[0], g["median_s"].iloc[-1]
        growth = (m1 / m0 - 1) / (n1 / n0 - 1) if n1 > n0 and m0 > 0 else float("nan")
        per_emulator = (m1 - m0) / (n1 - n0) if n1 > n0 else float("nan")
        rows.append({"run": run, "api": case, "cache": cache, "strategy": s, "n_from": int(n0),
                     "n_to": int(n1), "median_from_s": m0, "median_to_s": m1,
                     "growth_vs_proportional": growth, "added_s_per_emulator": per_emulator,
                     "pays_for_every_emulator": bool(per_emulator >= min_per_emulator_s)})
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS)


def payers_markdown(growth: pd.DataFrame, min_per_emulator_s: float, kind: str, several_runs: bool) -> str:
    """The APIs still paying for every emulator, one line each (or "none")."""
    fmt = tables.fmt_duration
    md = plots.md_literal  # names from result files and run folders: shown, never live
    lines = [f"- {md(r.api)} under {md(r.strategy)}, {md(r.cache)} cache{f' ({md(r.run)})' if several_runs else ''}: "
             f"{fmt(r.median_from_s)} with {r.n_from} → {fmt(r.median_to_s)} with {r.n_to} emulators "
             f"({fmt(r.added_s_per_emulator)} per added emulator)"
             for r in growth[growth["pays_for_every_emulator"]].itertuples()]
    return (f"**Still paying for every emulator** (≥ {fmt(min_per_emulator_s)} per "
            f"added emulator; {kind}):\n\n" + ("\n".join(lines) if lines else "none"))


def growth_shown(growth: pd.DataFrame, several_runs: bool) -> pd.DataFrame:
    """One row per (API, cache, strategy[, run]): with nine strategies a column each is wider than a page."""
    cols = ["strategy"] + (["run"] if several_runs else [])
    return growth[["api", "cache"] + cols + ["added_s_per_emulator", "growth_vs_proportional"]].sort_values(
        ["cache", "api"] + cols).rename(columns={"added_s_per_emulator": "added per emulator",
                                                 "growth_vs_proportional": "growth / proportional"})
