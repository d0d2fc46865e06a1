"""`workbench validate`: the model against the installed libvirt, and the pieces it is built of."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.libvirt9 import virsh
from workbench.qemu import deviations
from workbench.libvirt9.validate import Facts, Row, compare

ROOT = Path(__file__).resolve().parents[1]
REAL = [f"/usr/bin/qemu-system-{t}" for t in ("x86_64", "aarch64", "riscv64")]


def test_docs_model_md_carries_the_deviation_table():
    text = (ROOT / "docs" / "model.md").read_text()
    assert deviations.markdown_table() in text
    assert deviations.MODELLED_VERSION == "9.0.0" and "libvirt 9.0.0" in text


def test_deviations_cover_only_what_they_name():
    assert deviations.find("define", "bad/xxe-passwd.xml", verdicts_agree=False).id == "D2"
    assert deviations.find("define", "bad/truncated.xml", verdicts_agree=True).id == "D3"
    assert deviations.find("define", "bad/truncated.xml", verdicts_agree=False) is None  # messages only
    assert deviations.find("define", "x86_64-minimal.xml") is None
    assert deviations.find("probe", "qemu-system-x86_64") is None
    rows = deviations.deviations_table()
    assert [r["id"] for r in rows] == [f"D{i}" for i in range(1, len(rows) + 1)]
    assert set(rows[0]) == {"id", "aspect", "libvirt", "model", "why"}


def test_compare_marks_agreement_deliberate_and_disagreement():
    seq = ["qmp_capabilities", "query-version"]
    model = Facts({"x86_64": ("/i/q", ("kvm", "qemu"), (("pc-i440fx-7.2", None, 255),))},
                  {"x86_64/qemu": "pc-i440fx-7.2 @ q"}, {"q": seq},
                  {"a.xml": "accept", "bad/xxe-passwd.xml": "entity declarations are not allowed",
                   "b.xml": "accept"})
    real = Facts(dict(model.guests), {"x86_64/qemu": "pc-q35-7.2 @ q"}, {"q": seq + ["query-target"]},
                 {"a.xml": "accept", "bad/xxe-passwd.xml": "accept", "b.xml": "No PCI buses available"})
    rows = {(r.check, r.subject): r for r in compare(model, real)}
    assert rows[("guests", "x86_64")].agree == "yes"
    assert rows[("default", "x86_64/qemu")].agree == "NO"
    assert rows[("probe", "q")].agree == "NO" and "#3" in rows[("probe", "q")].libvirt
    assert rows[("define", "a.xml")].agree == "yes"
    assert rows[("define", "bad/xxe-passwd.xml")].agree == "deliberate D2"
    assert rows[("define", "b.xml")].agree == "NO"


LOG = """\
2026-12-05 06:46:38.453+0000: 10188: debug : qemuProcessQMPNew:9362 : exec=/i/qemu-system-x86_64, libDir=/r/lib/qemu, runUid=0, runGid=0, forceTCG=0
2026-12-05 06:46:38.477+0000: 10188: info : qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=0x55 msg={"execute":"qmp_capabilities","id":"libvirt-1"}
2026-12-05 06:46:38.478+0000: 10217: info : qemuMonitorJSONIOProcessLine:208 : QEMU_MONITOR_RECV_REPLY: mon=0x55 reply={"return": {}, "id": "libvirt-1"}
2026-12-05 06:46:38.479+0000: 10188: info : qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=0x55 msg={"execute":"device-list-properties","arguments":{"typename":"virtio-blk-pci"},"id":"libvirt-2"}
2026-12-05 06:46:38.480+0000: 10188: info : qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=0x55 msg={"execute":"query-cpu-model-expansion","arguments":{"type":"full","model":{"name":"host","props":{"migratable":false,"hv-passthrough":true}}},"id":"libvirt-3"}
2026-12-05 06:46:39.000+0000: 10188: debug : qemuProcessQMPNew:9362 : exec=/i/qemu-system-x86_64, libDir=/r/lib/qemu, runUid=0, runGid=0, forceTCG=1
2026-12-05 06:46:39.001+0000: 10188: info : qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=0x56 msg={"execute":"query-machines","id":"libvirt-2"}
"""


def test_debug_log_gives_each_launch_its_commands():
    probes = virsh.parse_log(LOG)
    assert [(p.binary, p.force_tcg) for p in probes] == [("/i/qemu-system-x86_64", False),
                                                         ("/i/qemu-system-x86_64", True)]
    assert probes[0].sequence == ["qmp_capabilities", "device-list-properties(virtio-blk-pci)",
                                  "query-cpu-model-expansion(full:host)"]
    assert probes[1].sequence == ["query-machines"]


def test_virsh_output_split_and_errors():
    out = ("@@wb0\nDomain 'a' defined from a.xml\n\n@@wb1\nerror: Failed to define domain from "
           "b.xml\nerror: XML error: No PCI buses available\n\n@@wbend\n")
    parts = virsh._split(out, 2)
    assert virsh.error_of(parts[0]) is None
    assert virsh.error_of(parts[1]) == "No PCI buses available"
    assert virsh._split("@@wb0\nerror: no connection", 1) is None  # virsh died before the end


def _link(tmp_path: Path, binaries: list[str]) -> Path:
    inst = tmp_path / "i"
    inst.mkdir()
    for b in binaries:
        (inst / Path(b).name).symlink_to(b)
    return inst


def _workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_validate_without_libvirt_exits_2_with_a_reason(tmp_path, monkeypatch):
    inst = _link(tmp_path, [sys.executable])
    env = dict(os.environ, PATH=str(tmp_path / "nowhere"))
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "validate", "--install", str(inst)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert "virsh not found" in r.stderr and "Traceback" not in r.stderr


def test_validate_refuses_a_bad_install_dir(tmp_path):
    if virsh.unavailable_reason():
        pytest.skip(f"libvirt not usable here: {virsh.unavailable_reason()}")
    r = _workbench("validate", "--install", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not all(os.access(b, os.X_OK) for b in REAL),
                    reason="needs real QEMU (qemu-system-x86_64, -aarch64, -riscv64 in /usr/bin)")
def test_validate_on_real_binaries_agrees_with_libvirt(tmp_path):
    reason = virsh.unavailable_reason()
    if reason:
        pytest.skip(f"libvirt not usable here: {reason}")
    inst = _link(tmp_path, REAL)
    r = _workbench("validate", "--install", str(inst), "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    report = json.loads(r.stdout)
    rows = [Row(**row) for row in report["rows"]]
    assert report["counts"]["NO"] == 0
    checks = {row.check for row in rows}
    assert checks == {"guests", "default", "probe", "define"}
    by = {(row.check, row.subject): row for row in rows}
    # the libvirt 9.0 facts the model was changed to follow, seen on both sides
    assert by[("guests", "aarch64")].libvirt.split()[2] == "integratorcp"
    assert by[("default", "riscv64/qemu")].libvirt == "spike @ qemu-system-riscv64"
    assert by[("default", "aarch64/kvm")].model.startswith("error: could not get preferred machine")
    assert by[("probe", "qemu-system-x86_64+tcg")].agree == "yes"
    deliberate = [row for row in rows if row.agree.startswith("deliberate")]
    assert deliberate and all(row.check == "define" and row.subject.startswith("bad/")
                              for row in deliberate)


def test_builds_are_compared_row_by_row_and_a_misloaded_build_is_refused():
    from workbench.errors import WorkbenchError
    from workbench.libvirt9.builds import SYSTEM, LibvirtBuild
    from workbench.libvirt9.validate import Report, _check_build, compare_builds

    rows = [Row("guests", "cris", "m", "qemu-system-cris", "yes"), Row("define", "a.xml", "accept", "accept", "yes")]
    other = [rows[0], Row("define", "a.xml", "accept", "boom", "NO")]
    a, b = Report("i", "9.0.0", "m", rows), Report("i", "9.0.0", "m", other)
    assert compare_builds([a, a], ["libvirt 9.0", "libvirt 9.0 + p"]) == []
    assert compare_builds([a, b], ["libvirt 9.0", "libvirt 9.0 + p"]) == [
        {"check": "define", "subject": "a.xml", "libvirt 9.0": "accept", "libvirt 9.0 + p": "boom"}]

    log = ("2026-12-07 17:00:00.000+0000: 1: info : libvirt version: 9.0.0, package: pidfd-teardown (virtcaps-workbench)\n"
           "2026-12-07 17:00:00.001+0000: 1: debug : virModuleLoadFile:48 : Load module file "
           "'/opt/lv/lib/libvirt/connection-driver/libvirt_driver_qemu.so'\n")
    assert virsh.loaded_build(log) == ("9.0.0, package: pidfd-teardown (virtcaps-workbench)",
                                       "/opt/lv/lib/libvirt/connection-driver/libvirt_driver_qemu.so")
    assert _check_build(LibvirtBuild("libvirt 9.0 + p", Path("/opt/lv")), log).startswith("9.0.0")
    with pytest.raises(WorkbenchError, match="not one under /usr/"):
        _check_build(SYSTEM, log)
