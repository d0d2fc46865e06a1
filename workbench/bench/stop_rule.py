"""The main job's stop rule, kept apart from the job itself: `workbench --help` and every CLI call
(the daemon's among them) read it, and the job imports pandas and scipy (~1.3 s), which a daemon
timed from its spawn must not pay."""
from __future__ import annotations

from workbench.analysis.detect_target import TARGET_MDC

# The whole run's wall time, report included, that the adaptive part plans for: 4 min 45 s, inside
# the 5-minute target (the committed main-job reference took 4 min 43 s with a first pass that
# gave every benchmark 3 processes; giving the benchmarks behind no headline ratio 2 pays for
# most of what the detectable-change phase adds).
BUDGET_S = 285.0
MIN_PROCESSES = 3          # the first pass of a headline ratio's benchmark
OTHER_PROCESSES = 2        # the first pass of every other benchmark: the fewest compare can test
MAX_PROCESSES = 10         # the widest-interval phase stops a benchmark here
MAX_DETECT_PROCESSES = 24  # the detectable-change phase stops a headline benchmark here
STEP = 2
PRECISION = 0.05
# Values per worker process of a cold daemon startup that probes nothing first (per-emulator's:
# ~0.15 s, mostly the daemon process's own start; one value a process spread 134-313 ms over 24
# processes in a quiet run, which no process count within the budget narrowed to a 10% mdc).
CHEAP_VALUES = 5


def stop_rule() -> str:
    return (f"first pass: the headline ratios' benchmarks get {MIN_PROCESSES} worker processes (1 value each; "
            f"{CHEAP_VALUES} for a cold daemon startup that probes nothing first, its process median the unit), "
            f"every other benchmark {OTHER_PROCESSES}; then, within the time budget, the headline benchmarks "
            f"get processes until the minimum detectable change `workbench compare` would give each "
            f"against a run like this one is at most {TARGET_MDC:.0%} (or {MAX_DETECT_PROCESSES} "
            f"processes), the most change per second of work first, where more processes would "
            f"reach it; then {STEP} processes at a time go to the benchmark whose 95% confidence interval of "
            f"its mean (across process medians, log scale) is widest, the headline ratios' benchmarks "
            f"first, until every interval is within +-{PRECISION:.0%} or has {MAX_PROCESSES} processes. "
            f"A headline benchmark whose {TARGET_MDC:.0%} does not fit in the budget is named at the end "
            f"with the change it can detect")
