"""The sweep's job-cost estimate: which run it reads, the modelled teardown it adds, the counting
run; and the full grid's table. Synthetic runs (pyperf-shaped JSON) in tmp_path; nothing is timed."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from workbench.bench import fullgrid_cost, launch_model
from workbench.bench.jobcost import CostModel, KEPT_FULL_GRID
from workbench.bench.sweep import FULL_GRID, MODES, SWEEP_MODE, Job, main_grid, plan_grid
from workbench.qemu.teardown import POLL_S

T0 = dt.datetime(2026, 12, 5, 12, 0, 0)


def write_job(run: Path, stem: str, benches: dict[str, float], processes: int = 5, gap: float = 0.2,
              meta: dict | None = None, start: dt.datetime = T0) -> None:
    """A job file whose every benchmark ran `processes` workers of the given duration, `gap` apart."""
    t = start
    out = []
    for name, duration in benches.items():
        runs = []
        for _ in range(processes):
            runs.append({"metadata": {"date": t.isoformat(), "duration": duration, "loops": 1},
                         "values": [duration / 2]})
            t += dt.timedelta(seconds=duration + gap)
        out.append({"metadata": {"name": name, **(meta or {}).get(name, {})}, "runs": runs})
    run.mkdir(parents=True, exist_ok=True)
    (run / f"{stem}--r1.json").write_text(json.dumps({"benchmarks": out, "metadata": {}}))


def counted(strategy: str, n: int, launches: int) -> dict:
    md = {"wb_strategy": strategy, "wb_n_emulators": n, "wb_launches": launches}
    return {f"scenario.{c}": {**md, "wb_case": c} for c in ("cold_container", "package_upgrade")} | \
        {"scenario.steady_host": {**md, "wb_case": "steady_host", "wb_launches": 0}}


def scenario_benches(duration: float = 1.0) -> dict[str, float]:
    return {f"scenario.{c}": duration for c in ("cold_container", "package_upgrade", "steady_host")}


@pytest.fixture
def runs(tmp_path):
    ref, before = tmp_path / "ref", tmp_path / "before"
    ref.mkdir()
    write_job(before, "driver_startup--n08--cold--full-caps", {"driver_startup[n=8]": 1.0})
    write_job(before, "driver_startup--n08--cold--per-emulator", {"driver_startup[n=8]": 0.1})
    write_job(before, "scenarios--n08--cold--full-caps", scenario_benches(),
              meta=counted("full-caps", 8, 10))
    return ref, before


def test_a_job_the_reference_lacks_costs_the_run_before_plus_the_modelled_teardown(runs):
    ref, before = runs
    model = CostModel.from_run(ref, before)
    assert model.per_launch_s == POLL_S  # nothing both runs hold: the poll itself
    start = model.before.start_s
    job = Job("driver_startup", 1, "full-caps", 8, "cold")
    assert model.source(job) == "before+model"
    assert model.process_s(job) == pytest.approx(1.0 + start + 10 * POLL_S)  # 10 launches counted at n=8
    fixed = Job("driver_startup", 1, "full-caps", 8, "cold", axes=(("teardown", "pidfd"),))
    assert model.process_s(fixed) == pytest.approx(1.0 + start)  # the fix sleeps no poll
    lazy = Job("driver_startup", 1, "per-emulator", 8, "cold")
    assert model.process_s(lazy) == pytest.approx(0.1 + start)  # nothing probed at startup
    unknown = Job("parse", 1, "full-caps", 8, "cold")
    assert model.source(unknown) == "default"


def test_the_reference_wins_and_calibrates_the_cost_of_a_launch(runs):
    ref, before = runs
    write_job(ref, "driver_startup--n08--cold--full-caps", {"driver_startup[n=8]": 4.0}, processes=3)
    model = CostModel.from_run(ref, before)
    assert model.per_launch_s == pytest.approx((4.0 - 1.0) / 10)
    job = Job("driver_startup", 1, "full-caps", 8, "cold")
    assert model.source(job) == "reference"
    assert model.process_s(job) == pytest.approx(4.0 + model.start_s)
    assert model.teardown_s(job) == 0.0  # the reference paid it already


def test_scenarios_jobs_add_their_counting_run_once_unless_told_not_to(runs):
    ref, before = runs
    model = CostModel.from_run(ref, before)
    job = Job("scenarios", 1, "full-caps", 8, "cold")
    per_process = model.process_s(job)
    # three cases of 1 s, two of them ending 10 launches each with the poll
    assert per_process == pytest.approx(3 * (1.0 + model.before.start_s) + 20 * POLL_S)
    with_count = model.job_s(job, 5)
    without = model.job_s(Job("scenarios", 1, "full-caps", 8, "cold", extra=("--count", "no")), 5)
    assert without == pytest.approx(0.5 + 5 * per_process)
    assert with_count - without == pytest.approx(per_process - 3 * model.before.start_s)


@pytest.mark.parametrize("benchmark, name, strategy, cache, teardown, expected", [
    ("daemon_startup", "daemon_startup", "full-caps", "cold", "libvirt9", 27),
    ("daemon_startup", "daemon_startup", "per-emulator", "cold", "libvirt9", 0),
    ("daemon_startup", "daemon_startup", "full-caps", "warm", "libvirt9", 0),
    ("daemon_startup", "daemon_startup", "full-caps", "cold", "pidfd", 0),
    ("daemon_startup", "daemon_startup", "full-caps", "cold", "libvirt5", 0),
    ("apis", "api.get_capabilities[n=30]", "per-emulator", "cold", "libvirt9", 27),
    ("apis", "api.get_version[n=30]", "per-emulator-fixed", "cold", "libvirt9", 2),
    ("apis", "api.define_xml[n=30]", "per-emulator", "cold", "libvirt9", 2),
    ("apis", "api.get_capabilities[n=30]", "full-caps", "cold", "libvirt9", 0),
    ("parse", "parse.first.x.parse[n=30]", "per-emulator", "cold", "libvirt9", 2),
    ("libvirt_real", "scenario.cold_container", "libvirt-9.0", "cold", "libvirt9", 0),
])
def test_launches_per_value_follow_the_scripts(benchmark, name, strategy, cache, teardown, expected):
    counts = launch_model.LaunchCounts({("full-caps", "cold_container", 30): 27})
    assert launch_model.per_value(benchmark, name, strategy, 30, cache, teardown, counts) == expected


def test_the_full_grid_estimate_reads_runs_for_every_job_not_the_default():
    """The kept full-grid run covers every job the committed reference lacks (before it, every
    benchmark the main job does not measure was estimated at 5 s a process)."""
    assert KEPT_FULL_GRID.is_dir()
    rows = fullgrid_cost.cost_table()
    assert len(rows) == len(plan_grid(main_grid(*FULL_GRID), MODES[SWEEP_MODE])) > 100
    assert {r.source for r in rows} <= {"reference", "before+model"}
    by_teardown = {}
    for r in rows:
        by_teardown.setdefault(dict(r.job.axes).get("teardown", "libvirt9"), []).append(r.sleep_s)
    assert sum(by_teardown["pidfd"]) == sum(by_teardown["libvirt5"]) == 0
    assert sum(by_teardown["libvirt9"]) > 0
    assert "| benchmark | n |" in fullgrid_cost.markdown(rows[:3])
