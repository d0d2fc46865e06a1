"""`workbench run`: the main job, built for the answer on page one, in a few minutes.

It measures what the index page says and nothing else:
- the cover letter: cold daemon startup (spawn to first answered call) under full-caps and
  per-emulator at COVER_COUNTS emulators;
- a cold container's client (a KubeVirt pod: spawn, get_version, domcapabilities, define) under
  every strategy at N emulators;
- real libvirt 9.0's cold container on the same install, where libvirt is installed.

Every benchmark first gets MIN_PROCESSES pyperf worker processes (one value each: a cold value is
a whole startup). Then, while the time budget allows, processes are added STEP at a time to the
benchmark whose 95% confidence interval (across process medians, workbench.analysis.precision) is widest,
the headline ratios' benchmarks first, until every interval lies within +-PRECISION of its
estimate or has MAX_PROCESSES. The stop rule is printed by `workbench run --help`. Each headline
ratio is printed with its 95% CI across processes at the end.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from workbench.analysis import rundir
from workbench.bench import sweep
from workbench.analysis.precision import Interval, mean_interval, process_medians, ratio_interval
from workbench.bench.stop_rule import MAX_PROCESSES, MIN_PROCESSES, PRECISION, STEP, stop_rule

N = 30
COVER_COUNTS = (1, 8, N)
BUDGET_S = 270.0      # the whole run's wall time the adaptive part plans for (the report included)
REPORT_S = 45.0       # the report's expected wall time on 2 quiet cores (notebooks side by side)
MODE = sweep.Mode("answer", ("-w", "0", "--loops", "1"), processes=MIN_PROCESSES, values_cold=1, values_warm=4)
BEST_NEWER = "best newer strategy"


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    numerator: sweep.Job       # the slower side: the ratio says how many times faster the other is
    denominator: sweep.Job | None  # None: the fastest of the newer strategies, chosen from the run


def cold_container(strategy: str) -> sweep.Job:
    return sweep.Job("scenarios", 1, strategy, N, "cold", "cold_container", ("--count", "no"))


def daemon(strategy: str, n: int) -> sweep.Job:
    return sweep.Job("daemon_startup", 1, strategy, n, "cold")


LIBVIRT_JOB = sweep.Job("libvirt_real", 1, "libvirt-9.0", N, "cold", "cold_container")


def todo_possible(jobs: Sequence[sweep.Job]) -> bool:
    names = {j.strategy for j in jobs if j.benchmark == "scenarios"}
    return "per-emulator" in names and bool(names - set(sweep.LIBVIRT_STRATEGIES))


def answer_jobs(strategies: Sequence[str], libvirt: bool) -> list[sweep.Job]:
    """The main job's benchmarks, the strategies of one count next to each other."""
    jobs = [daemon(s, n) for n in COVER_COUNTS for s in sweep.LIBVIRT_STRATEGIES]
    jobs += [cold_container(s) for s in strategies]
    return jobs + ([LIBVIRT_JOB] if libvirt else [])


def headlines(libvirt: bool) -> list[Headline]:
    out = [Headline("cover_letter", f"cover letter: cold daemon startup at {N} emulators, full-caps / per-emulator",
                    daemon("full-caps", N), daemon("per-emulator", N)),
           Headline("cold_container", f"cold container at {N}: per-emulator / {BEST_NEWER}",
                    cold_container("per-emulator"), None)]
    if libvirt:
        out.append(Headline("libvirt", f"cold container at {N}: real libvirt 9.0 / per-emulator (model)",
                            LIBVIRT_JOB, cold_container("per-emulator")))
    return out


@dataclass
class Measured:
    """What the run directory holds so far, per job file."""
    out: Path

    def medians(self, job: sweep.Job) -> list[float]:
        from workbench.analysis.results import suite_rows

        path = self.out / job.filename
        if not path.exists():
            return []
        import pandas as pd

        rows = pd.DataFrame(suite_rows(path))  # one dict per value
        if len(rows) and "system" in rows and job.benchmark == "libvirt_real":
            # one file holds every build asked for (stock and patched): the headline is the stock one
            rows = rows[rundir.is_stock_libvirt(rows["system"])]
        return process_medians(rows) if len(rows) else []

    def interval(self, job: sweep.Job) -> Interval:
        return mean_interval(self.medians(job))


def best_newer(measured: Measured, jobs: Sequence[sweep.Job]) -> sweep.Job | None:
    newer = [j for j in jobs if j.benchmark == "scenarios" and j.strategy not in sweep.LIBVIRT_STRATEGIES]
    known = [(measured.interval(j).estimate, j) for j in newer]
    known = [(e, j) for e, j in known if e == e]
    return min(known, key=lambda t: t[0])[1] if known else None


def ratio_of(measured: Measured, h: Headline, jobs: Sequence[sweep.Job]) -> tuple[Interval, sweep.Job | None]:
    den = h.denominator or best_newer(measured, jobs)
    if den is None:
        return Interval(math.nan, math.nan, math.nan, 0), None
    return ratio_interval(measured.medians(h.numerator), measured.medians(den)), den


def fmt_interval(iv: Interval) -> str:
    if iv.estimate != iv.estimate:
        return "not measured"
    if not math.isfinite(iv.high):
        return f"{iv.estimate:.3g}x (95% CI unknown: fewer than 2 processes)"
    return f"{iv.estimate:.3g}x (95% CI {iv.low:.3g}-{iv.high:.3g}x, {iv.processes}+ processes)"


def expected_first_pass_s(jobs: Sequence[sweep.Job]) -> float:
    from workbench.bench.jobcost import CostModel

    costs = CostModel.from_run()
    return sum(costs.job_s(j, MIN_PROCESSES) for j in jobs)


def run_answer(out: Path, budget_s: float = BUDGET_S, report_s: float = REPORT_S,
               started: float | None = None, say: Callable[[str], None] = print,
               strategies: Sequence[str] | None = None, progress: bool = True,
               libvirt: Sequence[str] = ()) -> sweep.SweepResult:
    """The sweep of the main job into `out` (resumable: finished benchmarks are kept and may get
    more processes); returns what ran. The report is the caller's. `strategies`: the cold
    container's (default all); `libvirt`: the builds real libvirt's row measures (default: the
    system's)."""
    from workbench.bench.jobcost import CostModel

    started = time.monotonic() if started is None else started
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    strategies = sweep.resolve_strategies(strategies or "all")
    why = sweep.libvirt_reason([LIBVIRT_JOB], libvirt)
    jobs = answer_jobs(strategies, libvirt=not why)
    if libvirt:
        jobs = [replace(j, extra=("--libvirt", ",".join(libvirt))) if j == LIBVIRT_JOB else j for j in jobs]
    if not todo_possible(jobs):
        raise sweep.SweepMismatch("the main job needs per-emulator and at least one newer strategy")
    settings = {"mode": MODE.name, "latency": "recorded", "emulators": sorted({j.n for j in jobs}),
                "strategies": list(dict.fromkeys(j.strategy for j in jobs)),
                "benchmarks": list(dict.fromkeys(j.benchmark for j in jobs)),
                "pyperf_args": list(MODE.pyperf_args), "processes": f"{MIN_PROCESSES} to {MAX_PROCESSES}",
                "stop_rule": stop_rule(), "budget_s": budget_s,
                "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                "grid_sha256": sweep.grid_id(jobs, MODE.name, "recorded"), "grid_jobs": len(jobs),
                "shard": None, "created_at": sweep._now()}
    info = sweep._check_or_write_machine(out, settings)
    if why:
        sweep.skip_part(info, "libvirt_real (real libvirt 9.0)", why)
        say(f"run: real libvirt 9.0 not measured: {why}")
    sweep.skip_part(info, "startup traces", "not part of the main job (workbench run --full makes them)")
    sweep.clear_partial(out)
    todo = [j for j in jobs if not sweep._finished(out / j.filename)]
    result = sweep.SweepResult([], [j for j in jobs if j not in todo], {})
    costs = CostModel.from_run()
    first = {j.filename: costs.job_s(j, MIN_PROCESSES) for j in todo}
    measured = Measured(out)
    with sweep.job_runner(out, MODE, "recorded", info, todo) as runner:
        runner.progress = sweep.progress_bar(sum(first.values()), 0, progress)
        runner.run_each(todo, first, result)  # the first pass: every benchmark, MIN_PROCESSES processes
        runner.progress.close()
        runner.progress = None
        _adapt(runner, measured, jobs, headlines(not why), budget_s - report_s, started, say)
    return result


def _adapt(runner: sweep.JobRunner, measured: Measured, jobs: Sequence[sweep.Job],
           heads: Sequence[Headline], until_s: float, started: float, say: Callable[[str], None]) -> None:
    """Add processes where the answer is least certain while the budget allows (stop_rule())."""
    def in_headline() -> set[str]:
        names = set()
        for h in heads:
            _, den = ratio_of(measured, h, jobs)
            names |= {h.numerator.filename} | ({den.filename} if den else set())
        return names

    skip: set[str] = set()
    while True:
        head = in_headline()
        open_ = []
        for j in jobs:
            rec = runner.info["jobs"].get(j.filename, {})
            procs = rec.get("processes", 0)
            iv = measured.interval(j)
            if j.filename in skip or procs == 0 or procs >= MAX_PROCESSES or iv.half_width <= PRECISION:
                continue
            per_process = rec.get("seconds", 0.0) / procs
            open_.append((j.filename not in head, -iv.half_width, j, per_process))
        open_.sort(key=lambda t: (t[0], t[1]))
        for _, neg_hw, job, per_process in open_:
            cost = STEP * per_process
            if time.monotonic() - started + cost <= until_s:
                say(f"run: +{STEP} processes for {job.filename[:-5]} (95% CI +-{-neg_hw:.1%}, "
                    f"~{cost:.0f} s)")
                if runner.run(job, processes=STEP, append=True):
                    skip.add(job.filename)
                break
        else:
            return


def summary_lines(out: Path, libvirt: bool | None = None) -> list[str]:
    """Each headline ratio with its 95% CI across processes, as printed at the end of a run."""
    measured = Measured(Path(out))
    strategies = sweep.resolve_strategies("all")
    has_lv = (Path(out) / LIBVIRT_JOB.filename).exists() if libvirt is None else libvirt
    jobs = answer_jobs(strategies, has_lv)
    lines = []
    for h in headlines(has_lv):
        iv, den = ratio_of(measured, h, jobs)
        label = h.label.replace(BEST_NEWER, den.strategy) if den is not None else h.label
        lines.append(f"{label}: {fmt_interval(iv)}")
    return lines


def record_duration(out: Path, seconds: float) -> None:
    """The whole run's wall time (sweep and report) in machine.json's last session."""
    info = rundir.read_run_info(out).data
    if info.get("sessions"):
        info["sessions"][-1]["run_wall_s"] = round(seconds, 1)
        rundir.write_run_info(out, info)
