"""libvirt 9.0's test data as the oracle: replies files as emulators, the caps/domcaps check.

The parser and converter are tested on small files written here; the check over libvirt's own
files needs the fetched source (scripts/fetch-libvirt-source.sh) and skips with that reason."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workbench.cli import main as cli_main
from workbench.errors import UsageError
from workbench.paths import TRANSCRIPTS_DIR
from workbench.sim import libvirt_replies as lr

SOURCE = Path(os.environ.get("LIBVIRT_SRC_CACHE", Path.home() / ".cache" / "virtcaps-workbench")) / "libvirt-9.0.0"
TESTS = SOURCE / "tests"
needs_source = pytest.mark.skipif(not (TESTS / "qemucapabilitiesdata").is_dir(),
                                  reason=f"libvirt 9.0's source not at {SOURCE} (scripts/fetch-libvirt-source.sh)")


def _replies(tmp_path: Path, objects: list[dict], name: str = "caps_8.0.0.x86_64.replies") -> Path:
    d = tmp_path / "qemucapabilitiesdata"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text("\n\n".join(json.dumps(o, indent=2) for o in objects) + "\n")
    return p


MINI = [{"execute": "qmp_capabilities", "id": "libvirt-1"}, {"return": {}, "id": "libvirt-1"},
        {"execute": "query-version", "id": "libvirt-2"},
        {"return": {"qemu": {"major": 8, "minor": 0, "micro": 0}, "package": "v8"}, "id": "libvirt-2"},
        {"execute": "query-target", "id": "libvirt-3"}, {"return": {"arch": "x86_64"}, "id": "libvirt-3"},
        {"execute": "query-no-such", "id": "libvirt-4"},
        {"error": {"class": "CommandNotFound", "desc": "x"}, "id": "libvirt-4"},
        {"execute": "qmp_capabilities", "id": "libvirt-1"}, {"return": {}, "id": "libvirt-1"},
        {"execute": "query-machines", "id": "libvirt-2"}, {"return": [], "id": "libvirt-2"}]


def test_a_replies_file_parses_into_launches(tmp_path):
    rf = lr.parse(_replies(tmp_path, MINI))
    assert rf.version == (8, 0, 0) and rf.arch == "x86_64" and len(rf.launches) == 2
    assert [c["execute"] for c, _ in rf.launches[0]] == ["query-version", "query-target", "query-no-such"]
    assert rf.launches[1][0][1] == {"return": [], "id": "libvirt-2"}


def test_borrowed_times_follow_the_rule_and_say_modelled(tmp_path):
    rf = lr.parse(_replies(tmp_path, MINI))
    timing = lr.timing_transcript("x86_64", TRANSCRIPTS_DIR)
    tr = lr.to_transcript(rf, timing)
    recorded = {e.execute: e.latency_s for e in timing.launch_for("kvm:tcg").exchanges}
    first = tr.launches[0].exchanges
    assert first[0].latency_s == recorded["query-version"]  # same command, same launch
    assert tr.origin["timings"] == "modelled"
    assert tr.origin["timing_matches"] == {"same command": 3, "same name": 0, "other launch": 0,
                                           "all commands": 1}
    assert tr.launches[0].greeting["QMP"]["version"]["qemu"]["major"] == 8
    assert tr.launches[1].ready_s == timing.launch_for("tcg").ready_s


@pytest.mark.parametrize("objects, where", [
    ([{"execute": "query-version"}], "has no reply"),
    ([{"execute": "query-version"}, {"return": {}}], "before qmp_capabilities"),
    ([{"return": {}}], "expected a command"),
])
def test_bad_replies_files_name_file_and_line(tmp_path, objects, where):
    p = _replies(tmp_path, objects)
    with pytest.raises(UsageError, match=where):
        lr.parse(p)


def test_bad_json_names_the_line(tmp_path):
    p = tmp_path / "caps_8.0.0.x86_64.replies"
    p.write_text('{"execute": "qmp_capabilities"}\n\n{"return": {}}\n\n{"execute": \n')
    with pytest.raises(UsageError, match=r"caps_8\.0\.0\.x86_64\.replies:6: bad JSON"):
        lr.parse(p)


def test_validate_refuses_a_directory_without_test_data(tmp_path, capsys):
    assert cli_main(["validate", "--libvirt-tests", str(tmp_path)]) == 2
    assert "qemucapabilitiesdata" in capsys.readouterr().err


@needs_source
def test_validate_over_libvirts_test_data_has_no_unexplained_difference(capsys):
    code = cli_main(["validate", "--libvirt-tests", str(TESTS), "--json"])
    report = json.loads(capsys.readouterr().out)
    files = {r["file"] for r in report["rows"] if r["check"] == "caps"}
    assert len(files) == 29
    assert code == 0, [r for r in report["rows"] if r["agree"] == "NO"]
    sequences = [r for r in report["rows"] if r["aspect"] == "sequence"]
    assert len(sequences) == 29 and all(r["agree"] == "yes" for r in sequences)
    assert report["derived_flags"] > 50 and report["libvirt_flags"] > report["derived_flags"]


@needs_source
def test_a_command_the_replies_lack_is_a_labelled_sequence_difference(tmp_path):
    from workbench.libvirt9 import oracle
    src = TESTS / "qemucapabilitiesdata" / "caps_5.1.0.sparc.replies"
    text = src.read_text()
    cut = text.index('{\n  "execute": "query-machines"')
    end = text.index("\n\n", text.index("\n\n", cut) + 2)  # the command and its reply
    root = tmp_path / "tests"
    d = root / "qemucapabilitiesdata"
    d.mkdir(parents=True)
    (d / src.name).write_text(text[:cut] + text[end + 2:])
    (d / "caps_5.1.0.sparc.xml").write_bytes(src.with_suffix(".xml").read_bytes())
    (root.parent / "src" / "qemu").mkdir(parents=True)
    (root.parent / "src" / "qemu" / "qemu_capabilities.c").write_bytes(
        (SOURCE / "src" / "qemu" / "qemu_capabilities.c").read_bytes())
    report = oracle.run(root)
    bad = [r for r in report.rows if r.agree == "NO"]
    assert report.exit_code == 1 and bad
    assert bad[0].aspect in ("sequence", "probe")
    assert "query-machines" in bad[0].detail or "query-machines" in bad[0].model


def test_qemu_spec_parsing():
    targets = ["x86_64", "i386", "aarch64"]
    assert lr.parse_qemu_spec("", targets) == {}
    assert lr.parse_qemu_spec("8.0.0", ["x86_64"]) == {"x86_64": "8.0.0"}
    assert lr.parse_qemu_spec("x86_64=8.0.0,aarch64=4.2.0", targets) == {"x86_64": "8.0.0", "aarch64": "4.2.0"}
    assert lr.parse_qemu_spec("x86_64=8.0.0,s390x=4.2.0", targets, ignore_absent=True) == {"x86_64": "8.0.0"}
    assert lr.spec_label({"x86_64": "8.0.0", "aarch64": "4.2.0"}) == "aarch64@4.2.0+x86_64@8.0.0"
    for bad in ("8", "x86_64=8", "s390x=4.2.0", "x86_64=8.0.0,x86_64=7.2.0"):
        with pytest.raises(UsageError):
            lr.parse_qemu_spec(bad, targets)


def test_install_qemu_without_that_version_is_a_usage_error(tmp_path, capsys):
    tests = tmp_path / "tests"
    tests.mkdir()
    _replies(tests, MINI)
    assert cli_main(["install", str(tmp_path / "i"), "--emulators", "2", "--qemu", "8.0.0",
                     "--libvirt-tests", str(tests)]) == 2
    assert "no QEMU 8.0.0 for i386" in capsys.readouterr().err


@needs_source
def test_a_mixed_install_probes_each_version_and_says_modelled(tmp_path):
    from workbench.qemu.probe import probe
    from workbench.sim.install import MANIFEST, install

    inst = install(tmp_path / "i", 3, latency="none", qemu="x86_64=8.0.0,aarch64=4.2.0",
                   libvirt_tests=TESTS)
    manifest = json.loads((tmp_path / "i" / MANIFEST).read_text())
    assert {t: q["timings"] for t, q in manifest["qemu"].items()} == {"x86_64": "modelled",
                                                                      "aarch64": "modelled"}
    versions = {p.name: probe(str(p), teardown="pidfd").caps for p in inst.paths}
    assert versions["qemu-system-x86_64"].version == 7002050  # libvirt's 8.0.0 file: a 7.2.50 build
    assert versions["qemu-system-aarch64"].version == 4002000
    assert not versions["qemu-system-aarch64"].kvm  # another arch's QEMU has no KVM on this host
    assert versions["qemu-system-i386"].version // 1000 == 7002  # the 7.2 recording


def test_schema_change_shares_between_consecutive_versions(tmp_path):
    from workbench.analysis.qemu_versions import schema_change_shares

    def file(version: str, schema: list, tpm: list) -> None:
        objs = MINI[:6] + [{"execute": "query-qmp-schema"}, {"return": schema},
                           {"execute": "query-tpm-models"}, {"return": tpm}]
        objs[3] = {"return": {"qemu": dict(zip(("major", "minor", "micro"), map(int, version.split(".")))),
                              "package": ""}}
        _replies(tmp_path, objs, f"caps_{version}.x86_64.replies")

    file("7.1.0", [{"name": "a"}, {"name": "b"}], ["tpm-tis"])
    file("7.2.0", [{"name": "a"}, {"name": "b2"}, {"name": "c"}, {"name": "d"}], ["tpm-tis"])
    file("8.0.0", [{"name": "a"}, {"name": "b2"}, {"name": "c"}, {"name": "d"}], ["tpm-crb"])
    rows = schema_change_shares(tmp_path).to_dict("records")
    assert [(r["from"], r["to"]) for r in rows] == [("7.1.0", "7.2.0"), ("7.2.0", "8.0.0")]
    assert rows[0]["schema_unchanged_share"] == 0.25 and not rows[0]["schema_identical"]
    assert rows[0]["build_constant_unchanged_share"] == 0.5  # tpm-models the same, schema not
    assert rows[1]["schema_identical"] and rows[1]["build_constant_unchanged_share"] == 0.5


@needs_source
def test_an_upgrade_goes_to_the_next_version_libvirts_data_holds(tmp_path):
    from workbench.bench.scenarios import upgrade_install, upgrades
    from workbench.qemu.probe import probe
    from workbench.sim.install import install

    assert lr.next_version(TESTS, "x86_64", "7.1.0") == "7.2.0"
    assert lr.next_version(TESTS, "x86_64", "8.0.0") is None
    assert upgrades("x86_64=7.2.0+aarch64=4.2.0", 3) == {"x86_64": ("7.2.0", "8.0.0"),
                                                        "aarch64": ("4.2.0", "5.0.0")}
    inst = install(tmp_path / "i", 1, latency="none", qemu="x86_64=7.1.0")
    before = inst.paths[0].read_bytes()
    upgrade_install(tmp_path / "i", "x86_64=7.1.0")
    assert inst.paths[0].read_bytes() != before
    assert probe(str(inst.paths[0]), teardown="pidfd").caps.version == 7002000


def test_upgrade_table_puts_both_upgrades_side_by_side():
    import pandas as pd
    from workbench.analysis.qemu_versions import upgrade_table

    rows = [dict(benchmark="scenario", case=c, strategy="schema-reuse", qemu="x86_64@7.1.0",
                 time_s=t, launches=l, source="modelled", upgrade=u)
            for c, t, l, u in (("package_upgrade", 1.0, 2, None), ("package_upgrade", 3.0, 2, None),
                               ("version_upgrade", 5.0, 2, "x86_64@7.1.0->7.2.0"),
                               ("cold_container", 9.0, 2, None))]
    rows.append(dict(benchmark="scenario", case="package_upgrade", strategy="schema-reuse", qemu="recorded",
                     time_s=1.0, launches=2, source="measured-replay", upgrade=None))
    t = upgrade_table(pd.DataFrame(rows))
    assert list(t["case"]) == ["package_upgrade", "version_upgrade"]
    assert list(t["last_answer_s"]) == [2.0, 5.0] and set(t["source"]) == {"modelled"}
    assert t["upgrade"].iloc[0] == "x86_64@7.1.0->7.2.0"
    assert upgrade_table(pd.DataFrame(rows[-1:])).empty
