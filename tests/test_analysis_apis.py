"""The driver API page's growth table, sentence and figure: on made-up medians whose answer is
known, and on a full-grid run."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import apis as pages
from workbench.analysis import plots


def _q(medians: dict[int, float], strategy="full-caps", case="get_capabilities", cache="cold", run="r"):
    return pd.DataFrame([{"run": run, "case": case, "cache": cache, "strategy": strategy, "n_emulators": n,
                          "median_s": m, "q1_s": m, "q3_s": m} for n, m in medians.items()])


def test_growth_per_emulator_and_against_proportional():
    q = pd.concat([_q({1: 0.1, 2: 0.15, 11: 1.1}), _q({1: 0.001, 11: 0.001}, strategy="per-emulator")])
    g = pages.api_growth(q, 0.005).set_index("strategy")
    assert g.loc["full-caps", "added_s_per_emulator"] == pytest.approx(0.1)
    assert g.loc["full-caps", "growth_vs_proportional"] == pytest.approx(1.0)
    assert g.loc["full-caps", "pays_for_every_emulator"] and not g.loc["per-emulator", "pays_for_every_emulator"]
    assert g.loc["per-emulator", "growth_vs_proportional"] == 0.0
    one = pages.api_growth(_q({8: 0.1}), 0.005).iloc[0]
    assert math.isnan(one["growth_vs_proportional"]) and not one["pays_for_every_emulator"]
    text = pages.payers_markdown(pages.api_growth(q, 0.005), 0.005, "replayed", False)
    assert text.count("\n- ") == 1 and "caps" in text.split("\n- ")[1] and "(100 ms per added emulator)" in text
    assert pages.payers_markdown(pages.api_growth(q, 10.0), 10.0, "replayed", False).endswith("none")


def test_growth_shown_one_row_per_api_cache_and_strategy():
    q = pd.concat([_q({1: 0.1, 11: 1.1}), _q({1: 0.1, 11: 0.2}, cache="warm")])
    shown = pages.growth_shown(pages.api_growth(q, 0.005), False)
    assert list(shown.columns) == ["api", "cache", "strategy", "added per emulator", "growth / proportional"]
    assert list(shown["cache"]) == ["cold", "warm"]
    assert "run" in pages.growth_shown(pages.api_growth(q, 0.005), True)


def test_on_a_full_grid_run():
    df, _ = plots.load(str(FULL_GRID_RUN))
    apis = df[df["benchmark"] == "api"]
    q = plots.quartiles(apis, ["run", "case", "cache", "strategy", "n_emulators"])
    n_max, wide = pages.medians_at_largest(q, False)
    assert n_max == apis["n_emulators"].max() and wide.columns.names == ["cache", "strategy"]
    growth = pages.api_growth(q, 0.005)
    paying = growth[growth["pays_for_every_emulator"]]
    assert ((paying["api"] == "get_capabilities") & (paying["strategy"] == "per-emulator")).any()
    assert not paying["strategy"].eq("full-caps").any()  # full caps probed everything at startup
    fig = pages.apis_figure(apis, q)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles[0] == "get_capabilities · cold" and len(titles) == 2 * q["case"].nunique()
    plt.close(fig)
