"""Hostile files and careless operators: results, cache entries, domain names, writers.

Every case: a clean WorkbenchError naming the file (exit 2 from the CLI), never a traceback;
writers never follow a link planted where their temporary would go.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest

from workbench.errors import ResultsError, UsageError
from workbench.qemu.cache import MAX_ENTRY_BYTES, QemuCapsCache
from workbench.qemu.capsdata import QemuCaps
from workbench.qemu.driver import DriverOptions, QemuDriver
from workbench.analysis.results import suite_rows
from workbench.bench.sweep import _finished


def _result_file(path: Path, values: list, **metadata) -> Path:
    md = {"name": "startup", "unit": "second", "wb_benchmark": "startup", "wb_n_emulators": "3",
          "wb_strategy": "per-emulator", **metadata}
    bench = pyperf.Benchmark([pyperf.Run([1.0], metadata=md, collect_metadata=False)])
    tmp = path.with_suffix(".src.json")
    pyperf.BenchmarkSuite([bench]).dump(str(tmp))
    doc = json.loads(tmp.read_text())
    tmp.unlink()
    doc["benchmarks"][0]["runs"][0]["values"] = values
    path.write_text(json.dumps(doc).replace('"__INF__"', "Infinity"))
    return path


@pytest.mark.parametrize("values,metadata,says", [
    ([1e308], {}, "is not a duration"),
    (["__INF__"], {}, "is not a"),
    ([-1.0], {}, "is not a duration"),
    ([0.5], {"wb_n_emulators": "abc"}, "wb_n_emulators='abc' is not a whole number"),
    ([0.5], {"wb_domains": "1e9"}, "wb_domains='1e9' is not a whole number"),
], ids=["1e308", "inf", "negative", "n-abc", "domains"])
def test_bad_values_and_metadata_are_clean_errors(values, metadata, says, tmp_path):
    f = _result_file(tmp_path / "startup.json", values, **metadata)
    with pytest.raises(ResultsError) as e:
        suite_rows(f)
    assert str(f) in str(e.value) and (says in str(e.value) or "not a valid pyperf" in str(e.value)), e.value


def test_compare_on_bad_values_exits_2_without_traceback(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    _result_file(a / "startup.json", [0.5, 0.6])
    _result_file(b / "startup.json", [1e308, 0.6])
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "compare", str(a), str(b)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "startup.json" in r.stderr, r.stderr


def test_empty_benchmarks_is_not_finished(tmp_path):
    f = tmp_path / "startup.json"
    f.write_text('{"benchmarks": []}')
    assert not _finished(f)
    assert not f.exists() and (tmp_path / "startup.json.bad").exists()


def test_cache_entry_with_nameless_machine_refused():
    xml = (b"<qemuCaps><emulator>/x/qemu-system-x86_64</emulator><qemuctime>1</qemuctime>"
           b"<selfvers>1</selfvers><version>7002000</version><kernelVersion>k</kernelVersion>"
           b"<arch>x86_64</arch><kvm enabled='no'/><tcg enabled='yes'/>"
           b"<machine type='tcg' maxCpus='1'/></qemuCaps>")
    with pytest.raises(ValueError, match="without a name"):
        QemuCaps.from_xml(xml)


def test_cache_file_read_with_a_size_limit(tmp_path):
    cache = QemuCapsCache(tmp_path / "cache")
    binary = str(tmp_path / "qemu-system-x86_64")
    path = cache.path_for(binary)
    with open(path, "wb") as f:  # sparse: a planted huge entry
        f.truncate(MAX_ENTRY_BYTES + 4096)
    from workbench import trace
    with trace.span("t") as sp:
        assert cache._load(binary, "", sp) is None
    assert cache.stats["discarded"] == 1 and not path.exists()


def test_hidden_domain_name_refused(make_install, tmp_path, private_tmp):
    inst = make_install(1)
    driver = QemuDriver.startup(DriverOptions(str(inst), "per-emulator", config_dir=tmp_path / "conf"))
    xml = ('<domain type="qemu"><name>.hidden</name><memory>524288</memory><vcpu>1</vcpu>'
           '<os><type arch="x86_64">hvm</type></os></domain>')
    with pytest.raises(UsageError, match="must not start with '.'"):
        driver.define_xml(xml)
    assert list((tmp_path / "conf").iterdir()) == []


def test_transcript_save_never_follows_a_planted_link(tmp_path):
    from workbench.sim.transcript import Transcript
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "qemu-system-x86_64.json.gz"
    for planted in (target.name + ".tmp", "." + target.name + ".tmp"):
        (out / planted).symlink_to(victim)

    class Doc(Transcript):  # only save() is under test: any JSON does
        def __init__(self):
            pass

        def to_json(self):
            return {"x": 1}

    Doc().save(target)
    assert victim.read_text() == "precious"
    import gzip
    assert json.loads(gzip.decompress(target.read_bytes())) == {"x": 1}


def test_run_files_and_installs_never_follow_a_planted_link(tmp_path):
    """machine.json, results.csv and an install's launchers are written through a temporary made
    exclusively: the names these writers used to take (NAME.tmpPID) may hold a planted link."""
    import os
    import pandas as pd
    from workbench.analysis import rundir
    from workbench.sim.install import install
    victim = tmp_path / "victim"
    victim.write_text("precious")
    run, inst = tmp_path / "run", tmp_path / "inst"
    run.mkdir()
    inst.mkdir()
    for d, name in ((run, "machine.json"), (run, "results.csv"), (inst, "qemu-system-x86_64")):
        (d / f".{name}.tmp{os.getpid()}").symlink_to(victim)
    rundir.write_run_info(run, {"format_version": 1})
    rundir.write_results_csv(run, pd.DataFrame({"a": [1]}))
    install(inst, 1, latency="none")
    assert victim.read_text() == "precious"
    assert json.loads((run / "machine.json").read_text()) == {"format_version": 1}
    assert (run / "results.csv").read_text() == "a\n1\n"
    assert os.access(inst / "qemu-system-x86_64", os.X_OK)


def test_record_hanging_version_is_that_binarys_error(tmp_path, monkeypatch):
    from workbench.sim import recorder
    qemu = tmp_path / "qemu"
    qemu.mkdir()
    hang = qemu / "qemu-system-x86_64"
    hang.write_text("#!/bin/sh\nexec sleep 3600\n")  # exec: the time limit's kill reaches it
    hang.chmod(0o755)
    monkeypatch.setattr(recorder, "measure_round_trip", lambda timeout_s: None)
    monkeypatch.setattr(recorder, "measure_work_rate", lambda: 1)
    monkeypatch.setattr(recorder.RoundTrip, "median_of", staticmethod(lambda rts: _RT()))
    out = recorder.record_all(qemu, tmp_path / "out", repeats=1, timeout_s=1.0)
    assert len(out) == 1 and out[0].path is None and "-version failed" in out[0].error, out


class _RT:
    def to_json(self):
        return {}


def test_compare_of_runs_sharing_no_benchmark_is_empty_not_broken():
    """What summary does with it: flagged rows, then the table's columns (a KeyError before)."""
    import pandas as pd
    from workbench.analysis.results import COLUMNS, compare
    row = dict(benchmark="x", case="", phase="total", system="model", strategy="per-emulator",
               n_emulators=1, cache="cold", emulators="simulated", domains=None, latency="none",
               run_index=0, value_index=0, time_s=1.0, source="replayed", name="x", file="x.json")
    a = pd.DataFrame([row], columns=COLUMNS)
    b = a.assign(benchmark="y")
    cmp = compare(a, b)
    flagged = cmp[cmp["regression"]]
    assert len(cmp) == 0 and list(flagged[["benchmark", "ratio", "p_adj"]].columns) == ["benchmark", "ratio", "p_adj"]
