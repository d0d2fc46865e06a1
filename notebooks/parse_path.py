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
# # Domain XML parse path
#
# Where a domain definition spends its time (parse, post-parse, validate, format) under each
# strategy, and what the first parse after startup costs.
#
# `parse.first`: the first parse on a driver just started on a cold or warm cache (after the
# series, post-parse on a cold cache probes the domain's emulator). `parse.steady`: the same
# parse again on a primed driver (warm cache only). Phase times are sums of trace spans.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory; relative paths are relative to the repository
output_dir = "reports/parse_path"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from workbench import plots

PHASES = ["parse", "post-parse", "validate", "format"]
df, machine = plots.load(results_dir, emulators, strategies)
parse = df[df["benchmark"].isin(["parse.first", "parse.steady"])]
if parse.empty and not df.empty:
    plots.note("This run has no `parse` benchmark: nothing to plot.")

# %% [markdown]
# ## Time per phase
# Medians over every value of every corpus domain, at the largest emulator count in the run.
# Each panel has its own time scale: a cold first parse can include a probe.

# %%
if not parse.empty:
    n_max = int(parse["n_emulators"].max())
    at_n = parse[(parse["n_emulators"] == n_max) & parse["phase"].isin(PHASES)]
    source = plots.provenance(at_n)
    per_domain = plots.quartiles(at_n, ["benchmark", "cache", "strategy", "case", "phase"])
    plots.save_table(per_domain.assign(n_emulators=n_max), output_dir, "phases_per_domain", source)
    pooled = at_n.groupby(["benchmark", "cache", "strategy", "phase"])["time_s"].median().unstack("phase")
    pooled = pooled.reindex(columns=[p for p in PHASES if p in pooled.columns])
    panels = list(dict.fromkeys(pooled.index.droplevel("strategy")))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.2), squeeze=False)
    for ax, (bench, cache) in zip(axes[0], panels):
        part = pooled.loc[(bench, cache)] * 1e3
        left = pd.Series(0.0, index=part.index)
        for i, phase in enumerate(part.columns):
            ax.barh(part.index, part[phase], left=left, color=f"C{i + 2}", label=phase)
            left += part[phase]
        ax.set_title(f"{bench} · {cache} cache · {n_max} emulators", fontsize=10)
        ax.set_xlabel("median time per parse (ms)")
        ax.set_xlim(left=0)
    axes[0][0].set_ylabel("strategy")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    plots.save_figure(fig, output_dir, "phases", source)
    plots.save_table((pooled * 1e3).round(4).reset_index(), output_dir, "phases_ms", source + "; milliseconds")
    display((pooled * 1e3).round(3))

# %% [markdown]
# ## First parse after startup, against the number of emulators
# Total of parse + post-parse + validate + format; median and interquartile range over values of
# all corpus domains; the last panel is full-caps / per-emulator.

# %%
if not parse.empty:
    first = parse[(parse["benchmark"] == "parse.first") & (parse["phase"] == "total")]
    q = plots.quartiles(first, ["benchmark", "cache", "strategy", "n_emulators"])
    source = plots.provenance(first)
    fig, ratios = plots.scaling_grid(q, "benchmark", "cache", "time of the first parse (s)",
                                     "First domain parse after startup")
    plots.save_figure(fig, output_dir, "first_parse", source)
    plots.save_table(q, output_dir, "first_parse", source)
    display(q.pivot_table(index=["cache", "n_emulators"], columns="strategy", values="median_s").round(5))

# %% [markdown]
# ## Steady state
# The same parse on a primed driver: the strategies should not differ here.

# %%
if not parse.empty:
    steady = parse[(parse["benchmark"] == "parse.steady") & (parse["phase"] == "total")]
    if steady.empty:
        plots.note("No `parse.steady` values in this run (they are measured on a warm cache only).")
    else:
        t = plots.quartiles(steady, ["strategy", "n_emulators"])
        display(plots.save_table(t, output_dir, "steady_parse", plots.provenance(steady)).round(6))

# %% [markdown]
# ## Cache lookups and probes per parse

# %%
counters = [c for c in df.columns if c in ("cache_lookups", "probes")]
if counters:
    display(df.groupby(["benchmark", "cache", "strategy"])[counters].median())
else:
    plots.note("This run records timings only: no counts of cache lookups or probes per parse. "
               "`workbench parse FILE --trace` shows them for one parse.")
