"""The teardown tables: the fix's saving per mode and seconds per probe launch, on made-up rows
whose answers are known, and on the reference run (which predates the axis)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import model_vs_reality as mvr
from workbench.analysis import teardown as td
from workbench.paths import RESULTS_DIR
from workbench.analysis.results import MODEL, load_run
from workbench.sim.catalog import INSTALL_ORDER
from workbench.sim.transcript import load_raw, transcript_filename
from workbench.paths import TRANSCRIPTS_DIR


def _row(time_s, teardown="libvirt9", system=MODEL, strategy="per-emulator", n=8, case="get_capabilities",
         benchmark="api", cache="cold"):
    return {"benchmark": benchmark, "case": case, "phase": "total", "system": system,
            "strategy": strategy, "n_emulators": n, "cache": cache, "emulators": "simulated",
            "time_s": time_s, "teardown": teardown}


def test_saving_is_libvirt9_minus_pidfd_per_strategy_and_count():
    df = pd.DataFrame([_row(3.0), _row(5.0), _row(1.0, "pidfd"), _row(1.5, "pidfd"), _row(0.9, "libvirt5"),
                       _row(9.0, cache="warm"), _row(2.0, strategy="full-caps"),
                       _row(0.5, "pidfd", strategy="full-caps")])
    s = td.teardown_saving(df)
    pe = s[s["strategy"] == "per-emulator"].iloc[0]
    assert (pe.libvirt9_s, pe.pidfd_s, pe.libvirt5_s) == (4.0, 1.25, 0.9)
    assert pe.saving_s == pytest.approx(2.75) and pe.saving_share == pytest.approx(2.75 / 4.0)
    fc = s[s["strategy"] == "full-caps"].iloc[0]
    assert fc.saving_s == pytest.approx(1.5) and math.isnan(fc.libvirt5_s)
    assert set(s["cache"]) == {"cold"}


def test_one_teardown_or_none_gives_an_empty_table_with_its_columns():
    one = pd.DataFrame([_row(3.0), _row(2.0)])
    assert td.teardown_saving(one).empty and list(td.teardown_saving(one)) == td.SAVING_COLUMNS
    assert td.teardown_saving(one.drop(columns="teardown")).empty


def test_launches_count_the_recorded_second_launch_only_where_kvm_is_usable():
    n = 4
    two = sum(len(load_raw(TRANSCRIPTS_DIR / transcript_filename(t))["launches"]) for t in INSTALL_ORDER[:n])
    assert td.install_launches(n, kvm_usable=False) == n
    assert td.install_launches(n, kvm_usable=True) == two >= n


def test_seconds_per_launch_beside_libvirt():
    df = pd.DataFrame([_row(3.0, n=2), _row(1.0, "pidfd", n=2), _row(6.0, system="libvirt 9.0", strategy=None,
                                                                      teardown=None, n=2),
                       _row(99.0, strategy="full-caps", n=2)])
    t = td.seconds_per_launch(df, kvm_usable=False)
    assert list(t.columns) == td.LAUNCH_COLUMNS and set(t["launches"]) == {2}
    got = {(r.system, r.teardown): r.per_launch_s for r in t.itertuples()}
    assert got == {(MODEL, "libvirt9"): 1.5, (MODEL, "pidfd"): 0.5, ("libvirt 9.0", ""): 3.0}


def test_the_reference_run_predates_the_axis():
    ref = load_run(FULL_GRID_RUN)
    assert td.teardown_saving(ref).empty
    t = td.seconds_per_launch(ref, kvm_usable=False)
    assert len(t) and set(t["teardown"]) == {""}  # before the axis: no model teardown named
    assert (t["per_launch_s"] > 0).all()


def test_saving_figure_draws_each_strategy_and_teardown():
    df = pd.DataFrame([_row(3.0, n=1), _row(1.0, "pidfd", n=1), _row(6.0, n=8), _row(2.0, "pidfd", n=8)])
    fig = td.saving_figure(td.teardown_saving(df), "api", "get_capabilities", "replayed")
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels == ["per-emulator, libvirt9", "per-emulator, pidfd"]
    assert any("saves 4.00 s" in t.get_text() for t in fig.axes[0].texts)


def test_pages_see_only_the_default_teardown_and_every_libvirt_row():
    df = pd.DataFrame([_row(3.0), _row(1.0, "pidfd"), _row(0.5, "libvirt5"), _row(2.0, ""),
                       _row(6.0, system="libvirt 9.0", teardown="libvirt9")])
    kept = td.at_default_teardown(df)
    assert sorted(kept["time_s"]) == [2.0, 3.0, 6.0]
    assert td.at_default_teardown(df.drop(columns="teardown")).equals(df.drop(columns="teardown"))


def test_the_teardown_section_writes_the_saving_and_its_rows(tmp_path):
    df = pd.DataFrame([_row(3.0), _row(5.0), _row(1.0, "pidfd"), _row(1.5, "pidfd"), _row(9.0, cache="warm"),
                       _row(2.0, benchmark="scenario", case="cold_container", cache="warm")]).assign(source="measured-replay", latency="recorded")
    saving, _ = mvr.show_api_teardowns(df, False, tmp_path)
    assert (tmp_path / "teardown_saving.csv").is_file() and (tmp_path / "teardown_saving.png").is_file()
    rows = td.saving_rows(df, saving)
    assert set(rows["cache"]) == {"cold"} and set(rows["benchmark"]) == set(saving["benchmark"]) == {"api"}
    one, _ = mvr.show_api_teardowns(df[df["teardown"] == "libvirt9"], False, tmp_path / "one")
    assert one.empty and not (tmp_path / "one" / "teardown_saving.csv").exists()
