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
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
reference_dir = ""  # a run to draw beside them as the reference (empty: none)
output_dir = "reports/startup_scaling"  # figures (PNG) and tables (CSV) are written here
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
index_link = ""  # link back to the report's index page (set by `workbench report`)
trace_emulators = 8  # emulators in the startup traces of the timeline (`workbench run` makes them with 8)

# %%
from IPython.display import HTML

from workbench.analysis import plots, startup as pages, tables

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
df, machine = plots.load(results_dir, emulators, strategies, reference_dir)
startup = df[df["benchmark"].isin(pages.PATHS)]
if startup.empty and not df.empty:
    plots.note("This run has no `daemon_startup` or `driver_startup` benchmark: nothing to plot.")

# %% [markdown]
# ## Startup time, median, interquartile range and every value
# One row per code path, one column per cache state, log time axis (per-emulator startup is
# about 0.1 ms in process, full caps seconds); the last column is the ratio
# full-caps / per-emulator (how many times faster startup is after the series), its bars the
# range the two interquartile ranges allow.

# %%
if not startup.empty:
    q = plots.quartiles(startup, ["benchmark", "cache", "strategy", "run", "n_emulators"])
    source, kind = plots.provenance(startup), plots.kind(startup)
    fig, ratios = plots.scaling_grid(startup, "benchmark", "cache", "startup time (s)",
                                     "Startup time vs emulators installed")
    plots.show_figure(fig, output_dir, "startup_scaling",
                      "Startup time against the number of emulators installed, per code path and "
                      "cache state (median line, IQR band, dots: every value; log time axis), and "
                      "the ratio full-caps / per-emulator", kind, source)
    plots.save_table(ratios, output_dir, "startup_ratio", source + "; ratio of medians")
    for t in pages.median_tables(q, plots.n_runs(startup) > 1):
        display(tables.show_table(t.wide, output_dir, t.name, t.caption, kind, source, time_columns="values",
                                  csv_frame=t.rows))
    plots.save_table(q, output_dir, "startup_scaling", source)

# %% [markdown]
# ## Growth
# The same medians on log-log axes: a line of slope 1 is cost proportional to the number of
# emulators.

# %%
if not startup.empty:
    plots.show_figure(pages.growth_figure(q, startup), output_dir, "startup_growth",
                      "Cold startup time against emulators installed, log-log axes (median, IQR band)",
                      kind, source)

# %% [markdown]
# ## The cover letter's headline
# "about 4 s with 30 emulators, down to a fraction of a second": the same comparison, from this
# run's data (cold cache, the largest emulator count measured for both strategies).

# %%
if not startup.empty:
    headline = pages.show_headline(startup, kind, source, output_dir)

# %% [markdown]
# ## Startup timeline
# One cold startup and one domain parse per strategy, from a Chrome trace (`workbench trace`;
# open the JSON in https://ui.perfetto.dev for every span): the driver row holds the startup and
# the parse phases, each emulator row its probe launches (spawn to QMP socket ready, then the QMP
# commands). Full caps probes every emulator during startup, one after another; per-emulator
# starts at once and probes the one emulator the domain needs during post-parse.

# %%
from workbench.bench.startup_traces import run_traces

first_run = plots.as_list(results_dir)[0] if plots.as_list(results_dir) else None
traces = run_traces(first_run, trace_emulators) if first_run else None
if not traces:
    plots.note(f"The run has no startup traces with {trace_emulators} emulators (`workbench run` makes "
               "them into RUN/traces; `workbench trace --strategy S --emulators N -o "
               "RUN/traces/startup-S-nNN.json` adds them): no timeline. This page reads results only.")
else:
    trace_source = f"workbench trace made by workbench run, run {first_run.name}"
    plots.show_figure(plots.timeline_figure(pages.timeline_panels(traces, trace_emulators)), output_dir, "startup_timeline",
                      f"Timeline of one cold startup and one domain parse with {trace_emulators} emulators, "
                      "full-caps (top) and per-emulator (bottom): driver spans, probe launches and QMP commands",
                      "replayed", trace_source)
    display(tables.show_table(pages.trace_summary(traces), output_dir, "startup_timeline",
                              "What each trace holds: time in the startup, in probe launches and in QMP commands",
                              "replayed", trace_source,
                              names={c: c.replace(" total_s", " (total)") for c in pages.trace_summary(traces).columns}))
