"""`workbench run`: the main job, built for the answer on page one, in a few minutes.

It measures what the index page says and nothing else:
- the cover letter: cold daemon startup (spawn to first answered call) under full-caps and
  per-emulator at COVER_COUNTS emulators;
- a cold container's client (a KubeVirt pod: spawn, get_version, domcapabilities, define) under
  every strategy at N emulators;
- real libvirt 9.0's cold container on the same install, where libvirt is installed.

The headline ratios' benchmarks first get MIN_PROCESSES pyperf worker processes (one value each: a
cold value is a whole startup), every other benchmark OTHER_PROCESSES (the fewest `compare` can
test: the time goes where the answer is). Then, while the time budget allows, the headline
benchmarks get processes until each one's minimum detectable change against a run like this one
(what `workbench compare` would report, workbench.analysis.results.detectable) is at most
TARGET_MDC, the most change per second first (workbench.bench.detect_plan). What time is left
goes STEP processes at a time to the benchmark whose 95% confidence interval (across process
medians, workbench.analysis.precision) is widest, the headline ratios' benchmarks first, until
every interval lies within +-PRECISION of its estimate or has MAX_PROCESSES. The stop rule is
printed by `workbench run --help`. Each headline ratio is printed with its 95% CI across
processes and its benchmarks' minimum detectable changes at the end, which DETECT_FILE in the run
directory holds too.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from workbench.analysis import rundir
from workbench.analysis.rundir import DETECT_FILE
from workbench.bench import sweep
from workbench.qemu.strategy_names import FULL_CAPS, PER_EMULATOR
from workbench.analysis.precision import Interval, mean_interval, process_medians, ratio_interval
from workbench.bench.stop_rule import (BUDGET_S, CHEAP_VALUES, MAX_DETECT_PROCESSES, MAX_PROCESSES, MIN_PROCESSES, OTHER_PROCESSES,
                                       PRECISION, STEP, TARGET_MDC, stop_rule)

N = 30
COVER_COUNTS = (1, 8, N)
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
    """A cold daemon startup. One that probes nothing before its first answer (every strategy
    but full-caps) takes a fraction of a second, most of it the daemon process's own start,
    whose spread between processes is wide and heavy-tailed: CHEAP_VALUES values per worker
    process (each a fresh daemon on a fresh cache), the process median the unit compare tests."""
    return sweep.Job("daemon_startup", 1, strategy, n, "cold",
                     values=None if strategy == FULL_CAPS else CHEAP_VALUES)


LIBVIRT_JOB = sweep.Job("libvirt_real", 1, "libvirt-9.0", N, "cold", "cold_container")


def todo_possible(jobs: Sequence[sweep.Job]) -> bool:
    names = {j.strategy for j in jobs if j.benchmark == "scenarios"}
    return PER_EMULATOR in names and bool(names - set(sweep.LIBVIRT_STRATEGIES))


def answer_jobs(strategies: Sequence[str], libvirt: bool) -> list[sweep.Job]:
    """The main job's benchmarks, the strategies of one count next to each other."""
    jobs = [daemon(s, n) for n in COVER_COUNTS for s in sweep.LIBVIRT_STRATEGIES]
    jobs += [cold_container(s) for s in strategies]
    return jobs + ([LIBVIRT_JOB] if libvirt else [])


def headlines(libvirt: bool) -> list[Headline]:
    out = [Headline("cover_letter", f"cover letter: cold daemon startup at {N} emulators, full-caps / per-emulator",
                    daemon(FULL_CAPS, N), daemon(PER_EMULATOR, N)),
           Headline("cold_container", f"cold container at {N}: per-emulator / {BEST_NEWER}",
                    cold_container(PER_EMULATOR), None)]
    if libvirt:
        out.append(Headline("libvirt", f"cold container at {N}: real libvirt 9.0 / per-emulator (model)",
                            LIBVIRT_JOB, cold_container(PER_EMULATOR)))
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


def fixed_headline_jobs(libvirt: bool) -> set[str]:
    """The files of the headline benchmarks known before anything is measured (the best newer
    strategy is chosen from the run)."""
    return {j.filename for h in headlines(libvirt) for j in (h.numerator, h.denominator) if j is not None}


def first_processes(job: sweep.Job, libvirt: bool) -> int:
    return MIN_PROCESSES if job.filename in fixed_headline_jobs(libvirt) else OTHER_PROCESSES


def expected_first_pass_s(jobs: Sequence[sweep.Job]) -> float:
    from workbench.bench.jobcost import CostModel

    costs = CostModel.from_run()
    libvirt = LIBVIRT_JOB in jobs
    return sum(costs.job_s(j, first_processes(j, libvirt)) for j in jobs)


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
                "pyperf_args": list(MODE.pyperf_args), "processes": f"{OTHER_PROCESSES} to {MAX_DETECT_PROCESSES}",
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
    first_n = {j.filename: first_processes(j, not why) for j in todo}
    first = {j.filename: costs.job_s(j, first_n[j.filename]) for j in todo}
    measured = Measured(out)
    with sweep.job_runner(out, MODE, "recorded", info, jobs) as runner:  # installs for the later passes too
        runner.progress = sweep.progress_bar(sum(first.values()), 0, progress)
        # the first pass: every benchmark, the headline ones with more processes
        runner.run_each(todo, first, result, first_n)
        runner.progress.close()
        runner.progress = None
        heads = headlines(not why)
        _detect(runner, measured, jobs, heads, budget_s - report_s, started, say)
        _adapt(runner, measured, jobs, heads, budget_s - report_s, started, say)
    write_detectable(out, not why)
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


def headline_benchmarks(measured: Measured, heads: Sequence[Headline],
                        jobs: Sequence[sweep.Job]) -> list[tuple[Headline, str, sweep.Job]]:
    """(headline, 'slower' | 'faster', job) of every benchmark behind a headline ratio."""
    out = []
    for h in heads:
        _, den = ratio_of(measured, h, jobs)
        out += [(h, role, j) for role, j in (("slower", h.numerator), ("faster", den)) if j is not None]
    return out


def _is_headline_row(file: str, system: str, job: sweep.Job) -> bool:
    # one libvirt_real file holds every build asked for: the headline is the stock one
    return file == job.filename and (job.benchmark != "libvirt_real" or rundir.is_stock_libvirt(system))


def stock_only(job: sweep.Job) -> sweep.Job:
    """The job measuring only the stock libvirt build, where it measures several: the processes
    the detectable-change phase adds are for the headline's build alone."""
    if job.benchmark != "libvirt_real" or "--libvirt" not in job.extra:
        return job
    from workbench.libvirt9 import builds

    at = job.extra.index("--libvirt") + 1
    values = job.extra[at].split(",")
    stock = [v for v, b in zip(values, builds.parse(values)) if rundir.is_stock_libvirt(b.label)]
    if not stock or len(stock) == len(values):
        return job
    return replace(job, extra=job.extra[:at] + (",".join(stock),) + job.extra[at + 1:])


def _process_s(path: Path, benchmark: str, values: Sequence[Sequence[float]]) -> float:
    """One more worker process of a benchmark: its workers' median duration plus the start gap
    (jobcost.worker_s), or, where the file records none, the median of its processes' values
    plus jobcost's default start."""
    from workbench.bench.jobcost import PROCESS_START_S, worker_s

    known = worker_s(path, benchmark)
    if known is not None:
        return known
    per_process = sorted(sum(v) for v in values if v)
    return (per_process[len(per_process) // 2] if per_process else 0.0) + PROCESS_START_S


def _detect(runner: sweep.JobRunner, measured: Measured, jobs: Sequence[sweep.Job], heads: Sequence[Headline],
            until_s: float, started: float, say: Callable[[str], None]) -> None:
    """Add processes to the headline benchmarks until each one's minimum detectable change
    against a like run is at most TARGET_MDC, the most change per second first (stop_rule())."""
    from workbench.analysis.results import KEY, load_run, process_groups
    from workbench.bench.detect_plan import next_step
    from workbench.bench.jobcost import MANAGER_START_S

    failed: set[str] = set()
    while True:
        df = load_run(runner.out)
        groups = process_groups(df)
        wanted = [j for _, _, j in headline_benchmarks(measured, heads, jobs) if j.filename not in failed]
        index, costs = {}, {}
        for i, (k, g) in enumerate(df.groupby(KEY, dropna=False, sort=False)):  # process_groups' order
            job = next((j for j in wanted if _is_headline_row(g["file"].iloc[0], g["system"].iloc[0], j)), None)
            if job is not None:
                index[i] = job
                costs[i] = _process_s(runner.out / job.filename, g["name"].iloc[0], groups[k])
        remaining = until_s - (time.monotonic() - started)
        step = next_step(list(groups.values()), list(index), costs, remaining, MANAGER_START_S,
                         TARGET_MDC, MAX_DETECT_PROCESSES)
        if step is None:
            return
        job = index[step.index]
        say(f"run: +{step.processes} processes for {job.filename[:-5]} (minimum detectable change "
            f"{step.mdc_now:.1%}, about {step.mdc_after:.1%} after; ~{step.cost_s:.0f} s)")
        before = len(measured.medians(job))
        # a failed step, or one that measured nothing (a build that cannot run here is skipped
        # by its script with exit 0), is not asked for again
        if runner.run(stock_only(job), processes=step.processes, append=True) or \
                len(measured.medians(job)) <= before:
            failed.add(job.filename)


def detectable_rows(out: Path, libvirt: bool | None = None) -> dict:
    """The headline benchmarks' minimum detectable changes against a run like this one, as
    written to DETECT_FILE: compare's test count, method and settings beside them."""
    from workbench.analysis.results import detectable, load_run
    from workbench.analysis.stats import POWER

    out = Path(out)
    has_lv = (out / LIBVIRT_JOB.filename).exists() if libvirt is None else libvirt
    det = detectable(load_run(out))
    rows = []
    for h, role, job in headline_benchmarks(Measured(out), headlines(has_lv), answer_jobs(
            sweep.resolve_strategies("all"), has_lv)):
        hit = [r for r in det.itertuples() if _is_headline_row(r.file, r.system, job)]
        if hit:
            r = hit[0]
            mdc = float(r.mdc)
            rows.append({"headline": h.key, "role": role, "strategy": job.strategy, "system": r.system,
                         "benchmark": r.name, "file": r.file, "processes": int(r.processes),
                         "sd_log": None if r.sd_log != r.sd_log else round(float(r.sd_log), 5),
                         "mdc": round(mdc, 5) if math.isfinite(mdc) else None, "reached": mdc <= TARGET_MDC})
    return {"target": TARGET_MDC, "tests": len(det), "min_change": 0.05, "alpha": 0.05, "power": POWER,
            "against": "a run like this one: the same processes and spreads, no drift between the runs",
            "computed_by": "workbench.analysis.results.detectable (stats.like_run_changes, as compare)",
            "headline": rows}


def write_detectable(out: Path, libvirt: bool | None = None) -> Path:
    from workbench.atomicfile import write_bytes

    path = Path(out) / DETECT_FILE
    write_bytes(path, (json.dumps(detectable_rows(out, libvirt), indent=2) + "\n").encode())
    return path


def _fmt_mdc(row: dict, whole: bool = False) -> str:
    mdc = "unknown" if row["mdc"] is None else f"{row['mdc']:.1%}"
    who = row["file"].rsplit("--r", 1)[0] if whole else row["strategy"] if row["system"] == "model" else row["system"]
    return f"{who} {mdc} ({row['processes']} processes)"


def summary_lines(out: Path, libvirt: bool | None = None) -> list[str]:
    """Each headline ratio with its 95% CI across processes and its benchmarks' minimum
    detectable changes, as printed at the end of a run; then the ones above the target."""
    measured = Measured(Path(out))
    strategies = sweep.resolve_strategies("all")
    has_lv = (Path(out) / LIBVIRT_JOB.filename).exists() if libvirt is None else libvirt
    jobs = answer_jobs(strategies, has_lv)
    det = detectable_rows(out, has_lv)
    lines = []
    for h in headlines(has_lv):
        iv, den = ratio_of(measured, h, jobs)
        label = h.label.replace(BEST_NEWER, den.strategy) if den is not None else h.label
        mine = [_fmt_mdc(r) for r in det["headline"] if r["headline"] == h.key]
        lines.append(f"{label}: {fmt_interval(iv)}" + (
            f"; minimum detectable change against a like run ({det['tests']} tests): {', '.join(mine)}"
            if mine else ""))
    above = list({r["file"]: r for r in det["headline"] if not r["reached"]}.values())
    if above:
        lines.append(f"minimum detectable change above {TARGET_MDC:.0%} (the budget or "
                     f"{MAX_DETECT_PROCESSES} processes did not allow more): {', '.join(_fmt_mdc(r, True) for r in above)}")
    return lines


def record_duration(out: Path, seconds: float) -> None:
    """The whole run's wall time (sweep and report) in machine.json's last session."""
    info = rundir.read_run_info(out).data
    if info.get("sessions"):
        info["sessions"][-1]["run_wall_s"] = round(seconds, 1)
        rundir.write_run_info(out, info)
