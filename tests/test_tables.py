"""The table helper: units per column, 3 significant figures, no index, the CSV beside the page."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from workbench.analysis import tables


@pytest.mark.parametrize("value, text", [(4.38, "4.38"), (0.16, "0.160"), (57984.2, "58,000"),
                                         (9.996, "10.0"), (0.000123456, "0.000123"), (0, "0"),
                                         (math.nan, "–"), (-0.0401, "-0.0401")])
def test_sig_gives_three_significant_figures_without_exponent(value, text):
    assert tables.sig(value) == text


def test_each_time_column_gets_its_own_unit_and_no_index():
    wide = pd.DataFrame({"full-caps": [0.33, 4.09], "per-emulator": [1.2e-4, 1.05e-4]},
                        index=pd.Index([1, 30], name="n_emulators"))
    shown = tables.format_frame(wide, time_columns="values")
    assert list(shown.columns) == ["emulators", "full-caps (s)", "per-emulator (µs)"]
    assert shown.values.tolist() == [["1", "0.330", "120"], ["30", "4.09", "105"]]


def test_ratios_percentages_booleans_and_missing_cells():
    df = pd.DataFrame({"ratio": [27.68, math.nan], "share_pct": [12.345, 0.5], "pays": [True, False],
                       "median_s": [0.002, math.nan]})
    shown = tables.format_frame(df)
    assert list(shown.columns) == ["ratio", "share (%)", "pays", "median (ms)"]
    assert shown.values.tolist() == [["27.7×", "12.3", "yes", "2.00"], ["–", "0.500", "no", "–"]]


def test_show_table_writes_the_full_csv_and_shows_at_most_15_rows(tmp_path):
    df = pd.DataFrame({"n_emulators": range(1, 41), "median_s": [0.1 * i for i in range(1, 41)]})
    t = tables.show_table(df, tmp_path / "page", "long", "A long table", "replayed", "run X")
    full = pd.read_csv(tmp_path / "page" / "long.csv")
    assert len(full) == 40 and (full["provenance"] == "replayed: run X").all()
    assert len(t.frame) == 15
    assert 'href="page/long.csv"' in t.html and "The first 15 of 40 rows" in t.html
    assert "Replayed: run X" in t.html and "<caption>" in t.html
    assert "<th></th>" not in t.html  # no index column


def test_provenance_kind_must_be_one_of_the_labels():
    with pytest.raises(ValueError, match="provenance kind"):
        tables.show_table(pd.DataFrame({"a": [1]}), None, "x", "x", "guessed")
