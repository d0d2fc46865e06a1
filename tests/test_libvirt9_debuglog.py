"""The libvirt debug-log parser on a committed sample (libvirt 9.0 probing cris and x86_64)."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.libvirt9 import debuglog

SAMPLE = Path(__file__).parent / "data" / "libvirt9" / "probe-sample.log"


@pytest.fixture(scope="module")
def probes():
    return debuglog.parse_file(SAMPLE)


def test_one_record_per_launch_in_order(probes):
    assert [(Path(p.binary).name, p.force_tcg, p.accel) for p in probes] == [
        ("qemu-system-cris", False, "kvm:tcg"),
        ("qemu-system-x86_64", False, "kvm:tcg"),
        ("qemu-system-x86_64", True, "tcg"),
    ]


def test_command_sequence_and_errors(probes):
    cris = probes[0]
    assert cris.sequence()[:4] == ["qmp_capabilities", "query-version", "query-target",
                                   "query-qmp-schema"]
    assert len(cris.sequence()) == 25
    assert cris.commands[7].key == "device-list-properties(virtio-blk-pci)"
    assert cris.commands[7].error == "DeviceNotFound"
    assert all(c.t_reply is not None for p in probes for c in p.commands)
    assert probes[2].sequence() == ["qmp_capabilities", "query-cpu-definitions",
                                    "query-cpu-model-expansion(static:max)",
                                    "query-cpu-model-expansion(static:max)", "query-machines"]


def test_phases_are_ordered(probes):
    for p in probes:
        stamps = [p.t_new, p.t_spawn, p.t_daemonized, p.t_connect, p.t_monitor_open,
                  p.commands[0].t_send, p.commands[-1].t_reply, p.t_close, p.t_kill, p.t_killed]
        assert None not in stamps
        assert stamps == sorted(stamps)
        assert p.phases()["kill_wait"] >= 0.2  # libvirt polls its killed probe every 200 ms


def test_cache_write_goes_to_the_last_launch_of_a_binary(probes):
    assert probes[0].cache_file.endswith(".xml")
    assert probes[1].cache_file is None and probes[2].cache_file.endswith(".xml")


def test_to_json_keeps_sequence_and_phases(probes):
    rec = debuglog.to_json(probes)[0]
    assert rec["sequence"][0] == "qmp_capabilities" and rec["phases"]["total"] > 0
    assert "_tid" not in rec and rec["errors"]["device-list-properties(ide-hd)"] == "DeviceNotFound"


def test_unreadable_message_names_file_and_line(tmp_path):
    lines = SAMPLE.read_text().splitlines()[:10]
    i = next(n for n, line in enumerate(lines) if "QEMU_MONITOR_SEND_MSG" in line)
    lines[i] = lines[i].split("msg=")[0] + "msg={not json"
    bad = tmp_path / "bad.log"
    bad.write_text("\n".join(lines))
    with pytest.raises(UsageError, match=rf"bad.log:{i + 1}: unreadable QMP message"):
        debuglog.parse_file(bad)


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read libvirt log"):
        debuglog.parse_file(tmp_path / "absent.log")


def test_the_teardowns_own_lines_name_the_waiting_function_and_do_not_end_the_wait():
    """With 1:util.process the wait's lines are logged inside it: kill_wait still runs from the
    kill to the probing thread's next other line; which function waited, and SIGKILL, are read."""
    head = ("2026-12-05 06:46:38.453+0000: 10188: debug : qemuProcessQMPNew:9362 : exec=/i/qemu-system-cris, "
            "libDir=/r, runUid=0, runGid=0, forceTCG=0\n"
            "2026-12-05 06:46:38.538+0000: 10188: debug : qemuProcessQMPStop:9299 : Killing QMP caps process 7\n")
    stock = head + (
        "2026-12-05 06:46:38.538+0000: 10188: debug : virProcessKillPainfullyDelay:387 : vpid=7 force=1 extradelay=0 group=0\n"
        "2026-12-05 06:46:48.540+0000: 10188: debug : virProcessKillPainfullyDelay:418 : Timed out waiting after "
        "SIGTERM to process 7, sending SIGKILL\n"
        "2026-12-05 06:47:18.600+0000: 10188: debug : virQEMUCapsSaveFile:5128 : Saved caps '/c.xml' for '/i/qemu-system-cris'\n")
    (p,) = debuglog.parse(stock)
    assert p.kill_fn == "virProcessKillPainfullyDelay" and p.sigkill
    assert p.phases()["kill_wait"] == pytest.approx(40.062)
    patched = head + (
        "2026-12-05 06:46:38.538+0000: 10188: debug : virProcessKillPainfullyPidfd:460 : vpid=7 force=1\n"
        "2026-12-05 06:46:38.541+0000: 10188: debug : virProcessKillPainfullyPidfd:495 : process 7 exited after SIGTERM\n"
        "2026-12-05 06:46:38.541+0000: 10188: debug : virQEMUCapsSaveFile:5128 : Saved caps '/c.xml' for '/i/qemu-system-cris'\n")
    (p,) = debuglog.parse(patched)
    assert p.kill_fn == "virProcessKillPainfullyPidfd" and not p.sigkill
    assert p.phases()["kill_wait"] == pytest.approx(0.003)
