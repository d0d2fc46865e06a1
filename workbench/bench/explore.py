"""Live exploration: measure a few strategies at a few emulator counts now, through the sweep's
own jobs (the same pyperf benchmark scripts as `workbench run`, not a copy), and return the tidy
table. notebooks/explore.py calls it from its parameter cell's choices.

    measure(["per-emulator", "fixed-shipped"], [30], "cold_container", "cold", processes=3)
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.bench import sweep
from workbench.errors import UsageError
from workbench.paths import REPO_ROOT

# What the parameter cell may name: (pyperf script, case) per benchmark.
BENCHMARKS = {
    "daemon_startup": ("daemon_startup", None),
    "driver_startup": ("driver_startup", None),
    "apis": ("apis", None),
    "parse": ("parse", None),
    "cold_container": ("scenarios", "cold_container"),
    "package_upgrade": ("scenarios", "package_upgrade"),
    "steady_host": ("scenarios", "steady_host"),
}
RUNS_DIR = REPO_ROOT / "runs" / "explore"


def jobs(strategies: Sequence[str], emulators: Sequence[int], benchmark: str, cache: str) -> list[sweep.Job]:
    if benchmark not in BENCHMARKS:
        raise UsageError(f"benchmark {benchmark!r}: choose one of {', '.join(BENCHMARKS)}")
    if cache not in ("cold", "warm"):
        raise UsageError(f"cache {cache!r}: choose cold or warm")
    script, case = BENCHMARKS[benchmark]
    names = sweep.resolve_strategies(list(strategies))
    if not emulators or any(not 1 <= int(n) <= 30 for n in emulators):
        raise UsageError(f"emulators {list(emulators)}: counts from 1 to 30")
    extra = ("--count", "no") if script == "scenarios" else ()
    return [sweep.Job(script, 1, s, int(n), "cold" if case else cache, case, extra)
            for n in emulators for s in names]


def measure(strategies: Sequence[str], emulators: Sequence[int], benchmark: str = "cold_container",
            cache: str = "cold", processes: int = 3, latency: str = "recorded",
            run_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the jobs into run_dir (default: a new dir under runs/explore/) and return its tidy
    table (workbench.analysis.results.load_run). `processes` worker processes per benchmark, one value
    each on a cold cache (4 warm)."""
    from workbench.analysis.results import load_run

    todo = jobs(strategies, emulators, benchmark, cache)
    if processes < 1:
        raise UsageError(f"processes {processes}: at least 1 (2 or more for a CI)")
    out = Path(run_dir) if run_dir else RUNS_DIR / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    mode = sweep.Mode("explore", ("-w", "0", "--loops", "1"), processes=processes, values_cold=1, values_warm=4)
    settings = {"mode": mode.name, "latency": latency, "processes": processes, "explore": benchmark,
                "grid_sha256": sweep.grid_id(todo, mode.name, latency), "shard": None,
                "created_at": sweep._now()}
    info = sweep._check_or_write_machine(out, settings)
    with sweep.job_runner(out, mode, latency, info, todo) as runner:
        for job in todo:
            if (out / job.filename).exists():
                continue
            if progress:
                print(f"measuring {job.filename[:-5]} ({processes} processes)", flush=True)
            error = runner.run(job)
            if error:
                raise UsageError(f"{job.filename}: the benchmark failed: {error.strip().splitlines()[-1:]}")
    return load_run(out)
