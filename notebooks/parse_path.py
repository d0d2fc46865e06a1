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
from IPython.display import HTML

from workbench.analysis import parse_path as pp
from workbench.analysis import plots, tables

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
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
    n_max, at_n = pp.at_largest_count(parse)
    at_n = at_n[at_n["phase"].isin(pp.PHASES)]
    source, kind = plots.provenance(at_n), plots.kind(at_n)
    per_domain = plots.quartiles(at_n, ["run", "benchmark", "cache", "strategy", "case", "phase"])
    plots.save_table(per_domain.assign(n_emulators=n_max), output_dir, "phases_per_domain", source)
    pooled = pp.phase_medians(at_n, several)  # one bar per strategy (and run, when there are several)
    plots.show_figure(pp.phases_figure(pooled, n_max), output_dir, "phases",
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
    display(tables.show_table(pp.first_parse_medians(q, several), output_dir, "first_parse_medians",
                              "Median time of the first parse after startup", kind, source,
                              time_columns="values", csv_frame=q))

# %% [markdown]
# ## Steady state
# The same parse on a primed driver, per corpus domain (each domain is its own distribution: a
# device-heavy domain takes several times as long as a minimal one), at the largest emulator
# count: the strategies should not differ here.

# %%
if not parse.empty:
    steady = pp.show_steady(parse, several, output_dir)

# %% [markdown]
# ## Cache lookups and probes per parse

# %%
counters = pp.parse_counters(parse)
if len(counters):
    display(tables.show_table(counters, output_dir, "counters", "Median cache lookups and probes per parse",
                              plots.kind(parse), plots.provenance(parse)))
else:
    plots.note("This run records timings only: no counts of cache lookups or probes per parse. "
               "`workbench parse FILE --trace` shows them for one parse.")
