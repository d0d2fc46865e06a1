"""The regression rule: moderated t on per-process medians, Benjamini-Hochberg, a CI beyond a minimum change.

The unit is the pyperf worker process, not the value. Values within one process are correlated:
a process keeps its memory layout, hash seed and caches, so its values sit around a level of
their own (two quick runs of the same code had one process of a 120 us parse at 120 us
throughout and the next at 160 us). Treating the values as independent makes every such process
effect "significant"; the A/A check of the value-level rule (Mann-Whitney U on values, HL ratio
CI) flagged 10 of 178 benchmarks (5.6%). So each process is reduced to the median of its log
times, and the two runs' process medians are compared with a two-sample t. A quick run has 5
processes a side, too few for a plain t to find 20% among hundreds of tests; the benchmarks share
much of their process spread, so each one's variance is shrunk towards a prior fitted to all of
them (Smyth 2004, "limma"'s moderated t: the prior's weight d0 is estimated from how much the
variances differ; very different variances give d0 near 0, i.e. the plain t). The ratio B/A is
exp(mean difference), its CI the t interval with the moderated variance and d0 + d degrees.

Between-run drift (machine load changing between the runs) shifts a run's processes together,
so the processes alone can't tell it from a change. Its size is read off all benchmarks at once:
every t statistic is widened by the robust spread (MAD) of all of them (Efron's empirical null,
at least 1; measured 2.5 between two loaded quick runs), and a uniform drift is what the minimum
relevant change bounds. Decision per benchmark, one of four a reader can act on:
- regression: the BH-adjusted p < alpha AND the whole CI of the ratio lies above 1 + min_change;
- improvement: p_adj < alpha AND the whole CI lies below 1/(1+min_change);
- unchanged: the whole CI lies inside [1/(1+min_change), 1 + min_change] (an equivalence test:
  the run can tell that whatever changed, it is smaller than the minimum change);
- inconclusive: neither; the run cannot tell. Its minimum detectable change says how large a
  change would have had to be to be seen.
Fewer than 2 processes on a side (older in-process quick runs) leave the between-process spread
unknown: "underpowered", reported, never dropped.

The minimum detectable change (MDC) of a benchmark is the smallest slowdown the comparison would
flag as a regression with 80% power, given its standard error (moderated, widened by the null
scale) and degrees of freedom, were it the only change among the m benchmarks tested (BH with a
single discovery is Bonferroni: p < alpha/m): log(1 + MDC) = max(log(1 + min_change) + q_ci se,
q_bh se) + q_power se. The quick mode's one cold value per process and 5 processes a side make it
large for benchmarks whose processes spread widely; more processes shrink it by about sqrt(n).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist, median
from typing import Sequence

from scipy.special import digamma, polygamma
from scipy.stats import mannwhitneyu
from scipy.stats import t as student_t

METHOD = ("moderated t-test (Smyth's empirical Bayes) on per-process medians of log time (the pyperf "
          "process is the unit) widened by the spread of all benchmarks' t statistics (Efron's empirical null), "
          "Benjamini-Hochberg FDR, flagged only if the 95% CI of the ratio lies beyond the minimum change; "
          "unchanged only if the CI lies inside it, else inconclusive; MDC: the smallest slowdown flagged "
          "with 80% power were it the only change")
VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "underpowered")
POWER = 0.8  # of the minimum detectable change
MIN_PROCESSES = 2  # per side: fewer leave the between-process variance unknown

Processes = Sequence[Sequence[float]]  # one list of values per pyperf process


@dataclass(frozen=True)
class Effect:
    ratio: float      # exp(mean of B's log process medians - mean of A's)
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Verdict:
    p: float
    p_adj: float
    effect: Effect
    processes: tuple[int, int]
    verdict: str
    mdc: float = math.inf   # minimum detectable change, a fraction (0.2: a 20% slowdown); inf: unknown


def process_medians(processes: Processes) -> list[float]:
    """log(median) of each process with at least one positive value."""
    out = []
    for values in processes:
        pos = [v for v in values if v > 0]
        if pos:
            out.append(math.log(median(pos)))
    return out


def trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (Newton's method as in Smyth 2004, which converges from 0.5 + 1/x)."""
    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


@dataclass(frozen=True)
class Prior:
    """The spread of process medians shared by the benchmarks compared (Smyth's empirical Bayes):
    each benchmark's variance is shrunk towards s2 with the weight of df prior observations."""
    df: float   # 0: no sharing (plain t); inf: one common variance
    s2: float


def fit_prior(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> Prior:
    """Smyth (2004) moment estimates of the prior from the benchmarks' pooled variances."""
    e, d = [], []
    for la, lb in pairs:
        dg = len(la) + len(lb) - 2
        if min(len(la), len(lb)) < MIN_PROCESSES:
            continue
        s2 = (_ss(la) + _ss(lb)) / dg
        if s2 > 0:
            e.append(math.log(s2) - float(digamma(dg / 2)) + math.log(dg / 2))
            d.append(dg)
    if len(e) < 3:
        return Prior(0.0, 0.0)
    mean_e = sum(e) / len(e)
    target = sum((x - mean_e) ** 2 for x in e) / (len(e) - 1) - sum(float(polygamma(1, g / 2)) for g in d) / len(d)
    if target <= 0:
        return Prior(math.inf, math.exp(mean_e))
    d0 = 2 * trigamma_inverse(target)
    return Prior(d0, math.exp(mean_e + float(digamma(d0 / 2)) - math.log(d0 / 2)))


def null_scale(meds: Sequence[tuple[Sequence[float], Sequence[float]]], prior: Prior) -> float:
    """How much wider than the within-run t statistics say the A/A spread really is: the
    empirical null of Efron (2004), the robust sd (MAD) of all benchmarks' t statistics (load that
    changes between runs moves a benchmark's level beyond what its processes show, in proportion
    to its spread). Most benchmarks are unchanged, so a few real changes barely move the MAD.
    At least 1: a null narrower than the theoretical one is not trusted."""
    z = []
    for la, lb in meds:
        if min(len(la), len(lb)) >= MIN_PROCESSES:
            se2 = _se2(la, lb, prior)
            if se2 > 0:
                z.append((_mean(lb) - _mean(la)) / math.sqrt(se2))
    if len(z) < 20:
        return 1.0
    c = median(z)
    return max(1.0, 1.4826 * median(abs(x - c) for x in z))


def _se2(la: Sequence[float], lb: Sequence[float], prior: Prior) -> float:
    dg = len(la) + len(lb) - 2
    s2 = (_ss(la) + _ss(lb)) / dg
    if math.isinf(prior.df):
        s2 = prior.s2
    elif prior.df > 0:
        s2 = (prior.df * prior.s2 + dg * s2) / (prior.df + dg)
    return s2 * (1 / len(la) + 1 / len(lb))


def standard_error(la: Sequence[float], lb: Sequence[float], prior: Prior = Prior(0.0, 0.0),
                   scale: float = 1.0) -> tuple[float, float]:
    """(se, df) of mean(lb) - mean(la): the pooled variance shrunk towards the prior (its df added),
    widened by `scale` (null_scale). Needs MIN_PROCESSES a side."""
    dg = len(la) + len(lb) - 2
    s2 = (_ss(la) + _ss(lb)) / dg
    if math.isinf(prior.df):
        s2, df = prior.s2, math.inf
    elif prior.df > 0:
        s2, df = (prior.df * prior.s2 + dg * s2) / (prior.df + dg), prior.df + dg
    else:
        df = dg
    return math.sqrt(s2 * (1 / len(la) + 1 / len(lb))) * scale, df


def _quantile(prob: float, df: float) -> float:
    return NormalDist().inv_cdf(prob) if math.isinf(df) else float(student_t.ppf(prob, df))


def moderated_t(la: Sequence[float], lb: Sequence[float], prior: Prior = Prior(0.0, 0.0),
                confidence: float = 0.95, scale: float = 1.0) -> tuple[float, Effect]:
    """Two-sided moderated t p-value (pooled variance shrunk towards the prior) and the CI of
    exp(mean(lb) - mean(la)); the standard error is widened by `scale` (null_scale). With
    Prior(0, 0) and scale 1 this is Student's two-sample t."""
    nan = Effect(math.nan, math.nan, math.nan)
    if not la or not lb:
        return 1.0, nan
    d = _mean(lb) - _mean(la)
    if min(len(la), len(lb)) < MIN_PROCESSES:
        return 1.0, Effect(math.exp(d), math.nan, math.nan)
    se, df = standard_error(la, lb, prior, scale)
    if se == 0:  # every process identical on both sides: exact, no interval
        return (1.0 if d == 0 else 0.0), Effect(math.exp(d), math.exp(d), math.exp(d))
    p = 2 * (1 - NormalDist().cdf(abs(d) / se)) if math.isinf(df) else 2 * float(student_t.sf(abs(d) / se, df))
    q = _quantile(1 - (1 - confidence) / 2, df)
    return p, Effect(math.exp(d), math.exp(d - q * se), math.exp(d + q * se))


def minimum_detectable_change(se: float, df: float, tests: int, alpha: float = 0.05,
                              min_change: float = 0.05, confidence: float = 0.95,
                              power: float = POWER) -> float:
    """The smallest slowdown (a fraction) flagged as a regression with `power`, for a comparison
    with this standard error of the log ratio and df, were it the only change among `tests`
    (BH then asks p < alpha/tests) and the CI must clear 1 + min_change."""
    if not se > 0 or math.isnan(se):
        return min_change if se == 0 else math.inf
    need = max(math.log1p(min_change) + _quantile(1 - (1 - confidence) / 2, df) * se,
               _quantile(1 - alpha / (2 * max(tests, 1)), df) * se)
    return math.expm1(need + _quantile(power, df) * se)


def _mean(x: Sequence[float]) -> float:
    return sum(x) / len(x)


def _ss(x: Sequence[float]) -> float:
    m = _mean(x)
    return sum((v - m) ** 2 for v in x)


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


def decide(samples: Sequence[tuple[Processes, Processes]], alpha: float = 0.05,
           min_change: float = 0.05, confidence: float = 0.95) -> list[Verdict]:
    """One Verdict (with its minimum detectable change) per (A processes, B processes) pair, with
    BH over all of them."""
    meds = [(process_medians(a), process_medians(b)) for a, b in samples]
    prior = fit_prior(meds)
    scale = null_scale(meds, prior)
    tests = [moderated_t(la, lb, prior, confidence, scale) for la, lb in meds]
    adj = bh_adjust([p for p, _ in tests])
    up, down = 1 + min_change, 1 / (1 + min_change)
    out = []
    for (la, lb), (p, eff), pa in zip(meds, tests, adj):
        k = (len(la), len(lb))
        mdc = math.inf
        if min(k) < MIN_PROCESSES:
            v = "underpowered"
        else:
            mdc = minimum_detectable_change(*standard_error(la, lb, prior, scale), len(meds), alpha,
                                            min_change, confidence)
            if pa < alpha and eff.ci_low > up:
                v = "regression"
            elif pa < alpha and eff.ci_high < down:
                v = "improvement"
            elif down <= eff.ci_low and eff.ci_high <= up:
                v = "unchanged"
            else:
                v = "inconclusive"
        out.append(Verdict(p, pa, eff, k, v, mdc))
    return out


def rank_test_p(a: Processes, b: Processes) -> float:
    """Mann-Whitney U (two-sided, exact for small samples) on the per-process medians: a
    distribution-free second opinion shown beside the moderated t, never the decision (with 5
    processes a side its smallest p is 0.008, too coarse to survive BH across hundreds of tests)."""
    ma, mb = process_medians(a), process_medians(b)
    if min(len(ma), len(mb)) < MIN_PROCESSES:
        return math.nan
    return float(mannwhitneyu(ma, mb, alternative="two-sided").pvalue)


def run_shift(verdicts: Sequence[Verdict]) -> float:
    """Median ratio over all tested benchmarks: the drift between the runs (context, not a test)."""
    r = sorted(v.effect.ratio for v in verdicts if not math.isnan(v.effect.ratio))
    return median(r) if r else math.nan


# -- paired comparisons (replay fidelity) ----------------------------------------------------
FIDELITY_TOLERANCE = 0.05  # a replay within 5% of its real binary counts as faithful


def paired_ratio(reference: Sequence[float], candidate: Sequence[float], confidence: float = 0.95) -> Effect:
    """Ratio candidate / reference of pairs measured side by side (a real probe and a replay's,
    alternated in the same worker process or round), with Student's t interval on the mean
    log difference of the pairs: the pairing removes what the two share (the machine's load at
    that moment). Fewer than 2 pairs: the ratio without an interval."""
    if len(reference) != len(candidate):
        raise ValueError(f"paired_ratio needs pairs: {len(reference)} reference, {len(candidate)} candidate values")
    d = [math.log(c) - math.log(r) for r, c in zip(reference, candidate) if r > 0 and c > 0]
    if not d:
        return Effect(math.nan, math.nan, math.nan)
    m = _mean(d)
    if len(d) < 2:
        return Effect(math.exp(m), math.nan, math.nan)
    se = math.sqrt(_ss(d) / (len(d) - 1) / len(d))
    q = float(student_t.ppf(1 - (1 - confidence) / 2, len(d) - 1))
    return Effect(math.exp(m), math.exp(m - q * se), math.exp(m + q * se))


def fidelity_verdict(effect: Effect, tolerance: float = FIDELITY_TOLERANCE) -> str:
    """'faithful' when the whole CI of replay / real lies within the tolerance, 'differs' when it
    lies wholly outside, 'inconclusive' otherwise (the pairs cannot tell). A cause for a
    difference is not this function's to name: only evidence independent of the replay's own
    numbers can (otherwise it is 'unexplained')."""
    lo, hi = effect.ci_low, effect.ci_high
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    if 1 / (1 + tolerance) <= lo and hi <= 1 + tolerance:
        return "faithful"
    if lo > 1 + tolerance or hi < 1 / (1 + tolerance):
        return "differs"
    return "inconclusive"
