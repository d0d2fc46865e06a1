"""The benchmark grid: every script over (emulators, cache, strategy), one pyperf JSON per job.

Jobs run one at a time (two cores: parallel jobs would measure each other), in an order that
puts the strategies of one (n, cache, benchmark) next to each other, so a slow spell of the
machine hits both. Each job writes its file atomically (pyperf writes a hidden temporary, we
rename it), so an interrupted sweep keeps every finished file and a rerun skips them.
machine.json (workbench.analysis.rundir) pins the code hash of the whole package and the sweep settings: a rerun with other code or
settings refuses to mix its results into the directory.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from workbench.analysis import rundir
from workbench.errors import BadValue, ResultsError
from workbench.params import BenchParams, specs
from workbench.analysis.results import write_results_csv
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES

# Scripts run once per (n, cache, strategy); SINGLE ones once per round (their own axes).
GRID_BENCHMARKS = ("daemon_startup", "driver_startup", "apis", "parse", "tracing_overhead", "scenarios")
SINGLE_BENCHMARKS = ("replay_fidelity",)
# Grid scripts about one system or strategy whatever the sweep's strategies: run once per (n, cache).
FIXED_STRATEGY = {"parallel_scaling": "parallel", "libvirt_real": "libvirt-9.0"}
EXTRA_BENCHMARKS = tuple(FIXED_STRATEGY)  # not in a plain sweep unless asked for (--benchmarks)
DEFAULT_EMULATORS = (1, 2, 4, 8, 12, 16, 20, 24, 30)
# The main job (`workbench run`): libvirt's two strategies on every benchmark; the newer ones on
# what they change (startup, the APIs, the scenarios), at fewer counts, cold only: they are design
# evidence, and a full grid of every strategy would take hours on two cores.
BEYOND_BENCHMARKS = ("daemon_startup", "driver_startup", "apis", "scenarios")


@dataclass(frozen=True)
class Block:
    """One part of a grid: these benchmarks for every (n, cache, strategy) of the block, and for
    every combination of the values of further axes (parameters of BenchParams with a sweep
    flag; an axis not given runs at its default)."""
    emulators: tuple[int, ...]
    strategies: tuple[str, ...]
    benchmarks: tuple[str, ...]
    caches: tuple[str, ...] = ("cold", "warm")
    axes: tuple[tuple[str, tuple[Any, ...]], ...] = ()


# `workbench run --full`: the emulator counts of the full grid (main_grid): libvirt's two
# strategies at every count of the first tuple, the newer strategies at the second, the sweep's
# quick mode. Its expected cost, job by job: `python -m workbench.bench.fullgrid_cost`.
FULL_GRID = ((1, 2, 4, 8, 16, 30), (1, 8, 30))
SWEEP_MODE = "quick"


# Every job ends its probes as libvirt 9.0 does (teardown libvirt9, the default); these measure
# the other teardowns cold at `beyond`: the pidfd fix for libvirt's two strategies (the saving
# at 1 to 30 emulators) and libvirt 5.x's SIGKILL without a wait for full-caps (what the
# strategy paid in its own libvirt, <= 5.10).
TEARDOWN_BENCHMARKS = ("daemon_startup", "apis")


def main_grid(emulators: Sequence[int], beyond: Sequence[int]) -> list[Block]:
    """The main job's grid: libvirt's strategies cold at every count in `emulators` and warm at
    its ends (a warm cache costs the same at every n), every newer strategy cold at `beyond`,
    the other probe teardowns at `beyond`, the parallel pool's scaling and real libvirt 9.0
    (where installed) beside them."""
    newer = tuple(s for s in resolve_strategies("all") if s not in LIBVIRT_STRATEGIES)
    ends = tuple(sorted({min(emulators), max(emulators)}))
    return [Block((), (), SINGLE_BENCHMARKS),
            Block(tuple(emulators), LIBVIRT_STRATEGIES, GRID_BENCHMARKS, ("cold",)),
            Block(ends, LIBVIRT_STRATEGIES, GRID_BENCHMARKS, ("warm",)),
            Block(tuple(beyond), newer, BEYOND_BENCHMARKS, ("cold",)),
            Block(tuple(beyond), LIBVIRT_STRATEGIES, TEARDOWN_BENCHMARKS, ("cold",),
                  (("teardown", ("pidfd",)),)),
            Block(tuple(beyond), ("full-caps",), TEARDOWN_BENCHMARKS, ("cold",),
                  (("teardown", ("libvirt5",)),)),
            Block((max(emulators),), (), ("parallel_scaling",), ("cold",)),
            Block(ends, (), ("libvirt_real",))]


@dataclass(frozen=True)
class Mode:
    name: str
    pyperf_args: tuple[str, ...]  # everything but the values per process (-n)
    processes: int                # pyperf -p: worker processes, the unit compare tests on
    values_cold: int              # -n for cold-cache jobs and replay_fidelity (expensive)
    values_warm: int              # -n for warm-cache jobs (cheap: milliseconds)
    rounds: int = 1               # rounds repeat the whole grid: interleaving at run level
    caches: dict[str, tuple[str, ...]] = field(default_factory=dict)  # per benchmark, else both

    def values_per_process(self, cache: str | None) -> int:
        return self.values_warm if cache == "warm" else self.values_cold

    def values(self, cache: str | None) -> int:
        """Values per benchmark in a finished run (all processes, all rounds)."""
        return self.values_per_process(cache) * self.processes * self.rounds

    def args(self, cache: str | None) -> tuple[str, ...]:
        return (*self.pyperf_args, "-p", str(self.processes), "-n", str(self.values_per_process(cache)))


# scenarios sets up its own cache states (empty, stale, warm): run once per (n, strategy).
_SCENARIO_CACHES = {"scenarios": ("cold",)}
# --loops 1: one timed operation per value (startups take 0.02 to 4 s; pyperf's calibration
# would otherwise run the untimed setup hundreds of times). Values within one pyperf process are
# correlated (a process keeps its memory layout, hash seed, caches: the A/A check saw one process
# of a 120 us parse at 120 us throughout and the next at 160 us), so the process is the unit
# `workbench compare` tests on (workbench.analysis.stats: per-process medians). Every mode therefore runs
# several worker processes; a process needs only a few values for its median. Welch's t on
# 5 vs 5 process medians can reach the p <= alpha/m a lone change needs under Benjamini-Hochberg
# (m ~ 1,100 benchmarks on the full grid: 4.5e-5) for a 20% change when processes differ by ~3%.
# Quick mode takes one value per process on a cold cache: a cold value is a whole startup (up to
# seconds), its process median is that value, and halving the cold work is what keeps the main job
# under an hour on two cores.
MODES = {
    "quick": Mode("quick", ("-w", "0", "--loops", "1"), processes=5,
                  values_cold=1, values_warm=4, caches={"tracing_overhead": ("warm",)} | _SCENARIO_CACHES),
    "default": Mode("default", ("-w", "1", "--loops", "1"), processes=6, values_cold=2, values_warm=4,
                    caches=_SCENARIO_CACHES),
    "rigorous": Mode("rigorous", ("-w", "1", "--loops", "1"), processes=8, values_cold=3, values_warm=6,
                     rounds=2, caches=_SCENARIO_CACHES),
}


@dataclass(frozen=True)
class Job:
    benchmark: str
    round: int
    strategy: str | None = None
    n: int | None = None
    cache: str | None = None
    case: str | None = None  # one case of a script that has several (scenarios, libvirt_real)
    extra: tuple[str, ...] = ()  # more flags for the script (not part of the file name)
    axes: tuple[tuple[str, Any], ...] = ()  # further BenchParams fields, by name, where not default
    values: int | None = None  # values per worker process where not the mode's (-n)

    @property
    def filename(self) -> str:
        parts = [self.benchmark]
        if self.n is not None:
            parts += [f"n{self.n:02d}", str(self.cache), str(self.strategy)]
        parts += [f"{name}-{value}" for name, value in self.axes]
        if self.case:
            parts.append(self.case)
        return "--".join(parts + [f"r{self.round}"]) + ".json"

    def params(self, latency: str, install_root: Path, cache_root: Path) -> BenchParams:
        """The job's parameters; a script run once per round (no n) takes the defaults."""
        grid = {} if self.n is None else {"strategy": self.strategy, "emulators": self.n, "cache": self.cache}
        if self.case:
            grid["case"] = self.case
        return BenchParams(latency=latency, install_root=install_root, cache_root=cache_root,
                           **grid, **dict(self.axes))

    def argv(self, mode: Mode, latency: str, install_root: Path, cache_root: Path, out: Path,
             processes: int | None = None, append: bool = False) -> list[str]:
        """The pyperf command of this job; `processes` overrides the mode's worker count and
        `append` adds the workers' runs to an existing file `out` (the main job's extra rounds)."""
        args = list(mode.args(self.cache))
        if processes is not None:
            args[args.index("-p") + 1] = str(processes)
        if self.values is not None:
            args[args.index("-n") + 1] = str(self.values)
        return [sys.executable, "-m", f"workbench.bench.{self.benchmark}", *args, "-q",
                *self.params(latency, install_root, cache_root).to_argv(), *self.extra,
                "--append" if append else "-o", str(out)]


def resolve_strategies(spec: str | Sequence[str] | None = "all") -> list[str]:
    """"all" (or None) is every registered strategy, so a new strategy module joins every sweep."""
    from workbench.qemu.strategies import STRATEGIES

    names = list(STRATEGIES) if spec in (None, "all") else \
        (spec.split(",") if isinstance(spec, str) else list(spec))
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise BadValue(f"unknown strategies {unknown}; choose from {', '.join(STRATEGIES)} or all")
    return names


def plan(emulators: Sequence[int], strategies: Sequence[str], mode: Mode,
         benchmarks: Sequence[str] = GRID_BENCHMARKS + SINGLE_BENCHMARKS,
         caches: Sequence[str] = ("cold", "warm")) -> list[Job]:
    return plan_grid([Block(tuple(emulators), tuple(strategies), tuple(benchmarks), tuple(caches))], mode)


def plan_grid(blocks: Sequence[Block], mode: Mode) -> list[Job]:
    """Every job of the blocks once, the strategies of one (n, cache, benchmark) back to back."""
    order = [b for b in GRID_BENCHMARKS + EXTRA_BENCHMARKS]
    counts = sorted({n for blk in blocks for n in blk.emulators})
    jobs: dict[str, Job] = {}
    for r in range(1, mode.rounds + 1):
        for blk in blocks:
            for b in blk.benchmarks:
                if b in SINGLE_BENCHMARKS:
                    jobs.setdefault(Job(b, r).filename, Job(b, r))
        for n in counts:
            for cache in ("cold", "warm"):
                for b in order:
                    if cache not in mode.caches.get(b, ("cold", "warm")):
                        continue
                    for blk in blocks:
                        if n in blk.emulators and cache in blk.caches and b in blk.benchmarks:
                            for s in ((FIXED_STRATEGY[b],) if b in FIXED_STRATEGY else blk.strategies):
                                for axes in _axis_values(blk.axes):
                                    job = Job(b, r, s, n, cache, axes=axes)
                                    jobs.setdefault(job.filename, job)
    return list(jobs.values())


def _axis_values(axes: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[tuple[tuple[str, Any], ...]]:
    """Every combination of the block's further axes, each value left out where it is the
    field's default (so a job at the defaults has the name it had before the axis existed)."""
    defaults = {f.name: f.default for f, _ in specs()}
    names = [name for name, _ in axes]
    return [tuple((k, v) for k, v in zip(names, combo) if v != defaults[k])
            for combo in itertools.product(*(values for _, values in axes))]


class SweepMismatch(ResultsError):
    """The run directory holds results made with other benchmark code or settings."""


@dataclass(frozen=True)
class Shard:
    """`--shard I/N`: the I-th of N deterministic shares of a grid (1-based). Job k of the grid's
    plan (its fixed order, before anything this machine lacks is left out) goes to shard
    k mod N + 1, so neighbouring jobs (the strategies of one count) spread over the shards and
    every shard gets a like share of cheap and expensive jobs."""
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise ValueError(f"expected a shard as I/N (e.g. 1/2), got {text!r}") from None
        if not 1 <= i <= n:
            raise ValueError(f"shard {text!r}: need 1 <= I <= N")
        return cls(i, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, jobs: Sequence["Job"]) -> list["Job"]:
        return [j for k, j in enumerate(jobs) if k % self.count == self.index - 1]


def grid_id(jobs: Sequence[Job], mode: str, latency: str) -> str:
    """sha256 of a grid's whole plan (every job file) and the settings its values depend on:
    equal for the shards of one grid, different for any other grid."""
    import hashlib

    plan = [j.filename if j.values is None else f"{j.filename} -n {j.values}" for j in jobs]
    doc = json.dumps({"jobs": plan, "mode": mode, "latency": latency}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


@dataclass
class SweepResult:
    ran: list[Job]
    skipped: list[Job]
    failed: dict[str, str]  # file name -> the end of its stderr


_SAME = ("latency", "mode", "grid_sha256", "shard")  # a resumed run must agree on these


def _check_or_write_machine(out: Path, settings: dict) -> dict:
    info = rundir.collect_run_info() | {"sweep": settings}
    if (out / rundir.MACHINE_FILE).exists():
        old = rundir.read_run_info(out)
        if old.code_sha256 != info["code_sha256"] or any(
                old.sweep.get(k, settings.get(k)) != settings.get(k) for k in _SAME) \
                or old.sweep.get("libvirt", []) != settings.get("libvirt", []):
            raise SweepMismatch(f"{out} holds results of other workbench code or settings "
                                f"({out / rundir.MACHINE_FILE}); use a new output directory")
        info["sweep"]["created_at"] = old.sweep.get("created_at", settings["created_at"])
        for key in ("jobs", "skipped_parts", "sessions"):  # what earlier sessions did stays recorded
            if key in old.data:
                info[key] = old.data[key]
    info.setdefault("jobs", {})
    info.setdefault("skipped_parts", [])
    info.setdefault("sessions", []).append({"command_line": [sys.executable, *sys.argv],
                                            "started_at": _now()})
    rundir.write_run_info(out, info)
    return info


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def skip_part(info: dict, part: str, reason: str) -> None:
    """Record a part of the grid that was not measured, with the reason (machine.json)."""
    entry = {"part": part, "reason": reason}
    if entry not in info.setdefault("skipped_parts", []):
        info["skipped_parts"].append(entry)


def clear_partial(out: Path) -> None:
    """An interrupted job's partial output (its private folder, or an older run's temporary)."""
    for stale in out.glob(".job-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out.glob(".*.tmp*"):
        stale.unlink()


def _finished(path: Path) -> bool:
    """A result file counts only if it is a whole pyperf JSON document; a truncated or corrupt one
    is set aside as NAME.bad (kept for inspection) and its job re-run."""
    if not path.exists():
        return False
    try:
        doc = json.loads(path.read_bytes())
        if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list) and doc["benchmarks"]:
            return True
        why = "no benchmarks in it" if isinstance(doc, dict) and doc.get("benchmarks") == [] else "not a pyperf result"
    except (OSError, ValueError) as e:
        why = str(e)
    print(f"workbench: {path}: unreadable result ({why}); re-running its job (old file kept as "
          f"{path.name}.bad)", file=sys.stderr)
    os.replace(path, path.with_name(path.name + ".bad"))
    return False


@dataclass
class JobRunner:
    """Runs jobs of one run directory one at a time: each into a hidden temporary, renamed into
    place when whole; records each job's wall time and the load around it in machine.json."""
    out: Path
    mode: Mode
    latency: str
    work: Path                  # installs and per-job cache roots live here
    info: dict                  # machine.json as written at the start, updated per job
    progress: object = None     # a tqdm bar counted in expected seconds, or None

    def run(self, job: Job, processes: int | None = None, append: bool = False,
            expected_s: float = 0.0) -> str | None:
        """Run (or, append=True, add `processes` workers to) one job; None, or its error."""
        import time

        if self.progress is not None:
            self.progress.set_postfix_str(job.filename[:-5], refresh=True)
        final = self.out / job.filename
        # The worker writes by name: into a private folder of ours, never a name in `out` where a
        # planted link would be followed.
        private = Path(tempfile.mkdtemp(prefix=".job-", dir=self.out))
        tmp = private / job.filename
        if append:
            shutil.copyfile(final, tmp)
        cache_root = Path(tempfile.mkdtemp(prefix="c-", dir=self.work))  # this job's caches only
        load_before, t0 = os.getloadavg()[0], time.monotonic()
        more = ({"processes": processes} if processes is not None else {}) | ({"append": True} if append else {})
        proc = subprocess.run(job.argv(self.mode, self.latency, self.work / "installs", cache_root, tmp, **more),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        took = time.monotonic() - t0
        shutil.rmtree(cache_root, ignore_errors=True)
        rec = self.info["jobs"].setdefault(job.filename, {"seconds": 0.0, "processes": 0, "sessions": []})
        rec["sessions"].append({"started_at": _now(), "seconds": round(took, 2),
                                "load_1min_before": load_before, "load_1min_after": os.getloadavg()[0]})
        error = None
        if proc.returncode == 0 and tmp.exists():
            os.replace(tmp, final)
            rec["seconds"] = round(rec["seconds"] + took, 2)
            rec["processes"] += processes if processes is not None else self.mode.processes
        else:
            error = proc.stderr[-3000:] or f"exit status {proc.returncode}"
            rec["sessions"][-1]["failed"] = error.strip().splitlines()[-1:] or [""]
        shutil.rmtree(private, ignore_errors=True)
        rundir.write_run_info(self.out, self.info)
        if self.progress is not None:
            if error:
                self.progress.write(f"FAILED {job.filename}: {error.strip().splitlines()[-1:]}")
            self.progress.update(expected_s)
        return error

    def run_each(self, jobs: Sequence[Job], expected_s: Mapping[str, float], result: "SweepResult",
                 processes: Mapping[str, int] | None = None) -> None:
        """Run `jobs` one after the other, each into result.ran or (with its error) result.failed;
        `processes`: worker processes per job file where not the mode's."""
        for job in jobs:
            error = self.run(job, processes=(processes or {}).get(job.filename), expected_s=expected_s[job.filename])
            if error:
                result.failed[job.filename] = error
            else:
                result.ran.append(job)

    def finish(self) -> None:
        self.info["sessions"][-1]["finished_at"] = _now()
        rundir.write_run_info(self.out, self.info)


def progress_bar(total_s: float, done_s: float, enabled: bool):
    """A bar whose unit is expected seconds of work: its ETA is weighted by each job's cost."""
    from tqdm import tqdm

    return tqdm(total=round(total_s, 1), initial=round(done_s, 1), unit="s", disable=not enabled,
                dynamic_ncols=True, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")


def libvirt_reason(jobs: Sequence[Job], libvirt: Sequence[str] = ()) -> str | None:
    """Why real libvirt cannot be measured here (no build of `libvirt` can run), if jobs ask for
    it; a build that cannot run while another can is said on stderr and left to its job."""
    if not any(j.benchmark == "libvirt_real" for j in jobs):
        return None
    from workbench.libvirt9 import builds
    from workbench.libvirt9.backend import unavailable_reason

    reasons = {b.label: unavailable_reason(b) for b in builds.parse(list(libvirt))}
    for label, why in reasons.items():
        if why and not all(reasons.values()):
            print(f"sweep: real {label} not measured: {why}", file=sys.stderr)
    return "; ".join(f"{label}: {why}" for label, why in reasons.items()) if all(reasons.values()) else None


def fmt_minutes(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


@contextmanager
def job_runner(out: Path, mode: Mode, latency: str, info: dict, jobs: Sequence[Job]) -> Iterator[JobRunner]:
    """A JobRunner for `jobs` into `out`, in a private work dir (short: probe sockets live below
    /tmp anyway) holding the installs they run on, made once here and read-only afterwards. The
    dir goes at the end; when the body finished, the run's session is closed and its
    results.csv rewritten."""
    from workbench.sim.installs import ensure_install

    work = Path(tempfile.mkdtemp(prefix="vcs-"))
    try:
        for n, qemu in sorted({(j.n, str(dict(j.axes).get("qemu", "recorded"))) for j in jobs if j.n is not None}):
            ensure_install(work / "installs", n, latency, qemu)
        runner = JobRunner(out, mode, latency, work, info)
        yield runner
        runner.finish()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_results_csv(out)


def run_sweep(out: Path, emulators: Sequence[int] = DEFAULT_EMULATORS, strategies: Sequence[str] | None = None,
              latency: str = "recorded", mode: str = "quick",
              benchmarks: Sequence[str] = GRID_BENCHMARKS + SINGLE_BENCHMARKS,
              caches: Sequence[str] = ("cold", "warm"), progress: bool = True,
              blocks: Sequence[Block] | None = None, axes: Mapping[str, Sequence[Any]] | None = None,
              shard: Shard | None = None, libvirt: Sequence[str] = ()) -> SweepResult:
    """Run the grid into `out`: one block from (emulators, strategies, benchmarks, caches and
    further `axes`: BenchParams field -> values), or `blocks` when given (the main job's main_grid);
    `shard`: only that share of the grid. `libvirt`: the builds libvirt_real measures
    (BenchParams.libvirt: prefixes made by scripts/build-libvirt.sh or 'system'; empty: the system's)."""
    from workbench.bench.jobcost import CostModel
    if blocks is None:
        blocks = [Block(tuple(emulators), tuple(resolve_strategies(strategies)), tuple(benchmarks),
                        tuple(caches), tuple((k, tuple(v)) for k, v in (axes or {}).items()))]
    m = MODES[mode]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    whole = plan_grid(blocks, m)
    jobs = shard.take(whole) if shard else whole
    why = libvirt_reason(jobs, libvirt)
    if why:  # optional: the model's rows stand alone, and the run says why libvirt's are absent
        print(f"sweep: real libvirt 9.0 not measured: {why}", file=sys.stderr)
        jobs = [j for j in jobs if j.benchmark != "libvirt_real"]
        blocks = [b for b in blocks if b.benchmarks != ("libvirt_real",)]
    if libvirt:  # the builds libvirt_real's rows measure
        jobs = [replace(j, extra=j.extra + ("--libvirt", ",".join(libvirt))) if j.benchmark == "libvirt_real"
                else j for j in jobs]
    settings = {"mode": mode, "latency": latency,
                "emulators": sorted({n for b in blocks for n in b.emulators}),
                "strategies": list(dict.fromkeys(j.strategy for j in jobs if j.strategy)),
                "benchmarks": list(dict.fromkeys(j.benchmark for j in jobs)),
                "blocks": [asdict(b) for b in blocks],
                "pyperf_args": list(m.pyperf_args), "processes": m.processes, "libvirt": list(libvirt),
                "values_per_benchmark": {"cold": m.values("cold"), "warm": m.values("warm")}, "rounds": m.rounds,
                "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                "grid_sha256": grid_id(whole, mode, latency), "grid_jobs": len(whole),
                "shard": str(shard) if shard else None,
                "created_at": _now()}
    info = _check_or_write_machine(out, settings)
    if why:
        skip_part(info, "libvirt_real (real libvirt 9.0)", why)
    clear_partial(out)
    todo = [j for j in jobs if not _finished(out / j.filename)]
    result = SweepResult([], [j for j in jobs if j not in todo], {})
    costs = CostModel.from_run(values=m.values_per_process)
    cost = {j.filename: costs.job_s(j, m.processes) for j in jobs}
    left = sum(cost[j.filename] for j in todo)
    if progress and todo:
        print(f"sweep: {len(todo)} of {len(jobs)} jobs to run, expected {fmt_minutes(left)} "
              f"(the reference run's job times; the bar's ETA corrects itself as jobs finish)", flush=True)
    with job_runner(out, m, latency, info, todo) as runner:
        runner.progress = progress_bar(sum(cost.values()), sum(cost.values()) - left, progress)
        runner.run_each(todo, cost, result)
        runner.progress.close()
    return result
