"""stats: the regression rule on synthetic samples (A/A false alarms, an injected 20% found)."""
from __future__ import annotations

import math
import random

import pytest

from workbench.analysis import stats


def noisy(rng: random.Random, n: int, scale: float = 1.0, sd: float = 0.02) -> list[float]:
    # timing-like noise: lognormal around 1 s with a few percent spread and an occasional outlier
    return [scale * rng.lognormvariate(0, sd) * (1.3 if rng.random() < 0.05 else 1.0) for _ in range(n)]


def run(rng: random.Random, procs: int = 5, values: int = 4, scale: float = 1.0,
        proc_sd: float = 0.03) -> list[list[float]]:
    """One run's processes: each process has a level of its own (lognormal, proc_sd), its values
    scatter around it (noisy): the within-process correlation seen on real runs."""
    return [noisy(rng, values, scale * rng.lognormvariate(0, proc_sd)) for _ in range(procs)]


def aa_pairs(rng: random.Random, k: int = 500, drift_sd: float = 0.02) -> list:
    # benchmarks differ in process spread (real quick runs: quartiles 2% to 9%); B is made later on
    # a machine whose load drifted: all of B's processes shifted together
    out = []
    for i in range(k):
        sd = (0.02, 0.03, 0.05, 0.08)[i % 4]
        out.append((run(rng, proc_sd=sd), run(rng, scale=rng.lognormvariate(0, drift_sd), proc_sd=sd)))
    return out


def test_bh_matches_the_textbook_example():
    # Benjamini & Hochberg step-up: p * m / rank, made monotone from the top
    ps = [0.01, 0.04, 0.03, 0.005]
    assert stats.bh_adjust(ps) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.bh_adjust([0.9, 0.99]) == pytest.approx([0.99, 0.99])
    assert stats.bh_adjust([]) == []


def test_t_ci_covers_a_known_ratio():
    rng = random.Random(1)
    la = stats.process_medians(run(rng, procs=8))
    lb = stats.process_medians(run(rng, procs=8, scale=1.2))
    p, eff = stats.moderated_t(la, lb)
    assert p < 0.01 and 1.1 < eff.ratio < 1.3 and eff.ci_low < 1.2 < eff.ci_high
    assert stats.moderated_t([0.0, 0.0], [0.0, 0.0])[0] == 1.0


def test_prior_is_fitted_from_shared_spread_and_vanishes_when_spreads_differ():
    rng = random.Random(2)
    same = [(stats.process_medians(run(rng)), stats.process_medians(run(rng))) for _ in range(300)]
    prior = stats.fit_prior(same)
    assert prior.df > 8 and 0.02 < math.sqrt(prior.s2) < 0.05
    mixed = [(stats.process_medians(run(rng, proc_sd=sd)), stats.process_medians(run(rng, proc_sd=sd)))
             for sd in (0.005, 0.5) * 150]
    assert stats.fit_prior(mixed).df < 5
    for y in (0.1, 1.0, 10.0):
        assert float(__import__("scipy.special").special.polygamma(1, stats.trigamma_inverse(y))) == pytest.approx(y)


def test_a_a_flags_at_most_one_percent_and_a_twenty_percent_slowdown_is_found():
    """The A/A check on synthetic runs like real ones: 5 processes a side with levels of their own
    (2% to 8% apart by benchmark), drift between the runs (2%), outliers; then one benchmark with
    a 2% process spread (as cold startups) made 20% slower. Power falls with the spread: at 8%,
    5 vs 5 processes can't find 20% among 500 tests (compare leaves it unchanged, not guessed)."""
    found = 0
    for seed in range(5):
        rng = random.Random(seed)
        pairs = aa_pairs(rng)
        verdicts = stats.decide(pairs)
        flagged = sum(v.verdict in ("regression", "improvement") for v in verdicts)
        assert flagged <= 5, seed  # 1% of 500
        pairs[4] = (pairs[4][0], [[x * 1.2 for x in p] for p in pairs[4][1]])  # 2% spread
        verdicts = stats.decide(pairs)
        found += verdicts[4].verdict == "regression"
        assert sum(v.verdict in ("regression", "improvement") for v in verdicts) <= 1 + 5, seed
    assert found >= 3  # power ~80% (8 of 10 seeds), not certainty: 5 processes a side


def test_the_a_a_check_fails_the_old_value_level_rule():
    # the rule of the in-process quick mode: one process a side, its values taken as independent
    # (plain t on them here): each process's own level looks like a change, as on the real runs
    # (5.6% flagged); the A/A check must catch that
    ps, effs = [], []
    for a, b in aa_pairs(random.Random(42)):
        p, eff = stats.moderated_t([math.log(x) for x in a[0]], [math.log(x) for x in b[0]])
        ps.append(p)
        effs.append(eff)
    flagged = sum(pa < 0.05 and (e.ci_low > 1.05 or e.ci_high < 1 / 1.05)
                  for pa, e in zip(stats.bh_adjust(ps), effs))
    assert flagged > 5


def test_an_improvement_is_named_as_such():
    rng = random.Random(3)
    v = stats.decide([(run(rng), run(rng, scale=0.7))])[0]
    assert v.verdict == "improvement" and v.effect.ci_high < 1 / 1.05


def test_a_significant_but_small_change_is_unchanged():
    # 2% slower with almost no noise: p is tiny but the CI is inside the 5% minimum change
    a = [[1.0 + i * 1e-3, 1.0 + i * 1e-3] for i in range(6)]
    b = [[x * 1.02 for x in p] for p in a]
    v = stats.decide([(a, b)])[0]
    assert v.p_adj < 0.05 and v.verdict == "unchanged"
    assert stats.decide([(a, b)], min_change=0.01)[0].verdict == "regression"


def test_one_process_a_side_is_underpowered_not_dropped():
    rng = random.Random(5)
    pairs = [(run(rng, procs=1, values=20), run(rng, procs=1, values=20, scale=2.0))] + \
            [(run(rng), run(rng)) for _ in range(3)]
    verdicts = stats.decide(pairs)
    assert len(verdicts) == 4 and verdicts[0].verdict == "underpowered"
    assert verdicts[0].processes == (1, 1) and verdicts[0].effect.ratio > 1.5
    assert "underpowered" not in {v.verdict for v in verdicts[1:]}
