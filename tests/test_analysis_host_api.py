"""The host API page's tables and recommendation, on small synthetic frames and on the committed
host_api run (nothing here asserts a timing: the run's values are fixed)."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench.analysis import host_api as ha, plots
from workbench.paths import RESULTS_DIR
from workbench.analysis.results import load_run

COMMITTED = RESULTS_DIR / "host_api"


def _lat(cells: dict[tuple[str, str, str, str], float], cold: float = 1.0) -> pd.DataFrame:
    """A question_latency frame from {(host, question, design, memo): median}, IQR +-1%."""
    rows = [{"host": h, "question": q, "design": d, "memo": m, "median_s": v, "q1_s": v * 0.99,
             "q3_s": v * 1.01, "round_trips": 1.0, "get_capabilities_cold_s": cold}
            for (h, q, d, m), v in cells.items()]
    return pd.DataFrame(rows)


def _grid(times: dict[str, dict[str, float]], hosts=("small", "big"), memos=("off", "on")) -> pd.DataFrame:
    """Every host x memo with the same per-question design times ({question: {design: s}})."""
    return _lat({(h, q, d, m): v for h in hosts for m in memos for q, ds in times.items()
                 for d, v in ds.items()})


def test_ties_are_judged_with_the_runs_own_noise():
    # flags and per_part do identical work on one-part questions: 10% apart here
    lat = _grid({q: {"node_caps_flags": 1.0, "per_part": 1.1, "node_caps": 3.0, "get_capabilities": 5.0}
                 for q in ("cpu", "numa", "cache_banks")})
    assert ha.noise_margin(lat, "off") == pytest.approx(0.1)
    c = ha.cells(lat, "off", ha.noise_margin(lat, "off"))[0]
    assert c.best == "node_caps_flags" and set(c.tied) == {"node_caps_flags", "per_part"}
    assert set(ha.cells(lat, "off", 0.0)[0].tied) == {"node_caps_flags"}  # IQRs 1% apart: no overlap


def test_recommendation_follows_the_data():
    fast = {"node_caps_flags": 1.0, "per_part": 1.0, "node_caps": 3.0, "get_capabilities": 6.0}
    multi = {"node_caps_flags": 1.5, "per_part": 3.0, "node_caps": 3.0, "get_capabilities": 6.0}
    lat = _grid({"cpu": fast, "numa": fast, "cache_banks": fast, "cpu_numa": multi})
    fv = pd.DataFrame({"worth_a_flag": [True, False]}, index=["cpu", "uuid"])
    rec = ha.recommend(lat, fv)
    assert rec.design == "node_caps_flags"
    assert rec.by_question["cpu_numa"]["per_part"] == (0, 2)  # two calls lose on every host
    assert rec.by_question["cpu"]["per_part"] == (2, 2)
    cpu = rec.savings.set_index("question").loc["cpu"]
    assert cpu["warm_ratio_min"] == pytest.approx(6.0) and cpu["saved_warm_max_s"] == pytest.approx(5.0)
    text = rec.markdown()
    assert "Recommendation" in text and "node_caps_flags" in text and "What would change" in text
    assert "uuid" in text  # the parts not worth a flag are named

    # the other way round: separate calls cheaper everywhere -> they are recommended
    lat2 = _grid({"cpu": {"node_caps_flags": 2.0, "per_part": 1.0, "node_caps": 3.0, "get_capabilities": 6.0},
                  "numa": {"node_caps_flags": 2.0, "per_part": 1.0, "node_caps": 3.0, "get_capabilities": 6.0}})
    assert ha.recommend(lat2, fv).design == "per_part"


@pytest.fixture(scope="module")
def committed():
    df = ha.with_parameters(load_run(COMMITTED), COMMITTED)
    hosts = ha.hosts_in(df)
    cost = ha.probe_cost(df, hosts)
    lat = ha.question_latency(df, hosts)
    return hosts, cost, lat, ha.flag_value(cost, lat, hosts)


def test_committed_run_tables(committed):
    hosts, cost, lat, fv = committed
    assert hosts[0] == "vm-2cpu" and "real" in hosts and ha.largest_simulated(hosts) == "server-8s-448"
    assert cost.loc["all (sum)"].round(12).equals(cost.drop(index="all (sum)").sum().round(12))
    # get_capabilities and node_caps are measured once per host and shown under every question
    assert set(lat[lat["same_call_for_every_question"]]["design"]) == {"get_capabilities", "node_caps"}
    assert set(lat["question"]) == set(ha.QUESTIONS)
    assert lat["median_s"].notna().all() and lat["get_capabilities_cold_s"].notna().all()
    share = fv[[c for c in fv if c.startswith("share_")]]
    assert (share.sum() <= 1.0 + 1e-9).all()  # parts never add up to more than the whole probe
    ratio = ha.best_against_today(lat)
    assert (ratio["best_design"] != "get_capabilities").all()


def test_committed_run_recommendation(committed):
    hosts, cost, lat, fv = committed
    rec = ha.recommend(lat, fv)
    assert rec.design in ha.FINE
    top = rec.scores[0]
    assert top.design == rec.design and all(top.best_or_tied / top.cells >= s.best_or_tied / s.cells
                                            for s in rec.scores)
    assert 0 < rec.margin < 1
    assert list(rec.savings["question"]) == list(ha.QUESTIONS)
    assert rec.flags_worth and set(rec.flags_worth) | set(rec.flags_cheap) == set(fv.index)
    assert f"**{top.best_or_tied} of {top.cells}**" in rec.markdown()


def test_the_committed_run_is_shown_with_a_note_when_the_runs_given_have_none(tmp_path):
    from test_notebooks import FULL_GRID_RUN

    assert ha.run_with_host_api([], COMMITTED) == (COMMITTED, "")
    assert ha.run_with_host_api([COMMITTED], tmp_path) == (COMMITTED, "")
    run, note = ha.run_with_host_api([FULL_GRID_RUN, tmp_path / "missing"], COMMITTED)
    assert run == COMMITTED and "have no host_api results" in note and "`data/results/host_api`" in note


def test_the_pages_tables_and_files_on_the_committed_run(tmp_path):
    import matplotlib.pyplot as plt

    from workbench.analysis import host_api_figures as figures

    df = ha.with_parameters(load_run(COMMITTED), COMMITTED)
    hosts = ha.hosts_in(df)
    line = ha.run_line(COMMITTED, df, hosts, {"cpu_model": "X", "cores": 2, "os": "L", "python": "3"})
    assert line.endswith("; made on X (2 cores), L, Python 3.") and f"{len(df):,} values" in line
    shapes = ", ".join(plots.md_text(h) for h in hosts)  # metadata: shown escaped
    assert ha.run_line(COMMITTED, df, hosts, {}).endswith(f"host shapes {shapes}.")
    lat = ha.question_latency(df, hosts)
    big = ha.largest_simulated(hosts)
    wide = ha.latency_on(lat, big)
    one = lat[(lat["host"] == big) & (lat["question"] == "cpu") & (lat["memo"] == "off") & (lat["design"] == "per_part")]
    assert wide.loc[("cpu", "off"), "per_part"] == one["median_s"].iloc[0]
    ratio = ha.best_against_today(lat)
    r = ha.ratio_on(ratio, big)
    assert r.index.names == ["question", "memo"] and list(r.columns)[0] == "best_design"
    rec = ha.recommend(lat, ha.flag_value(ha.probe_cost(df, hosts), lat, hosts))
    ha.write_recommendation(rec, tmp_path)
    assert rec.lines[0] in (tmp_path / "recommendation.md").read_text()
    saved = pd.read_csv(tmp_path / "recommendation_savings.csv")
    assert set(saved["design"]) == {rec.design} and len(saved) == len(rec.savings)
    for fig in (figures.sub_probe_figure(ha.probe_cost(df, hosts), hosts),
                figures.latency_figure(lat, hosts, "off"), figures.ratio_figure(ratio, hosts)):
        assert fig.axes and any(ax.has_data() for ax in fig.axes)
        plt.close(fig)
