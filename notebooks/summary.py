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
# # Summary
#
# The run at a glance: headline numbers, regressions against the reference run, links to the
# detailed pages, and the machine each run was made on.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory, or a list of them (shown side by side); relative paths are relative to the repository
output_dir = "reports/summary"  # tables (CSV) are written here
reference_dir = "data/results/reference"  # the run regressions are judged against
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
threshold = 1.05  # the ratio's CI must lie beyond this (the minimum relevant change)
alpha = 0.05  # false-discovery rate (Benjamini-Hochberg) across all benchmarks compared
link_suffix = ".py"  # links to the other notebooks: .py in JupyterLab, .html in the report
index_link = ""  # link back to the report's index page (set by `workbench report`)

# %%
from IPython.display import HTML, Markdown

from workbench.analysis import headline, plots, run_summary, tables
from workbench.analysis.report import describe_notebooks

if index_link:
    display(HTML(f'<p><a href="{index_link}">← report index</a></p>'))
runs = plots.as_list(results_dir)
df, machine = plots.load(results_dir, emulators, strategies)
several = plots.n_runs(df) > 1

# %% [markdown]
# ## Headline numbers

# %%
if not df.empty:
    table = headline.show_headline_table(df, output_dir, several)
    if table is None:
        plots.note("No headline numbers: the run has none of the benchmarks they come from.")
    else:
        display(table)
    notes = run_summary.headline_notes(df)
    if notes:
        display(Markdown("\n".join(f"- {n}" for n in notes)))
    tracing = run_summary.show_tracing_overhead(df, output_dir)
    if tracing is not None:
        display(tracing)

# %% [markdown]
# ## Regressions against the reference run
# A benchmark regresses when its Benjamini-Hochberg-adjusted p < `alpha` AND the confidence
# interval of its ratio of medians lies beyond `threshold`; the test is named below
# (`workbench.analysis.stats.METHOD`).

# %%
ref = plots.resolve(reference_dir) if reference_dir else None
if df.empty:
    plots.note("No results: nothing to compare.")
elif ref is None:
    display(Markdown("No reference run given: nothing to compare against."))
elif not ref.is_dir() or not any(ref.glob("*.json")):
    plots.note(f"No reference run at {plots.md_literal(ref)}: regressions cannot be judged.")
else:
    for judged in run_summary.judge_runs(runs, ref, threshold, alpha, output_dir):
        for n in judged.notes:
            plots.note(n)
        if judged.text:
            display(Markdown(judged.text))
        if judged.table is not None:
            display(judged.table)

# %% [markdown]
# ## Pages

# %%
pages = [n for n in describe_notebooks() if n.name != "summary"]
display(Markdown(run_summary.pages_markdown(pages, link_suffix)))

# %% [markdown]
# ## The runs

# %%
display(tables.show_table(run_summary.runs_table(runs), output_dir, "runs", "Where and how each run was made "
                          "(machine.json)", "recorded", "machine.json of " + ", ".join(str(r) for r in runs), max_rows=20))
