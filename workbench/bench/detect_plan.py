"""Where the main job's next worker processes buy the most detectable change per second.

The main job's headline benchmarks must each be able to show a change of TARGET_MDC against a
run like the one being made: `workbench compare`'s minimum detectable change for the same
processes and spreads (workbench.analysis.stats.like_run_changes, the function compare's own
mdc goes through). More processes shrink it by about sqrt(k) while the spread stays what it is;
`next_step` predicts, for each headline benchmark still above the target, the fewest processes
that would reach it (or the most the budget and MAX_DETECT_PROCESSES allow) and picks the
benchmark whose change per second of work is largest. The prediction keeps the spread measured so
far; the main job measures, then asks again, so a spread that grows is seen at the next step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from workbench.analysis.stats import Processes, like_run_changes, process_medians
from workbench.bench.stop_rule import MAX_DETECT_PROCESSES, TARGET_MDC


@dataclass(frozen=True)
class Step:
    index: int          # the benchmark's place in `groups`
    processes: int      # worker processes to add
    mdc_now: float
    mdc_after: float    # predicted with the spread measured so far
    cost_s: float       # expected wall time of the step


def predicted(groups: Sequence[Processes], index: int, added: int) -> float:
    """The minimum detectable change of groups[index] with `added` more processes."""
    return like_run_changes(groups, [added if i == index else 0 for i in range(len(groups))])[index]


def fewest_reaching(groups: Sequence[Processes], index: int, most: int, target: float) -> tuple[int, float]:
    """(processes to add, predicted mdc): the fewest in 1..most that reach `target`, else `most`.
    The mdc falls as processes are added (standard error and quantiles both shrink): a bisection."""
    lo, hi = 1, most
    if predicted(groups, index, most) > target:
        return most, predicted(groups, index, most)
    while lo < hi:
        mid = (lo + hi) // 2
        if predicted(groups, index, mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo, predicted(groups, index, lo)


def next_step(groups: Sequence[Processes], headline: Sequence[int], process_s: Mapping[int, float],
              remaining_s: float, start_s: float, target: float = TARGET_MDC,
              max_processes: int = MAX_DETECT_PROCESSES) -> Step | None:
    """The step with the most change per second among the headline benchmarks (indices into
    `groups`) whose mdc is above `target`, within `remaining_s`; `process_s[i]`: one more
    process of benchmark i, `start_s`: a step's fixed cost (the pyperf manager's start). None: no
    headline benchmark is above the target, or none can get a process in the time left."""
    now = like_run_changes(groups)
    best: tuple[float, Step] | None = None
    for i in dict.fromkeys(headline):
        k = len(process_medians(groups[i]))
        per = max(process_s[i], 1e-3)
        room = min(max_processes - k, int((remaining_s - start_s) // per))
        if not now[i] > target or room < 1:
            continue
        add, after = fewest_reaching(groups, i, room, target)
        gain = now[i] - max(after, target)
        cost = start_s + add * per
        if gain > 0 and (best is None or gain / cost > best[0]):
            best = (gain / cost, Step(i, add, now[i], after, cost))
    return best[1] if best else None
