"""The pyperf benchmark scripts, run as users run them (fast settings, latency none), and trace."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import HAVE_REAL_QEMU, processes_mentioning
from workbench.analysis import results
from workbench.sim.corpus_picks import pick, renamed_copies, x86_64_domains

FAST = ["--in-process", "-p", "1", "-n", "2", "-w", "0", "--loops", "1", "-q", "--latency", "none"]


def run_bench(tmp_path: Path, name: str, *flags: str, prelude: str = "") -> "results.pd.DataFrame":
    out = tmp_path / f"{name}.json"
    argv = [*FAST, "--install-root", str(tmp_path / "inst"), "--cache-root", str(tmp_path / "c"),
            "-o", str(out), *flags]
    code = prelude + f"\nimport runpy, sys\nsys.argv = {[name] + argv!r}\n" \
                     f"runpy.run_module('workbench.bench.{name}', run_name='__main__')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not list((tmp_path / "c").iterdir()), "a benchmark left cache dirs behind"
    df = results.load_run(tmp_path)
    return df[df["file"] == out.name]


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_driver_startup_records_its_parameters(tmp_path, cache):
    df = run_bench(tmp_path, "driver_startup", "--strategy", "full-caps", "--emulators", "3",
                   "--cache", cache, "--domains", "2")
    assert len(df) == 2
    row = df.iloc[0]
    assert (row.benchmark, row.strategy, row.n_emulators, row.cache, row.latency, row.domains,
            row.emulators, row.phase) == ("driver_startup", "full-caps", 3, cache, "none", 2, "simulated",
                                          "total")
    assert (tmp_path / "inst" / "n3-none" / "qemu-system-aarch64").exists()
    name = f"driver_startup[n=3,cache={cache},strategy=full-caps,domains=2,latency=none,emulators=simulated]"
    assert set(df["name"]) == {name} and set(df["source"]) == {"measured-replay"}
    # one benchmark in the file, shown by pyperf under its full name (selectable with -b)
    shown = subprocess.run([sys.executable, "-m", "pyperf", "show", "--metadata", "-b", name,
                            str(tmp_path / "driver_startup.json")], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and f"name: {name}" in shown.stdout, shown.stdout + shown.stderr


def test_pyperf_convert_add_keeps_parameter_sets_apart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    run_bench(a, "driver_startup", "--emulators", "1")
    run_bench(b, "driver_startup", "--emulators", "2")
    merged = tmp_path / "m.json"
    proc = subprocess.run([sys.executable, "-m", "pyperf", "convert", str(a / "driver_startup.json"), "--add",
                           str(b / "driver_startup.json"), "-o", str(merged)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    df = results.load_run(tmp_path)
    assert sorted(df[df["file"] == "m.json"]["n_emulators"].tolist()) == [1, 1, 2, 2]
    assert df[df["file"] == "m.json"]["name"].nunique() == 2


def test_a_new_strategy_appears_in_the_benchmarks(tmp_path):
    prelude = textwrap.dedent("""
        from workbench.qemu import strategies
        from workbench.qemu.strategies.per_emulator import PerEmulator
        class Newcomer(strategies.Strategy):  # as a new module in the package would define it
            name = "test-newcomer"
            sec_model, os_defaults = PerEmulator.sec_model, PerEmulator.os_defaults
            default_emulator, default_machine = PerEmulator.default_emulator, PerEmulator.default_machine
        strategies.STRATEGIES.update(strategies._discover())
    """)
    df = run_bench(tmp_path, "driver_startup", "--strategy", "test-newcomer", prelude=prelude)
    assert set(df["strategy"]) == {"test-newcomer"}


def test_daemon_startup_answers_and_leaves_no_daemon(tmp_path):
    df = run_bench(tmp_path, "daemon_startup", "--strategy", "per-emulator", "--emulators", "2",
                   "--cache", "warm", "--domains", "1")
    assert len(df) == 2 and set(df["benchmark"]) == {"daemon_startup"}
    assert processes_mentioning(str(tmp_path)) == []


def test_apis_one_benchmark_per_api(tmp_path):
    df = run_bench(tmp_path, "apis", "--strategy", "per-emulator", "--emulators", "2")
    assert df.groupby("case").size().to_dict() == {a: 2 for a in ("get_capabilities", "get_domain_capabilities",
                                                                  "get_version", "define_xml")}
    assert set(df["benchmark"]) == {"api"}


def test_parse_gives_every_phase_as_rows(tmp_path):
    df = run_bench(tmp_path, "parse", "--strategy", "full-caps", "--emulators", "1", "--cache", "warm",
                   "--corpus", "2")
    doms = [d.name for d in pick(x86_64_domains(), 2)]
    assert set(df["case"]) == set(doms)
    for kind in ("parse.first", "parse.steady"):
        phases = df[df["benchmark"] == kind].groupby("case")["phase"].apply(set).to_dict()
        assert phases == {d: {"total", "parse", "post-parse", "validate", "format"} for d in doms}


def test_parse_cold_has_no_steady_state(tmp_path):
    df = run_bench(tmp_path, "parse", "--strategy", "per-emulator", "--emulators", "1", "--corpus", "1")
    assert set(df["benchmark"]) == {"parse.first"}


def test_tracing_overhead_on_and_off_in_one_run(tmp_path):
    df = run_bench(tmp_path, "tracing_overhead", "--strategy", "full-caps", "--emulators", "2",
                   "--cache", "warm")
    assert df.groupby("case").size().to_dict() == {"on": 2, "off": 2}
    assert len(results.tracing_overhead(df)) == 1


def test_replay_fidelity_real_and_simulated(tmp_path):
    df = run_bench(tmp_path, "replay_fidelity", "--targets", "x86_64,avr")
    sides = {"real", "simulated"} if HAVE_REAL_QEMU else {"simulated"}
    assert df.groupby("case")["emulators"].apply(set).to_dict() == {"x86_64": sides, "avr": sides}
    assert set(df["strategy"].dropna()) == set()


def test_config_copies_are_distinct_domains():
    doms = x86_64_domains()
    assert {d.name for d in doms} >= {"x86_64-minimal", "x86_64-devices"}
    names = [n for n, _ in renamed_copies(doms, 7)]
    assert len(set(names)) == 7


@pytest.mark.parametrize("strategy,probes", [("full-caps", 2), ("per-emulator", 1)])
def test_trace_writes_chrome_json_with_probes_and_qmp(tmp_path, strategy, probes):
    from workbench.cli import main

    out = tmp_path / "trace.json"
    assert main(["trace", "--strategy", strategy, "--emulators", "2", "--latency", "none", "-o", str(out)]) == 0
    events = json.loads(out.read_text())["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    names = [e["name"] for e in spans]
    assert names.count("probe") == probes  # x86_64 and i386 for full caps; x86_64 alone after
    qmp = [e for e in spans if e["name"] == "qmp"]
    assert qmp and all("command" in e["args"] for e in qmp)
    assert {"driver.startup", "parse", "post-parse", "validate", "format"} <= set(names)
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in spans)


def test_real_install_links_the_same_targets_or_is_none(tmp_path, monkeypatch) -> None:
    from workbench.sim import installs
    from workbench.sim.catalog import INSTALL_ORDER

    fake = tmp_path / "usr-bin"
    fake.mkdir()
    monkeypatch.setattr(installs, "REAL_QEMU_DIR", fake)
    assert installs.ensure_real_install(tmp_path / "inst", 3) is None  # nothing here: no real side
    for t in INSTALL_ORDER[:3]:
        (fake / f"qemu-system-{t}").write_text("#!/bin/sh\n")
    dest = installs.ensure_real_install(tmp_path / "inst", 3)
    assert dest is not None and sorted(p.name for p in dest.iterdir()) == \
        sorted(f"qemu-system-{t}" for t in INSTALL_ORDER[:3])
    assert all((dest / p.name).resolve().parent == fake for p in dest.iterdir())
    assert installs.ensure_real_install(tmp_path / "inst", 3) == dest  # made once, then reused
