"""notebooks/explore.py: live measurement through the sweep's jobs, run by papermill with -p."""
from __future__ import annotations

import jupytext
import papermill as pm
import pytest

from workbench.bench import explore
from workbench.errors import UsageError
from workbench.paths import NOTEBOOKS_DIR
from workbench.analysis.report import KERNEL, describe_notebooks, ensure_kernel, kernel_manager_class


def test_jobs_are_the_sweeps_own_and_bad_choices_are_refused():
    jobs = explore.jobs(["per-emulator", "fixed-shipped"], [30], "cold_container", "cold")
    assert [j.filename for j in jobs] == ["scenarios--n30--cold--per-emulator--cold_container--r1.json",
                                          "scenarios--n30--cold--fixed-shipped--cold_container--r1.json"]
    for bad in ((["per-emulator"], [31], "daemon_startup", "cold"), (["per-emulator"], [1], "nope", "cold"),
                (["per-emulator"], [1], "daemon_startup", "lukewarm")):
        with pytest.raises(UsageError):
            explore.jobs(*bad)
    assert "explore" not in {n.name for n in describe_notebooks()}  # measures: never in a report


def test_papermill_runs_explore_on_a_tiny_setting(tmp_path):
    ensure_kernel()
    source = tmp_path / "explore.ipynb"
    jupytext.write(jupytext.read(NOTEBOOKS_DIR / "explore.py", fmt="py:percent"), source, fmt="ipynb")
    run = tmp_path / "run"
    pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name=KERNEL, cwd=str(NOTEBOOKS_DIR),
                        progress_bar=False, kernel_manager_class=kernel_manager_class(),
                        parameters={"strategies": ["full-caps", "per-emulator"], "emulators": [1],
                                    "benchmark": "daemon_startup", "processes": 2, "latency": "none",
                                    "run_dir": str(run)})
    files = sorted(p.name for p in run.glob("daemon_startup--*.json"))
    assert files == ["daemon_startup--n01--cold--full-caps--r1.json", "daemon_startup--n01--cold--per-emulator--r1.json"]
    text = (tmp_path / "out.ipynb").read_text()
    assert "full-caps / per-emulator" in text and "95% CI" in text
