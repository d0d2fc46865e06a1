"""model_vs_reality's tables on the committed libvirt 9.0 measurements and the reference run."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from test_notebooks import FULL_GRID_RUN
from workbench.analysis import model_vs_reality as mvr
from workbench.errors import ResultsError
from workbench.paths import REPO_ROOT, RESULTS_DIR, TRANSCRIPTS_DIR
from workbench.analysis.results import load_run

LIBVIRT = REPO_ROOT / "data" / "libvirt9"


def test_validate_checks_count_every_row():
    checks = mvr.validate_checks(LIBVIRT)
    assert set(checks["file"]) == {p.name for p in LIBVIRT.glob("validate_*.json")}
    for f, g in checks.groupby("file"):
        rows = json.loads((LIBVIRT / f).read_text())["rows"]
        assert int(g[["agree", "deliberate", "differ"]].sum().sum()) == len(rows)


def test_a_bad_validate_file_names_itself(tmp_path):
    (tmp_path / "validate_x.json").write_text("{not json")
    with pytest.raises(ResultsError, match="validate_x.json"):
        mvr.validate_checks(tmp_path)


@pytest.fixture(scope="module")
def reference():
    return load_run(FULL_GRID_RUN)


def test_same_install_pairs_libvirt_with_the_shipped_strategy(reference):
    both = mvr.same_install(reference, "per-emulator")
    assert len(both) and both[["libvirt_s", "model_s"]].notna().all().all()
    r = both.iloc[0]
    rows = reference[(reference["benchmark"] == r.benchmark) & (reference["case"] == r.case)
                     & (reference["n_emulators"] == r.n_emulators) & (reference["cache"] == r.cache)]
    assert math.isclose(r.libvirt_s, rows[rows["system"] != "model"]["time_s"].median())
    assert math.isclose(r.libvirt_over_model, r.libvirt_s / r.model_s)
    assert mvr.same_install(pd.DataFrame(), "per-emulator").empty


def test_probe_phases_add_up(reference):
    facts = json.loads((LIBVIRT / "facts.json").read_text())
    ph = mvr.probe_phases(facts, mvr.recorded_launches(TRANSCRIPTS_DIR), reference)
    t = ph.table.set_index("phase")
    assert list(t.index[:len(mvr.PHASES)]) == list(mvr.PHASES)
    recorded = t.loc[list(mvr.PHASES), "model_s"].dropna().sum()
    assert math.isclose(recorded + t.loc[mvr.OWN_WORK, "model_s"], t.loc[mvr.WHOLE, "model_s"])
    assert ph.libvirt_launches > 0 and ph.model_launches > 0
    lines = mvr.phase_conclusions(ph, 0.25)
    assert ("within 25%" in lines[0]) != ("outside 25%" in lines[0])
    # a run without replay_fidelity says the whole probe was not measured
    empty = mvr.probe_phases(facts, [], reference[reference["benchmark"] != "replay_fidelity"])
    assert "no `replay_fidelity`" in mvr.phase_conclusions(empty, 0.25)[0]


def test_transcripts_flattened_once():
    from workbench.analysis import transcripts

    rec = transcripts.read(TRANSCRIPTS_DIR)
    assert len(rec.launches) and len(rec.exchanges)
    assert rec.launches["n_commands"].sum() == len(rec.exchanges)
    cmds = transcripts.per_command(rec.exchanges)
    assert math.isclose(cmds["share_pct"].sum(), 100.0)
    assert math.isclose(cmds["total_s"].sum(), rec.exchanges["latency_s"].sum())
    named = list(cmds["command"].head(3))
    table = transcripts.per_target(rec, named)
    assert list(table.columns) == ["start to ready"] + named + ["other QMP", "quit"]
    total = rec.exchanges["latency_s"].sum() + rec.launches["ready_s"].sum() + rec.launches["quit_s"].sum()
    assert math.isclose(table.values.sum(), total)
    assert list(mvr.recorded_launches(TRANSCRIPTS_DIR)[0]) == ["setup", "daemonize", "connect_greeting", "commands"]


def test_validate_summary_sums_every_file():
    checks = mvr.validate_checks(LIBVIRT)
    text = mvr.validate_summary(checks)
    assert text.startswith(f"**{int(checks['agree'].sum())} checks agree, ")
    assert f"{int(checks['differ'].sum())} differ without a deviation" in text


def test_same_install_shows_its_table_figure_and_rows(reference, tmp_path):
    both = mvr.show_same_install(reference, "per-emulator", tmp_path)
    assert (tmp_path / "same_install.csv").is_file() and (tmp_path / "same_install.png").is_file()
    rows = mvr.same_install_rows(reference, both, "per-emulator")
    assert (rows["system"] != "model").any()
    model = rows[rows["system"] == "model"]
    assert set(model["strategy"]) == {"per-emulator"} and set(model["benchmark"]) <= set(both["benchmark"])
    fig = mvr.same_install_figure(both, "per-emulator")
    cold = both[(both["cache"] == "cold") & (both["n_emulators"] == both["n_emulators"].max())]
    assert len(fig.axes[0].get_yticklabels()) == len(cold)
    assert mvr.same_install_figure(both[both["cache"] == "nothing"], "per-emulator") is None


def test_a_run_without_libvirt_rows_writes_no_same_install_table(reference, tmp_path):
    mvr.show_same_install(reference[reference["system"] == "model"], "per-emulator", tmp_path)
    assert not (tmp_path / "same_install.csv").exists()


def test_probe_phases_section_reads_facts_and_says_so_without(reference, tmp_path):
    ph = mvr.show_probe_phases(LIBVIRT, reference, TRANSCRIPTS_DIR, 0.25, tmp_path / "out")
    assert ph is not None and (tmp_path / "out" / "probe_phases.csv").is_file()
    assert mvr.show_probe_phases(tmp_path, reference, TRANSCRIPTS_DIR, 0.25, tmp_path / "none") is None
    assert not (tmp_path / "none").exists()


def test_oracle_summary_counts_the_committed_report(tmp_path):
    from workbench.analysis import qemu_versions

    report = json.loads((LIBVIRT / "libvirt_tests.json").read_text())
    text = qemu_versions.oracle_summary(report)
    assert text.startswith(f"**{report['counts']['yes']} aspects agree")
    assert f"derives {report['derived_flags']} of" in text
    per_file = qemu_versions.show_oracle(LIBVIRT / "libvirt_tests.json", tmp_path)
    assert len(per_file) and (tmp_path / "libvirt_tests.csv").is_file()
    assert qemu_versions.show_oracle(tmp_path / "missing.json", tmp_path) is None


def test_schema_change_conclusion_reads_the_shares():
    from workbench.analysis import qemu_versions

    shares = pd.DataFrame({"build_constant_bytes_unchanged_share": [0.02, 0.04, 0.5], "schema_identical": [False, True, False]})
    text = qemu_versions.schema_change_conclusion(shares)
    assert "median share unchanged 4%" in text and "identical in 1 of 3 pairs" in text
