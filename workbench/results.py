"""pyperf JSON -> one tidy long table; comparisons between runs; the regression rule.

pyperf's JSON files are the record. Every benchmark our scripts write carries its parameters as
`wb_*` metadata, so a row is built from metadata alone (file names only matter for resuming).
A regression is flagged only when the ratio of medians passes a threshold AND a significance
test (Mann-Whitney U if scipy is installed, else an exact/sampled permutation test) agrees.
"""
from __future__ import annotations

import json
import math
import os
import random
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyperf

MACHINE_FILE = "machine.json"
RESULTS_CSV = "results.csv"
# Parameters that identify what was measured; `latency` is left out on purpose so that a run
# made with --latency 2 is compared with a recorded-latency one.
KEY = ["benchmark", "case", "phase", "strategy", "n_emulators", "cache", "emulators", "domains"]
COLUMNS = KEY + ["latency", "run_index", "value_index", "time_s", "source", "name", "file"]


@dataclass
class Row:
    benchmark: str
    case: str
    phase: str
    strategy: str | None
    n_emulators: int | None
    cache: str | None
    emulators: str
    domains: int | None
    latency: str | None
    run_index: int
    value_index: int
    time_s: float
    source: str
    name: str
    file: str


def suite_rows(path: Path) -> list[Row]:
    """One Row per value (warmups left out) of every benchmark in one pyperf JSON file."""
    suite = pyperf.BenchmarkSuite.load(str(path))
    rows = []
    for bench in suite.get_benchmarks():
        md = bench.get_metadata()
        unit = md.get("unit", "second")
        if unit != "second":
            continue  # only timings go into time_s
        n = md.get("wb_n_emulators")
        domains = md.get("wb_domains")
        value_index = 0
        for run_index, run in enumerate(bench.get_runs()):
            for v in run.values:  # calibration runs have no values
                rows.append(Row(
                    benchmark=md.get("wb_benchmark", bench.get_name()), case=md.get("wb_case", ""),
                    phase=md.get("wb_phase", "total"), strategy=md.get("wb_strategy"),
                    n_emulators=None if n is None else int(n), cache=md.get("wb_cache"),
                    emulators=md.get("wb_emulators", "simulated"),
                    domains=None if domains is None else int(domains),
                    latency=md.get("wb_latency"), run_index=run_index, value_index=value_index,
                    time_s=float(v), source="measured", name=bench.get_name(), file=Path(path).name))
                value_index += 1
    return rows


def result_files(run_dir: Path) -> list[Path]:
    return sorted(p for p in Path(run_dir).glob("*.json")
                  if p.name != MACHINE_FILE and not p.name.startswith("."))


def load_run(run_dir: Path) -> pd.DataFrame:
    """The tidy table of a run directory: one row per value of every pyperf JSON file in it."""
    rows = [asdict(r) for f in result_files(run_dir) for r in suite_rows(f)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("n_emulators", "domains"):
        df[col] = df[col].astype("Int64")
    return df


def write_results_csv(run_dir: Path) -> Path:
    """results.csv beside the JSON files, written atomically (derived: safe to delete)."""
    target = Path(run_dir) / RESULTS_CSV
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    load_run(run_dir).to_csv(tmp, index=False)
    os.replace(tmp, target)
    return target


def machine_info(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / MACHINE_FILE).read_text())
    except (OSError, ValueError):
        return {}


# -- significance ------------------------------------------------------------------------
def permutation_p(a: Sequence[float], b: Sequence[float], rounds: int = 5000, seed: int = 0) -> float:
    """Two-sided permutation test on the difference of means (exact when small)."""
    from itertools import combinations

    pooled = list(a) + list(b)
    observed = abs(statistics.fmean(b) - statistics.fmean(a))
    n = len(a)

    def stat(idx_a: set[int]) -> float:
        xa = [pooled[i] for i in idx_a]
        xb = [pooled[i] for i in range(len(pooled)) if i not in idx_a]
        return abs(statistics.fmean(xb) - statistics.fmean(xa))

    if math.comb(len(pooled), n) <= rounds:
        splits = [set(c) for c in combinations(range(len(pooled)), n)]
    else:
        rng = random.Random(seed)
        splits = [set(rng.sample(range(len(pooled)), n)) for _ in range(rounds)]
    hits = sum(stat(s) >= observed - 1e-15 for s in splits)
    return hits / len(splits)


def p_value(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if len(set(a) | set(b)) == 1:
        return 1.0  # all equal: nothing to tell apart
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return permutation_p(a, b)
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


# -- comparing two runs --------------------------------------------------------------------
def _frame(run: Path | pd.DataFrame) -> pd.DataFrame:
    return run if isinstance(run, pd.DataFrame) else load_run(Path(run))


def compare(run_a: Path | pd.DataFrame, run_b: Path | pd.DataFrame, threshold: float = 1.10,
            alpha: float = 0.05) -> pd.DataFrame:
    """Per benchmark (KEY) in both runs: medians, ratio b/a, p-value, significant, regression."""
    a, b = _frame(run_a), _frame(run_b)
    ga = {k: g["time_s"].tolist() for k, g in a.groupby(KEY, dropna=False, sort=True)}
    gb = {k: g["time_s"].tolist() for k, g in b.groupby(KEY, dropna=False, sort=True)}
    out = []
    for k in sorted(set(ga) & set(gb), key=str):
        va, vb = ga[k], gb[k]
        ma, mb = statistics.median(va), statistics.median(vb)
        ratio = mb / ma if ma > 0 else math.inf
        p = p_value(va, vb)
        significant = p < alpha
        out.append(dict(zip(KEY, k)) | {
            "n_a": len(va), "n_b": len(vb), "median_a_s": ma, "median_b_s": mb, "ratio": ratio,
            "p_value": p, "significant": significant,
            "regression": bool(ratio > threshold and significant)})
    return pd.DataFrame(out, columns=KEY + ["n_a", "n_b", "median_a_s", "median_b_s", "ratio",
                                             "p_value", "significant", "regression"])


# -- summaries the reference README and notebooks use ---------------------------------------
def medians(df: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of time_s per KEY (plus latency)."""
    g = df.groupby(KEY + ["latency"], dropna=False)["time_s"]
    return pd.DataFrame({"median_s": g.median(), "q1_s": g.quantile(0.25),
                         "q3_s": g.quantile(0.75), "values": g.size()}).reset_index()


def tracing_overhead(df: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, n, cache): median startup with tracing on / off, minus 1, in percent."""
    t = df[df["benchmark"] == "tracing_overhead"]
    m = t.groupby(["strategy", "n_emulators", "cache", "case"])["time_s"].median().unstack("case")
    if m.empty:
        return pd.DataFrame(columns=["strategy", "n_emulators", "cache", "on", "off", "overhead_pct"])
    m["overhead_pct"] = (m["on"] / m["off"] - 1) * 100
    return m.reset_index()


def fidelity(df: pd.DataFrame) -> pd.DataFrame:
    """Per target: median probe time, real and simulated, and simulated / real."""
    t = df[df["benchmark"] == "replay_fidelity"]
    m = t.groupby(["case", "emulators"])["time_s"].median().unstack("emulators")
    if "real" not in m:
        m["real"] = math.nan
    m["ratio"] = m["simulated"] / m["real"]
    return m.reset_index().rename(columns={"case": "target"})
