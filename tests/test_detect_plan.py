"""The main job's detectable-change phase: compare's mdc for a run against a run like it, and
the choice of where the next processes go."""
from __future__ import annotations

import math
import random

import pytest

from workbench.analysis import stats
from workbench.bench import detect_plan


def run(rng: random.Random, k: int, sd: float, level: float = 1.0) -> list[list[float]]:
    """k worker processes of one cold value each, log-normal around `level`."""
    return [[level * math.exp(rng.gauss(0, sd))] for _ in range(k)]


def test_like_run_mdc_is_compares_own_where_the_prior_is_the_same():
    """Two benchmarks (too few to fit a prior: plain t on both paths) compared with an identical
    run: compare's mdc and the plan's are one computation, test count included."""
    rng = random.Random(3)
    groups = [run(rng, 4, 0.02), run(rng, 6, 0.3)]
    mine = stats.like_run_changes(groups)
    compared = [v.mdc for v in stats.decide([(g, g) for g in groups])]
    assert mine == pytest.approx(compared, rel=1e-12)
    # where the false discovery rate decides (a wide spread), one test fewer is a smaller mdc
    assert stats.like_run_changes(groups[1:])[0] < mine[1]


def test_like_run_mdc_fits_the_prior_as_compare_does_from_two_such_runs():
    """Many benchmarks with a shared spread: the prior fitted from one run's own variances (k - 1
    degrees of freedom) and the one compare fits from two like runs estimate the same thing, so
    the two mdcs agree closely on average."""
    rng = random.Random(4)
    a = [run(rng, 5, 0.03) for _ in range(200)]
    b = [run(rng, 5, 0.03) for _ in range(200)]
    mine = stats.like_run_changes(a)
    theirs = [v.mdc for v in stats.decide(list(zip(a, b)))]
    assert abs(sum(mine) / len(mine) / (sum(theirs) / len(theirs)) - 1) < 0.1


def test_more_processes_shrink_the_mdc_and_one_process_has_none():
    rng = random.Random(5)
    groups = [run(rng, 3, 0.03) for _ in range(5)] + [run(rng, 1, 0.03)]
    now = stats.like_run_changes(groups)
    more = stats.like_run_changes(groups, [4] * 6)
    assert all(m < n for m, n in zip(more[:5], now[:5])) and now[5] == math.inf


def test_the_next_step_goes_where_a_second_buys_the_most_change():
    """Two headline benchmarks with the same spread, one cheap and one dear: the cheap one first;
    the fewest processes that reach the target; none beyond the time left."""
    rng = random.Random(6)
    groups = [run(rng, 3, 0.04) for _ in range(6)]
    now = stats.like_run_changes(groups)
    step = detect_plan.next_step(groups, [0, 1], {0: 10.0, 1: 0.5}, 1000.0, 0.5, target=0.10)
    assert step.index == 1 and step.mdc_now == now[1] and step.mdc_after <= 0.10
    if step.processes > 1:  # one fewer would not reach it
        assert detect_plan.predicted(groups, 1, step.processes - 1) > 0.10
    assert step.cost_s == pytest.approx(0.5 + 0.5 * step.processes)
    tight = detect_plan.next_step(groups, [0], {0: 10.0}, 25.0, 0.5, target=0.10)
    assert tight is None or tight.processes <= 2  # 2 x 10 s fit in 25 s, 3 do not
    assert detect_plan.next_step(groups, [0, 1], {0: 1.0, 1: 1.0}, 1000.0, 0.5, target=10.0) is None
    assert detect_plan.next_step(groups, [0], {0: 1.0}, 1000.0, 0.5, target=0.10, max_processes=3) is None
