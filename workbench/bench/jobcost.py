"""What a sweep job is expected to cost, in seconds of wall time, before it runs.

The estimate is read from finished runs. Each pyperf worker records its own `duration` (setup
and values); what it leaves out is the worker's start (Python, imports), taken as the run's median
gap between one worker's end and the next one's start. A job's cost per worker process is their
sum over its benchmarks. The runs, in order:
  1. the committed reference run (the main job: a few benchmarks, with the teardown model);
  2. the full-grid run kept as test data (tests/data/full-grid-run, 2026-12-05: every job of the
     full grid, but from before the model paid libvirt 9.0's probe teardown): its cost plus the
     modelled teardown (workbench.bench.launch_model: launches x seconds per launch, the latter
     calibrated on the jobs both runs hold, else the 200 ms poll itself);
  3. the same benchmark at the same emulator count, then the same benchmark; then a default.
Scenarios jobs add their untimed counting run (one client run per scenario, in the pyperf
manager). The estimates drive the expected duration printed before a run starts and a progress
bar whose unit is expected seconds, so its ETA is weighted by what each job costs and corrects
itself by how much faster or slower than expected the jobs run on this machine.
docs/full-grid-cost.md shows the estimate of the full grid job by job (`python -m
workbench.bench.fullgrid_cost`).
"""
from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from workbench.bench import launch_model
from workbench.paths import REPO_ROOT, RESULTS_DIR
from workbench.qemu.teardown import DEFAULT_MODE, POLL_S

REFERENCE_RUN = RESULTS_DIR / "reference"
KEPT_FULL_GRID = REPO_ROOT / "tests" / "data" / "full-grid-run"
DEFAULT_PROCESS_S = 5.0   # a job nothing is known about (a new benchmark)
PROCESS_START_S = 0.4     # a worker's start where no run says: Python and the workbench's imports
MANAGER_START_S = 0.5     # the pyperf manager of each job: its own Python start and imports
CALIBRATION_MIN_LAUNCHES = 10  # jobs with fewer launches say more about noise than the teardown


@dataclass
class FileCost:
    """One job file of a finished run: its workers' durations, per benchmark name."""
    durations: dict[str, list[float]]   # pyperf benchmark name -> each worker's duration
    gaps: list[float]                   # idle time between one worker's end and the next start
    timed_s: float = 0.0                # inside the values' timed regions (value x loops x inner loops)

    @property
    def processes(self) -> int:
        return max(1, max((len(v) for v in self.durations.values()), default=1))

    def duration_per_process(self) -> float:
        return sum(sum(v) for v in self.durations.values()) / self.processes

    def case_duration(self, case: str) -> float | None:
        found = [statistics.fmean(v) for name, v in self.durations.items() if _case(name) == case and v]
        return sum(found) if found else None


@dataclass
class CostModel:
    """Seconds per worker process of each job of a finished run, with the runs to fall back on."""
    files: dict[str, FileCost] = field(default_factory=dict)   # by stem: 'apis--n30--cold--full-caps'
    start_s: float = PROCESS_START_S
    before: "CostModel | None" = None   # a run from before the teardown model
    counts: launch_model.LaunchCounts = field(default_factory=launch_model.LaunchCounts)
    per_launch_s: float = POLL_S
    # values per worker process by cache state: the sweep mode's (Mode.values_per_process)
    values: Callable[[str | None], int] = field(default=lambda cache: 1)

    @property
    def timed(self) -> dict[str, float]:
        return {stem: fc.timed_s for stem, fc in self.files.items()}

    @classmethod
    def read(cls, run_dir: Path) -> "CostModel":
        model = cls()
        from workbench.analysis.rundir import result_files

        gaps: list[float] = []
        for path in result_files(run_dir):
            fc = _file_cost(path)
            if fc is not None:
                model.files[_stem(path.name)] = fc
                if fc.gaps:
                    gaps.append(statistics.median(fc.gaps))
        # The run-wide median: a file whose workers each did more than start (the scenarios'
        # counting run, per worker before it moved to the manager) does not set it.
        model.start_s = min(statistics.median(gaps), 5.0) if gaps else PROCESS_START_S
        return model

    @classmethod
    def from_run(cls, run_dir: Path = REFERENCE_RUN, before: Path | None = KEPT_FULL_GRID,
                 values: Callable[[str | None], int] | None = None) -> "CostModel":
        """`values`: values per worker process by cache state (the sweep's mode), which the
        modelled teardown multiplies; one value where not given (the main job)."""
        model = cls.read(run_dir)
        if values is not None:
            model.values = values
        if before is not None and Path(before).is_dir():
            model.before = cls.read(before)
            model.counts = launch_model.LaunchCounts.from_run(before)
            model.per_launch_s = model.calibrate()
        return model

    # -- the modelled teardown -------------------------------------------------------------------
    def launches_per_process(self, job, names: list[str]) -> float:
        td = dict(job.axes).get("teardown", DEFAULT_MODE)
        return sum(launch_model.per_value(job.benchmark, nm, job.strategy, job.n, job.cache, td, self.counts)
                   for nm in names) * self.values(job.cache)

    def calibrate(self) -> float:
        """Seconds one launch adds, from the jobs this run and the run before both hold."""
        ratios = []
        for stem, fc in self.files.items():
            old = self.before.files.get(stem) if self.before else None
            if old is None:
                continue
            job = _job_of(stem)
            launches = self.launches_per_process(job, list(fc.durations)) if job else 0.0
            if launches >= CALIBRATION_MIN_LAUNCHES:
                new_s = fc.duration_per_process()
                old_s = sum(statistics.fmean(old.durations[n]) for n in fc.durations if old.durations.get(n)) \
                    if all(old.durations.get(n) for n in fc.durations) else None
                if old_s is None:  # the reference names a single case the old file held among others
                    old_s = sum(filter(None, (old.case_duration(_case(n)) for n in fc.durations)))
                ratios.append((new_s - old_s) / launches)
        return statistics.median(ratios) if ratios else POLL_S

    # -- per job -----------------------------------------------------------------------------------
    def _own(self, job) -> float | None:
        """Seconds per process of `job` as this run holds it (the job itself, or its case)."""
        stem = _stem(job.filename)
        if stem in self.files:
            fc = self.files[stem]
            return fc.duration_per_process() + len(fc.durations) * self.start_s
        if job.case:
            whole = self.files.get(stem.rsplit("--", 1)[0])  # the same job with every case
            d = whole.case_duration(job.case) if whole else None
            if d is not None:
                return d + self.start_s
        return None

    def _names(self, job) -> list[str]:
        """The pyperf benchmarks of `job` (one worker each per process), as a run holds them."""
        stem = _stem(job.filename)
        for model in (self, self.before):
            if model is None:
                continue
            if model is self.before:  # from before the teardown axis: the job at the default
                stem = _stem(_without_teardown(job).filename)
            if stem in model.files:
                return list(model.files[stem].durations)
            whole = model.files.get(stem.rsplit("--", 1)[0]) if job.case else None
            if whole is not None:
                return [n for n in whole.durations if _case(n) == job.case]
        return []

    def source(self, job) -> str:
        """Where the estimate of `job` comes from: reference, before+model, near or default."""
        if self._own(job) is not None:
            return "reference"
        if self.before is not None and self.before._own(_without_teardown(job)) is not None:
            return "before+model"
        return "near" if self._near(job) is not None else "default"

    def start_of(self, job) -> float:
        """A worker's start in the run the estimate of `job` comes from."""
        if self.before is not None and self.source(job) == "before+model":
            return self.before.start_s
        return self.start_s

    def teardown_s(self, job) -> float:
        """What the modelled teardown adds to one worker process of `job` (0 where the run
        behind the estimate already paid it)."""
        if self._own(job) is not None or self.before is None:
            return 0.0
        old = self.before._own(_without_teardown(job))
        names = self.before._names(_without_teardown(job)) or self._names(job)
        return self.launches_per_process(job, names) * self.per_launch_s if old is not None else 0.0

    def process_s(self, job) -> float:
        """Expected seconds of one worker process of `job` (a workbench.bench.sweep.Job)."""
        own = self._own(job)
        if own is not None:
            return own
        if self.before is not None:
            old = self.before._own(_without_teardown(job))
            if old is not None:
                return old + self.teardown_s(job)
        near = self._near(job)
        return near if near is not None else DEFAULT_PROCESS_S

    def _near(self, job) -> float | None:
        for prefix in (f"{job.benchmark}--n{job.n:02d}--" if job.n is not None else None, f"{job.benchmark}--"):
            near = [c for k, fc in self.files.items() if prefix and k.startswith(prefix)
                    for c in [fc.duration_per_process() + len(fc.durations) * self.start_s]]
            if near:
                return statistics.median(near)
        return None

    def once_s(self, job) -> float:
        """Seconds a job spends once, beside its workers: the pyperf manager's start, and the
        scenarios' counting run (one client run per scenario) where the job makes it."""
        extra = MANAGER_START_S
        if job.benchmark == "scenarios" and _counting(job):
            names = self._names(job)
            cases = [_case(n) for n in names] or ([job.case] if job.case else [])
            for case in cases:
                one = replace(job, case=case) if not job.case else job
                extra += self.process_s(one) - self.start_of(one)  # one value, no worker start
        return extra

    def job_s(self, job, processes: int) -> float:
        return self.once_s(job) + processes * self.process_s(job)


def _counting(job) -> bool:
    """Whether a scenarios job makes its counting run (BenchParams.count, 'yes' by default)."""
    extra = list(job.extra)
    return not ("--count" in extra and extra[extra.index("--count") + 1:][:1] == ["no"])


def _without_teardown(job):
    return replace(job, axes=tuple((k, v) for k, v in job.axes if k != "teardown"))


@dataclass(frozen=True)
class _Key:
    """What the launch model reads of a job (workbench.bench.sweep.Job has the same fields)."""
    benchmark: str
    strategy: str | None = None
    n: int | None = None
    cache: str | None = None
    case: str | None = None
    axes: tuple[tuple[str, Any], ...] = ()


def _job_of(stem: str) -> _Key | None:
    """The job of a job file's stem ('daemon_startup--n30--cold--full-caps'); None if unusual."""
    parts = stem.split("--")
    try:
        n = int(parts[1][1:]) if len(parts) > 3 and parts[1].startswith("n") else None
    except ValueError:
        return None
    if n is None:
        return _Key(parts[0])
    rest = parts[4:]
    case = rest.pop() if rest and "-" not in rest[-1] else None  # axes are NAME-VALUE, cases are not
    axes = tuple(tuple(a.split("-", 1)) for a in rest)
    return _Key(parts[0], parts[3], n, parts[2], case, axes)


def _case(name: str) -> str:
    """'scenario.cold_container[...]' -> 'cold_container'."""
    return name.split("[", 1)[0].split(".", 1)[-1]


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


def _file_cost(path: Path) -> FileCost | None:
    """Each worker's duration per benchmark, and the gaps between workers; None if unreadable."""
    try:
        doc = json.loads(path.read_bytes())
        runs: list[tuple[dt.datetime, float, str]] = []
        timed = 0.0
        for bench in doc["benchmarks"]:
            name = bench.get("metadata", {}).get("name") or doc.get("metadata", {}).get("name", "")
            for run in bench["runs"]:
                md = {**doc.get("metadata", {}), **bench.get("metadata", {}), **run.get("metadata", {})}
                timed += sum(run.get("values", [])) * md.get("loops", 1) * md.get("inner_loops", 1)
                if "date" in md and "duration" in md:
                    runs.append((dt.datetime.fromisoformat(md["date"]), float(md["duration"]), name))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not runs:
        return None
    runs.sort()
    gaps = [max(0.0, (b[0] - a[0]).total_seconds() - a[1]) for a, b in zip(runs, runs[1:])]
    durations: dict[str, list[float]] = {}
    for _, s, name in runs:
        durations.setdefault(name, []).append(s)
    return FileCost(durations, gaps, timed)
