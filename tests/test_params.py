"""The parameter record: flags, worker argv, metadata and the loader's columns agree."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from workbench.params import BenchParams, key_columns, param_name, specs


def parse(argv: list[str]) -> BenchParams:
    p = argparse.ArgumentParser()
    BenchParams.add_arguments(p)
    return BenchParams.from_args(p.parse_args(argv))


def test_argv_round_trips_through_the_flags():
    params = BenchParams(emulators=8, cache="warm", strategy="full-caps", domains=3, latency="none",
                         corpus=2, targets="sh4eb", install_root=Path("/i"), cache_root=Path("/c"))
    assert parse(params.to_argv()) == params
    assert parse([]) == BenchParams()


def test_every_field_has_a_flag_and_bad_values_are_usage_errors():
    flags = [s.flag for _, s in specs()]
    assert len(flags) == len(set(flags))
    for argv in (["--emulators", "0"], ["--cache", "tepid"], ["--strategy", "nope"], ["--latency", "x"]):
        with pytest.raises(SystemExit) as e:
            parse(argv)
        assert e.value.code == 2


def test_metadata_round_trips_and_missing_keys_read_as_before():
    params = BenchParams(emulators=30, cache="cold", strategy="full-caps")
    md = {"wb_benchmark": "driver_startup", **params.to_metadata(), "wb_workers": 4}
    cols = BenchParams.from_metadata(md)
    assert (cols["n_emulators"], cols["cache"], cols["strategy"], cols["workers"]) == (30, "cold", "full-caps", 4)
    assert BenchParams.from_metadata({"wb_benchmark": "x"})["strategy"] is None  # replay_fidelity has none


def test_names_and_keys_are_those_of_the_runs_already_made():
    md = {**BenchParams(emulators=30, strategy="full-caps").to_metadata(), "wb_emulators": "simulated"}
    assert param_name("driver_startup", md) == \
        "driver_startup[n=30,cache=cold,strategy=full-caps,domains=0,latency=recorded,emulators=simulated]"
    assert key_columns()[:9] == ["benchmark", "case", "phase", "system", "strategy", "n_emulators", "cache",
                                 "emulators", "domains"]


def test_the_sweep_builds_each_jobs_argv_from_the_record():
    from workbench.bench import sweep

    job = sweep.Job("driver_startup", 1, "full-caps", 8, "warm")
    argv = job.argv(sweep.MODES["quick"], "none", Path("/i"), Path("/c"), Path("/o"))
    assert parse(argv[argv.index("-q") + 1:argv.index("-o")]) == BenchParams(
        emulators=8, cache="warm", strategy="full-caps", latency="none", install_root=Path("/i"),
        cache_root=Path("/c"))
    single = sweep.Job("replay_fidelity", 1)
    assert single.filename == "replay_fidelity--r1.json"
    argv = single.argv(sweep.MODES["quick"], "none", Path("/i"), Path("/c"), Path("/o"))
    assert parse(argv[argv.index("-q") + 1:argv.index("-o")]).strategy == BenchParams().strategy
