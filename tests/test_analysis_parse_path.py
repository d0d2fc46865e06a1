"""The parse path page's tables and figure on a full-grid run (parse.first cold and warm,
parse.steady warm, every strategy)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import parse_path as pp
from workbench.analysis import plots


@pytest.fixture(scope="module")
def df():
    return plots.load(str(FULL_GRID_RUN))[0]


@pytest.fixture(scope="module")
def parse(df):
    return df[df["benchmark"].isin(["parse.first", "parse.steady"])]


def test_phase_medians_in_parse_order_and_the_figure(parse):
    n_max, at = pp.at_largest_count(parse)
    assert n_max == parse["n_emulators"].max() and set(at["n_emulators"]) == {n_max}
    at = at[at["phase"].isin(pp.PHASES)]
    pooled = pp.phase_medians(at, several_runs=False)
    assert list(pooled.columns) == [p for p in pp.PHASES if p in set(at["phase"])]
    key = pooled.index[0]
    rows = at[(at["benchmark"] == key[0]) & (at["cache"] == key[1]) & (at["strategy"] == key[2])
              & (at["phase"] == pooled.columns[0])]
    assert pooled.loc[key, pooled.columns[0]] == rows["time_s"].median()
    labelled = pp.phase_medians(at.assign(run="r1"), several_runs=True)
    assert all(s.endswith(" · r1") for s in labelled.index.get_level_values("strategy"))
    fig = pp.phases_figure(pooled, n_max)
    panels = list(dict.fromkeys(pooled.index.droplevel("strategy")))
    assert len([a for a in fig.axes if a.get_title()]) == len(panels)
    assert all(t.get_text().startswith(" ") for t in fig.axes[0].texts)  # a total per bar
    plt.close(fig)


def test_steady_table_pairs_median_and_iqr_per_strategy(parse, tmp_path):
    t = pp.show_steady(parse, False, tmp_path)
    assert (t["iqr_s"] == t["q3_s"] - t["q1_s"]).all()
    _, at = pp.at_largest_count(parse[(parse["benchmark"] == "parse.steady") & (parse["phase"] == "total")])
    wide, _ = pp.steady_table(at, False)
    cols = list(wide.columns)
    assert cols[0].endswith(" median") and cols[1].endswith(" IQR") and cols[0][:-7] == cols[1][:-4]
    assert (tmp_path / "steady_parse.csv").is_file()
    assert pp.show_steady(parse[parse["benchmark"] == "parse.first"], False, tmp_path / "none").empty


def test_first_parse_medians_a_column_per_cache_and_strategy(parse):
    first = parse[(parse["benchmark"] == "parse.first") & (parse["phase"] == "total")]
    q = plots.quartiles(first, ["run", "benchmark", "cache", "strategy", "n_emulators"])
    wide = pp.first_parse_medians(q, False)
    assert wide.columns.names == ["cache", "strategy"] and set(wide.index) == set(first["n_emulators"])


def test_counters_come_from_parse_rows_only(df, parse):
    assert "probes" in df.columns and df["probes"].notna().any()  # the scenarios count probes
    assert pp.parse_counters(parse).empty  # ... but no parse row counted any
    counted = parse.assign(probes=1.0, cache_lookups=float("nan"))
    c = pp.parse_counters(counted)
    assert list(c.columns) == ["probes"] and (c["probes"] == 1.0).all()
