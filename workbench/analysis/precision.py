"""How precisely a run knows a benchmark, and a ratio of two, across worker processes.

Values within one pyperf worker process are correlated (workbench.stats), so the unit is the
process: each process is reduced to the median of its values, and the spread between processes
is what a 95% confidence interval is made of. Times are compared on a log scale (a ratio is a
difference of logs): a benchmark's interval is the t interval of the mean log process median,
a ratio's the Welch interval of the difference of two such means. Both are returned as factors
(geometric mean, low, high), so "29x (95% CI 27-31x)" reads directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd
from scipy import stats as sps

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float     # geometric mean of the process medians (or their ratio)
    low: float
    high: float
    processes: int      # per side: the smaller side for a ratio

    @property
    def half_width(self) -> float:
        """Relative half-width: (high / low) ** 0.5 - 1; inf when unknown."""
        if not (self.low > 0 and math.isfinite(self.high)):
            return math.inf
        return math.sqrt(self.high / self.low) - 1


def process_medians(values: pd.DataFrame) -> list[float]:
    """One median per worker process (`run_index` of the tidy table) of `time_s`."""
    return [float(v) for v in values.groupby("run_index")["time_s"].median() if v > 0]


def _logs(xs: Sequence[float]) -> list[float]:
    return [math.log(x) for x in xs if x > 0]


def mean_interval(medians: Sequence[float], level: float = LEVEL) -> Interval:
    logs = _logs(medians)
    k = len(logs)
    if k == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    m = sum(logs) / k
    if k < 2:
        return Interval(math.exp(m), 0.0, math.inf, k)
    sd = math.sqrt(sum((x - m) ** 2 for x in logs) / (k - 1))
    h = sps.t.ppf(0.5 + level / 2, k - 1) * sd / math.sqrt(k)
    return Interval(math.exp(m), math.exp(m - h), math.exp(m + h), k)


def ratio_interval(numerator: Sequence[float], denominator: Sequence[float],
                   level: float = LEVEL) -> Interval:
    """numerator / denominator of the geometric means, with Welch's interval on the logs."""
    a, b = _logs(numerator), _logs(denominator)
    if not a or not b:
        return Interval(math.nan, math.nan, math.nan, 0)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    est = math.exp(ma - mb)
    if len(a) < 2 or len(b) < 2:
        return Interval(est, 0.0, math.inf, min(len(a), len(b)))
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(est, est, est, min(len(a), len(b)))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    h = sps.t.ppf(0.5 + level / 2, df) * se
    return Interval(est, math.exp(ma - mb - h), math.exp(ma - mb + h), min(len(a), len(b)))
