"""The probe anatomy page's tables and figures: where one probe's recorded time goes (per QMP
command, per target) and how faithfully the replays stand in for the real binaries, one probe
at a time and under parallel probing. The page only loads, calls these and shows the result."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from workbench.analysis import plots, tables
from workbench.analysis.fidelity import fidelity_table
from workbench.analysis.results import fidelity
from workbench.analysis.transcripts import Recorded, fidelity_lines


NO_REAL_SIDE = ("The run has no real-QEMU side (no /usr/bin/qemu-system-* where it ran): "
                "only simulated and recorded are shown.")


def recorded_note(rec: Recorded, transcripts_dir: Path) -> str:
    """What the page says about the recordings before it shows them (empty: nothing to say)."""
    if rec.exchanges.empty:
        return f"No transcripts in {plots.md_literal(transcripts_dir)}: nothing recorded to show."
    if rec.refused:
        return f"Refused the probe command line when recorded (no launches): {', '.join(rec.refused)}."
    return ""


def per_command_figure(top: pd.DataFrame, n_targets: int) -> plt.Figure:
    """Bars of each command's share of all recorded QMP time (top: transcripts.per_command rows)."""
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.5))
    ax.barh(top["command"][::-1], top["share_pct"][::-1], color="C4")
    for y, (pct, calls) in enumerate(zip(top["share_pct"][::-1], top["calls"][::-1])):
        ax.text(pct, y, f" {pct:.1f}% ({calls} calls)", va="center", fontsize=8)
    ax.set_xlabel(f"share of all QMP time over {n_targets} targets (%)")
    ax.set_xlim(0, top["share_pct"].max() * 1.3)
    ax.set_title("QMP time per command")
    return fig


def per_target_figure(table: pd.DataFrame) -> plt.Figure:
    """Stacked bars, one per target, of transcripts.per_target's parts (ms)."""
    fig, ax = plt.subplots(figsize=(9, 0.25 * len(table) + 1.5))
    left = pd.Series(0.0, index=table.index)
    for i, col in enumerate(table.columns):
        ax.barh(table.index, table[col] * 1e3, left=left * 1e3, label=col, color=f"C{i}")
        left += table[col]
    ax.set_xlabel("recorded time per probe (ms)")
    ax.set_xlim(left=0)
    ax.set_title("Probe time per target")
    plots.legend_beside(fig, title="part of the probe")
    return fig


def per_target_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, every column): per target its parts and total_s; shown keeps start, quit and the
    total, slowest target first."""
    out = table.assign(total_s=table.sum(axis=1)).reset_index()
    shown = out.sort_values("total_s", ascending=False)[["target", "start to ready", "quit", "total_s"]]
    return shown, out


def all_targets_line(table: pd.DataFrame) -> str:
    return (f"All {len(table)} targets probed one after another: "
            f"**{tables.fmt_duration(table.values.sum())}** (computed from the recordings; {plots.RECORDED}).")


@dataclass(frozen=True)
class ReplayFidelity:
    """One probe per target on both sides of a run's replay_fidelity benchmark."""
    frame: pd.DataFrame       # target, real, simulated, recorded, ratio (+ CI, verdict, cause with a real side)
    spread: pd.DataFrame      # quartiles per (case, emulators): the IQR bars
    has_real: bool
    kind: str
    source: str
    lines: list[str]          # what the per-target verdicts say (empty without a real side)

    def shown(self) -> pd.DataFrame:
        cols = ["target", "real", "simulated", "recorded", "ratio"]
        return self.frame.sort_values("ratio")[cols + [c for c in ("verdict", "cause") if c in self.frame]]


def replay_fidelity(df: pd.DataFrame, recorded: pd.Series | None) -> ReplayFidelity:
    """df: a run with replay_fidelity rows; recorded: seconds per target from the transcripts (None
    without transcripts). Targets sorted by the simulated median, the figure's order."""
    rows = df[df["benchmark"] == "replay_fidelity"]
    fid = fidelity(df)
    fid["recorded"] = float("nan") if recorded is None else fid["target"].map(recorded)
    has_real = bool(fid["real"].notna().any())
    fid = fid.sort_values("simulated")
    lines: list[str] = []
    if has_real:
        # per target: Welch CI on process medians, a verdict, and a cause only where evidence
        # independent of the replay names one (workbench.analysis.fidelity)
        ft = fidelity_table(df, fid.set_index("target")["recorded"].dropna().to_dict())
        fid = fid.merge(ft[["target", "ci_low", "ci_high", "verdict", "real_pace", "cause"]], on="target", how="left")
        lines = fidelity_lines(ft)
    return ReplayFidelity(fid, plots.quartiles(rows, ["case", "emulators"]), has_real,
                          plots.kind(rows) + " (recorded column: recorded)",
                          plots.provenance(rows) + f"; recorded: {plots.RECORDED}", lines)


def fidelity_figure(rf: ReplayFidelity) -> plt.Figure:
    """Per target: real, simulated (median, IQR bar) and recorded bars, and simulated / real."""
    fid, spread = rf.frame, rf.spread
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(12, 0.28 * len(fid) + 1.8), sharey=True,
                                  gridspec_kw={"width_ratios": [3, 1]})
    y = range(len(fid))
    for k, (col, color) in enumerate([("real", "C0"), ("simulated", "C1"), ("recorded", "C7")]):
        ys = [i + (k - 1) * 0.27 for i in y]
        err = None
        if col != "recorded":
            sp = spread[spread["emulators"] == col].set_index("case").reindex(fid["target"])
            err = [(fid[col].values - sp["q1_s"].values) * 1e3, (sp["q3_s"].values - fid[col].values) * 1e3]
        ax.barh(ys, fid[col] * 1e3, height=0.27, label=col + (" (median, IQR bar)" if err else ""),
                color=color, xerr=err, error_kw={"lw": 0.8, "capsize": 1.5})
    ax.set_yticks(list(y), fid["target"])
    ax.set_xlabel("time per probe (ms)")
    ax.set_xlim(left=0)
    ax.set_title("One probe per target")
    if rf.has_real:
        axr.barh(list(y), fid["ratio"], color="C1")
        axr.axvline(1, color="grey", lw=0.8)
        axr.set_xlim(left=0)
    axr.set_xlabel("simulated / real (×)")
    axr.set_title("ratio of medians")
    plots.legend_beside(fig)
    return fig


def parallel_figure(par: pd.DataFrame, cores: int | None) -> plt.Figure:
    """Cold get_capabilities against probe workers per side, and each side's speed-up over one
    worker (par: results.parallel_fidelity); a dashed line at the run machine's core count."""
    fig, (ax, axs) = plt.subplots(1, 2, figsize=(11, 3.6))
    for side, color in (("real", "C0"), ("simulated", "C1")):
        if par[side].notna().any():
            ax.plot(par["workers"], par[side], "o-", color=color, label=side)
            axs.plot(par["workers"], par[f"speedup_{side}"], "o-", color=color, label=side)
    ax.set_xlabel("probe workers")
    ax.set_ylabel("cold get_capabilities (s)")
    ax.set_ylim(bottom=0)
    axs.set_xlabel("probe workers")
    axs.set_ylabel("speed-up over 1 worker (×)")
    if cores:
        axs.axhline(cores, color="grey", lw=0.8, ls="--")
        axs.annotate(f"{cores} cores", (par["workers"].max(), cores), ha="right", va="bottom", fontsize=8)
    axs.set_ylim(bottom=0)
    for a in (ax, axs):
        a.set_xticks(list(par["workers"]))
    plots.legend_beside(fig)
    return fig


def parallel_ratio_line(par: pd.DataFrame, kind: str, source: str) -> str:
    """Simulated / real per pool size, as a sentence; empty without a real side."""
    if not par["real"].notna().any():
        return ""
    return ("Simulated / real per pool size: "
            + ", ".join(f"{w} worker{'s' if w > 1 else ''} **{tables.fmt_ratio(r)}**"
                        for w, r in zip(par["workers"], par["ratio"]))
            + f" ({kind}; {plots.md_text(source)}).")
