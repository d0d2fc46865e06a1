"""pyperf JSON -> one tidy long table; comparisons between runs; the regression rule.

pyperf's JSON files are the record. Every benchmark our scripts write carries its parameters as
`wb_*` metadata, so a row is built from metadata alone (file names only matter for resuming).
The regression rule (moderated t on per-process medians, Benjamini-Hochberg, a ratio CI beyond a
minimum relevant change) is workbench.analysis.stats; compare() applies it per benchmark.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pandas as pd
import pyperf

from workbench.errors import ResultsError
from workbench.params import BenchParams, key_columns
from workbench.analysis.rundir import MACHINE_FILE, MODEL, RESULTS_CSV, result_files  # noqa: F401 (re-exported)

# Where a value comes from: a real QEMU binary, a replaying emulator, or a model (not a timing).
SOURCES = ("measured-real", "measured-replay", "modelled")
# Parameters that identify what was measured (BenchParams' keyed fields and the row descriptors);
# `latency` is left out on purpose so that a run made with --latency 2 is compared with a
# recorded-latency one.
KEY = key_columns()
COLUMNS = KEY + ["latency", "run_index", "value_index", "time_s", "source", "name", "file"]
_INT_COLUMNS = ("n_emulators", "domains")


def source_of(md: dict) -> str:
    """wb_source if the benchmark recorded one, else (legacy files) from wb_emulators."""
    src = md.get("wb_source") or ("measured-real" if md.get("wb_emulators") == "real" else "measured-replay")
    return src


def load_suite(path: Path) -> pyperf.BenchmarkSuite:
    """A pyperf result file; a truncated or invalid one is a ResultsError naming it."""
    try:
        return pyperf.BenchmarkSuite.load(str(path))
    except Exception as e:  # pyperf raises ValueError, KeyError, TypeError, JSONDecodeError...
        raise ResultsError(f"{path}: not a valid pyperf result file ({type(e).__name__}: {e})") from None


MAX_TIME_S = 86_400.0  # a day: no single measured value of the workbench comes near it


def _count(path: Path, bench: str, key: str, v: object) -> int | None:
    """An integer metadata value (wb_n_emulators, wb_domains), or a ResultsError naming it."""
    if v is None:
        return None
    try:
        n = int(v)
    except (TypeError, ValueError, OverflowError):
        raise ResultsError(f"{path}: benchmark {bench}: metadata {key}={v!r} is not a whole number") from None
    if not 0 <= n <= 1_000_000:
        raise ResultsError(f"{path}: benchmark {bench}: metadata {key}={v!r} is out of range")
    return n


def _time(path: Path, bench: str, v: object) -> float:
    """A measured value in seconds: finite, not negative, at most MAX_TIME_S."""
    try:
        t = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ResultsError(f"{path}: benchmark {bench}: value {v!r} is not a number") from None
    if not 0.0 <= t <= MAX_TIME_S:  # also refuses nan and inf
        raise ResultsError(f"{path}: benchmark {bench}: value {v!r} s is not a duration "
                           f"between 0 and {MAX_TIME_S:g} s")
    return t


def suite_rows(path: Path) -> list[dict[str, Any]]:
    """One row per value (warmups left out) of every benchmark in one pyperf JSON file: the
    COLUMNS, then every other wb_* key the benchmark carries (its own parameters and counts:
    workers, host, launches...) under its name without the prefix. pyperf keeps a key at the
    benchmark level only where every worker process agrees on it, so each value takes its own
    process's metadata first."""
    suite = load_suite(path)
    rows = []
    for bench in suite.get_benchmarks():
        common = bench.get_metadata()
        if common.get("unit", "second") != "second":
            continue  # only timings go into time_s
        value_index = 0
        for run_index, run in enumerate(bench.get_runs()):
            if not run.values:
                continue  # calibration runs have no values
            md = common | run.get_metadata()
            base = _row_base(path, md, bench.get_name())
            for v in run.values:
                rows.append(base | {"run_index": run_index, "value_index": value_index,
                                    "time_s": _time(path, bench.get_name(), v)})
                value_index += 1
    return rows


def _row_base(path: Path, md: dict[str, Any], name: str) -> dict[str, Any]:
    params = BenchParams.from_metadata(md)
    return params | {
        "benchmark": md.get("wb_benchmark", name), "case": md.get("wb_case", ""),
        "phase": md.get("wb_phase", "total"), "system": md.get("wb_system", MODEL),
        "n_emulators": _count(path, name, "wb_n_emulators", params.get("n_emulators")),
        "emulators": md.get("wb_emulators", "simulated"),
        "domains": _count(path, name, "wb_domains", params.get("domains")), "source": source_of(md),
        "name": name, "file": Path(path).name}


def load_run(run_dir: Path) -> pd.DataFrame:
    """The tidy table of a run directory: one row per value of every pyperf JSON file in it, with
    every parameter its benchmarks recorded (COLUMNS first, then the others by name)."""
    rows = [r for f in result_files(run_dir) for r in suite_rows(f)]
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    df = pd.DataFrame(rows, columns=COLUMNS + extra)
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    return df


def write_results_csv(run_dir: Path) -> Path:
    """results.csv beside the JSON files (derived: safe to delete)."""
    from workbench.analysis import rundir

    return rundir.write_results_csv(run_dir, load_run(run_dir))


# -- comparing two runs --------------------------------------------------------------------
COMPARE_COLUMNS = KEY + ["n_a", "n_b", "procs_a", "procs_b", "median_a_s", "median_b_s", "ratio",
                         "ci_low", "ci_high", "mdc", "p", "p_adj", "p_mwu", "verdict", "regression"]


def _frame(run: Path | pd.DataFrame) -> pd.DataFrame:
    return run if isinstance(run, pd.DataFrame) else load_run(Path(run))


def _sort_key(k: tuple) -> tuple:
    # numbers as numbers (n = 1, 2, 12, ...), missing values first, everything else as text
    return tuple((0, 0, "") if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                 else (1, v, "") if isinstance(v, (int, float)) else (2, 0, str(v)) for v in k)


def process_groups(df: pd.DataFrame) -> dict[tuple, list[list[float]]]:
    """Per benchmark (KEY): the values of each pyperf process (run_index) apart, the process
    being the unit compare tests."""
    return {k: [p["time_s"].tolist() for _, p in g.groupby("run_index", sort=True)]
            for k, g in df.groupby(KEY, dropna=False, sort=False)}


DETECTABLE_COLUMNS = KEY + ["name", "file", "processes", "sd_log", "mdc"]


def detectable(run: Path | pd.DataFrame, min_change: float = 0.05, alpha: float = 0.05) -> pd.DataFrame:
    """Per benchmark (KEY) of one run: its processes, the spread (sd) of its log process medians
    and the minimum detectable change `compare` would give it against a run like this one (the
    same processes and spreads; stats.like_run_changes: the same test count and prior as compare)."""
    from workbench.analysis import stats

    df = _frame(run)
    groups = process_groups(df)
    mdcs = stats.like_run_changes(list(groups.values()), alpha=alpha, min_change=min_change)
    out = []
    for (k, g), mdc in zip(df.groupby(KEY, dropna=False, sort=False), mdcs):  # process_groups' order
        meds = stats.process_medians(groups[k])
        sd = statistics.stdev(meds) if len(meds) > 1 else math.nan
        out.append(dict(zip(KEY, k)) | {"name": g["name"].iloc[0], "file": g["file"].iloc[0],
                                        "processes": len(meds), "sd_log": sd, "mdc": mdc})
    return pd.DataFrame(out, columns=DETECTABLE_COLUMNS)


def compare(run_a: Path | pd.DataFrame, run_b: Path | pd.DataFrame, min_change: float = 0.05,
            alpha: float = 0.05) -> pd.DataFrame:
    """Per benchmark (KEY) in both runs: medians, ratio b/a of process medians with CI, p, BH p, verdict.

    The rule lives in workbench.analysis.stats (its METHOD names it); `regression` is verdict == regression.
    """
    from workbench.analysis import stats

    a, b = _frame(run_a), _frame(run_b)
    ga, gb = process_groups(a), process_groups(b)
    keys = sorted(set(ga) & set(gb), key=_sort_key)
    verdicts = stats.decide([(ga[k], gb[k]) for k in keys], alpha=alpha, min_change=min_change)
    out = []
    for k, v in zip(keys, verdicts):
        va = [x for p in ga[k] for x in p]
        vb = [x for p in gb[k] for x in p]
        out.append(dict(zip(KEY, k)) | {
            "n_a": len(va), "n_b": len(vb), "procs_a": v.processes[0], "procs_b": v.processes[1],
            "median_a_s": statistics.median(va), "median_b_s": statistics.median(vb),
            "ratio": v.effect.ratio, "ci_low": v.effect.ci_low, "ci_high": v.effect.ci_high, "mdc": v.mdc,
            "p": v.p, "p_adj": v.p_adj, "p_mwu": stats.rank_test_p(ga[k], gb[k]), "verdict": v.verdict, "regression": v.verdict == "regression"})
    df = pd.DataFrame(out, columns=COMPARE_COLUMNS)
    for col in ("n_emulators", "domains"):
        df[col] = df[col].astype("Int64")
    # bool even when no benchmark is shared: an empty object column used as a mask selects
    # no columns at all, and `cmp[cmp["regression"]][cols]` then raised KeyError
    df["regression"] = df["regression"].astype(bool)
    return df


# -- summaries the reference README and notebooks use ---------------------------------------
def medians(df: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of time_s per KEY (plus latency)."""
    g = df.groupby(KEY + ["latency"], dropna=False)["time_s"]
    return pd.DataFrame({"median_s": g.median(), "q1_s": g.quantile(0.25),
                         "q3_s": g.quantile(0.75), "values": g.size()}).reset_index()


def tracing_overhead(df: pd.DataFrame) -> pd.DataFrame:
    """Per (strategy, n, cache): median startup with tracing on and off, their difference in
    seconds and on / off - 1 in percent (never pooled: a 4 s startup and a 60 us one differ)."""
    t = df[df["benchmark"] == "tracing_overhead"]
    m = t.groupby(["strategy", "n_emulators", "cache", "case"])["time_s"].median().unstack("case")
    if m.empty:
        return pd.DataFrame(columns=["strategy", "n_emulators", "cache", "on", "off", "overhead_s", "overhead_pct"])
    m["overhead_s"] = m["on"] - m["off"]
    m["overhead_pct"] = (m["on"] / m["off"] - 1) * 100
    return m.reset_index()


def fidelity(df: pd.DataFrame) -> pd.DataFrame:
    """Per target: median probe time, real and simulated, and simulated / real."""
    t = df[df["benchmark"] == "replay_fidelity"]
    if t.empty:
        return pd.DataFrame()
    m = t.groupby(["case", "emulators"])["time_s"].median().unstack("emulators")
    if "real" not in m:
        m["real"] = math.nan
    m["ratio"] = m["simulated"] / m["real"]
    return m.reset_index().rename(columns={"case": "target"})


def parallel_fidelity(df: pd.DataFrame) -> pd.DataFrame:
    """parallel_scaling per pool size: median time on replays and on the real binaries, their
    ratio, and each side's speed-up over one worker."""
    t = df[df["benchmark"] == "parallel_scaling"].copy()
    if t.empty:
        return pd.DataFrame()
    t["workers"] = t["case"].str.removeprefix("workers=").astype(int)
    m = t.groupby(["workers", "emulators"])["time_s"].median().unstack("emulators").sort_index()
    if "real" not in m:
        m["real"] = math.nan
    m["ratio"] = m["simulated"] / m["real"]
    for side in ("simulated", "real"):
        m[f"speedup_{side}"] = m[side].iloc[0] / m[side] if len(m) else math.nan
    return m.reset_index()
