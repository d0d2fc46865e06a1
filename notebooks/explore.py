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
# # Explore
#
# Ask one question and measure it now: name strategies, emulator counts, a benchmark and a cache
# state in the parameter cell, run all cells. The measurement goes through the sweep's own jobs
# (the pyperf benchmark scripts of `workbench run`, in their own worker processes, not in this
# kernel), into a run directory under `runs/explore/` that `workbench report --results` and
# `workbench compare` read like any other. One comparison at 30 emulators takes about a minute.
# With papermill: `papermill explore.ipynb out.ipynb -p strategies '["background"]' -p emulators '[12]'`
# (after `jupytext --to ipynb notebooks/explore.py`).

# %% tags=["parameters"]
strategies = ["per-emulator", "fixed-shipped"]  # any of workbench.qemu.strategies (or "all")
emulators = [30]  # emulator counts, 1 to 30
benchmark = "cold_container"  # daemon_startup, driver_startup, apis, parse, cold_container, package_upgrade, steady_host
cache = "cold"  # cold or warm (the scenarios set their own cache state)
processes = 3  # worker processes per benchmark (2 or more give a 95% CI)
latency = "recorded"  # emulator latency: recorded, none, or a factor such as 2
run_dir = ""  # where the results go (empty: a new folder under runs/explore/)

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from workbench.analysis import plots, tables
from workbench.bench.explore import measure
from workbench.analysis.precision import mean_interval, process_medians, ratio_interval
from workbench.bench.sweep import resolve_strategies

chosen = resolve_strategies("all" if strategies == "all" else list(strategies))
df = measure(chosen, emulators, benchmark, cache, processes, latency, run_dir or None)
df = df[df["phase"].isin(["total", "last_answer"])]

# %% [markdown]
# ## What was measured
# Per strategy and emulator count: the geometric mean of the worker processes' medians, with its
# 95% confidence interval across processes (t interval on the logs).

# %%
rows = []
for (case, s, n), g in df.groupby(["case", "strategy", "n_emulators"], dropna=False):
    iv = mean_interval(process_medians(g))
    rows.append({"case": case or benchmark, "strategy": s, "n_emulators": int(n), "time_s": iv.estimate,
                 "ci_low_s": iv.low, "ci_high_s": iv.high, "processes": iv.processes})
import pandas as pd

summary = pd.DataFrame(rows)
tables.show_table(summary, None, "explore", f"{benchmark}, {cache} cache", plots.kind(df), plots.provenance(df))

# %%
fig, ax = plt.subplots(figsize=(9, 4.5))
colors = plots.strategy_colors(summary["strategy"].unique())
for (case, s), g in summary.groupby(["case", "strategy"]):
    g = g.sort_values("n_emulators")
    err = [g["time_s"] - g["ci_low_s"].fillna(g["time_s"]),
           np.where(np.isfinite(g["ci_high_s"]), g["ci_high_s"] - g["time_s"], 0)]
    ax.errorbar(g["n_emulators"], g["time_s"], yerr=err, marker="o", capsize=3, color=colors[s],
                label=s if summary["case"].nunique() == 1 else f"{s} · {case}")
ax.set_yscale("log")
ax.set_xlabel("emulators installed")
ax.set_ylabel(f"{benchmark} (s, log scale)")
ax.set_title(f"{benchmark}, {cache} cache: geometric mean with 95% CI across processes")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=8)
fig.text(0.01, -0.02, tables.provenance_label(plots.kind(df), plots.provenance(df)), fontsize=8, style="italic")
plt.show()

# %% [markdown]
# ## The ratio between the first strategy and each other, at each count

# %%
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
display(Markdown("\n".join(lines) or "Name two strategies or more to see their ratio."))
