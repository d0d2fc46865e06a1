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
    prior = stats.fit_prior([stats.pair_spread(a, b) for a, b in same])
    assert prior.df > 8 and 0.02 < math.sqrt(prior.s2) < 0.05
    mixed = [(stats.process_medians(run(rng, proc_sd=sd)), stats.process_medians(run(rng, proc_sd=sd)))
             for sd in (0.005, 0.5) * 150]
    assert stats.fit_prior([stats.pair_spread(a, b) for a, b in mixed]).df < 5
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


def quick_pairs(rng: random.Random, k: int = 400, drift_sd: float = 0.02) -> list:
    """A/A pairs as the quick mode takes them: 5 processes a side, one value per process for the
    cold-cache benchmarks (odd i), the median of 4 for the warm ones (even i)."""
    out = []
    for i in range(k):
        sd, values = (0.02, 0.03, 0.05, 0.08)[(i // 2) % 4], 1 if i % 2 else 4
        out.append((run(rng, values=values, proc_sd=sd),
                    run(rng, values=values, scale=rng.lognormvariate(0, drift_sd), proc_sd=sd)))
    return out


def slower(processes: list, factor: float) -> list:
    return [[x * factor for x in p] for p in processes]


def test_quick_mode_a_a_flags_at_most_one_percent_and_a_slowdown_is_never_unchanged():
    """With the values the quick mode really takes (1 cold value per process): the A/A pair flags
    at most 1%; a 20% slowdown injected into a cold benchmark is a regression where its processes
    agree (2%), and where they spread (8%) a regression or inconclusive with an mdc above 20%,
    never "unchanged"."""
    found = 0
    for seed in range(4):
        pairs = quick_pairs(random.Random(seed))
        verdicts = stats.decide(pairs)
        assert sum(v.verdict in ("regression", "improvement") for v in verdicts) <= 4, seed  # 1% of 400
        assert {v.verdict for v in verdicts} <= set(stats.VERDICTS) - {"underpowered"}
        tight, wide = 1, 7  # cold benchmarks with a 2% and an 8% process spread
        pairs[tight] = (pairs[tight][0], slower(pairs[tight][1], 1.2))
        pairs[wide] = (pairs[wide][0], slower(pairs[wide][1], 1.2))
        verdicts = stats.decide(pairs)
        found += verdicts[tight].verdict == "regression"
        for i in (tight, wide):
            v = verdicts[i]
            assert v.verdict != "unchanged", (seed, i)
            assert v.verdict == "regression" or (v.verdict == "inconclusive" and v.mdc > 0.2), (seed, i, v)
    # one value per process keeps the within-process noise and its outliers (5% at 1.3x here):
    # even 2% processes give an mdc near 20%, so 20% is found in about half the runs, not all
    assert found >= 2


def test_unchanged_needs_the_ci_inside_the_minimum_change():
    # wide processes, no change: the CI reaches beyond 5% on both sides, so the run can't say
    # "unchanged"; tight processes, no change: it can
    rng = random.Random(7)
    wide = stats.decide([(run(rng, values=1, proc_sd=0.15), run(rng, values=1, proc_sd=0.15))])[0]
    assert wide.verdict == "inconclusive" and wide.effect.ci_low < 1 / 1.05 and wide.effect.ci_high > 1.05
    a = [[1.0 + 0.002 * i] for i in range(5)]
    tight = stats.decide([(a, [[x * 1.01 for x in p] for p in a])])[0]  # 1% slower, processes 0.2% apart
    assert tight.verdict == "unchanged" and 1 / 1.05 <= tight.effect.ci_low <= tight.effect.ci_high <= 1.05


def test_minimum_detectable_change_grows_with_spread_and_tests_and_shrinks_with_processes():
    mdc = stats.minimum_detectable_change
    assert mdc(0.0, 8, 100) == 0.05 and mdc(math.nan, 8, 100) == math.inf
    assert mdc(0.01, 8, 100) < mdc(0.03, 8, 100) < mdc(0.03, 8, 1000)
    assert mdc(0.03 * math.sqrt(2 / 16), 30, 100) < mdc(0.03 * math.sqrt(2 / 5), 8, 100)
    # one test, large df: log(1 + mdc) = max(log 1.05 + 1.96 se, 1.96 se) + 0.84 se
    se = 0.05
    assert mdc(se, math.inf, 1) == pytest.approx(math.expm1(math.log(1.05) + (1.95996 + 0.84162) * se), rel=1e-4)


def test_a_change_of_the_minimum_detectable_size_is_found_about_as_often_as_promised():
    """Power check by simulation: one cold benchmark (5 processes a side, 1 value each) among
    100 A/A ones; slowed by its own reported mdc it is flagged in roughly 80% of the runs, and
    slowed by half the mdc far less often (fixed seeds: the counts are reproducible)."""
    def trial(seed: int, fraction: float) -> bool:
        rng = random.Random(seed)
        pairs = [(run(rng, values=1, proc_sd=0.03), run(rng, values=1, proc_sd=0.03)) for _ in range(100)]
        target = stats.decide(pairs)[0].mdc
        pairs[0] = (pairs[0][0], slower(pairs[0][1], 1 + fraction * target))
        return stats.decide(pairs)[0].verdict == "regression"

    full = sum(trial(s, 1.0) for s in range(25))
    half = sum(trial(s, 0.5) for s in range(25))
    assert 15 <= full and half < full - 6, (full, half)


def test_compare_help_quotes_what_the_modes_can_detect():
    """The table in `workbench compare --help` is recomputed: 700 tests, a prior worth 10
    processes, 5 processes a side in quick mode and 16 in rigorous."""
    import re

    from workbench.commands.bench import COMPARE_HELP

    for mode, n in (("quick", 5), ("rigorous", 16)):
        line = next(l for l in COMPARE_HELP.splitlines() if l.lstrip().startswith(f"{mode} ("))
        quoted = [int(x) for x in re.findall(r"(\d+)%", line.split(")", 1)[1])[:3]]
        assert quoted == [round(100 * stats.minimum_detectable_change(sd * math.sqrt(2 / n), 2 * n - 2 + 10, 700))
                          for sd in (0.02, 0.05, 0.10)], mode


def test_paired_ratio_removes_the_load_both_sides_share():
    # each pair measured under its own load (x1 to x3); the replay 10% slower in every pair:
    # pairing finds 1.10 with a tight CI, where the unpaired spread would hide it
    rng = random.Random(11)
    load = [rng.uniform(1, 3) for _ in range(8)]
    real = [0.1 * f * rng.lognormvariate(0, 0.01) for f in load]
    replay = [0.11 * f * rng.lognormvariate(0, 0.01) for f in load]
    eff = stats.paired_ratio(real, replay)
    assert eff.ci_low < 1.1 < eff.ci_high and eff.ci_high - eff.ci_low < 0.05
    assert stats.fidelity_verdict(eff) == "differs"
    same = stats.paired_ratio(real, [x * 1.01 for x in real])
    assert stats.fidelity_verdict(same) == "faithful"
    wide = stats.paired_ratio([1.0, 1.0, 1.0], [0.9, 1.2, 1.0])
    assert stats.fidelity_verdict(wide) == "inconclusive"
    assert stats.fidelity_verdict(stats.paired_ratio([1.0], [1.3])) == "inconclusive"  # one pair: no CI
    with pytest.raises(ValueError, match="pairs"):
        stats.paired_ratio([1.0, 2.0], [1.0])


def test_parallel_fidelity_rows_compare_speed_ups_side_by_side():
    from workbench.bench.fidelity_parallel import scaling_rows

    times = {(1, "real"): [4.0, 4.2, 4.1], (1, "simulated"): [4.0, 4.1, 4.2],
             (8, "real"): [2.2, 2.3, 2.2], (8, "simulated"): [1.7, 1.8, 1.75]}
    rows = scaling_rows(times)
    assert [r["workers"] for r in rows] == [1, 8]
    assert rows[0]["speedup_ratio"] == pytest.approx(1.0)
    r8 = rows[1]
    assert r8["speedup_real"] == pytest.approx(4.1 / 2.2) and r8["speedup_simulated"] == pytest.approx(4.1 / 1.75)
    assert r8["speedup_ratio"] > 1.2 and r8["verdict"] == "differs"  # replays overstating the speed-up show
