"""What the explore notebook shows, on a full-grid run's cold daemon startups (several worker
processes per strategy and count)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import explore
from workbench.analysis.precision import mean_interval, process_medians
from workbench.analysis.results import load_run


@pytest.fixture(scope="module")
def df():
    d = load_run(FULL_GRID_RUN)
    d = d[(d["benchmark"] == "daemon_startup") & (d["cache"] == "cold") & (d["phase"] == "total")
          & d["n_emulators"].isin([1, 30]) & d["strategy"].isin(["full-caps", "per-emulator"])]
    return d


def test_summary_is_the_geometric_mean_of_process_medians(df):
    t = explore.summary(df, "daemon_startup")
    assert len(t) == 4 and set(t["case"]) == {"daemon_startup"}  # no case: the benchmark names it
    r = t[(t["strategy"] == "full-caps") & (t["n_emulators"] == 30)].iloc[0]
    g = df[(df["strategy"] == "full-caps") & (df["n_emulators"] == 30)]
    iv = mean_interval(process_medians(g))
    assert math.isclose(r.time_s, iv.estimate) and r.processes == len(process_medians(g)) >= 2
    assert r.ci_low_s < r.time_s < r.ci_high_s
    fig = explore.summary_figure(t, "daemon_startup", "cold", "Replayed: test")
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].get_legend().get_texts()) == 2
    plt.close(fig)


def test_ratio_lines_per_count_first_strategy_over_each_other(df):
    lines = explore.ratio_lines(df, ["full-caps", "per-emulator"])
    assert len(lines) == 2 and lines[0].startswith("- at 1 emulators: full-caps / per-emulator = **")
    assert all("95% CI" in ln for ln in lines)
    assert explore.ratio_lines(df, ["full-caps"]) == []
