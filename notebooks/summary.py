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
import pandas as pd
from IPython.display import HTML, Markdown

from workbench.analysis import headline, plots, tables
from workbench.analysis.report import describe_notebooks
from workbench.analysis.results import compare, fidelity, load_run, tracing_overhead
from workbench.analysis.rundir import read_run_info
from workbench.analysis.stats import METHOD

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
    notes = []
    tr = tracing_overhead(df)
    if not tr.empty:
        # Per strategy and cache at the largest count: never pooled across strategies or counts.
        top = tr[tr["n_emulators"] == tr.groupby(["strategy", "cache"])["n_emulators"].transform("max")]
        notes.append("Tracing overhead on startup, per strategy and cache at the largest count: "
                     + "; ".join(f"{r.strategy} {r.cache} n={r.n_emulators}: {tables.fmt_duration(r.overhead_s)} "
                                 f"({tables.sig(r.overhead_pct)}%)" for r in top.itertuples())
                     + " (the table below has every count).")
    fid = fidelity(df) if (df["benchmark"] == "replay_fidelity").any() else pd.DataFrame()
    if not fid.empty and fid["real"].notna().any():
        notes.append(f"Replay fidelity: one simulated probe / one real probe, median over targets "
                     f"{tables.fmt_ratio(fid['ratio'].median())} (measured on both).")
    if notes:
        display(Markdown("\n".join(f"- {n}" for n in notes)))
    if not tr.empty:
        shown = tr.sort_values(["strategy", "cache", "n_emulators"])[
            ["strategy", "n_emulators", "cache", "on", "off", "overhead_s", "overhead_pct"]]
        display(tables.show_table(shown, output_dir, "tracing_overhead",
                                  "Startup with tracing on and off (medians), per strategy, count and cache",
                                  plots.kind(df[df["benchmark"] == "tracing_overhead"]),
                                  plots.provenance(df[df["benchmark"] == "tracing_overhead"]),
                                  time_columns=["on", "off", "overhead_s"],
                                  formats={"overhead_pct": lambda v: f"{tables.sig(v)}%"},
                                  names={"overhead_s": "overhead", "overhead_pct": "overhead (%)"}))

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
    ref_df = load_run(ref)
    for run in runs:
        if run.resolve() == ref.resolve():
            display(Markdown(f"{plots.md_literal(run.name)} **is the reference run**: there is nothing to compare it against."))
            continue
        run_df = load_run(run)
        if read_run_info(ref).code_sha256 != read_run_info(run).code_sha256:
            plots.note(f"The reference was made with other workbench code than {plots.md_literal(run.name)}: "
                       "differences may come from it.")
        cmp = compare(ref_df, run_df, min_change=threshold - 1, alpha=alpha)
        if cmp.empty:
            plots.note(f"{plots.md_literal(run.name)} shares no benchmark (same parameters) with the reference "
                       f"{plots.md_literal(ref.name)}: nothing to compare.")
            continue
        flagged = cmp[cmp["regression"].astype(bool)]
        counts = cmp["verdict"].value_counts()
        display(Markdown(f"{plots.md_literal(run.name)} against the reference {plots.md_literal(ref.name)}: {len(cmp)} benchmarks tested, "
                         f"**{len(flagged)} regression(s)**, {counts.get('improvement', 0)} faster, "
                         f"{counts.get('unchanged', 0)} unchanged (the ratio's CI inside the minimum change), "
                         f"{counts.get('inconclusive', 0)} inconclusive (neither: the run cannot tell; "
                         "each one's minimum detectable change is in the CSV), "
                         f"{counts.get('underpowered', 0)} with too few processes to judge. "
                         f"Method: {METHOD}; BH-adjusted p < {alpha} and the ratio's CI beyond {threshold}."))
        cols = ["benchmark", "case", "phase", "strategy", "n_emulators", "cache", "median_a_s",
                "median_b_s", "ratio", "ci_low", "ci_high", "p_adj"]
        shown = flagged[cols].sort_values("ratio", ascending=False)
        if len(shown):
            display(tables.show_table(
                shown, output_dir, f"regressions_{run.name}", f"Regressions of {run.name}, largest first",
                plots.kind(run_df), f"reference {ref} vs {run}", time_columns=[],
                formats={"median_a_s": tables.fmt_duration, "median_b_s": tables.fmt_duration},
                names={"median_a_s": "reference", "median_b_s": run.name, "p_adj": "p (BH)",
                       "ci_low": "ratio CI low", "ci_high": "ratio CI high"},
                csv_frame=cmp))

# %% [markdown]
# ## Pages

# %%
pages = [n for n in describe_notebooks() if n.name != "summary"]
display(Markdown("\n".join(f"- [{n.title}]({n.name}{link_suffix}): {n.description}" for n in pages)))

# %% [markdown]
# ## The runs

# %%
facts = {}
for run in runs:
    m = read_run_info(run).data
    sweep = m.get("sweep", {})
    facts[run.name] = {"made": sweep.get("created_at"), "mode": sweep.get("mode"),
                       "latency": sweep.get("latency"),
                       "emulator counts": ", ".join(map(str, sweep.get("emulators") or [])),
                       "cpu": f"{m.get('cpu_model')} ({m.get('cores')} cores)" if m.get("cpu_model") else None,
                       "os": m.get("os"), "python": m.get("python"), "real QEMU": m.get("qemu"),
                       "git commit": (m.get("git_commit") or "")[:12] + (" (dirty)" if m.get("git_dirty") else "")}
info = pd.DataFrame(facts).dropna(how="all")
info = info[(info != "").any(axis=1)].rename_axis("what").reset_index()
display(tables.show_table(info, output_dir, "runs", "Where and how each run was made (machine.json)",
                          "recorded", "machine.json of " + ", ".join(str(r) for r in runs), max_rows=20))
