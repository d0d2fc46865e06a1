"""What libvirt could do next: every strategy per scenario (a cold container's first client, a
package upgrade, a steady host), the trade-offs at the largest emulator count, and the
conclusions, computed from a run's scenario rows and their per-process metadata.

The scenario worker records, per process, the daemon's startup (spawn to `ready`), the first and
the worst single answer and the daemon's CPU seconds as run metadata; launches and probes are
the same in every process and pyperf keeps them at benchmark level. Real libvirt 9.0's rows
(a `system` other than the model) come from its binding, which reports none of these.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from workbench.analysis import tables
from workbench.analysis.plots import md_text
from workbench.analysis.runmeta import numeric
from workbench.analysis.results import MODEL
from workbench.analysis.rundir import is_stock_libvirt
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES

SCENARIOS = ("cold_container", "package_upgrade", "steady_host")
# Per-process metadata key -> trade-off column.
COUNTED = {"wb_ready_s": "startup_s", "wb_first_answer_s": "first_answer_s",
           "wb_worst_call_s": "worst_call_s", "wb_daemon_cpu_s": "cpu_s", "wb_launches": "launches",
           "wb_probes": "probes"}
REAL_REASON = "not reported: real libvirt's binding gives only the time to the last answer"
UNCOUNTED_REASON = ("not counted in this run: its scenario workers timed the client only (the main "
                    "job's `--count no`; `workbench run --full` counts)")
TARGET_SPEEDUP = 10.0  # the bar a new strategy should clear against the baseline, cold container


def scenario_rows(df: pd.DataFrame, runs: Iterable[Path]) -> pd.DataFrame:
    """The scenario values of df with the counted metadata of their own worker process and a
    `label`: the strategy, or the system's name for real libvirt's rows."""
    sc = df[df["benchmark"] == "scenario"].copy()
    if sc.empty:
        return sc.assign(label=pd.Series(dtype=str), **{c: pd.Series(dtype=float) for c in COUNTED.values()})
    # load_run gives each value its own worker process's counts (wb_ready_s -> ready_s, ...)
    sc = sc.rename(columns={k[3:]: v for k, v in COUNTED.items()})
    sc = numeric(sc.reindex(columns=list(sc.columns) + [c for c in COUNTED.values() if c not in sc]),
                 COUNTED.values())
    own = sc["system"].isna() | (sc["system"] == MODEL)
    sc["label"] = sc["strategy"].where(own, sc["system"].astype(str))
    return sc


def labels(sc: pd.DataFrame, strategies: Iterable[str]) -> list[str]:
    """Registry order first (strategies), then real systems alphabetically."""
    present = set(sc["label"].dropna()) if "label" in sc else set()
    order = list(strategies)
    return [s for s in order if s in present] + sorted(present - set(order))


def tradeoffs(sc: pd.DataFrame, baseline: str, staleness: dict[str, str], order: list[str]) -> pd.DataFrame:
    """At the largest emulator count: per (scenario, label) the median time to the last answer
    and the medians over worker processes of startup, first answer, worst call, daemon CPU,
    launches and probes; the speed-up against `baseline` in the same scenario; each strategy's
    own staleness assessment; the rows' source."""
    if sc.empty:
        return pd.DataFrame()
    n_max = int(sc["n_emulators"].max())
    at = sc[sc["n_emulators"] == n_max]
    per_process = at.groupby(["case", "label", "run_index"], sort=False).agg(
        {"time_s": "median", **{c: "first" for c in COUNTED.values()}})
    g = per_process.groupby(level=["case", "label"])
    out = pd.DataFrame({"last_answer_s": at.groupby(["case", "label"])["time_s"].median()})
    for c in COUNTED.values():
        out[c] = g[c].median()
    out["source"] = at.groupby(["case", "label"])["source"].agg(lambda s: ", ".join(sorted(set(s.dropna()))))
    out = out.reset_index()
    base = out[out["label"] == baseline].set_index("case")["last_answer_s"]
    out["speedup_vs_" + baseline] = out["case"].map(base) / out["last_answer_s"]
    out["staleness_risk"] = out["label"].map(lambda s: staleness.get(s, "real libvirt: as per-emulator"))
    out.insert(0, "n_emulators", n_max)
    rank = {s: i for i, s in enumerate(order)}
    out = out.assign(_o=out["label"].map(rank)).sort_values(["case", "_o"]).drop(columns="_o")
    return out.rename(columns={"case": "scenario", "label": "strategy"}).reset_index(drop=True)


def missing_reasons(trade: pd.DataFrame, strategies: Iterable[str]) -> dict[str, str]:
    """For every trade-off column with a missing value: which rows and why. A column missing in
    a strategy row of the model (not real libvirt) has no known reason and says so."""
    known = set(strategies)
    counted = [c for c in COUNTED.values() if c in trade]
    out = {}
    for col in counted:
        if col not in trade:
            continue
        gaps = trade[trade[col].isna()]
        if gaps.empty:
            continue
        real = sorted(set(gaps["strategy"]) - known)
        model = gaps[gaps["strategy"].isin(known)]
        uncounted = model[model[counted].isna().all(axis=1)]
        partial = sorted(set(model["strategy"]) - set(uncounted["strategy"]))
        parts = []
        if real:  # system names from the results' metadata: shown, never live
            parts.append(f"{', '.join(md_text(r) for r in real)}: {REAL_REASON}")
        if len(uncounted):
            parts.append(f"{', '.join(sorted(set(uncounted['strategy'])))}: {UNCOUNTED_REASON}")
        if partial:
            parts.append(f"{', '.join(partial)}: not in the run's metadata (its workers did not "
                         "record this one)")
        out[col] = "; ".join(parts)
    return out


def missing_note(reasons: dict[str, str]) -> str:
    """One sentence per reason, naming the columns it empties ("" when nothing is missing)."""
    by_reason: dict[str, list[str]] = {}
    for col, why in reasons.items():
        by_reason.setdefault(why, []).append(tables.human(col))
    return " ".join(f"Empty (–) in {', '.join(cols)}: {why}." for why, cols in by_reason.items())


def provenance(rows: pd.DataFrame) -> tuple[str, str]:
    """(kind, source) for the rows a table shows, from their `source` column only."""
    from workbench.analysis import plots

    return plots.kind(rows), plots.provenance(rows)


@dataclass(frozen=True)
class Conclusions:
    lines: list[str]

    def markdown(self) -> str:
        return "\n".join(self.lines) if self.lines else "No scenario data: no conclusions."


def conclusions(trade: pd.DataFrame, baseline: str, strategies: Iterable[str],
                target: float = TARGET_SPEEDUP) -> Conclusions:
    """Per scenario: the fastest strategy libvirt never shipped against the baseline (time and
    launches), the new ones slower than the baseline, the target at a cold container, real
    libvirt beside the model of what it ships; daemon CPU and the worst single call."""
    known = list(strategies)
    if trade.empty:
        return Conclusions([])
    fmt = tables.fmt_duration
    sp = "speedup_vs_" + baseline
    newer = [s for s in known if s not in LIBVIRT_STRATEGIES]
    n_max = int(trade["n_emulators"].iloc[0])
    lines = []
    for name in SCENARIOS:
        t = trade[trade["scenario"] == name].set_index("strategy")
        if t.empty or baseline not in t.index:
            continue
        cand = t.loc[[s for s in newer if s in t.index]]
        if cand.empty:
            continue
        best = str(cand["last_answer_s"].idxmin())
        b, base = t.loc[best], t.loc[baseline]
        launches = ("" if pd.isna(b["launches"]) or pd.isna(base["launches"]) else
                    f", {int(b['launches'])} emulator launches against {int(base['launches'])}")
        lines.append(f"- **{name.replace('_', ' ')}** at {n_max} emulators: fastest new strategy "
                     f"**{best}**, {fmt(b['last_answer_s'])} to the last answer against "
                     f"{fmt(base['last_answer_s'])} for {baseline} (**{tables.fmt_ratio(b[sp])}**){launches}.")
        slower = [s for s in cand.index if cand.loc[s, sp] < 1 / 1.1]
        if slower:
            lines.append(f"  - slower than {baseline} here (by more than 10%): {', '.join(slower)}.")
        if name != "cold_container":
            continue
        lines.append(f"  - the target ({target:g}x for the best new strategy against {baseline}): "
                     f"**{'met' if b[sp] >= target else 'not met'}** ({tables.fmt_ratio(b[sp])}).")
        stock_name = next((s for s in t.index if is_stock_libvirt(s)), None)
        stock = None if stock_name is None else md_text(stock_name)
        for real_name in [s for s in t.index if s not in known]:
            # system names from the results' metadata: shown, never live
            r, real = t.loc[real_name, "last_answer_s"], md_text(real_name)
            if stock_name is not None and real_name != stock_name:  # a patched build: against the stock one, not the model
                stock_s = t.loc[stock_name, "last_answer_s"]
                lines.append(f"  - **{real}** on the same install: {fmt(r)}, against {fmt(stock_s)} "
                             f"for {stock} (stock): **{tables.fmt_ratio(stock_s / r)}** faster "
                             "(the build differs from Debian's in its options as well as in its patches).")
                continue
            gap = r / base["last_answer_s"]
            lines.append(f"  - **{real}** on the same install: {fmt(r)} (open to the last answer, its "
                         f"process start left out). The model of what it ships ({baseline}) takes "
                         f"{fmt(base['last_answer_s'])}: libvirt / model = **{tables.fmt_ratio(gap)}** "
                         f"in this run, before any new strategy. {best} against {real} is "
                         f"{tables.fmt_ratio(r / b['last_answer_s'])} = that factor × {best}'s own "
                         f"{tables.fmt_ratio(b[sp])}.")
    model = trade[trade["strategy"].isin(known)]
    cpu = model.groupby("strategy")["cpu_s"].sum(min_count=len(SCENARIOS)).dropna()
    if len(cpu):
        lines.append(f"- Daemon CPU over the three scenarios at {n_max} emulators: least **{cpu.idxmin()}** "
                     f"({fmt(cpu.min())}), most **{cpu.idxmax()}** ({fmt(cpu.max())}).")
    worst = model.dropna(subset=["worst_call_s"])
    if len(worst):
        w = worst.loc[worst["worst_call_s"].idxmax()]
        lines.append(f"- Worst single call: {fmt(w['worst_call_s'])} ({w['strategy']}, "
                     f"{w['scenario'].replace('_', ' ')}; median over worker processes).")
    return Conclusions(lines)
