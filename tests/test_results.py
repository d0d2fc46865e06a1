"""results: pyperf JSON -> tidy rows, and the regression rule (ratio AND significance)."""
from __future__ import annotations

import math
from pathlib import Path

import pyperf
import pytest

from workbench import results


def write_suite(path: Path, benches: dict[str, tuple[dict, list[float]]], warmups: int = 0) -> Path:
    """A pyperf suite file: name -> (our wb_* metadata, values in seconds)."""
    out = []
    for name, (meta, values) in benches.items():
        run = pyperf.Run(values, warmups=[(1, 9.0)] * warmups or None,
                         metadata={"name": name, "loops": 1, **meta}, collect_metadata=False)
        out.append(pyperf.Benchmark([run]))
    pyperf.BenchmarkSuite(out).dump(str(path))
    return path


def startup_meta(strategy="full-caps", n=2, cache="cold", latency="recorded", **extra) -> dict:
    return {"wb_benchmark": "driver_startup", "wb_phase": "total", "wb_strategy": strategy,
            "wb_n_emulators": n, "wb_cache": cache, "wb_latency": latency,
            "wb_emulators": "simulated", "wb_domains": 0, **extra}


def make_run(d: Path, scale: float = 1.0, latency: str = "recorded", values=(1.0, 1.02, 0.98, 1.01, 0.99, 1.03)) -> Path:
    d.mkdir()
    write_suite(d / "driver_startup.json", {
        "driver_startup": (startup_meta(latency=latency), [v * scale for v in values])})
    write_suite(d / "parse.json", {
        "parse.first.dom": (startup_meta(wb_benchmark="parse.first", wb_case="dom", latency=latency),
                            [0.010, 0.011, 0.012, 0.010]),
        "parse.first.dom.validate": (startup_meta(wb_benchmark="parse.first", wb_case="dom",
                                                  wb_phase="validate", latency=latency),
                                     [0.001, 0.002, 0.001, 0.002])})
    (d / "machine.json").write_text("{}")
    (d / ".half-written.json.tmp").write_text("not json")
    return d


def test_rows_come_from_metadata_with_warmups_left_out(tmp_path):
    f = write_suite(tmp_path / "s.json", {"x": (startup_meta(wb_case="c", wb_phase="parse"), [0.5, 0.25])},
                    warmups=2)
    rows = results.suite_rows(f)
    assert [(r.value_index, r.time_s) for r in rows] == [(0, 0.5), (1, 0.25)]
    r = rows[0]
    assert (r.benchmark, r.case, r.phase, r.strategy, r.n_emulators, r.cache, r.latency, r.emulators,
            r.source) == ("driver_startup", "c", "parse", "full-caps", 2, "cold", "recorded", "simulated",
                          "measured")


def test_load_run_reads_every_result_file_and_nothing_else(tmp_path):
    df = results.load_run(make_run(tmp_path / "a"))
    assert len(df) == 6 + 4 + 4
    assert set(df["phase"]) == {"total", "validate"}
    assert set(df["file"]) == {"driver_startup.json", "parse.json"}
    assert list(df.columns[:len(results.KEY)]) == results.KEY
    assert str(df["n_emulators"].dtype) == "Int64"


def test_results_csv_round_trips(tmp_path):
    run = make_run(tmp_path / "a")
    import pandas as pd
    csv = pd.read_csv(results.write_results_csv(run))
    assert len(csv) == 14 and {"benchmark", "phase", "value_index", "time_s", "source"} <= set(csv.columns)


def test_a_run_against_itself_flags_nothing(tmp_path):
    run = make_run(tmp_path / "a")
    table = results.compare(run, run)
    assert len(table) == 3
    assert (table["ratio"] == 1.0).all() and not table["regression"].any()


def test_twice_as_slow_is_flagged_even_across_latency_settings(tmp_path):
    table = results.compare(make_run(tmp_path / "a"), make_run(tmp_path / "b", 2.0, latency="2"))
    flagged = table[table["regression"]]
    assert list(flagged["benchmark"]) == ["driver_startup"]
    assert flagged["ratio"].iloc[0] == pytest.approx(2.0)


def test_too_few_values_to_be_significant_is_underpowered(tmp_path):
    a = make_run(tmp_path / "a", values=(1.0, 1.0))
    b = make_run(tmp_path / "b", 2.0, values=(1.0, 1.0))
    row = results.compare(a, b).set_index("benchmark").loc["driver_startup"]
    assert row["ratio"] == pytest.approx(2.0) and not row["regression"]
    assert row["verdict"] == "underpowered" and row["min_p"] == pytest.approx(1 / 3)


def test_significant_but_ci_inside_the_minimum_change_is_not_flagged(tmp_path):
    table = results.compare(make_run(tmp_path / "a"), make_run(tmp_path / "b", 1.08))
    row = table.set_index("benchmark").loc["driver_startup"]
    assert row["p_adj"] < 0.05 and row["ci_low"] < 1.05 < row["ratio"]
    assert row["verdict"] == "unchanged" and not row["regression"]
    assert results.compare(make_run(tmp_path / "c"), make_run(tmp_path / "d", 1.08), min_change=0.03)[
        "regression"].any()


def test_compare_orders_emulator_counts_as_numbers_and_names_its_columns(tmp_path):
    d = tmp_path / "a"
    d.mkdir()
    write_suite(d / "s.json", {f"driver_startup[n={n}]": (startup_meta(n=n), [1.0, 1.1, 0.9])
                               for n in (12, 2, 1, 30)})
    table = results.compare(d, d)
    assert list(table["n_emulators"]) == [1, 2, 12, 30]
    assert {"ratio", "ci_low", "ci_high", "p", "p_adj", "verdict"} <= set(table.columns)
    assert set(table["verdict"]) <= set(__import__("workbench.stats").stats.VERDICTS)


def test_tracing_overhead_and_fidelity_summaries(tmp_path):
    meta = startup_meta(cache="warm", wb_benchmark="tracing_overhead")
    write_suite(tmp_path / "t.json", {"tracing_overhead.on": (meta | {"wb_case": "on"}, [1.01, 1.01]),
                                      "tracing_overhead.off": (meta | {"wb_case": "off"}, [1.0, 1.0])})
    fid = {"wb_benchmark": "replay_fidelity", "wb_case": "x86_64", "wb_n_emulators": 1}
    write_suite(tmp_path / "f.json", {"r": (fid | {"wb_emulators": "real"}, [0.2, 0.2]),
                                      "s": (fid | {"wb_emulators": "simulated"}, [0.3, 0.3])})
    df = results.load_run(tmp_path)
    assert results.tracing_overhead(df)["overhead_pct"].iloc[0] == pytest.approx(1.0)
    f = results.fidelity(df).set_index("target")
    assert f.loc["x86_64", "ratio"] == pytest.approx(1.5)
    assert not math.isnan(f.loc["x86_64", "real"])
