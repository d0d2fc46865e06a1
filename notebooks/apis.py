# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Driver APIs
#
# One call of get_capabilities, get_domain_capabilities, get_version (and define_xml) on a
# driver just started on a cold or warm cache, under each strategy: which APIs still pay for
# every emulator after the series.
#
# The startup before the call is not timed; the call is, with whatever probing it causes.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/apis"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
min_per_emulator_s = 0.005  # an API "pays for every emulator" when each added emulator adds at least this (a probe: about 0.1 s)
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import plots, tables

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
df, machine = plots.load(results_dir, emulators, strategies, reference_dir)
apis = df[df["benchmark"] == "api"]
if apis.empty and not df.empty:
    plots.note("This run has no `api` benchmark: nothing to plot.")
several = plots.n_runs(df) > 1

# %% [markdown]
# ## Time per call against the number of emulators
# Log axes: the question is growth. A line parallel to the dotted guide (slope 1) costs the same
# for every emulator installed. Dots are the measured values, the band the interquartile range.

# %%
if not apis.empty:
    q = plots.quartiles(apis, ["run", "case", "cache", "strategy", "n_emulators"])
    source, kind = plots.provenance(apis), plots.kind(apis)
    known = ["get_capabilities", "get_domain_capabilities", "get_version", "define_xml"]
    cases = sorted(q["case"].unique(), key=lambda c: (known.index(c) if c in known else len(known), c))
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
            if len(cell):  # slope-1 guide through the smallest median at the smallest n
                n0 = cell["n_emulators"].min()
                y0 = cell[cell["n_emulators"] == n0]["median_s"].max()
                ns = sorted(cell["n_emulators"].unique())
                ax.plot(ns, [y0 * n / n0 for n in ns], ":", color="grey", lw=1, label="∝ emulators")
            ax.set_title(f"{case} · {cache}", fontsize=10)
            plots.style_axes(ax, "time per call (s, log)", log=True)
    fig.suptitle("Driver API calls after startup")
    plots.legend_beside(fig)
    plots.show_figure(fig, output_dir, "apis",
                      "Time of one API call on a driver just started, against emulators installed, "
                      "cold and warm cache (median, IQR band, dots: every value; log-log axes)",
                      kind, source)
    plots.save_table(q, output_dir, "apis", source)
    n_max = int(q["n_emulators"].max())
    wide = q[q["n_emulators"] == n_max].pivot_table(
        index=["case"], columns=["cache", "strategy"] + (["run"] if several else []), values="median_s")
    display(tables.show_table(wide, output_dir, "apis_at_max",
                              f"Median time per call at {n_max} emulators", kind, source,
                              time_columns="values", names={"case": "API"}))

# %% [markdown]
# ## Which APIs pay for every emulator
# What each emulator added between the smallest and the largest count (median at the largest minus
# median at the smallest, over the emulators added), and that growth as a fraction of proportional
# growth (1: every emulator costs what the first did; 0: flat). Computed from the measured medians.

# %%
if not apis.empty:
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
    growth = pd.DataFrame(rows)
    if (growth["n_from"] == growth["n_to"]).all():
        plots.note("The run has a single emulator count: growth cannot be told.")
    payers = growth[growth["pays_for_every_emulator"]]
    fmt = tables.fmt_duration
    md = plots.md_literal  # names from result files and run folders: shown, never live
    lines = [f"- {md(r.api)} under {md(r.strategy)}, {md(r.cache)} cache{f' ({md(r.run)})' if several else ''}: "
             f"{fmt(r.median_from_s)} with {r.n_from} → {fmt(r.median_to_s)} with {r.n_to} emulators "
             f"({fmt(r.added_s_per_emulator)} per added emulator)" for r in payers.itertuples()]
    display(Markdown(f"**Still paying for every emulator** (≥ {fmt(min_per_emulator_s)} per "
                     f"added emulator; {kind}):\n\n" + ("\n".join(lines) if lines else "none")))
    cols = ["strategy"] + (["run"] if several else [])
    # one row per (api, cache, strategy): with nine strategies a column each is wider than a page
    wide = growth[["api", "cache"] + cols + ["added_s_per_emulator", "growth_vs_proportional"]].sort_values(
        ["cache", "api"] + cols).rename(columns={"added_s_per_emulator": "added per emulator",
                                                 "growth_vs_proportional": "growth / proportional"})
    n_lo, n_hi = growth["n_from"].min(), growth["n_to"].max()
    display(tables.show_table(
        wide, output_dir, "api_growth",
        f"What each added emulator costs per API, from {n_lo} to {n_hi} emulators (computed from the "
        "medians; growth / proportional: 1 = every emulator costs what the first did, 0 = flat)",
        kind, source, time_columns=[],
        formats={c: tables.fmt_duration for c in wide.columns if "added" in c},
        csv_frame=growth))
