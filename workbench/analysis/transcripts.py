"""The recorded probe conversations (data/transcripts) as tables, flattened once for every page
that reads them: one row per QMP exchange, one row per probe launch, and what each QMP command
and each target cost when recorded."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.sim.transcript import load

EXCHANGE_COLUMNS = ["target", "accel", "command", "latency_s"]
LAUNCH_COLUMNS = ["target", "accel", "setup", "daemonize", "connect_greeting", "commands", "ready_s",
                  "quit_s", "n_commands"]


@dataclass(frozen=True)
class Recorded:
    exchanges: pd.DataFrame   # EXCHANGE_COLUMNS
    launches: pd.DataFrame    # LAUNCH_COLUMNS (seconds; the model prober's phases)
    refused: list[str]        # targets whose probe command line was refused when recorded


def read(transcripts_dir: Path) -> Recorded:
    exchanges, launches, refused = [], [], []
    for path in sorted(Path(transcripts_dir).glob("*.json.gz")):
        t = load(path)
        if t.launch_failure:
            refused.append(t.target)
        for ln in t.launches:
            qmp = sum(e.latency_s for e in ln.exchanges)
            launches.append({"target": t.target, "accel": ln.accel, "setup": ln.spawn_s,
                             "daemonize": ln.ready_s - ln.spawn_s, "connect_greeting": ln.greeting_s - ln.ready_s,
                             "commands": qmp, "ready_s": ln.ready_s, "quit_s": ln.quit_s or 0.0,
                             "n_commands": len(ln.exchanges)})
            exchanges += [{"target": t.target, "accel": ln.accel, "command": e.execute,
                           "latency_s": e.latency_s} for e in ln.exchanges]
    return Recorded(pd.DataFrame(exchanges, columns=EXCHANGE_COLUMNS),
                    pd.DataFrame(launches, columns=LAUNCH_COLUMNS), refused)


def per_command(exchanges: pd.DataFrame) -> pd.DataFrame:
    """Per QMP command over all targets: calls, total and median seconds, share of all QMP time
    (%), largest first."""
    g = exchanges.groupby("command")["latency_s"]
    out = pd.DataFrame({"calls": g.size(), "total_s": g.sum(), "median_s": g.median()})
    out["share_pct"] = 100 * out["total_s"] / out["total_s"].sum()
    return out.sort_values("total_s", ascending=False).reset_index()


def per_target(rec: Recorded, named: list[str]) -> pd.DataFrame:
    """Per target (index), fastest first: start to ready, the `named` QMP commands, the rest as
    "other QMP", and quit (seconds; a host-native target's two launches summed)."""
    ex = rec.exchanges.assign(part=rec.exchanges["command"].where(rec.exchanges["command"].isin(named), "other QMP"))
    parts = ex.pivot_table(index="target", columns="part", values="latency_s", aggfunc="sum").fillna(0)
    parts = parts.reindex(columns=list(named) + ["other QMP"], fill_value=0.0)
    own = rec.launches.groupby("target")[["ready_s", "quit_s"]].sum()
    table = pd.concat([own[["ready_s"]].rename(columns={"ready_s": "start to ready"}), parts,
                       own[["quit_s"]].rename(columns={"quit_s": "quit"})], axis=1)
    return table.loc[table.sum(axis=1).sort_values().index]


def fidelity_lines(ft: pd.DataFrame) -> list[str]:
    """What a fidelity_table (workbench.analysis.fidelity) says, as sentences: the median ratio
    and its range, the verdicts counted, and every target that differs with its CI and cause."""
    from workbench.analysis.tables import fmt_ratio

    if ft.empty:
        return ["No target was measured on both sides."]
    counts = ft["verdict"].value_counts()
    lines = [f"Replay / real binary, median over {len(ft)} targets: **{fmt_ratio(ft['ratio'].median())}** "
             f"(range {fmt_ratio(ft['ratio'].min())} to {fmt_ratio(ft['ratio'].max())}); per target (ratio of "
             "process medians, Welch 95% CI): " + ", ".join(f"**{n} {v}**" for v, n in counts.items()) + "."]
    if counts.get("inconclusive", 0):
        lines[0] += (" Inconclusive: the CI reaches beyond the tolerance (faithful within 5%) without "
                     "lying wholly outside it: too few processes to tell; each target's CI is in the table.")
    for r in ft[ft["verdict"] == "differs"].sort_values("ratio").itertuples():
        lines.append(f"- `{r.target}` {fmt_ratio(r.ratio)} (CI {fmt_ratio(r.ci_low)} to {fmt_ratio(r.ci_high)}): "
                     f"{r.verdict}" + (f"; {r.cause}" if r.cause else "") + ".")
    return lines
