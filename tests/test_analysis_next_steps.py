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


def test_launches_are_counted_per_scenario_count_and_label(trade):
    sc, t = trade
    order = ns.labels(sc, STRATEGIES)
    la = ns.launches(sc, order)
    assert list(la.columns) == order and set(la.index.get_level_values(0)) == set(ns.SCENARIOS)
    n = int(t["n_emulators"].iloc[0])
    row = t[(t["scenario"] == "cold_container") & (t["strategy"] == BASELINE)].iloc[0]
    assert la.loc[("cold_container", n), BASELINE] == row["launches"]


def test_the_pages_sentences_and_model_rows(trade):
    sc, t = trade
    order = ns.labels(sc, STRATEGIES)
    assert ns.counts_line(sc, order).startswith(f"{len(sc)} values; strategies: {order[0]}, ")
    assert ns.counts_line(sc.iloc[:0], []) == "0 values; strategies: ; emulator counts: []"
    md = ns.staleness_markdown(t)
    assert md.count("\n- **") == t["strategy"].nunique()
    model = ns.model_rows(sc)
    assert len(model) and (model["label"] == model["strategy"]).all()
    assert (model["system"].isna() | (model["system"] == "model")).all()


def test_tradeoffs_table_and_figures(trade, tmp_path):
    import matplotlib.pyplot as plt

    from workbench.analysis import next_steps_figures as figures

    sc, t = trade
    ns.show_tradeoffs(sc, t, BASELINE, tmp_path)
    csv = pd.read_csv(tmp_path / "tradeoffs.csv")
    assert len(csv) == len(t) and "staleness_risk" in csv
    order = ns.labels(sc, STRATEGIES)
    colors = plots.strategy_colors(order)
    q = plots.quartiles(sc, ["case", "label", "n_emulators"])
    for fig in (figures.last_answer_figure(q, order, colors), figures.launches_figure(ns.launches(sc, order), order, colors)):
        assert [ax.get_title() for ax in fig.axes[:3]] == [s.replace("_", " ") for s in ns.SCENARIOS]
        assert all(ax.lines or ax.collections for ax in fig.axes[:3])
        plt.close(fig)
    saving = figures.show_teardown_saving(load_run(REFERENCE), sc, tmp_path)
    assert saving.empty and not (tmp_path / "teardown_saving.csv").exists()  # made before the axis


def test_teardown_section_draws_each_scenario_measured_under_two_teardowns(tmp_path):
    from workbench.analysis import next_steps_figures as figures

    rows = [{"benchmark": "scenario", "case": case, "phase": "last_answer", "system": "model", "strategy": s,
             "n_emulators": n, "cache": "cold", "emulators": "simulated", "source": "measured-replay",
             "latency": "recorded", "teardown": td, "time_s": t * n}
            for case in ("cold_container", "package_upgrade") for s in ("per-emulator", "full-caps")
            for n in (1, 8) for td, t in (("libvirt9", 0.4), ("pidfd", 0.1))]
    df = pd.DataFrame(rows)
    sc = ns.scenario_rows(df, [])
    saving = figures.show_teardown_saving(df, sc, tmp_path)
    assert set(saving["case"]) == {"cold_container", "package_upgrade"}
    assert list(saving["saving_share"]) == pytest.approx([0.75] * len(saving))
    assert sorted(p.name for p in tmp_path.glob("teardown_*.png")) == ["teardown_cold_container.png",
                                                                      "teardown_package_upgrade.png"]
