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
# The run at a glance: headline numbers, regressions against the reference run, and links to
# the detailed pages.

# %% tags=["parameters"]
results_dir = "data/results/reference"  # run directory; relative paths are relative to the repository
output_dir = "reports/summary"  # tables (CSV) are written here
reference_dir = "data/results/reference"  # the run regressions are judged against
emulators = []  # emulator counts to show (empty: every count in the run)
strategies = []  # strategies to show (empty: every strategy in the run)
threshold = 1.10  # a ratio of medians (this run / reference) above this counts as slower
alpha = 0.05  # significance level of the Mann-Whitney U test
link_suffix = ".py"  # links to the other notebooks: .py in JupyterLab, .html in the report

# %%
import pandas as pd
from IPython.display import Markdown

from workbench import plots
from workbench.report import describe_notebooks
from workbench.stats import METHOD
from workbench.results import compare, fidelity, load_run, tracing_overhead
from workbench.rundir import read_run_info

run = plots.resolve(results_dir)
df, machine = plots.load(results_dir, emulators, strategies)
sweep = machine.get("sweep", {})
facts = {"results": str(run), "made": sweep.get("created_at"), "mode": sweep.get("mode"),
         "latency": sweep.get("latency"), "emulator counts": sweep.get("emulators"),
         "cpu": machine.get("cpu_model"), "cores": machine.get("cores"), "os": machine.get("os"),
         "python": machine.get("python"), "real QEMU": machine.get("qemu"),
         "git commit": (machine.get("git_commit") or "")[:12] + (" (dirty)" if machine.get("git_dirty") else "")}
display(pd.DataFrame({"value": {k: str(v) for k, v in facts.items() if v not in (None, "")}}))

# %% [markdown]
# ## Pages

# %%
pages = [n for n in describe_notebooks() if n.name != "summary"]
display(Markdown("\n".join(f"- [{n.title}]({n.name}{link_suffix}): {n.description}" for n in pages)))

# %% [markdown]
# ## Headline numbers

# %%
lines = []
fmt = plots.fmt_time
if not df.empty:
    source = plots.provenance(df[df["benchmark"] != "replay_fidelity"])
    headline = plots.startup_headline(df)
    plots.save_table(headline, output_dir, "headline", source)
    for h in headline.itertuples():
        lines.append(f"- **Startup** (`{h.benchmark}`, cold cache, {h.n_emulators} emulators): "
                     f"{fmt(h.before_s)} with {h.before}, {fmt(h.after_s)} with {h.after}: "
                     f"**{h.ratio:.1f}× faster**.")
    api = df[(df["benchmark"] == "api") & (df["cache"] == "cold")]
    if not api.empty:
        n = api["n_emulators"].max()
        m = api[api["n_emulators"] == n].groupby(["case", "strategy"])["time_s"].median().unstack()
        for case, r in m.iterrows():
            lines.append(f"- **{case}** (cold cache, {n} emulators): "
                         + ", ".join(f"{s} {fmt(v)}" for s, v in r.dropna().items()) + ".")
    first = df[(df["benchmark"] == "parse.first") & (df["phase"] == "total") & (df["cache"] == "cold")]
    if not first.empty:
        m = first.groupby("strategy")["time_s"].median()
        lines.append("- **First domain parse** after a cold startup: "
                     + ", ".join(f"{s} {fmt(v)}" for s, v in m.items()) + ".")
    tr = tracing_overhead(df)
    if not tr.empty:
        lines.append(f"- **Tracing overhead** on startup: median {tr['overhead_pct'].median():+.1f}% "
                     f"(range {tr['overhead_pct'].min():+.1f}% to {tr['overhead_pct'].max():+.1f}%).")
    fid = fidelity(df) if (df["benchmark"] == "replay_fidelity").any() else pd.DataFrame()
    if not fid.empty and fid["real"].notna().any():
        lines.append(f"- **Replay fidelity**: one simulated probe / one real probe, median over "
                     f"targets {fid['ratio'].median():.2f}× (measured on both).")
    display(Markdown(f"Source: {source}.\n\n" + "\n".join(lines) if lines else "No headline numbers: "
                     "the run has none of the benchmarks they come from."))

# %% [markdown]
# ## Regressions against the reference run
# A benchmark regresses when its Benjamini-Hochberg-adjusted Mann-Whitney U p < `alpha` AND the
# confidence interval of its Hodges-Lehmann ratio lies above `threshold`: `workbench.stats`.

# %%
ref = plots.resolve(reference_dir)
if df.empty:
    plots.note("No results: nothing to compare.")
elif run.resolve() == ref.resolve():
    display(Markdown("**This run is the reference run**: there is nothing to compare it against."))
elif not ref.is_dir() or not any(ref.glob("*.json")):
    plots.note(f"No reference run at `{ref}`: regressions cannot be judged.")
else:
    ref_df = load_run(ref)
    same_code = read_run_info(ref).code_sha256 == read_run_info(run).code_sha256
    if not same_code:
        plots.note("The reference was made with other workbench code: differences may come from it.")
    cmp = compare(ref_df, df, min_change=threshold - 1, alpha=alpha)
    plots.save_table(cmp, output_dir, "regressions", f"reference {ref} vs {run}; both measured")
    flagged = cmp[cmp["regression"]]
    faster = cmp[cmp["verdict"] == "improvement"]
    display(Markdown(f"{len(cmp)} benchmarks in both runs: **{len(flagged)} regression(s)** "
                     f"({METHOD}; BH-adjusted p < {alpha} and the ratio's CI beyond {threshold}); "
                     f"{len(faster)} faster, {(cmp['verdict'] == 'underpowered').sum()} underpowered."))
    if len(flagged):
        cols = ["benchmark", "case", "phase", "strategy", "n_emulators", "cache", "median_a_s",
                "median_b_s", "ratio", "ci_low", "ci_high", "p_adj"]
        shown = flagged[cols].sort_values("ratio", ascending=False).reset_index(drop=True)
        if len(shown) > 20:
            display(Markdown(f"The 20 largest of {len(flagged)}; all are in `regressions.csv`."))
        display(shown.head(20).round(4))
