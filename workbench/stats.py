"""The regression rule: Mann-Whitney U, a Hodges-Lehmann ratio with its CI, Benjamini-Hochberg.

Effect size: the Hodges-Lehmann estimate of the shift of log(time), i.e. the median of all
pairwise log(b_j / a_i), reported as a ratio b/a, with the distribution-free (Moses) confidence
interval taken from the order statistics of those pairwise ratios. Chosen over a bootstrap CI of
the ratio of medians because it is exact-rank based like the test itself (same assumptions, no
resampling randomness, no seed), works with the few values a cold start gives, and on the log
scale a slowdown is a ratio, which is how timings are read.

Decision per benchmark: a regression only if the BH-adjusted p < alpha AND the whole CI of the
ratio lies above 1 + min_change (an improvement: p_adj < alpha AND the CI below 1/(1+min_change)).
A benchmark whose smallest achievable p (all of b above all of a) cannot pass the BH level it
would need even as the most significant test is "underpowered": reported, never dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist, median
from typing import Sequence

from scipy.stats import mannwhitneyu

METHOD = "two-sided Mann-Whitney U, Benjamini-Hochberg FDR, Hodges-Lehmann ratio with Moses CI"
VERDICTS = ("regression", "improvement", "unchanged", "underpowered")


@dataclass(frozen=True)
class Effect:
    ratio: float      # Hodges-Lehmann estimate of b/a
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Verdict:
    p: float
    p_adj: float
    effect: Effect
    min_p: float
    verdict: str


def mwu_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when there is nothing to tell apart."""
    if len(a) < 1 or len(b) < 1 or len(set(a) | set(b)) == 1:
        return 1.0
    # exact whenever there are no ties: scipy's "auto" goes asymptotic from 8 values a side, which
    # cannot give min_p (10 vs 10 separated: 1.8e-4 instead of 1.1e-5)
    exact = len(set(a) | set(b)) == len(a) + len(b)
    p = float(mannwhitneyu(a, b, alternative="two-sided", method="exact" if exact else "asymptotic").pvalue)
    return 1.0 if math.isnan(p) else p


def min_p(n_a: int, n_b: int) -> float:
    """Smallest two-sided exact p Mann-Whitney U can give with these sizes: complete separation."""
    if n_a < 1 or n_b < 1:
        return 1.0
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def hodges_lehmann_ratio(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Effect:
    """HL ratio b/a and its Moses CI: order statistics k and mn+1-k of all pairwise b_j/a_i."""
    la = [math.log(x) for x in a if x > 0]
    lb = [math.log(x) for x in b if x > 0]
    if not la or not lb:
        return Effect(math.nan, math.nan, math.nan)
    d = sorted(y - x for x in la for y in lb)
    m, n = len(la), len(lb)
    mn = m * n
    # Normal approximation of the U distribution for the rank k (exact tables are not needed for
    # a CI bound; with very few values k < 1 and the CI is the whole range of pairwise ratios).
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    k = math.floor(mn / 2 - z * math.sqrt(mn * (m + n + 1) / 12))
    k = max(k, 1)
    lo, hi = d[k - 1], d[mn - k]
    return Effect(math.exp(median(d)), math.exp(lo), math.exp(hi))


def bh_adjust(ps: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1), input order kept."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, ps[i] * m / rank)
        adj[i] = min(running, 1.0)
    return adj


def decide(samples: Sequence[tuple[Sequence[float], Sequence[float]]], alpha: float = 0.05,
           min_change: float = 0.05, confidence: float = 0.95) -> list[Verdict]:
    """One Verdict per (a, b) pair, with BH over all of them."""
    ps = [mwu_p(a, b) for a, b in samples]
    adj = bh_adjust(ps)
    m = len(samples)
    up, down = 1 + min_change, 1 / (1 + min_change)
    out = []
    for (a, b), p, pa in zip(samples, ps, adj):
        eff = hodges_lehmann_ratio(a, b, confidence)
        mp = min_p(len(a), len(b))
        if pa < alpha and eff.ci_low > up:
            v = "regression"
        elif pa < alpha and eff.ci_high < down:
            v = "improvement"
        elif mp > alpha / m:
            # a lone change ranks first and BH needs p <= alpha/m there: these sizes can't get it
            v = "underpowered"
        else:
            v = "unchanged"
        out.append(Verdict(p, pa, eff, mp, v))
    return out
