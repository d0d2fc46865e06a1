"""Replay fidelity per target, with a CI, a verdict and a cause only where evidence names one.

From a run's `replay_fidelity` benchmark: per target, the ratio replay / real of the two sides'
per-process medians (the pyperf worker process is the unit, as in compare) with Welch's t
interval, and stats.fidelity_verdict (faithful within 5%, differs, inconclusive). The benchmark
runs each side's processes one after the other, so the sides are not paired: `workbench
fidelity` alternates them in the same round and pairs them, and is the sharper check.

A cause is named only with evidence that does not come from the replay's own numbers: the real
binary's time against its recording, compared with the same ratio over all the targets' real
binaries (`real_pace`: 1.0 when this real binary ran at its peers' pace relative to their
recordings). Where a target differs and its real binary ran off its peers' pace by more than
the tolerance, the real side (the machine or the binary at that moment) is named; anything
else is "unexplained". The replays' own overhead is never the yardstick.
"""
from __future__ import annotations

import math

import pandas as pd

from workbench.analysis import stats

COLUMNS = ["target", "real_s", "simulated_s", "recorded_s", "procs_real", "procs_simulated", "ratio",
           "ci_low", "ci_high", "verdict", "real_pace", "cause"]


def fidelity_table(df: pd.DataFrame, recorded: dict[str, float] | None = None,
                   tolerance: float = stats.FIDELITY_TOLERANCE) -> pd.DataFrame:
    """One row per target with both sides in df's replay_fidelity rows (recorded: target ->
    recorded seconds, optional: without it no cause can be named)."""
    t = df[df["benchmark"] == "replay_fidelity"]
    rows = []
    for target, g in t.groupby("case", sort=True):
        sides = {k: [p["time_s"].tolist() for _, p in s.groupby("run_index", sort=True)]
                 for k, s in g.groupby("emulators")}
        if not {"real", "simulated"} <= set(sides):
            continue
        la, lb = stats.process_medians(sides["real"]), stats.process_medians(sides["simulated"])
        _, eff = stats.moderated_t(la, lb)
        rec = (recorded or {}).get(target, math.nan)
        rows.append({"target": target, "real_s": g[g["emulators"] == "real"]["time_s"].median(),
                     "simulated_s": g[g["emulators"] == "simulated"]["time_s"].median(), "recorded_s": rec,
                     "procs_real": len(la), "procs_simulated": len(lb), "ratio": eff.ratio,
                     "ci_low": eff.ci_low, "ci_high": eff.ci_high, "verdict": stats.fidelity_verdict(eff, tolerance)})
    out = pd.DataFrame(rows, columns=COLUMNS[:-2])
    pace = out["real_s"] / out["recorded_s"]
    out["real_pace"] = pace / pace.median() if pace.notna().any() else math.nan
    out["cause"] = [_cause(r, tolerance) for r in out.itertuples()]
    return out[COLUMNS]


def _cause(r, tolerance: float) -> str:
    if r.verdict != "differs":
        return ""
    if not math.isnan(r.real_pace) and abs(math.log(r.real_pace)) > math.log1p(tolerance):
        return (f"the real binary ran at {r.real_pace:.2f}x its peers' pace against their recordings "
                f"(the machine or the binary at that moment, not the replay)")
    return "unexplained"
