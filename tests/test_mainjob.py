"""workbench run's main job: the answer's benchmarks, the adaptive stop rule, machine.json."""
from __future__ import annotations

import json

import pytest

from workbench.bench import mainjob, sweep
from workbench.analysis.precision import Interval, mean_interval, ratio_interval


def test_intervals_are_across_processes_on_a_log_scale():
    iv = mean_interval([1.0, 1.1, 0.9, 1.05])
    assert iv.low < iv.estimate < iv.high and iv.processes == 4 and 0 < iv.half_width < 0.2
    r = ratio_interval([3.0, 3.1, 2.9], [0.1, 0.11, 0.1])
    assert 28 < r.estimate < 31 and r.low < r.estimate < r.high
    assert ratio_interval([3.0], [1.0]).high == float("inf")  # one process: no CI, said as such
    assert Interval(1, 0, float("inf"), 1).half_width == float("inf")


def test_the_main_job_measures_what_page_one_says():
    jobs = mainjob.answer_jobs(sweep.resolve_strategies("all"), libvirt=True)
    cover = {(j.strategy, j.n) for j in jobs if j.benchmark == "daemon_startup"}
    assert cover == {(s, n) for s in ("full-caps", "per-emulator") for n in mainjob.COVER_COUNTS}
    container = [j for j in jobs if j.benchmark == "scenarios"]
    assert {j.strategy for j in container} == set(sweep.resolve_strategies("all"))
    assert all(j.n == 30 and j.case == "cold_container" for j in container)
    assert mainjob.LIBVIRT_JOB in jobs and max(mainjob.COVER_COUNTS) == 30
    assert "95% confidence interval" in mainjob.stop_rule()


@pytest.fixture(scope="module")
def small_answer(tmp_path_factory):
    """The main job on 2 emulators, two strategies, libvirt left out: every headline benchmark
    open in the detectable-change phase (target 0) up to MAX_DETECT_PROCESSES, then every
    benchmark open (precision 0) up to MAX_PROCESSES."""
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(mainjob, "N", 2)
        mp.setattr(mainjob, "COVER_COUNTS", (2,))
        mp.setattr(mainjob, "LIBVIRT_JOB", sweep.Job("libvirt_real", 1, "libvirt-9.0", 2, "cold", "cold_container"))
        mp.setattr(mainjob, "PRECISION", 0.0)
        mp.setattr(mainjob, "MAX_PROCESSES", 5)
        mp.setattr(mainjob, "STEP", 1)
        mp.setattr(mainjob, "TARGET_MDC", 0.0)
        mp.setattr(mainjob, "MAX_DETECT_PROCESSES", 4)
        mp.setattr(sweep, "libvirt_reason", lambda jobs, libvirt=(): "no libvirt here (test)")
        out = tmp_path_factory.mktemp("answer") / "run"
        said = []
        res = mainjob.run_answer(out, budget_s=100_000, report_s=0, say=said.append,
                                 strategies=["per-emulator", "fixed-shipped"], progress=False)
        yield out, res, said
    finally:  # undone even when the setup fails: later modules see the real sweep
        mp.undo()


def test_every_benchmark_gets_processes_until_the_rule_stops_it(small_answer):
    out, res, said = small_answer
    assert not res.failed and len(res.ran) == 4
    info = json.loads((out / "machine.json").read_text())
    procs = {name.split("--")[0] + "/" + name.split("--")[3]: [x["seconds"] > 0 for x in rec["sessions"]]
             for name, rec in info["jobs"].items()}
    assert {rec["processes"] for rec in info["jobs"].values()} == {5}
    # the first pass, the detectable-change phase (to 4), the widest-interval phase (to 5): the
    # headline benchmarks get 3 first, the best newer strategy (known only after the first
    # pass: fixed-shipped, the only newer one here) 2, then 2 more in one step
    assert all(len(sessions) == 3 for sessions in procs.values()), procs
    detect = [line for line in said if "minimum detectable change" in line]
    assert sum("+1 processes" in line for line in detect) == 3
    assert any("+2 processes for scenarios--n02--cold--fixed-shipped" in line for line in detect), said
    assert sum("+1 processes" in line and "95% CI" in line for line in said) == 4
    session = info["sessions"][-1]
    assert session["command_line"] and session["started_at"] and session["finished_at"]
    for rec in info["jobs"].values():
        assert all("load_1min_before" in s and "load_1min_after" in s for s in rec["sessions"])
    parts = {p["part"]: p["reason"] for p in info["skipped_parts"]}
    assert parts["libvirt_real (real libvirt 9.0)"] == "no libvirt here (test)"


def test_the_run_writes_the_headline_benchmarks_detectable_change(small_answer):
    """compare's own test count and mdc: the run's file agrees with compare on the run against
    a copy of itself where the prior is the same (one function computes both)."""
    from workbench.analysis.results import compare, detectable

    out, _, _ = small_answer
    doc = json.loads((out / mainjob.DETECT_FILE).read_text())
    rows = doc["headline"]
    assert {(r["headline"], r["role"]) for r in rows} == {("cover_letter", "slower"), ("cover_letter", "faster"),
                                                         ("cold_container", "slower"), ("cold_container", "faster")}
    assert doc["tests"] == len(compare(out, out)) == 4 and doc["target"] == 0.0
    det = detectable(out)
    for r in rows:
        assert r["processes"] == 5 and r["mdc"] == round(float(det[det["name"] == r["benchmark"]]["mdc"].iloc[0]), 5)
        assert r["mdc"] > 0.05 and r["reached"] is False  # target 0: never reached, and said so


def test_the_run_prints_each_headline_ratio_with_its_ci(small_answer):
    out, _, _ = small_answer
    lines = mainjob.summary_lines(out, libvirt=False)
    assert len(lines) == 3
    assert lines[0].startswith("cover letter") and "95% CI" in lines[0]
    assert "per-emulator / fixed-shipped" in lines[1] and "95% CI" in lines[1]
    assert all("minimum detectable change against a like run (4 tests): " in line for line in lines[:2])
    assert lines[2].startswith("minimum detectable change above 0%") and "(5 processes)" in lines[2]


def test_run_prints_the_expected_duration_the_ratios_and_its_own(tmp_path, monkeypatch, capsys):
    """The command's wiring (the measuring itself is the fixture's): before, after, exit status."""
    from workbench.cli import main
    from workbench.commands import report as report_cmd

    calls = {}

    def fake_answer(out, budget, started=None, **kw):
        calls["budget"] = budget
        (out / "machine.json").parent.mkdir(parents=True, exist_ok=True)
        return sweep.SweepResult([], [], {})

    monkeypatch.setattr(mainjob, "run_answer", fake_answer)
    monkeypatch.setattr(mainjob, "summary_lines", lambda out: ["cover letter: 29x (95% CI 27-31x)"])
    monkeypatch.setattr(mainjob, "record_duration", lambda out, s: calls.setdefault("took", s))
    monkeypatch.setattr(report_cmd, "make_report", lambda *a, **kw: 0)
    assert main(["run", "-o", str(tmp_path / "run"), "--budget", "200"]) == 0
    out = capsys.readouterr().out
    assert "expected about" in out and "up to 3 min 20 s" in out
    assert "answer: cover letter: 29x (95% CI 27-31x)" in out and "run: took" in out
    assert calls["budget"] == 200 and calls["took"] >= 0
    with pytest.raises(SystemExit) as bad:  # bad usage: argparse's exit 2 with the reason
        main(["run", "--budget", "0"])
    assert bad.value.code == 2 and "seconds > 0" in capsys.readouterr().err
