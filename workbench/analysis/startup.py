"""What the startup page shows besides the scaling plot: the summary of a run's startup traces."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.analysis import plots

SUMMED = ("driver.startup", "probe.launch", "qmp")


def trace_summary(traces: Sequence[Path]) -> pd.DataFrame:
    """Per trace (its file stem): the total time (s) and the number of spans of the driver's
    startup, of the probe launches and of the QMP commands."""
    spans = pd.concat([plots.trace_spans(t).assign(trace=Path(t).stem) for t in traces])
    spans = spans[spans["name"].isin(SUMMED)]
    g = spans.groupby(["trace", "name"])["dur_ms"]
    total = (g.sum() / 1e3).unstack("name").reindex(columns=list(SUMMED))
    count = g.size().unstack("name").reindex(columns=list(SUMMED)).fillna(0).astype(int)
    out = pd.concat([total.add_suffix(" total_s"), count.add_suffix(" count")], axis=1)
    return out[[c for s in SUMMED for c in (f"{s} total_s", f"{s} count")]]
