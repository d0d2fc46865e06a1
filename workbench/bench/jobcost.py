"""What a sweep job is expected to cost, in seconds of wall time, before it runs.

The estimate is read from a finished run (default: the committed reference run): each pyperf
worker records its own `duration` (setup and values), and the gap between two workers of one
job is the worker's start (Python, imports) that the duration leaves out. A job's cost per
worker process is their sum; a job the run does not hold is estimated from the same benchmark
at the same emulator count, then the same benchmark, then a default. The estimates drive the
expected duration printed before a run starts and a progress bar whose unit is expected
seconds, so its ETA is weighted by what each job costs and corrects itself by how much faster or
slower than expected the jobs run on this machine.
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from workbench.paths import RESULTS_DIR

REFERENCE_RUN = RESULTS_DIR / "reference"
DEFAULT_PROCESS_S = 5.0   # a job nothing is known about (a new benchmark)
PROCESS_START_S = 0.4     # a worker's start where no run says: Python and the workbench's imports
MANAGER_START_S = 0.5     # the pyperf manager of each job: its own Python start and imports


@dataclass
class CostModel:
    """Seconds per worker process of each job file of a finished run, and of each case in it."""
    per_process_s: dict[str, float] = field(default_factory=dict)
    per_case_s: dict[tuple[str, str], float] = field(default_factory=dict)  # (file stem, case)

    @classmethod
    def from_run(cls, run_dir: Path = REFERENCE_RUN) -> "CostModel":
        model = cls()
        from workbench.analysis.rundir import result_files

        for path in result_files(run_dir):
            costs = _costs(path)
            if costs is not None:
                model.per_process_s[path.name] = costs[0]
                stem = _stem(path.name)
                for case, c in costs[1].items():
                    model.per_case_s[(stem, case)] = c
        return model

    def process_s(self, job) -> float:
        """Expected seconds of one worker process of `job` (a workbench.bench.sweep.Job)."""
        stem = _stem(job.filename)
        if job.case:
            whole = stem.rsplit("--", 1)[0]  # the same job with every case
            if (whole, job.case) in self.per_case_s:
                return self.per_case_s[(whole, job.case)]
        known = {_stem(k): c for k, c in self.per_process_s.items()}
        if stem in known:
            return known[stem]
        for prefix in (f"{job.benchmark}--n{job.n:02d}--" if job.n is not None else None, f"{job.benchmark}--"):
            near = [c for k, c in known.items() if prefix and k.startswith(prefix)]
            if near:
                return statistics.median(near)
        return DEFAULT_PROCESS_S

    def job_s(self, job, processes: int) -> float:
        return MANAGER_START_S + processes * self.process_s(job)


def worker_s(path: Path, benchmark: str | None = None) -> float | None:
    """The typical cost of one more worker process of `benchmark` (a pyperf name; default every
    benchmark of the file): the median of its workers' durations plus the median start gap. The
    median leaves out a one-off step of the first worker (a packager's prebuild, say). None if
    the file records no durations."""
    try:
        doc = json.loads(Path(path).read_bytes())
        runs = []
        for bench in doc["benchmarks"]:
            name = bench.get("metadata", {}).get("name") or doc.get("metadata", {}).get("name", "")
            for run in bench["runs"]:
                md = run.get("metadata", {})
                if "date" in md and "duration" in md:
                    runs.append((dt.datetime.fromisoformat(md["date"]), float(md["duration"]), name))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    runs.sort()
    gaps = [max(0.0, (b[0] - a[0]).total_seconds() - a[1]) for a, b in zip(runs, runs[1:])]
    start = min(statistics.median(gaps), 5.0) if gaps else PROCESS_START_S
    mine = [d for _, d, name in runs if benchmark is None or name == benchmark]
    return statistics.median(mine) + start if mine else None


def _stem(filename: str) -> str:
    """A job file's name without its round and extension: 'apis--n30--cold--full-caps'."""
    return filename.rsplit("--r", 1)[0]


def _costs(path: Path) -> tuple[float, dict[str, float]] | None:
    """(seconds per process of the whole file, seconds per worker of each case); a worker's cost
    is its duration plus the start gap before the next one. None if unreadable."""
    try:
        doc = json.loads(path.read_bytes())
        runs: dict[str, tuple[float, str]] = {}
        for bench in doc["benchmarks"]:
            name = bench.get("metadata", {}).get("name") or doc.get("metadata", {}).get("name", "")
            for run in bench["runs"]:
                md = run.get("metadata", {})
                if "date" in md and "duration" in md:
                    runs[md["date"]] = (float(md["duration"]), name)
        n_bench = max(1, sum(1 for b in doc["benchmarks"] if b.get("runs")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not runs:
        return None
    starts = sorted((dt.datetime.fromisoformat(d), s, name) for d, (s, name) in runs.items())
    gaps = [max(0.0, (b[0] - a[0]).total_seconds() - a[1]) for a, b in zip(starts, starts[1:])]
    start = min(statistics.median(gaps), 5.0) if gaps else PROCESS_START_S
    per_case: dict[str, list[float]] = {}
    for _, s, name in starts:
        case = name.split("[", 1)[0].split(".", 1)[-1]  # 'scenario.cold_container[...]' -> cold_container
        per_case.setdefault(case, []).append(s + start)
    total = sum(s + start for _, s, _ in starts)
    processes = max(1, len(starts) // n_bench)
    return total / processes, {c: statistics.fmean(v) for c, v in per_case.items()}
