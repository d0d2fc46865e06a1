"""The main job's stop rule, kept apart from the job itself: `workbench --help` and every CLI call
(the daemon's among them) read it, and the job imports pandas and scipy (~1.3 s), which a daemon
timed from its spawn must not pay."""
from __future__ import annotations

MIN_PROCESSES = 3
MAX_PROCESSES = 10
STEP = 2
PRECISION = 0.05


def stop_rule() -> str:
    return (f"each benchmark starts with {MIN_PROCESSES} worker processes (1 value each); then, within "
            f"the time budget, {STEP} processes at a time go to the benchmark whose 95% confidence "
            f"interval of its mean (across process medians, log scale) is widest, the headline ratios' "
            f"benchmarks first, until every interval is within +-{PRECISION:.0%} or has {MAX_PROCESSES} processes")
