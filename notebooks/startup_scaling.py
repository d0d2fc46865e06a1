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
# # Startup scaling
#
# Startup time against the number of installed emulators, full caps (probe every emulator at
# startup) against the per-emulator cache, on a cold and a warm cache.
#
# Two code paths: `driver_startup` is `QemuDriver.startup(...)` in process;
# `daemon_startup` is `workbench daemon` from spawn to its first answered API call (the closest
# to the cover letter's libvirtd startup).

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory; relative paths are relative to the repository
output_dir = "reports/startup_scaling"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)

# %%
import pandas as pd
from IPython.display import Markdown

from workbench import plots

df, machine = plots.load(results_dir, emulators, strategies)
PATHS = ["daemon_startup", "driver_startup"]
startup = df[df["benchmark"].isin(PATHS)]
if startup.empty and not df.empty:
    plots.note("This run has no `daemon_startup` or `driver_startup` benchmark: nothing to plot.")

# %% [markdown]
# ## Startup time, median and interquartile range
# One row per code path, one column per cache state; the last column is the ratio
# full-caps / per-emulator (how many times faster startup is after the series).

# %%
if not startup.empty:
    q = plots.quartiles(startup, ["benchmark", "cache", "strategy", "n_emulators"])
    source = plots.provenance(startup)
    fig, ratios = plots.scaling_grid(q, "benchmark", "cache", "startup time (s)",
                                     "Startup time vs emulators installed")
    plots.save_figure(fig, output_dir, "startup_scaling", source)
    plots.save_table(q, output_dir, "startup_scaling", source)
    plots.save_table(ratios, output_dir, "startup_ratio", source + "; ratio of medians")
    display(q.pivot_table(index=["benchmark", "cache", "n_emulators"], columns="strategy",
                          values="median_s").round(4))

# %% [markdown]
# ## Growth
# The same medians on log axes: a line of slope 1 is cost proportional to the number of emulators.

# %%
if not startup.empty:
    import matplotlib.pyplot as plt

    cold = q[q["cache"] == "cold"]
    colors = plots.strategy_colors(cold["strategy"].unique())
    fig, axes = plt.subplots(1, len(PATHS), figsize=(10, 3.6), squeeze=False)
    for ax, path in zip(axes[0], PATHS):
        for s, g in cold[cold["benchmark"] == path].groupby("strategy"):
            plots.band(ax, g, "n_emulators", s, colors[s])
        ax.set_title(f"{path} · cold", fontsize=10)
        plots.style_axes(ax, "startup time (s, log)", log=True)
        ax.legend(fontsize=8)
    plots.save_figure(fig, output_dir, "startup_growth", source)

# %% [markdown]
# ## The cover letter's headline
# "about 4 s with 30 emulators, down to a fraction of a second": the same comparison, from this
# run's data (cold cache, the largest emulator count measured for both strategies).

# %%
if not startup.empty:
    headline = plots.startup_headline(startup)
    if headline.empty:
        plots.note("No emulator count was measured cold under both full-caps and per-emulator.")
    else:
        plots.save_table(headline, output_dir, "headline", source)
        h = headline.iloc[0]
        text = (f"**Headline ({source}).** With {h.n_emulators} emulators on a cold cache, "
                f"`{h.benchmark}` takes **{plots.fmt_time(h.before_s)}** with {h.before} and "
                f"**{plots.fmt_time(h.after_s)}** with {h.after}: **{h.ratio:.1f}× faster**.")
        if h.n_emulators < 30:
            text += (f" (The cover letter speaks of 30 emulators; this run's largest count is "
                     f"{h.n_emulators}.)")
        display(Markdown(text))
        display(headline.round(4))
