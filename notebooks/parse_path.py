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
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/parse_path"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML

from workbench.analysis import plots, tables

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
PHASES = ["parse", "post-parse", "validate", "format"]
df, machine = plots.load(results_dir, emulators, strategies, reference_dir)
parse = df[df["benchmark"].isin(["parse.first", "parse.steady"])]
if parse.empty and not df.empty:
    plots.note("This run has no `parse` benchmark: nothing to plot.")
several = plots.n_runs(df) > 1

# %% [markdown]
# ## Time per phase
# Medians over every value of every corpus domain, at the largest emulator count in the run.
# Each panel has its own time scale (a cold first parse can include a probe); the total is
# written at the end of each bar, so a bar too short to see still reads.

# %%
if not parse.empty:
    n_max = int(parse["n_emulators"].max())
    at_n = parse[(parse["n_emulators"] == n_max) & parse["phase"].isin(PHASES)]
    source, kind = plots.provenance(at_n), plots.kind(at_n)
    per_domain = plots.quartiles(at_n, ["run", "benchmark", "cache", "strategy", "case", "phase"])
    plots.save_table(per_domain.assign(n_emulators=n_max), output_dir, "phases_per_domain", source)
    # one bar per strategy (and run, when there are several)
    pooled = (at_n.assign(strategy=at_n["strategy"] + (" · " + at_n["run"] if several else ""))
              .groupby(["benchmark", "cache", "strategy", "phase"])["time_s"].median().unstack("phase"))
    pooled = pooled.reindex(columns=[p for p in PHASES if p in pooled.columns])
    panels = list(dict.fromkeys(pooled.index.droplevel("strategy")))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 0.5 * pooled.index.get_level_values("strategy").nunique() + 2.2), squeeze=False)
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
    plots.show_figure(fig, output_dir, "phases",
                      f"Median time per parse phase at {n_max} emulators, per benchmark and cache "
                      "(total at the end of each bar)", kind, source)
    display(tables.show_table(pooled, output_dir, "phases",
                              f"Median time per phase at {n_max} emulators", kind, source,
                              time_columns="values"))

# %% [markdown]
# ## First parse after startup, against the number of emulators
# Total of parse + post-parse + validate + format; median, interquartile range and every value
# over all corpus domains, log time axis; the last panel is full-caps / per-emulator.

# %%
if not parse.empty:
    first = parse[(parse["benchmark"] == "parse.first") & (parse["phase"] == "total")]
    q = plots.quartiles(first, ["run", "benchmark", "cache", "strategy", "n_emulators"])
    source, kind = plots.provenance(first), plots.kind(first)
    fig, ratios = plots.scaling_grid(first, "benchmark", "cache", "time of the first parse (s)",
                                     "First domain parse after startup")
    plots.show_figure(fig, output_dir, "first_parse",
                      "Time of the first domain parse after startup against emulators installed "
                      "(median, IQR band, dots: every value; log time axis) and the ratio "
                      "full-caps / per-emulator", kind, source)
    plots.save_table(q, output_dir, "first_parse", source)
    wide = q.pivot_table(index="n_emulators", columns=["cache", "strategy"] + (["run"] if several else []),
                         values="median_s")
    display(tables.show_table(wide, output_dir, "first_parse_medians",
                              "Median time of the first parse after startup", kind, source,
                              time_columns="values", csv_frame=q))

# %% [markdown]
# ## Steady state
# The same parse on a primed driver, per corpus domain (each domain is its own distribution: a
# device-heavy domain takes several times as long as a minimal one), at the largest emulator
# count: the strategies should not differ here.

# %%
if not parse.empty:
    steady = parse[(parse["benchmark"] == "parse.steady") & (parse["phase"] == "total")]
    if steady.empty:
        plots.note("No `parse.steady` values in this run (they are measured on a warm cache only).")
    else:
        n_max = int(steady["n_emulators"].max())
        at = steady[steady["n_emulators"] == n_max]
        t = plots.quartiles(at, ["run", "case", "strategy"])
        t["iqr_s"] = t["q3_s"] - t["q1_s"]
        wide = t.pivot_table(index="case", columns=["strategy"] + (["run"] if several else []),
                             values=["median_s", "iqr_s"])
        wide.columns = [f"{s} {'median' if v == 'median_s' else 'IQR'}" + (f" · {r}" if several else "")
                        for v, s, *r in [(c[0], c[1], *c[2:]) for c in wide.columns]]
        wide = wide.reindex(columns=sorted(wide.columns, key=lambda c: (c.replace(" median", "").replace(" IQR", ""), "IQR" in c)))
        display(tables.show_table(wide, output_dir, "steady_parse",
                                  f"Steady-state parse per domain at {n_max} emulators (median and "
                                  "interquartile range of each domain's own values)",
                                  plots.kind(at), plots.provenance(at), time_columns="values",
                                  names={"case": "domain"}, csv_frame=t.assign(n_emulators=n_max)))

# %% [markdown]
# ## Cache lookups and probes per parse

# %%
counters = [c for c in df.columns if c in ("cache_lookups", "probes")]
if counters:
    c = df.groupby(["benchmark", "cache", "strategy"])[counters].median()
    display(tables.show_table(c, output_dir, "counters", "Median cache lookups and probes per parse",
                              plots.kind(df), plots.provenance(df)))
else:
    plots.note("This run records timings only: no counts of cache lookups or probes per parse. "
               "`workbench parse FILE --trace` shows them for one parse.")
