"""next_steps' trade-offs and conclusions on the committed reference run: the counted columns come
from each worker process's own metadata, so none is empty in every row."""
from __future__ import annotations

import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import plots
from workbench.analysis import next_steps as ns
from workbench.analysis.runmeta import per_run_metadata
from workbench.paths import RESULTS_DIR
from workbench.qemu.strategies import STRATEGIES
from workbench.analysis.results import load_run

REFERENCE = FULL_GRID_RUN  # a full-grid run: the committed reference is the main job's
BASELINE = "per-emulator"


@pytest.fixture(scope="module")
def trade():
    df = load_run(REFERENCE)
    sc = ns.scenario_rows(df, [REFERENCE])
    order = ns.labels(sc, STRATEGIES)
    return sc, ns.tradeoffs(sc, BASELINE, {s: STRATEGIES[s].staleness for s in STRATEGIES}, order)


def test_per_run_metadata_keeps_what_workers_disagree_on():
    meta = per_run_metadata([REFERENCE], ["wb_ready_s", "wb_launches", "load_avg_1min"])
    scen = meta[meta["name"].str.startswith("scenario.cold_container[n=30,cache=cold,strategy=fixed-shipped")]
    assert len(scen) == 5  # one row per worker process
    assert scen["wb_ready_s"].nunique() > 1  # per-process values, not one benchmark-level value
    assert scen["wb_launches"].notna().all()  # benchmark-level keys filled into every run
    rows = load_run(REFERENCE)
    assert set(map(tuple, meta[["file", "name", "run_index"]].values)) >= set(
        map(tuple, rows[["file", "name", "run_index"]].drop_duplicates().values))


def test_no_tradeoff_column_is_empty_in_every_row(trade):
    sc, t = trade
    assert len(t) and set(t["scenario"]) == set(ns.SCENARIOS)
    for col in ns.COUNTED.values():
        assert t[col].notna().any(), col
    model = t[t["strategy"].isin(STRATEGIES)]
    assert model[list(ns.COUNTED.values())].notna().all().all()  # every model row is counted
    reasons = ns.missing_reasons(t, STRATEGIES)
    assert all(r.startswith(plots.md_text("libvirt 9.0") + ": not reported") for r in reasons.values())
    assert "startup" in ns.missing_note(reasons)
    base = t[t["strategy"] == BASELINE]
    assert (base["speedup_vs_" + BASELINE] == 1.0).all()


def test_table_provenance_comes_from_its_rows(trade):
    sc, t = trade
    at = sc[sc["n_emulators"] == t["n_emulators"].iloc[0]]
    kind, source = ns.provenance(at)
    assert kind == "replayed" and "measured-real" not in source  # every scenario row replays
    assert set(t["source"]) == {"measured-replay"}


def test_conclusions_quote_libvirt_beside_the_models_factor(trade):
    sc, t = trade
    text = ns.conclusions(t, BASELINE, STRATEGIES).markdown()
    assert "issue" not in text.lower()
    cold = t[t["scenario"] == "cold_container"].set_index("strategy")
    gap = cold.loc["libvirt 9.0", "last_answer_s"] / cold.loc[BASELINE, "last_answer_s"]
    line = next(ln for ln in text.splitlines() if plots.md_text("libvirt 9.0") in ln)  # shown escaped
    assert f"libvirt / model = **{plots.tables.fmt_ratio(gap)}**" in line
    assert "10x" in text and ("**met**" in text or "**not met**" in text)


def test_conclusions_without_scenarios():
    assert ns.conclusions(pd.DataFrame(), BASELINE, STRATEGIES).markdown().startswith("No scenario data")


def test_a_run_without_counting_says_why(trade):
    sc, t = trade
    bare = t.copy()
    bare[list(ns.COUNTED.values())] = float("nan")  # a `--count no` run: time only
    reasons = ns.missing_reasons(bare, STRATEGIES)
    assert set(reasons) == set(ns.COUNTED.values())
    assert all("not counted in this run" in r for r in reasons.values())
    text = ns.conclusions(bare, BASELINE, STRATEGIES).markdown()
    assert "fastest new strategy" in text and "launches against" not in text
