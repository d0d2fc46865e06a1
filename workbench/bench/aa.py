"""The A/A check: is `workbench compare` quiet when nothing changed and loud when something did?

`inject_slowdown` makes the "something changed" case from a real run (a copy with one
benchmark's values scaled, labelled as such in the copy). `run_aa` (`workbench aa`) makes the
whole check reproducible from one command: the same grid swept `runs` times, a copy of the last
run with one benchmark slowed, and compare's outputs for every pair written beside them.
`run_aa_main` (`workbench aa --main-job`) does the same with the main job's settings: `workbench
run`'s sweep twice (or once beside a given main-job run), the cover letter's per-emulator
startup slowed in run 2's copy. Above rundir, results and sweep (it uses all three).
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import pyperf

from workbench.errors import ResultsError, UsageError
from workbench.analysis.results import load_suite, write_results_csv
from workbench.analysis.rundir import read_run_info, result_files, write_run_info
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES


def inject_slowdown(run_in: Path, run_out: Path, benchmark: str, factor: float,
                    file: str | None = None) -> Path:
    """Copy run_in to run_out with every value of one benchmark multiplied by `factor`.

    `benchmark` is a pyperf benchmark name (with its parameters, e.g.
    'driver_startup[n=8,cache=cold,...]'); legacy runs repeat bare names across files, so
    `file` picks one. The copy says what was done: wb_injected on the benchmark's runs and
    `injected` in machine.json; results.csv is rewritten. Used to show the test's power on real
    data, never to make a result.
    """
    run_in, run_out = Path(run_in), Path(run_out)
    if run_out.exists():
        raise UsageError(f"{run_out}: exists; inject_slowdown writes a new run directory")
    files = [p for p in result_files(run_in) if file is None or p.name == file]
    hits = [p for p in files if benchmark in load_suite(p).get_benchmark_names()]
    if len(hits) != 1:
        where = ", ".join(p.name for p in hits) or "no result file"
        raise UsageError(f"{run_in}: benchmark {benchmark!r} found in {where}; name exactly one "
                         f"(pass file= to choose)")
    info = read_run_info(run_in)
    shutil.copytree(run_in, run_out)
    target = run_out / hits[0].name
    suite = load_suite(target)
    label = f"values x{factor} (injected by workbench.bench.aa.inject_slowdown)"
    benches = []
    for b in suite.get_benchmarks():
        if b.get_name() == benchmark:
            b = pyperf.Benchmark([
                r._replace(values=tuple(v * factor for v in r.values), metadata=dict(r._metadata, wb_injected=label))
                if r.values else r for r in b.get_runs()])
        benches.append(b)
    pyperf.BenchmarkSuite(benches).dump(str(target), replace=True)
    data = dict(info.data) | {"injected": {"benchmark": benchmark, "file": target.name, "factor": factor,
                                           "from_run": str(run_in)}}
    write_run_info(run_out, data)
    write_results_csv(run_out)
    return run_out


# The default grid: small enough for a few minutes in quick mode, with cold and warm benchmarks,
# a cheap and an expensive one, so both ends of the spread are seen.
AA_EMULATORS = (1, 8)
AA_STRATEGIES = LIBVIRT_STRATEGIES
AA_BENCHMARKS = ("driver_startup", "parse")
AA_INJECT = ("driver_startup", "per-emulator", "cold")  # benchmark, strategy, cache at the largest n
AA_FACTOR = 1.2
SUMMARY_FILE = "aa-summary.json"


@dataclass(frozen=True)
class PairSummary:
    """One compare of the check: its verdict counts and, for the injected pair, the injected row."""
    run_a: str
    run_b: str
    output: str                # the compare CSV written beside the runs
    tests: int
    verdicts: dict[str, int]
    regression_share: float
    mdc_median: float
    injected: dict | None = None   # benchmark name, ratio, CI, mdc, verdict of the injected row


def injected_name(run: Path, benchmark: str, strategy: str, cache: str) -> tuple[str, str]:
    """(pyperf name, file) of `benchmark` for `strategy` and `cache` at the run's largest n."""
    from workbench.analysis.results import load_run

    df = load_run(run)
    hit = df[(df["benchmark"] == benchmark) & (df["strategy"] == strategy) & (df["cache"] == cache)
             & (df["phase"] == "total")]
    if hit.empty:
        raise UsageError(f"{run}: no {benchmark} rows for {strategy}, {cache} cache to inject into")
    hit = hit[hit["n_emulators"] == hit["n_emulators"].max()]
    return str(hit["name"].iloc[0]), str(hit["file"].iloc[0])


def summarise(run_a: Path, run_b: Path, output: Path, injected: str | None = None,
              min_change: float = 0.05, alpha: float = 0.05) -> PairSummary:
    """compare(run_a, run_b) written to `output` (CSV) and counted."""
    import pandas as pd

    from workbench.analysis.results import KEY, compare, load_run

    a, b = load_run(run_a), load_run(run_b)
    table = compare(a, b, min_change, alpha)
    table.to_csv(output, index=False)
    counts = {k: int(v) for k, v in table["verdict"].value_counts().items()}
    row = None
    if injected is not None:
        key = b[b["name"] == injected].iloc[0]
        hit = table
        for col in KEY:
            hit = hit[hit[col].isna()] if pd.isna(key[col]) else hit[hit[col] == key[col]]
        r = hit.iloc[0]
        row = {"benchmark": injected, "ratio": float(r["ratio"]), "ci_low": float(r["ci_low"]),
               "ci_high": float(r["ci_high"]), "mdc": float(r["mdc"]), "verdict": str(r["verdict"])}
    tested = table[table["verdict"] != "underpowered"]
    return PairSummary(str(run_a), str(run_b), output.name, len(table), counts,
                       counts.get("regression", 0) / max(len(table), 1),
                       float(tested["mdc"].median()) if len(tested) else math.nan, row)


def check_failures(pairs: Sequence[PairSummary], factor: float = AA_FACTOR) -> list[str]:
    """What the check must show, said where it does not: at most 1% regressions on an A/A pair;
    the injected benchmark a regression, or inconclusive with an mdc above the injected change;
    never unchanged."""
    bad = []
    for p in pairs:
        if p.injected is None and p.regression_share > 0.01:
            bad.append(f"{p.output}: {p.verdicts.get('regression', 0)} regressions in {p.tests} tests (> 1%)")
        if p.injected is not None:
            v = p.injected
            if v["verdict"] == "unchanged" or (v["verdict"] != "regression" and not v["mdc"] > factor - 1):
                bad.append(f"{p.output}: the injected benchmark is {v['verdict']} with mdc {v['mdc']:.1%}")
    return bad


def run_aa(out: Path, runs: int = 2, emulators: Sequence[int] = AA_EMULATORS,
           strategies: Sequence[str] = AA_STRATEGIES, benchmarks: Sequence[str] = AA_BENCHMARKS,
           mode: str = "quick", factor: float = AA_FACTOR, progress: bool = True) -> list[PairSummary]:
    """Sweep the same grid `runs` times into out/run1.. (resumable), copy the last with
    driver_startup (per-emulator, cold, largest n) slowed by `factor` into out/injected, compare
    run1 with every other run and with the injected copy; summary in out/aa-summary.json."""
    from workbench.bench.sweep import run_sweep

    if runs < 2:
        raise UsageError(f"--runs must be at least 2, got {runs}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = [out / f"run{i}" for i in range(1, runs + 1)]
    for d in dirs:
        res = run_sweep(d, emulators, list(strategies), "recorded", mode, benchmarks=tuple(benchmarks),
                        progress=progress)
        if res.failed:
            raise ResultsError(f"{d}: {len(res.failed)} job(s) failed: {', '.join(res.failed)}")
    inj = out / "injected"
    if inj.exists():
        shutil.rmtree(inj)  # derived from the last run: made anew each time
    name, file = injected_name(dirs[-1], *AA_INJECT)
    inject_slowdown(dirs[-1], inj, name, factor, file=file)
    pairs = [summarise(dirs[0], d, out / f"compare-{dirs[0].name}-{d.name}.csv") for d in dirs[1:]]
    pairs.append(summarise(dirs[0], inj, out / f"compare-{dirs[0].name}-injected.csv", injected=name))
    (out / SUMMARY_FILE).write_text(json.dumps({"factor": factor, "mode": mode, "pairs": [asdict(p) for p in pairs],
                                               "failures": check_failures(pairs, factor)}, indent=2) + "\n")
    return pairs


MAIN_INJECT = ("daemon_startup", "per-emulator", "cold")  # the cover letter's faster side, at 30


def _main_job_run(run: Path, budget_s: float | None, libvirt: Sequence[str], strategies: Sequence[str] | None,
                  progress: bool) -> None:
    """`workbench run`'s sweep into `run` (no report), unless a finished one is there."""
    import time

    from workbench.analysis.rundir import DETECT_FILE
    from workbench.bench import mainjob

    if (run / DETECT_FILE).exists():  # written last: the run is whole; a resume would add processes
        return
    res = mainjob.run_answer(run, budget_s or mainjob.BUDGET_S, started=time.monotonic(), say=lambda _: None,
                             strategies=strategies, progress=progress, libvirt=libvirt)
    if res.failed:
        raise ResultsError(f"{run}: {len(res.failed)} job(s) failed: {', '.join(res.failed)}")


def run_aa_main(out: Path, run1: Path | None = None, factor: float = AA_FACTOR, budget_s: float | None = None,
                libvirt: Sequence[str] = (), strategies: Sequence[str] | None = None,
                progress: bool = True) -> list[PairSummary]:
    """The A/A check with the main job's settings: the main job's sweep into out/run1 (or `run1`,
    a finished main-job run) and out/run2, run2's copy with the cover letter's per-emulator daemon
    startup at the largest count slowed by `factor` into out/injected, run1 compared with run2 and
    with the copy; the summary (with each run's headline minimum detectable changes) in
    out/aa-summary.json."""
    from workbench.bench import mainjob

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if run1 is None:
        run1 = out / "run1"
        _main_job_run(run1, budget_s, libvirt, strategies, progress)
    elif not Path(run1).is_dir():
        raise UsageError(f"--run1 {run1}: no run directory")
    elif read_run_info(run1).data.get("sweep", {}).get("mode") != mainjob.MODE.name:
        raise UsageError(f"--run1 {run1}: not a main-job run (workbench run; its machine.json says mode "
                         f"{read_run_info(run1).data.get('sweep', {}).get('mode')!r})")
    run2 = out / "run2"
    _main_job_run(run2, budget_s, libvirt, strategies, progress)
    inj = out / "injected"
    if inj.exists():
        shutil.rmtree(inj)  # derived from run2: made anew each time
    name, file = injected_name(run2, *MAIN_INJECT)
    inject_slowdown(run2, inj, name, factor, file=file)
    pairs = [summarise(run1, run2, out / "compare-run1-run2.csv"),
             summarise(run1, inj, out / "compare-run1-injected.csv", injected=name)]
    (out / SUMMARY_FILE).write_text(json.dumps({
        "factor": factor, "mode": "main job", "runs": [str(run1), str(run2)],
        "pairs": [asdict(p) for p in pairs], "failures": check_failures(pairs, factor),
        "headline_mdc": {"run1": mainjob.detectable_rows(run1)["headline"],
                         "run2": mainjob.detectable_rows(run2)["headline"]}}, indent=2) + "\n")
    return pairs
