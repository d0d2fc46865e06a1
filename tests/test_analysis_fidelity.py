"""analysis.fidelity: a CI per target, a verdict, and a cause only from the real side's evidence."""
from __future__ import annotations

import pandas as pd

from workbench.analysis.fidelity import fidelity_table


def rows(target: str, side: str, values: list[float]) -> list[dict]:
    return [{"benchmark": "replay_fidelity", "case": target, "emulators": side, "run_index": i,
             "time_s": v} for i, v in enumerate(values)]


def test_verdicts_and_causes_come_from_evidence_independent_of_the_replay():
    base = [0.100, 0.102, 0.098, 0.101, 0.099]
    df = pd.DataFrame(
        rows("good", "real", base) + rows("good", "simulated", [v * 1.01 for v in base])
        # the real binary ran slow (1.3x its recording, peers at 1.0): named, the replay is not blamed
        + rows("slowreal", "real", [v * 1.3 for v in base]) + rows("slowreal", "simulated", base)
        # the real binary at its peers' pace, the replay 30% slow: no independent cause, unexplained
        + rows("slowreplay", "real", base) + rows("slowreplay", "simulated", [v * 1.3 for v in base])
        + rows("noisy", "real", [0.1, 0.2, 0.1, 0.15, 0.1]) + rows("noisy", "simulated", base)
        + rows("onlysim", "simulated", base))
    t = fidelity_table(df, recorded={"good": 0.1, "slowreal": 0.1, "slowreplay": 0.1, "noisy": 0.1}).set_index("target")
    assert list(t.index) == ["good", "noisy", "slowreal", "slowreplay"]
    assert t.loc["good", "verdict"] == "faithful" and t.loc["good", "cause"] == ""
    assert t.loc["slowreal", "verdict"] == "differs" and "real binary" in t.loc["slowreal", "cause"]
    assert t.loc["slowreplay", "verdict"] == "differs" and t.loc["slowreplay", "cause"] == "unexplained"
    assert t.loc["noisy", "verdict"] == "inconclusive"
    assert (t["ci_low"] <= t["ratio"]).all() and (t["ratio"] <= t["ci_high"]).all()
    no_rec = fidelity_table(df).set_index("target")
    assert no_rec.loc["slowreal", "cause"] == "unexplained"  # no recording: nothing independent to go on
