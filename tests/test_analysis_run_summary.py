"""The summary page's notes, verdict sentence, comparison against the reference and run facts,
on a full-grid run and the committed reference."""
from __future__ import annotations

import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import run_summary
from workbench.analysis.report import describe_notebooks
from workbench.analysis.results import load_run, tracing_overhead
from workbench.paths import RESULTS_DIR

REFERENCE = RESULTS_DIR / "reference"


@pytest.fixture(scope="module")
def full():
    return load_run(FULL_GRID_RUN)


def test_headline_notes_name_the_largest_count_per_strategy_and_the_fidelity(full):
    notes = run_summary.headline_notes(full)
    assert len(notes) == 2 and notes[1].startswith("Replay fidelity: one simulated probe / one real probe")
    tr = tracing_overhead(full)
    for (s, cache), g in tr.groupby(["strategy", "cache"]):
        assert f"{s} {cache} n={g['n_emulators'].max()}:" in notes[0]
    assert run_summary.headline_notes(full[full["benchmark"] == "api"]) == []


def test_tracing_table_writes_every_count(full, tmp_path):
    shown = run_summary.show_tracing_overhead(full, tmp_path)
    csv = pd.read_csv(tmp_path / "tracing_overhead.csv")
    assert len(csv) == len(tracing_overhead(full)) and shown is not None
    assert run_summary.show_tracing_overhead(full[full["benchmark"] == "api"], tmp_path) is None


def test_verdict_counts_count_each_verdict():
    cmp = pd.DataFrame({"regression": [True, False, False, False, False],
                        "verdict": ["regression", "improvement", "unchanged", "unchanged", "inconclusive"]})
    text = run_summary.verdict_counts(cmp, "new", "ref", 1.05, 0.05)
    assert "5 benchmarks tested, **1 regression(s)**, 1 faster, 2 unchanged" in text
    assert "1 inconclusive" in text and "0 with too few processes" in text


def test_each_run_is_judged_against_the_reference(tmp_path):
    same, other = run_summary.judge_runs([REFERENCE, FULL_GRID_RUN], REFERENCE, 1.05, 0.05, tmp_path)
    assert "**is the reference run**" in same.text and same.compared is None
    assert other.run == FULL_GRID_RUN
    assert other.text.startswith("<code>full\\-grid\\-run</code> against the reference") or other.notes
    if other.compared is not None:
        assert other.text.count("benchmarks tested") == 1
        assert (other.table is not None) == bool(other.compared["regression"].astype(bool).any())


def test_pages_and_runs_tables():
    pages = [n for n in describe_notebooks() if n.name != "summary"]
    md = run_summary.pages_markdown(pages, ".html")
    assert md.count("\n") == len(pages) - 1 and f"]({pages[0].name}.html)" in md
    info = run_summary.runs_table([REFERENCE, FULL_GRID_RUN])
    assert list(info.columns) == ["what", "reference", "full-grid-run"]
    assert "cpu" in set(info["what"]) and info.drop(columns="what").notna().any(axis=1).all()
