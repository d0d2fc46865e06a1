"""stats: the regression rule on synthetic samples (A/A false alarms, an injected 20% found)."""
from __future__ import annotations

import math
import random

import pytest

from workbench import stats


def noisy(rng: random.Random, n: int, scale: float = 1.0) -> list[float]:
    # timing-like noise: lognormal around 1 s with a few percent spread and an occasional outlier
    return [scale * rng.lognormvariate(0, 0.03) * (1.3 if rng.random() < 0.05 else 1.0) for _ in range(n)]


def test_min_p_is_complete_separation():
    assert stats.min_p(4, 4) == pytest.approx(2 / 70)
    assert stats.min_p(20, 20) < 1e-10
    assert stats.min_p(0, 3) == 1.0


def test_mwu_matches_scipy_and_handles_ties():
    assert stats.mwu_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert stats.mwu_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / math.comb(10, 5))
    # exact beyond 8 values too: complete separation reaches min_p
    assert stats.mwu_p(list(range(10)), list(range(10, 20))) == pytest.approx(stats.min_p(10, 10))


def test_bh_matches_the_textbook_example():
    # Benjamini & Hochberg step-up: p * m / rank, made monotone from the top
    ps = [0.01, 0.04, 0.03, 0.005]
    assert stats.bh_adjust(ps) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.bh_adjust([0.9, 0.99]) == pytest.approx([0.99, 0.99])
    assert stats.bh_adjust([]) == []


def test_hodges_lehmann_ratio_and_ci_cover_a_known_scale():
    rng = random.Random(1)
    a = noisy(rng, 30)
    b = [x * 1.2 for x in noisy(rng, 30)]
    eff = stats.hodges_lehmann_ratio(a, b)
    assert 1.15 < eff.ratio < 1.25
    assert eff.ci_low < 1.2 < eff.ci_high
    assert eff.ci_low > 1.05  # narrow enough to clear a 5% minimum change
    same = stats.hodges_lehmann_ratio([1.0, 2.0], [1.0, 2.0])
    assert same.ratio == 1.0 and same.ci_low == 0.5 and same.ci_high == 2.0  # few values: full range


def test_a_a_flags_at_most_one_percent_and_a_twenty_percent_slowdown_is_found():
    rng = random.Random(42)
    pairs = [(noisy(rng, 20), noisy(rng, 20)) for _ in range(500)]
    verdicts = stats.decide(pairs)
    flagged = sum(v.verdict in ("regression", "improvement") for v in verdicts)
    assert flagged <= 5  # 1% of 500
    pairs[7] = (pairs[7][0], [x * 1.2 for x in pairs[7][1]])
    verdicts = stats.decide(pairs)
    assert verdicts[7].verdict == "regression"
    assert [i for i, v in enumerate(verdicts) if v.verdict == "regression"] == [7]


def test_an_improvement_is_named_as_such():
    rng = random.Random(3)
    v = stats.decide([(noisy(rng, 15), noisy(rng, 15, 0.7))])[0]
    assert v.verdict == "improvement" and v.effect.ci_high < 1 / 1.05


def test_a_significant_but_small_change_is_unchanged():
    # 2% slower with almost no noise: p is tiny but the CI is inside the 5% minimum change
    a = [1.0 + i * 1e-4 for i in range(20)]
    b = [x * 1.02 for x in a]
    v = stats.decide([(a, b)])[0]
    assert v.p_adj < 0.05 and v.verdict == "unchanged"
    assert stats.decide([(a, b)], min_change=0.01)[0].verdict == "regression"


def test_too_few_values_is_underpowered_not_dropped():
    # 4 vs 4 values: smallest p 0.029; one real change among 10 tests ranks first, where BH
    # needs p <= 0.005: it can't be reached, and the benchmark says so instead of "unchanged"
    rng = random.Random(5)
    pairs = [(noisy(rng, 4), noisy(rng, 4)) for _ in range(9)] + [(noisy(rng, 4), noisy(rng, 4, 2.0))]
    verdicts = stats.decide(pairs)
    assert len(verdicts) == 10 and {v.verdict for v in verdicts} == {"underpowered"}
    assert verdicts[9].min_p == pytest.approx(2 / 70) and verdicts[9].p_adj > 0.05
    assert stats.decide(pairs[9:])[0].verdict == "regression"  # alone it can
    enough = [(noisy(rng, 12), noisy(rng, 12)) for _ in range(10)]
    assert "underpowered" not in {v.verdict for v in stats.decide(enough)}
