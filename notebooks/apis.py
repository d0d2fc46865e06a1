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
from IPython.display import HTML, Markdown

from workbench.analysis import apis as pages
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
    fig = pages.apis_figure(apis, q)
    plots.show_figure(fig, output_dir, "apis",
                      "Time of one API call on a driver just started, against emulators installed, "
                      "cold and warm cache (median, IQR band, dots: every value; log-log axes)",
                      kind, source)
    plots.save_table(q, output_dir, "apis", source)
    n_max, wide = pages.medians_at_largest(q, several)
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
    growth = pages.api_growth(q, min_per_emulator_s)
    if (growth["n_from"] == growth["n_to"]).all():
        plots.note("The run has a single emulator count: growth cannot be told.")
    display(Markdown(pages.payers_markdown(growth, min_per_emulator_s, kind, several)))
    wide = pages.growth_shown(growth, several)
    n_lo, n_hi = growth["n_from"].min(), growth["n_to"].max()
    display(tables.show_table(
        wide, output_dir, "api_growth",
        f"What each added emulator costs per API, from {n_lo} to {n_hi} emulators (computed from the "
        "medians; growth / proportional: 1 = every emulator costs what the first did, 0 = flat)",
        kind, source, time_columns=[],
        formats={c: tables.fmt_duration for c in wide.columns if "added" in c},
        csv_frame=growth))
