"""results: pyperf JSON -> tidy rows, and the regression rule (ratio AND significance)."""
from __future__ import annotations

import math
from pathlib import Path

import pyperf
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import results


def write_suite(path: Path, benches: dict[str, tuple[dict, list[float]]], warmups: int = 0,
                per_run: int = 1) -> Path:
    """A pyperf suite file: name -> (our wb_* metadata, values in seconds), `per_run` values per
    pyperf run (worker process; compare tests on per-process medians)."""
    out = []
    for name, (meta, values) in benches.items():
        runs = [pyperf.Run(values[i:i + per_run], warmups=[(1, 9.0)] * warmups or None,
                           metadata={"name": name, "loops": 1, **meta}, collect_metadata=False)
                for i in range(0, len(values), per_run)]
        out.append(pyperf.Benchmark(runs))
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
                    warmups=2, per_run=2)
    rows = results.suite_rows(f)
    assert [(r["value_index"], r["time_s"]) for r in rows] == [(0, 0.5), (1, 0.25)]
    r = rows[0]
    assert tuple(r[k] for k in ("benchmark", "case", "phase", "strategy", "n_emulators", "cache", "latency",
                                "emulators", "source")) == (
        "driver_startup", "c", "parse", "full-caps", 2, "cold", "recorded", "simulated", "measured-replay")


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


def test_one_process_a_side_is_underpowered(tmp_path):
    # an in-process run: all values from one process, whose own level can't be told from a change
    a, b = tmp_path / "a", tmp_path / "b"
    for d, scale in ((a, 1.0), (b, 2.0)):
        d.mkdir()
        write_suite(d / "s.json", {"driver_startup": (startup_meta(), [scale * v for v in (1.0, 1.01, 0.99, 1.0)])},
                    per_run=4)
    row = results.compare(a, b).set_index("benchmark").loc["driver_startup"]
    assert row["ratio"] == pytest.approx(2.0) and not row["regression"]
    assert row["verdict"] == "underpowered" and (row["procs_a"], row["procs_b"]) == (1, 1)


def test_significant_but_ci_across_the_minimum_change_is_inconclusive(tmp_path):
    # 7% slower, significant, but the CI reaches below the 5% minimum change: neither a
    # regression nor unchanged; its minimum detectable change says what the runs could see
    table = results.compare(make_run(tmp_path / "a"), make_run(tmp_path / "b", 1.07))
    row = table.set_index("benchmark").loc["driver_startup"]
    assert row["p_adj"] < 0.05 and row["ci_low"] < 1.05 < row["ratio"]
    assert row["verdict"] == "inconclusive" and not row["regression"] and row["mdc"] > 0.05
    assert results.compare(make_run(tmp_path / "c"), make_run(tmp_path / "d", 1.07), min_change=0.03)[
        "regression"].any()


def test_compare_orders_emulator_counts_as_numbers_and_names_its_columns(tmp_path):
    d = tmp_path / "a"
    d.mkdir()
    write_suite(d / "s.json", {f"driver_startup[n={n}]": (startup_meta(n=n), [1.0, 1.1, 0.9])
                               for n in (12, 2, 1, 30)})
    table = results.compare(d, d)
    assert list(table["n_emulators"]) == [1, 2, 12, 30]
    assert {"ratio", "ci_low", "ci_high", "p", "p_adj", "verdict"} <= set(table.columns)
    assert set(table["verdict"]) <= set(__import__("workbench.analysis.stats").analysis.stats.VERDICTS)


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


# -- provenance and the run directory ------------------------------------------------------------
from workbench.analysis import rundir  # noqa: E402
from workbench.bench import aa  # noqa: E402
from workbench.errors import ResultsError  # noqa: E402
from workbench.paths import REPO_ROOT  # noqa: E402

REFERENCE = FULL_GRID_RUN  # a full-grid run: the committed reference is the main job's


def test_a_truncated_result_file_is_a_results_error_naming_it(tmp_path):
    run = make_run(tmp_path / "a")
    text = (run / "parse.json").read_text()
    (run / "parse.json").write_text(text[: len(text) // 2])
    with pytest.raises(ResultsError, match="parse.json"):
        results.load_run(run)
    (run / "parse.json").write_text('{"benchmarks": 3}')
    with pytest.raises(ResultsError, match="parse.json"):
        results.load_run(run)


@pytest.mark.skipif(not (REFERENCE / "machine.json").exists(), reason="no committed reference run")
def test_the_reference_run_loads_and_a_legacy_machine_file_reads_as_format_0(tmp_path):
    info = rundir.read_run_info(REFERENCE)
    assert 1 <= info.format_version <= rundir.FORMAT_VERSION and len(info.code_sha256) == 64
    df = results.load_run(REFERENCE)
    assert len(df) > 1000 and set(df["source"]) == {"measured-real", "measured-replay"}
    assert set(df[df["emulators"] == "real"]["source"]) == {"measured-real"}
    assert set(df["system"]) <= {results.MODEL, "libvirt 9.0"}
    (tmp_path / "machine.json").write_text('{"bench_code_sha256": "%s"}' % ("a" * 64))
    legacy = rundir.read_run_info(tmp_path)
    assert legacy.format_version == 0 and legacy.code_sha256 == "a" * 64


def test_run_info_is_validated_and_written_with_its_version(tmp_path):
    assert rundir.read_run_info(tmp_path).format_version == 0  # no file: nothing known
    (tmp_path / "machine.json").write_text('{"format_version": 99}')
    with pytest.raises(ResultsError, match="machine.json.*format_version 99"):
        rundir.read_run_info(tmp_path)
    (tmp_path / "machine.json").write_text('{"format_version": 1, "code_sha256": "x"}')
    with pytest.raises(ResultsError, match="code_sha256"):
        rundir.read_run_info(tmp_path)
    (tmp_path / "machine.json").write_text('[1, 2')
    with pytest.raises(ResultsError, match="machine.json"):
        rundir.read_run_info(tmp_path)
    rundir.write_run_info(tmp_path, {"format_version": rundir.FORMAT_VERSION, "code_sha256": "a" * 64,
                                     "git_commit": "c", "git_dirty": True})
    info = rundir.read_run_info(tmp_path)
    assert (info.format_version, info.code_sha256, info.git_commit, info.git_dirty) == (
        rundir.FORMAT_VERSION, "a" * 64, "c", True)


def test_code_hash_covers_every_input_that_shapes_a_number(tmp_path):
    files = {"workbench/a.py": "x = 1\n", "workbench/qemu/b.py": "y = 1\n", "workbench/schema.rng": "<a/>",
             "notebooks/summary.py": "# %%\n", "data/transcripts/qemu-system-sh4.json.gz": "gz",
             "data/domains/x.xml": "<domain/>", "data/libvirt9/facts.json": "{}", "pyproject.toml": "[x]"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    before = rundir.code_hash(tmp_path)
    for rel, text in files.items():  # each one changes the hash
        (tmp_path / rel).write_text(text + " ")
        assert rundir.code_hash(tmp_path) != before, rel
        (tmp_path / rel).write_text(text)
    assert rundir.code_hash(tmp_path) == before
    (tmp_path / "data/results/r1").mkdir(parents=True)  # outputs and caches are not inputs
    (tmp_path / "data/results/r1/x.json").write_text("{}")
    (tmp_path / "workbench/__pycache__").mkdir()
    (tmp_path / "workbench/__pycache__/a.cpython-311.pyc").write_bytes(b"\0")
    assert rundir.code_hash(tmp_path) == before
    info = rundir.collect_run_info()
    assert len(info["code_sha256"]) == 64 and info["format_version"] == rundir.FORMAT_VERSION
    assert {"libvirt", "qemu", "packages"} <= set(info)


def test_source_comes_from_metadata_or_the_emulator_kind(tmp_path):
    write_suite(tmp_path / "s.json", {
        "a": (startup_meta(wb_source="modelled"), [1.0]),
        "b": (startup_meta(wb_emulators="real"), [1.0]),
        "c": (startup_meta(), [1.0])})
    assert [r["source"] for r in results.suite_rows(tmp_path / "s.json")] == [
        "modelled", "measured-real", "measured-replay"]


def test_an_injected_slowdown_is_labelled_and_found(tmp_path):
    values = [1.0 + 0.01 * ((i * 7) % 10) for i in range(12)]
    a = tmp_path / "a"
    a.mkdir()
    write_suite(a / "s.json", {f"driver_startup[n={n}]": (startup_meta(n=n), values) for n in (1, 2, 4)})
    rundir.write_run_info(a, {"format_version": 1, "code_sha256": "a" * 64})
    b = aa.inject_slowdown(a, tmp_path / "b", "driver_startup[n=2]", 1.2)
    assert rundir.read_run_info(b).data["injected"]["factor"] == 1.2
    md = pyperf.BenchmarkSuite.load(str(b / "s.json")).get_benchmark("driver_startup[n=2]").get_metadata()
    assert "injected" in md["wb_injected"]
    table = results.compare(a, b)
    assert list(table[table["regression"]]["n_emulators"]) == [2]
    assert results.compare(a, a)["verdict"].eq("unchanged").all()
    from workbench.errors import UsageError
    with pytest.raises(UsageError, match="found in no result file"):
        aa.inject_slowdown(a, tmp_path / "c", "nope", 1.2)


def test_parallel_fidelity_ratios_and_speedups() -> None:
    import pandas as pd

    rows = [{"benchmark": "parallel_scaling", "case": f"workers={w}", "emulators": side, "time_s": t}
            for side, times in (("simulated", (1.0, 0.5, 0.4)), ("real", (1.0, 0.8, 0.5)))
            for w, t in zip((1, 2, 4), times)]
    rows.append({"benchmark": "driver_startup", "case": "", "emulators": "simulated", "time_s": 9.0})
    par = results.parallel_fidelity(pd.DataFrame(rows))
    assert list(par["workers"]) == [1, 2, 4]
    assert list(par["ratio"]) == pytest.approx([1.0, 0.625, 0.8])
    assert list(par["speedup_simulated"]) == pytest.approx([1.0, 2.0, 2.5])
    assert list(par["speedup_real"]) == pytest.approx([1.0, 1.25, 2.0])


def test_replayed_qemu_time_counts_the_launches_the_prober_makes() -> None:
    from workbench.paths import TRANSCRIPTS_DIR
    from workbench.sim import qemu_time
    from workbench.sim.transcript import load_raw

    tr = load_raw(TRANSCRIPTS_DIR / "qemu-system-x86_64.json.gz")
    assert len(tr["launches"]) == 2  # recorded where KVM worked: the TCG-only second launch too
    with_kvm, without = qemu_time.probe_qemu_s(tr, True), qemu_time.probe_qemu_s(tr, False)
    first = tr["launches"][0]
    recorded_first = first["ready_s"] + sum(e["latency_s"] for e in first["exchanges"])
    assert 0 < without < recorded_first  # start-up less fork+exec, each latency less a round trip
    assert without > 0.9 * recorded_first
    assert with_kvm > without
    one = qemu_time.install_qemu_s(1, True)
    assert one == pytest.approx(with_kvm)
    assert qemu_time.install_qemu_s(3, True) > one


def test_headline_share_needs_the_runs_kvm(tmp_path) -> None:
    import pandas as pd

    from workbench.analysis import plots

    rows = pd.DataFrame([{"benchmark": "daemon_startup", "cache": "cold", "phase": "total", "n_emulators": 2,
                          "strategy": s, "time_s": t, "emulators": "simulated", "run": ""}
                         for s, t in (("full-caps", 0.5), ("per-emulator", 0.05))])
    assert math.isnan(plots.startup_headline(rows)["before_qemu_share"].iloc[0])  # KVM unknown: no share
    h = plots.startup_headline(rows.assign(kvm_usable=True)).iloc[0]
    from workbench.sim.qemu_time import install_qemu_s
    assert h.before_qemu_share == pytest.approx(install_qemu_s(2, True) / 0.5)


def test_the_aa_check_summarises_each_pair_and_says_what_fails(tmp_path):
    from workbench.bench import aa

    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b")
    inj = aa.inject_slowdown(b, tmp_path / "inj", "driver_startup", 1.5, file="driver_startup.json")
    same = aa.summarise(a, b, tmp_path / "aa.csv")
    assert same.tests == 3 and same.regression_share == 0 and (tmp_path / "aa.csv").exists()
    found = aa.summarise(a, inj, tmp_path / "inj.csv", injected="driver_startup")
    assert found.injected["verdict"] == "regression" and found.injected["ratio"] == pytest.approx(1.5)
    assert aa.check_failures([same, found], 1.5) == []
    hidden = aa.PairSummary("a", "c", "c.csv", 3, {"unchanged": 3}, 0.0, 0.3,
                            {"benchmark": "x", "ratio": 1.0, "ci_low": 0.99, "ci_high": 1.01, "mdc": 0.3,
                             "verdict": "unchanged"})
    loud = aa.PairSummary("a", "d", "d.csv", 50, {"regression": 2, "unchanged": 48}, 0.04, 0.1)
    assert [f.split(":")[0] for f in aa.check_failures([hidden, loud])] == ["c.csv", "d.csv"]


def test_aa_command_refuses_a_single_run(tmp_path, capsys):
    from workbench.cli import main

    assert main(["aa", "--runs", "1", "-o", str(tmp_path / "x")]) == 2
    assert "--runs must be at least 2" in capsys.readouterr().err
