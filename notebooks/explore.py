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
from IPython.display import Markdown, display

from workbench.analysis import explore, plots, tables
from workbench.bench.explore import measure
from workbench.bench.sweep import resolve_strategies

chosen = resolve_strategies("all" if strategies == "all" else list(strategies))
df = measure(chosen, emulators, benchmark, cache, processes, latency, run_dir or None)
df = df[df["phase"].isin(["total", "last_answer"])]

# %% [markdown]
# ## What was measured
# Per strategy and emulator count: the geometric mean of the worker processes' medians, with its
# 95% confidence interval across processes (t interval on the logs).

# %%
summary = explore.summary(df, benchmark)
tables.show_table(summary, None, "explore", f"{benchmark}, {cache} cache", plots.kind(df), plots.provenance(df))

# %%
fig = explore.summary_figure(summary, benchmark, cache, tables.provenance_label(plots.kind(df), plots.provenance(df)))
plt.show()

# %% [markdown]
# ## The ratio between the first strategy and each other, at each count

# %%
lines = explore.ratio_lines(df, chosen)
display(Markdown("\n".join(lines) or "Name two strategies or more to see their ratio."))
