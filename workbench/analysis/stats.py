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
`detectable_changes` computes it for a comparison; `like_run_changes` asks it for one run against
a run like it (the main job plans its processes with it, and prints it): the same processes and
spreads, the prior fitted from the run's own variances, every benchmark of the run a test.
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


@dataclass(frozen=True)
class Spread:
    """What one benchmark's comparison rests on: the variance of its log process medians (pooled
    over both runs in a comparison), that variance's degrees of freedom, and the processes a side."""
    s2: float
    df: int
    processes: tuple[int, int]

    @property
    def testable(self) -> bool:
        return min(self.processes) >= MIN_PROCESSES


def pair_spread(la: Sequence[float], lb: Sequence[float]) -> Spread:
    """The pooled spread of two runs' log process medians of one benchmark (compare's)."""
    dg = len(la) + len(lb) - 2
    return Spread((_ss(la) + _ss(lb)) / dg if dg > 0 and la and lb else math.nan, dg, (len(la), len(lb)))


def fit_prior(spreads: Sequence[Spread]) -> Prior:
    """Smyth (2004) moment estimates of the prior from the benchmarks' variances (each with its
    own degrees of freedom: a pooled pair's, or one run's own)."""
    e, d = [], []
    for sp in spreads:
        if sp.testable and sp.df > 0 and sp.s2 > 0:
            e.append(math.log(sp.s2) - float(digamma(sp.df / 2)) + math.log(sp.df / 2))
            d.append(sp.df)
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
            se, _ = standard_error(pair_spread(la, lb), prior)
            if se > 0:
                z.append((_mean(lb) - _mean(la)) / se)
    if len(z) < 20:
        return 1.0
    c = median(z)
    return max(1.0, 1.4826 * median(abs(x - c) for x in z))


def standard_error(spread: Spread, prior: Prior = Prior(0.0, 0.0), scale: float = 1.0) -> tuple[float, float]:
    """(se, df) of the difference of the two sides' mean log process medians: the variance shrunk
    towards the prior (its df added), widened by `scale` (null_scale). Needs MIN_PROCESSES a side."""
    s2, dg = spread.s2, spread.df
    if math.isinf(prior.df):
        s2, df = prior.s2, math.inf
    elif prior.df > 0:
        s2, df = (prior.df * prior.s2 + dg * s2) / (prior.df + dg), prior.df + dg
    else:
        df = dg
    na, nb = spread.processes
    return math.sqrt(s2 * (1 / na + 1 / nb)) * scale, df


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
    se, df = standard_error(pair_spread(la, lb), prior, scale)
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


def detectable_changes(spreads: Sequence[Spread], prior: Prior, scale: float = 1.0, alpha: float = 0.05,
                       min_change: float = 0.05, confidence: float = 0.95) -> list[float]:
    """The minimum detectable change of every benchmark of one comparison: its spread shrunk
    towards `prior`, widened by `scale`, with as many tests as `spreads` has entries (inf where a
    side has fewer than MIN_PROCESSES). compare (decide) and the main job's plan
    (like_run_changes) both ask this function, so their test count and prior are the same."""
    return [minimum_detectable_change(*standard_error(sp, prior, scale), len(spreads), alpha, min_change,
                                      confidence) if sp.testable else math.inf for sp in spreads]


def decide(samples: Sequence[tuple[Processes, Processes]], alpha: float = 0.05,
           min_change: float = 0.05, confidence: float = 0.95) -> list[Verdict]:
    """One Verdict (with its minimum detectable change) per (A processes, B processes) pair, with
    BH over all of them."""
    meds = [(process_medians(a), process_medians(b)) for a, b in samples]
    spreads = [pair_spread(la, lb) for la, lb in meds]
    prior = fit_prior(spreads)
    scale = null_scale(meds, prior)
    tests = [moderated_t(la, lb, prior, confidence, scale) for la, lb in meds]
    adj = bh_adjust([p for p, _ in tests])
    mdcs = detectable_changes(spreads, prior, scale, alpha, min_change, confidence)
    up, down = 1 + min_change, 1 / (1 + min_change)
    out = []
    for sp, (p, eff), pa, mdc in zip(spreads, tests, adj, mdcs):
        if not sp.testable:
            v = "underpowered"
        elif pa < alpha and eff.ci_low > up:
            v = "regression"
        elif pa < alpha and eff.ci_high < down:
            v = "improvement"
        elif down <= eff.ci_low and eff.ci_high <= up:
            v = "unchanged"
        else:
            v = "inconclusive"
        out.append(Verdict(p, pa, eff, sp.processes, v, mdc))
    return out


def like_run_changes(groups: Sequence[Processes], added: Sequence[int] | None = None, alpha: float = 0.05,
                     min_change: float = 0.05, confidence: float = 0.95) -> list[float]:
    """The minimum detectable change compare would give each benchmark of one run against a run
    like it: the same processes a side (plus `added[i]` for benchmark i, its spread kept: what
    more processes would buy) and the same spreads. The prior is fitted from this run's own
    variances with their own degrees of freedom (k - 1), which estimates the prior compare fits
    from two such runs' pooled ones; the test count is every benchmark of the run. No drift
    between the runs is assumed (null scale 1: compare widens by the empirical null only with 20
    or more benchmarks; a loaded machine's drift makes the real comparison wider)."""
    meds = [process_medians(g) for g in groups]
    own = [Spread(_ss(m) / (len(m) - 1) if len(m) > 1 else math.nan, len(m) - 1, (len(m), len(m))) for m in meds]
    prior = fit_prior(own)
    added = list(added) if added is not None else [0] * len(meds)
    like = [Spread(sp.s2, 2 * (k + more) - 2, (k + more, k + more))
            for sp, more, k in zip(own, added, (len(m) for m in meds))]
    return detectable_changes(like, prior, 1.0, alpha, min_change, confidence)


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
