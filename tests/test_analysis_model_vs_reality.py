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
