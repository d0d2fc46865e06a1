"""The probe anatomy page's tables and figures, on the committed transcripts and a full-grid run
(which has both sides of replay_fidelity and parallel_scaling)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import anatomy, transcripts
from workbench.analysis.results import load_run, parallel_fidelity
from workbench.paths import TRANSCRIPTS_DIR


@pytest.fixture(scope="module")
def rec():
    return transcripts.read(TRANSCRIPTS_DIR)


@pytest.fixture(scope="module")
def run():
    return load_run(FULL_GRID_RUN)


def test_per_target_rows_sum_the_parts_slowest_first(rec):
    table = transcripts.per_target(rec, ["query-qmp-schema"])
    shown, every = anatomy.per_target_rows(table)
    assert list(shown.columns) == ["target", "start to ready", "quit", "total_s"]
    assert shown["total_s"].is_monotonic_decreasing
    row = every.set_index("target").loc[shown["target"].iloc[0]]
    assert math.isclose(row["total_s"], row.drop("total_s").sum())
    line = anatomy.all_targets_line(table)
    assert line.startswith(f"All {len(table)} targets probed one after another")


def test_recorded_note_names_the_empty_directory(tmp_path, rec):
    empty = transcripts.read(tmp_path)
    assert anatomy.recorded_note(empty, tmp_path).startswith("No transcripts in <code>")
    note = anatomy.recorded_note(rec, TRANSCRIPTS_DIR)
    assert all(t in note for t in rec.refused) if rec.refused else note == ""
    refused = transcripts.Recorded(rec.exchanges, rec.launches, ["sparc"])
    assert "(no launches): sparc." in anatomy.recorded_note(refused, TRANSCRIPTS_DIR)


def test_replay_fidelity_merges_the_recorded_time_and_verdicts(rec, run):
    recorded = transcripts.per_target(rec, []).sum(axis=1)
    rf = anatomy.replay_fidelity(run, recorded)
    assert rf.has_real and rf.lines and rf.lines[0].startswith("Replay / real binary, median over")
    f = rf.frame
    assert f["simulated"].is_monotonic_increasing  # the figure's order
    assert {"verdict", "cause", "ci_low", "ci_high"} <= set(f.columns)
    some = f.dropna(subset=["recorded"]).iloc[0]
    assert math.isclose(some["recorded"], recorded[some["target"]])
    assert (f["ratio"] == f["simulated"] / f["real"]).all()
    assert rf.shown()["ratio"].is_monotonic_increasing
    assert "recorded column: recorded" in rf.kind
    fig = anatomy.fidelity_figure(rf)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(f["target"])
    plt.close(fig)


def test_replay_fidelity_without_transcripts_has_no_recorded_column_values(run):
    rf = anatomy.replay_fidelity(run, None)
    assert rf.frame["recorded"].isna().all()


def test_parallel_ratio_line_lists_every_pool_size(run):
    par = parallel_fidelity(run)
    line = anatomy.parallel_ratio_line(par, "replayed", "src")
    assert line.count("worker") == len(par) and line.endswith("(replayed; src).")
    no_real = par.assign(real=float("nan"))
    assert anatomy.parallel_ratio_line(no_real, "replayed", "src") == ""
    fig = anatomy.parallel_figure(par, 2)
    assert any(t.get_text() == "2 cores" for t in fig.axes[1].texts)
    plt.close(fig)


def test_per_command_figure_labels_each_bar(rec):
    top = transcripts.per_command(rec.exchanges).head(3)
    fig = anatomy.per_command_figure(top, 5)
    assert len(fig.axes[0].texts) == 3 and "over 5 targets" in fig.axes[0].get_xlabel()
    plt.close(fig)
    fig = anatomy.per_target_figure(pd.DataFrame({"a": [0.1, 0.2]}, index=["x", "y"]))
    assert len(fig.axes[0].patches) == 2
    plt.close(fig)
