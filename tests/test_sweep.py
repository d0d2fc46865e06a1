"""sweep: the job grid, resuming, atomic files, machine.json; compare on two small real runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from workbench.analysis import results
from workbench.bench import sweep
from workbench.cli import main as cli_main


def test_plan_interleaves_strategies_and_takes_every_registered_one(monkeypatch):
    from workbench.qemu import strategies

    monkeypatch.setitem(strategies.STRATEGIES, "newcomer", strategies.STRATEGIES["per-emulator"])
    names = sweep.resolve_strategies("all")
    assert names[-1] == "newcomer" and names[:2] == ["full-caps", "per-emulator"]
    jobs = sweep.plan([1, 30], names, sweep.MODES["default"])
    grid = [j for j in jobs if j.n is not None]
    # strategies of one (n, cache, benchmark) run back to back, in registry order
    k = len(names)
    for i in range(0, len(grid), k):
        group = grid[i:i + k]
        assert [j.strategy for j in group] == names
        assert len({(j.n, j.cache, j.benchmark) for j in group}) == 1
    assert {j.benchmark for j in grid} == set(sweep.GRID_BENCHMARKS)
    assert [j.benchmark for j in jobs if j.n is None] == list(sweep.SINGLE_BENCHMARKS)
    assert len({j.filename for j in jobs}) == len(jobs)
    assert {j.cache for j in grid if j.benchmark == "scenarios"} == {"cold"}  # its own cache states
    with pytest.raises(ValueError, match="unknown strategies"):
        sweep.resolve_strategies("full-caps,nope")


def test_quick_runs_tracing_overhead_warm_only_and_rigorous_repeats_rounds():
    quick = sweep.plan([1], ["full-caps"], sweep.MODES["quick"])
    assert {j.cache for j in quick if j.benchmark == "tracing_overhead"} == {"warm"}
    rigorous = sweep.plan([1], ["full-caps"], sweep.MODES["rigorous"])
    assert {j.round for j in rigorous} == {1, 2}


def test_every_mode_runs_enough_processes_for_compare_to_test():
    from workbench.analysis.stats import MIN_PROCESSES

    for mode in sweep.MODES.values():
        assert mode.processes * mode.rounds >= max(5, MIN_PROCESSES), mode.name  # the unit compare tests on
        assert "--in-process" not in mode.pyperf_args, mode.name
        job = sweep.Job("driver_startup", 1, "full-caps", 1, "warm")
        argv = job.argv(mode, "none", Path("/i"), Path("/c"), Path("/o"))
        assert argv[argv.index("-n") + 1] == str(mode.values_per_process("warm"))
        assert argv[argv.index("-p") + 1] == str(mode.processes)


def test_a_job_may_take_its_own_values_per_process_and_its_grid_says_so():
    mode = sweep.MODES["quick"]
    plain = sweep.Job("daemon_startup", 1, "per-emulator", 30, "cold")
    five = sweep.Job("daemon_startup", 1, "per-emulator", 30, "cold", values=5)
    argv = five.argv(mode, "none", Path("/i"), Path("/c"), Path("/o"), processes=7)
    assert argv[argv.index("-n") + 1] == "5" and argv[argv.index("-p") + 1] == "7"
    assert five.filename == plain.filename  # the same benchmark, measured more densely
    assert sweep.grid_id([five], "quick", "none") != sweep.grid_id([plain], "quick", "none")


def test_main_job_takes_several_values_of_a_cheap_cold_startup_only():
    from workbench.bench import mainjob

    assert mainjob.daemon("per-emulator", 30).values == mainjob.CHEAP_VALUES > 1
    assert mainjob.daemon("full-caps", 30).values is None  # 9 s a value: one per process


def test_sweep_resumes_skipping_finished_files_and_refuses_other_code(tmp_path):
    out = tmp_path / "run"
    kw = dict(emulators=[1], strategies=["per-emulator"], latency="none", mode="quick",
              benchmarks=["driver_startup"], progress=False)
    first = sweep.run_sweep(out, **kw)
    assert not first.failed and [j.cache for j in first.ran] == ["cold", "warm"]
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == ["driver_startup--n01--cold--per-emulator--r1.json",
                     "driver_startup--n01--warm--per-emulator--r1.json", "machine.json"]
    kept = out / files[1]
    kept_mtime = kept.stat().st_mtime_ns
    (out / files[0]).unlink()                                   # as if interrupted before it
    (out / f".{files[0]}.tmp").write_text('{"half": ')         # and while it was writing
    second = sweep.run_sweep(out, **kw)
    assert [j.filename for j in second.ran] == [files[0]]
    assert [j.filename for j in second.skipped] == [files[1]]
    assert kept.stat().st_mtime_ns == kept_mtime
    assert not list(out.glob(".*"))

    machine = json.loads((out / "machine.json").read_text())
    for key in ("cpu_model", "cores", "memory_gib", "kernel", "python", "qemu", "kvm_device",
                "git_commit", "git_dirty", "code_sha256", "format_version"):
        assert key in machine
    assert machine["sweep"]["latency"] == "none"

    df = results.load_run(out)
    quick = sweep.MODES["quick"]
    assert len(df) == quick.values("cold") + quick.values("warm") == 5 + 20
    assert machine["sweep"]["values_per_benchmark"] == {"cold": 5, "warm": 20}
    csv = (out / results.RESULTS_CSV).read_text().splitlines()
    assert len(csv) == 1 + len(df)
    for col in ("benchmark", "strategy", "n_emulators", "cache", "latency", "emulators", "phase",
                "value_index", "time_s", "source"):
        assert col in csv[0].split(",")

    machine["code_sha256"] = "0" * 64
    (out / "machine.json").write_text(json.dumps(machine))
    with pytest.raises(sweep.SweepMismatch):
        sweep.run_sweep(out, **kw)


def test_a_failing_job_leaves_no_result_and_is_retried(tmp_path, monkeypatch):
    def argv(self, mode, latency, install_root, cache_root, out):
        return [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('{'); sys.exit(3)", str(out)]

    monkeypatch.setattr(sweep.Job, "argv", argv)
    res = sweep.run_sweep(tmp_path / "run", [1], ["full-caps"], "none", "quick",
                          benchmarks=["driver_startup"], caches=["cold"], progress=False)
    assert list(res.failed) == ["driver_startup--n01--cold--full-caps--r1.json"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["machine.json", "results.csv"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Small real runs: recorded latency, and every emulator delay doubled (--latency 2). Probes
    end with the pidfd teardown: libvirt 9.0's 200 ms poll per launch does not scale with the
    emulators' latency and would dilute the doubling this test is about."""
    root = tmp_path_factory.mktemp("runs")
    kw = dict(emulators=[2], strategies=["full-caps", "per-emulator"], mode="quick",
              benchmarks=["daemon_startup", "driver_startup"],
              caches=["cold"], progress=False, axes={"teardown": ["pidfd"]})
    for name, latency in (("a", "recorded"), ("b", "2")):
        res = sweep.run_sweep(root / name, latency=latency, **kw)
        assert not res.failed, res.failed
    return root / "a", root / "b"


def test_compare_a_run_with_itself_flags_nothing(two_runs, capsys):
    a, _ = two_runs
    assert cli_main(["compare", str(a), str(a)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out


def test_compare_of_two_real_runs_gives_a_verdict_per_startup_and_exits_by_it(two_runs, capsys):
    # Whether a 2x slower emulator is *found* depends on this machine's load while the runs were
    # made: that is the A/A check's business (workbench aa), not a pass/fail test's. Here: every
    # startup of both runs is judged with its CI and mdc, and the exit code follows the verdicts.
    a, b = two_runs
    table = results.compare(a, b)
    judged = {(r.benchmark, r.strategy, r.n_emulators) for r in table.itertuples()}
    assert {(bm, st, 2) for bm in ("driver_startup", "daemon_startup") for st in ("full-caps", "per-emulator")} <= judged
    assert set(table["verdict"]) <= {"regression", "improvement", "unchanged", "inconclusive"}
    assert (table["ci_low"] <= table["ratio"]).all() and (table["ratio"] <= table["ci_high"]).all()
    assert (table["mdc"] > 0).all()
    assert cli_main(["compare", str(a), str(b)]) == (1 if table["regression"].any() else 0)
    assert "regression(s) flagged" in capsys.readouterr().out


def test_truncated_result_is_rerun_and_named(tmp_path, capsys):
    """A truncated result file (a sweep killed mid-write) is not taken as finished."""
    out = tmp_path / "run"
    kw = dict(emulators=[1], strategies=["per-emulator"], latency="none", mode="quick",
              benchmarks=["driver_startup"], progress=False)
    sweep.run_sweep(out, **kw)
    bad = out / "driver_startup--n01--cold--per-emulator--r1.json"
    good = out / "driver_startup--n01--warm--per-emulator--r1.json"
    good_bytes = good.read_bytes()
    bad.write_bytes(bad.read_bytes()[:100])
    again = sweep.run_sweep(out, **kw)
    assert [j.filename for j in again.ran] == [bad.name] and not again.failed
    assert str(bad) in capsys.readouterr().err
    assert json.loads(bad.read_text())["benchmarks"] and good.read_bytes() == good_bytes
    assert (out / (bad.name + ".bad")).exists()


def test_main_grid_runs_libvirts_strategies_everywhere_and_the_newer_ones_where_asked():
    grid = sweep.main_grid((1, 4, 30), (1, 30))
    jobs = sweep.plan_grid(grid, sweep.MODES["quick"])
    assert len({j.filename for j in jobs}) == len(jobs)
    libvirt = [j for j in jobs if j.strategy in sweep.LIBVIRT_STRATEGIES and j.benchmark in sweep.GRID_BENCHMARKS]
    assert {(j.n, j.cache) for j in libvirt} == {(1, "cold"), (4, "cold"), (30, "cold"), (1, "warm"), (30, "warm")}
    newer = [j for j in jobs if j.n is not None and j.benchmark not in sweep.FIXED_STRATEGY
             and j.strategy not in sweep.LIBVIRT_STRATEGIES]
    assert newer and {j.n for j in newer} == {1, 30} and {j.cache for j in newer} == {"cold"}
    assert {j.benchmark for j in newer} == set(sweep.BEYOND_BENCHMARKS)
    assert [(j.n, j.strategy) for j in jobs if j.benchmark == "parallel_scaling"] == [(30, "parallel")]
    assert {(j.n, j.cache, j.strategy) for j in jobs if j.benchmark == "libvirt_real"} == \
        {(n, c, "libvirt-9.0") for n in (1, 30) for c in ("cold", "warm")}
    assert [j.benchmark for j in jobs if j.n is None] == list(sweep.SINGLE_BENCHMARKS)


def test_without_libvirt_the_sweep_says_why_and_runs_the_rest(tmp_path, monkeypatch, capsys):
    from workbench.libvirt9 import backend

    monkeypatch.setattr(backend, "unavailable_reason", lambda build=None: "no libvirt here (test)")
    blocks = [sweep.Block((1,), ("per-emulator",), ("driver_startup",), ("warm",)),
              sweep.Block((1,), (), ("libvirt_real",), ("warm",))]
    res = sweep.run_sweep(tmp_path / "run", latency="none", mode="quick", blocks=blocks, progress=False)
    assert not res.failed and [j.benchmark for j in res.ran] == ["driver_startup"]
    assert "real libvirt 9.0 not measured: libvirt 9.0: no libvirt here (test)" in capsys.readouterr().err
    info = json.loads((tmp_path / "run" / "machine.json").read_text())
    assert info["sweep"]["benchmarks"] == ["driver_startup"]
