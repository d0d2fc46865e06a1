"""`workbench aa --main-job`: the A/A check with the main job's settings, on a tiny setting (one
emulator, two strategies, no libvirt, no processes beyond the first pass). What it must write
and say is tested here; its verdicts on a quiet machine are the committed reference's."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.bench import aa, mainjob, sweep
from workbench.cli import main
from workbench.paths import REPO_ROOT


@pytest.fixture(scope="module")
def tiny_main_job():
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(mainjob, "N", 1)
        mp.setattr(mainjob, "COVER_COUNTS", (1,))
        mp.setattr(mainjob, "LIBVIRT_JOB", sweep.Job("libvirt_real", 1, "libvirt-9.0", 1, "cold", "cold_container"))
        mp.setattr(mainjob, "MAX_DETECT_PROCESSES", 3)  # the best newer strategy: 2, then 3
        mp.setattr(mainjob, "MAX_PROCESSES", 3)
        mp.setattr(sweep, "libvirt_reason", lambda jobs, libvirt=(): "no libvirt here (test)")
        yield
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def tiny_aa(tiny_main_job, tmp_path_factory):
    out = tmp_path_factory.mktemp("aa") / "aa"
    return out, aa.run_aa_main(out, strategies=["per-emulator", "fixed-shipped"], progress=False)


def test_aa_main_job_compares_two_main_job_runs_and_an_injected_copy(tiny_aa):
    out, pairs = tiny_aa
    assert [p.output for p in pairs] == ["compare-run1-run2.csv", "compare-run1-injected.csv"]
    summary = json.loads((out / aa.SUMMARY_FILE).read_text())
    assert summary["mode"] == "main job" and summary["failures"] == aa.check_failures(pairs, 1.2)
    injected = pairs[1].injected
    assert injected["benchmark"].startswith("daemon_startup[n=1,cache=cold,strategy=per-emulator")
    assert json.loads((out / "injected" / "machine.json").read_text())["injected"]["factor"] == 1.2
    for name in ("compare-run1-run2.csv", "compare-run1-injected.csv"):
        table = pd.read_csv(out / name)
        assert len(table) == pairs[0].tests == 4 and table["mdc"].notna().all()
    # each run's headline benchmarks, with compare's test count: the file the main job writes
    for run in ("run1", "run2"):
        rows = summary["headline_mdc"][run]
        assert {r["role"] for r in rows} == {"slower", "faster"} and len(rows) == 4
        assert json.loads((out / run / "detectable-change.json").read_text())["tests"] == 4



def test_aa_main_job_command_keeps_finished_runs_and_prints_the_detectable_changes(tiny_aa, capsys):
    """Once beside a given run: a finished run2 is kept (a resume would add processes), the
    exit status is the check's, each run's headline detectable changes are printed."""
    out, _ = tiny_aa
    before = (out / "run2" / "machine.json").read_text()
    status = main(["aa", "--main-job", "--run1", str(out / "run1"), "-o", str(out)])
    printed = capsys.readouterr().out
    assert (out / "run2" / "machine.json").read_text() == before
    failures = json.loads((out / aa.SUMMARY_FILE).read_text())["failures"]
    assert status == (1 if failures else 0)
    assert "compare-run1-injected.csv: 4 tests" in printed
    assert printed.count("headline benchmarks' minimum detectable change against a like run: daemon_startup--n01") == 2


def test_aa_main_job_refuses_what_is_not_a_main_job_run(tmp_path, capsys):
    quick = REPO_ROOT / "tests" / "data" / "full-grid-run"  # the full grid's quick sweep
    assert main(["aa", "--main-job", "--run1", str(quick), "-o", str(tmp_path / "x")]) == 2
    assert "not a main-job run" in capsys.readouterr().err
    assert main(["aa", "--main-job", "--emulators", "1", "-o", str(tmp_path / "x")]) == 2
    assert "drop --emulators" in capsys.readouterr().err
    assert main(["aa", "--run1", str(quick), "-o", str(tmp_path / "x")]) == 2
    assert "go with --main-job" in capsys.readouterr().err
