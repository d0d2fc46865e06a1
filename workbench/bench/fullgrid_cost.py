"""Where the time of `workbench run --full` goes, job by job: the job-cost estimate written out.

`python -m workbench.bench.fullgrid_cost` prints, for every job of the full grid, its values, the
probe launches libvirt 9.0's teardown ends in them (modelled: workbench.bench.launch_model), the
expected seconds and how much of them is that teardown's 200 ms sleep, then the totals split into
the values' workers and what is not measurement (worker starts, pyperf managers, the scenarios'
counting runs). Computed by a model from finished runs (workbench.bench.jobcost), not measured;
docs/full-grid-cost.md holds its output with the conclusions.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from workbench.bench import launch_model
from workbench.bench.jobcost import CostModel, _case, _counting
from workbench.bench.sweep import FULL_GRID, MODES, SWEEP_MODE, main_grid, plan_grid
from workbench.qemu.teardown import DEFAULT_MODE, POLL_S


@dataclass
class JobCost:
    job: object            # workbench.bench.sweep.Job
    benchmarks: int        # pyperf benchmarks in the job (one worker each per process)
    values: int            # values per benchmark in the finished job
    launches: float        # probe launches ended with libvirt 9.0's teardown, all values of the job
    expected_s: float
    sleep_s: float         # of expected_s: the teardown's poll sleep (launches x 200 ms)
    worker_start_s: float  # of expected_s: starting the worker processes (Python, imports)
    once_s: float          # of expected_s: the pyperf manager's start and the counting run
    source: str


def cost_table(model: CostModel | None = None) -> list[JobCost]:
    mode = MODES[SWEEP_MODE]
    model = model or CostModel.from_run(values=mode.values_per_process)
    out = []
    for job in plan_grid(main_grid(*FULL_GRID), mode):
        names = model._names(job) or [job.benchmark]
        td = dict(job.axes).get("teardown", DEFAULT_MODE)
        per_process = model.launches_per_process(job, names)
        counted = launch_model.counting_run(job.benchmark, names, job.strategy, job.n, td, model.counts) \
            if job.benchmark == "scenarios" and _counting(job) else 0.0
        launches = per_process * mode.processes + counted
        out.append(JobCost(job, len(names), mode.values(job.cache), launches,
                           model.job_s(job, mode.processes), launches * POLL_S,
                           len(names) * mode.processes * model.start_of(job), model.once_s(job),
                           model.source(job)))
    return out


def markdown(rows: list[JobCost]) -> str:
    lines = ["| benchmark | n | cache | strategy | teardown | benchmarks x values | launches | "
             "expected s | of which sleep s | source |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        j = r.job
        lines.append(f"| {j.benchmark} | {j.n or ''} | {j.cache or ''} | {j.strategy or ''} | "
                     f"{dict(j.axes).get('teardown', DEFAULT_MODE)} | {r.benchmarks} x {r.values} | "
                     f"{r.launches:.0f} | {r.expected_s:.1f} | {r.sleep_s:.1f} | {r.source} |")
    return "\n".join(lines)


def timed_s(model: CostModel | None) -> float:
    """Seconds inside the timed regions of a run's values (value x loops x inner loops), summed."""
    return sum(model.timed.values()) if model is not None else 0.0


def summary(rows: list[JobCost], model: CostModel) -> str:
    total = sum(r.expected_s for r in rows)
    sleep = sum(r.sleep_s for r in rows)
    starts = sum(r.worker_start_s for r in rows)
    once = sum(r.once_s for r in rows)
    workers = sum(r.benchmarks for r in rows) * MODES[SWEEP_MODE].processes
    by_bench: dict[str, list[float]] = {}
    for r in rows:
        b = by_bench.setdefault(r.job.benchmark, [0, 0.0, 0.0, 0.0])
        b[0] += 1
        b[1] += r.expected_s
        b[2] += r.sleep_s
        b[3] += r.launches
    out = [f"jobs: {len(rows)}; expected: {total:.0f} s ({total / 60:.1f} min), of which the modelled "
           f"teardown's sleep {sleep:.0f} s ({sleep / 60:.1f} min) and its cost per launch "
           f"{model.per_launch_s * 1000:.0f} ms (sleep {POLL_S * 1000:.0f} ms); worker processes started: "
           f"{workers} = {starts:.0f} s; pyperf managers and counting runs: {once:.0f} s; "
           f"the values' timed regions in the full-grid run before the teardown model: "
           f"{timed_s(model.before):.0f} s, to which the modelled teardown adds {sleep:.0f} s of sleep",
           "", "| benchmark | jobs | expected s | launches | of which sleep s |", "|---|---|---|---|---|"]
    for b, (n, s, sl, la) in sorted(by_bench.items(), key=lambda kv: -kv[1][1]):
        out.append(f"| {b} | {n} | {s:.0f} | {la:.0f} | {sl:.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workbench.bench.fullgrid_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", action="store_true", help="the totals only, not every job")
    args = ap.parse_args(argv)
    model = CostModel.from_run(values=MODES[SWEEP_MODE].values_per_process)
    rows = cost_table(model)
    print(summary(rows, model))
    if not args.summary:
        print()
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
