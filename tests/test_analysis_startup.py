"""The startup page's tables, growth figure, headline sentence and trace panels, on a full-grid
run (both startup paths, cold and warm, and the startup traces `workbench run` makes)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import plots
from workbench.analysis import startup as pages
from workbench.bench.startup_traces import run_traces


@pytest.fixture(scope="module")
def startup():
    df, _ = plots.load(str(FULL_GRID_RUN))
    return df[df["benchmark"].isin(pages.PATHS)]


@pytest.fixture(scope="module")
def q(startup):
    return plots.quartiles(startup, ["benchmark", "cache", "strategy", "run", "n_emulators"])


def test_a_median_table_per_cache_and_path_cold_first(q):
    ts = pages.median_tables(q, several_runs=False)
    assert [t.name for t in ts] == [f"startup_{c}_{b}" for c in ("cold", "warm") for b in sorted(pages.PATHS)]
    t = ts[0]
    row = t.rows[(t.rows["strategy"] == "per-emulator")].sort_values("n_emulators").iloc[-1]
    assert t.wide.loc[row.n_emulators, "per-emulator"] == row.median_s
    assert set(t.rows["cache"]) == {"cold"} and t.caption == "Median daemon_startup, cold cache"
    assert pages.median_tables(q, several_runs=True)[0].wide.columns.nlevels == 2


def test_growth_figure_has_a_panel_per_path(q, startup):
    fig = pages.growth_figure(q, startup)
    assert [ax.get_title() for ax in fig.axes[:2]] == [f"{p} · cold" for p in pages.PATHS]
    plt.close(fig)


def test_headline_sentence_and_table(startup, tmp_path):
    head = pages.show_headline(startup, "replayed", "src", tmp_path)
    h = head.iloc[0]
    assert math.isclose(pd.read_csv(tmp_path / "headline.csv")["ratio"].iloc[0], h.ratio)
    text = pages.headline_text(h, "replayed")
    assert text.startswith(f"With {h.n_emulators} emulators on a cold cache")
    assert "faster** (replayed)." in text
    assert ("cover letter speaks of 30" in text) == (h.n_emulators < 30)
    small = h.copy()
    small["n_emulators"], small["before_qemu_share"] = 8, float("nan")
    text = pages.headline_text(small, "replayed")
    assert "this run's largest count is 8" in text and "replayed QEMU's own" not in text
    assert pages.show_headline(startup[startup["strategy"] == "per-emulator"], "replayed", "src", tmp_path / "n").empty


def test_timeline_panels_name_each_strategy():
    traces = run_traces(FULL_GRID_RUN, 8)
    panels = pages.timeline_panels(traces, 8)
    assert [t.split(",")[0] for t, _ in panels] == ["full-caps", "per-emulator"]
    assert all(p in traces for _, p in panels)
