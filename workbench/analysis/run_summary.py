"""The summary page's tables and sentences: the notes under the headline (tracing overhead,
replay fidelity), each run judged against the reference, the other pages, and where each run
was made. The page loads the runs, calls these and shows what they return."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.analysis import plots, tables
from workbench.analysis.results import compare, fidelity, load_run, tracing_overhead
from workbench.analysis.rundir import read_run_info
from workbench.analysis.stats import METHOD

REGRESSION_COLUMNS = ["benchmark", "case", "phase", "strategy", "n_emulators", "cache", "median_a_s",
                      "median_b_s", "ratio", "ci_low", "ci_high", "p_adj"]


def headline_notes(df: pd.DataFrame) -> list[str]:
    """The tracing overhead per strategy and cache at the largest count, and the replay fidelity's
    median ratio over targets, where the run measured them."""
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
    return notes


def show_tracing_overhead(df: pd.DataFrame, output_dir) -> tables.Formatted | None:
    """Startup with tracing on and off per strategy, count and cache (None: not measured)."""
    tr = tracing_overhead(df)
    if tr.empty:
        return None
    rows = df[df["benchmark"] == "tracing_overhead"]
    shown = tr.sort_values(["strategy", "cache", "n_emulators"])[
        ["strategy", "n_emulators", "cache", "on", "off", "overhead_s", "overhead_pct"]]
    return tables.show_table(shown, output_dir, "tracing_overhead",
                             "Startup with tracing on and off (medians), per strategy, count and cache",
                             plots.kind(rows), plots.provenance(rows), time_columns=["on", "off", "overhead_s"],
                             formats={"overhead_pct": lambda v: f"{tables.sig(v)}%"},
                             names={"overhead_s": "overhead", "overhead_pct": "overhead (%)"})


@dataclass(frozen=True)
class Judged:
    """One run against the reference: what the page says and the table of its regressions."""
    run: Path
    notes: list[str]               # shown as notes (differing code, nothing shared)
    text: str                      # the verdicts counted ("" when nothing was compared)
    table: tables.Formatted | None = None
    compared: pd.DataFrame | None = None


def verdict_counts(cmp: pd.DataFrame, run: str, ref: str, threshold: float, alpha: float) -> str:
    """compare's verdicts counted, with the method, as the page's sentence."""
    flagged = cmp[cmp["regression"].astype(bool)]
    counts = cmp["verdict"].value_counts()
    return (f"{plots.md_literal(run)} against the reference {plots.md_literal(ref)}: {len(cmp)} benchmarks tested, "
            f"**{len(flagged)} regression(s)**, {counts.get('improvement', 0)} faster, "
            f"{counts.get('unchanged', 0)} unchanged (the ratio's CI inside the minimum change), "
            f"{counts.get('inconclusive', 0)} inconclusive (neither: the run cannot tell; "
            "each one's minimum detectable change is in the CSV), "
            f"{counts.get('underpowered', 0)} with too few processes to judge. "
            f"Method: {METHOD}; BH-adjusted p < {alpha} and the ratio's CI beyond {threshold}.")


def judge_runs(runs: Sequence[Path], ref: Path, threshold: float, alpha: float, output_dir) -> list[Judged]:
    """Each run against the reference run ref (a directory of results): compare's verdicts and,
    where there are any, the regressions largest first (written as regressions_RUN.csv)."""
    ref_df = load_run(ref)
    judged = []
    for run in runs:
        if run.resolve() == ref.resolve():
            judged.append(Judged(run, [], f"{plots.md_literal(run.name)} **is the reference run**: "
                                           "there is nothing to compare it against."))
            continue
        run_df = load_run(run)
        notes = []
        if read_run_info(ref).code_sha256 != read_run_info(run).code_sha256:
            notes.append(f"The reference was made with other workbench code than {plots.md_literal(run.name)}: "
                         "differences may come from it.")
        cmp = compare(ref_df, run_df, min_change=threshold - 1, alpha=alpha)
        if cmp.empty:
            notes.append(f"{plots.md_literal(run.name)} shares no benchmark (same parameters) with the reference "
                         f"{plots.md_literal(ref.name)}: nothing to compare.")
            judged.append(Judged(run, notes, ""))
            continue
        shown = cmp[cmp["regression"].astype(bool)][REGRESSION_COLUMNS].sort_values("ratio", ascending=False)
        table = None
        if len(shown):
            table = tables.show_table(
                shown, output_dir, f"regressions_{run.name}", f"Regressions of {run.name}, largest first",
                plots.kind(run_df), f"reference {ref} vs {run}", time_columns=[],
                formats={"median_a_s": tables.fmt_duration, "median_b_s": tables.fmt_duration},
                names={"median_a_s": "reference", "median_b_s": run.name, "p_adj": "p (BH)",
                       "ci_low": "ratio CI low", "ci_high": "ratio CI high"},
                csv_frame=cmp)
        judged.append(Judged(run, notes, verdict_counts(cmp, run.name, ref.name, threshold, alpha), table, cmp))
    return judged


def pages_markdown(pages, link_suffix: str) -> str:
    """A list of links to the other pages (report.describe_notebooks' entries)."""
    return "\n".join(f"- [{n.title}]({n.name}{link_suffix}): {n.description}" for n in pages)


def runs_table(runs: Sequence[Path]) -> pd.DataFrame:
    """Where and how each run was made (machine.json): a row per fact, a column per run; facts no
    run recorded are left out."""
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
    return info[(info != "").any(axis=1)].rename_axis("what").reset_index()
