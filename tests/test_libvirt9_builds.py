"""Which libvirt runs (--libvirt), and the reaper's modes (no libvirt needed for these)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.libvirt9 import builds, hazard
from workbench.libvirt9.builds import LibvirtBuild


def _prefix(tmp_path: Path, name: str, label: str, files: bool = True) -> Path:
    p = tmp_path / name
    p.mkdir()
    (p / builds.RECORD).write_text(json.dumps({
        "label": label, "source": "libvirt 9.0.0-4+deb12u2 (Debian source package)",
        "patches": [{"file": "0001-qemu-Wait-for-the-probing-QEMU-s-exit-on-a-pidfd.patch"}]
        if "pidfd" in label else []}))
    if files:
        for rel in (builds.LIBVIRT_SO, builds.QEMU_DRIVER):
            (p / rel).parent.mkdir(parents=True, exist_ok=True)
            (p / rel).write_bytes(b"")
    return p


def test_no_libvirt_option_means_the_systems_alone():
    assert builds.parse(None) == [builds.SYSTEM] and builds.parse([]) == [builds.SYSTEM]
    assert builds.SYSTEM.env() == {} and builds.SYSTEM.label == "libvirt 9.0"


def test_a_prefix_is_labelled_from_its_record_and_runs_through_its_environment(tmp_path):
    p = _prefix(tmp_path, "patched", "libvirt 9.0 + pidfd-teardown")
    (b,) = builds.parse([str(p)])
    assert b.label == "libvirt 9.0 + pidfd-teardown" and b.prefix == p.resolve()
    assert b.env() == {"LD_LIBRARY_PATH": f"{p.resolve()}/lib",
                       "LIBVIRT_DRIVER_DIR": f"{p.resolve()}/lib/libvirt/connection-driver"}
    assert b.unavailable_reason() is None
    assert hazard.mechanism(b) == hazard.PIDFD and hazard.mechanism(builds.SYSTEM) == hazard.POLLING


def test_system_beside_builds_and_labels_must_tell_rows_apart(tmp_path):
    patched = _prefix(tmp_path, "patched", "libvirt 9.0 + pidfd-teardown")
    stock = _prefix(tmp_path, "stock", "libvirt 9.0")
    got = builds.parse(["system", str(patched)])
    assert [b.label for b in got] == ["libvirt 9.0", "libvirt 9.0 + pidfd-teardown"]
    with pytest.raises(UsageError, match="both labelled 'libvirt 9.0'"):
        builds.parse(["system", str(stock)])


def test_a_prefix_without_a_record_or_files_is_refused_or_skipped_with_the_reason(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"empty/virtcaps-build.json: missing"):
        builds.parse([str(tmp_path / "empty")])
    with pytest.raises(UsageError, match="no such directory"):
        builds.parse([str(tmp_path / "nope")])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / builds.RECORD).write_text("{not json")
    with pytest.raises(UsageError, match="bad/virtcaps-build.json: unreadable"):
        builds.parse([str(tmp_path / "bad")])
    hollow = _prefix(tmp_path, "hollow", "libvirt 9.0 + pidfd-teardown", files=False)
    assert "lib/libvirt.so.0 is missing" in builds.from_prefix(hollow).unavailable_reason()


def test_check_loaded_reads_which_libvirt_a_process_mapped():
    b = LibvirtBuild("libvirt 9.0 + pidfd-teardown", Path("/opt/lv"))
    maps = textwrap.dedent("""\
        7f00-7f01 r--p 00000000 08:01 1 /opt/lv/lib/libvirt.so.0.9000.0
        7f02-7f03 r-xp 00000000 08:01 2 /opt/lv/lib/libvirt/connection-driver/libvirt_driver_qemu.so
        7f04-7f05 rw-p 00000000 00:00 0
        """)
    assert builds.check_loaded(b, maps) is None
    system_maps = maps.replace("/opt/lv/lib/libvirt.so.0.9000.0",
                               "/usr/lib/x86_64-linux-gnu/libvirt.so.0.9000.0")
    assert "libvirt=/usr/lib/x86_64-linux-gnu/libvirt.so.0.9000.0" in builds.check_loaded(b, system_maps)
    assert "no qemu_driver" in builds.check_loaded(builds.SYSTEM, "7f00-7f01 r--p 0 0:0 1 /usr/lib/libvirt.so.0\n")


# -- the reaper's modes: a command that leaves one orphan, which has exited before the command ends
_ORPHAN = textwrap.dedent("""\
    import os, select, sys
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    if os.fork() == 0:            # the child forks the orphan and exits: the orphan is re-parented
        if os.fork() == 0:
            os.close(go_w)
            os.write(w, str(os.getpid()).encode())
            os.read(go_r, 1)      # wait until the command holds a pidfd on us
            os._exit(0)
        os._exit(0)
    os.wait()
    pid = int(os.read(r, 32))
    fd = os.pidfd_open(pid)
    os.close(go_w)
    select.select([fd], [], [])   # readable when the orphan has exited (a zombie or reaped)
    print(pid)
    """)


def _reap(tmp_path, *opts: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "workbench.libvirt9.reaper", *opts, "--report", str(report),
                          "--", sys.executable, "-c", _ORPHAN], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout), json.loads(report.read_text())


def test_prompt_reaper_reaps_the_orphan_and_leaves_nothing(tmp_path):
    pid, rep = _reap(tmp_path, "--reap", "prompt")
    assert [r["pid"] for r in rep["reaped"]] == [pid]
    assert rep["left_zombies"] == [] and rep["left_alive"] == []


def test_late_reaper_holds_the_exited_orphan_for_its_delay(tmp_path):
    pid, rep = _reap(tmp_path, "--reap", "late", "--delay", "0.2")
    assert [r["pid"] for r in rep["reaped"]] == [pid]
    assert rep["reaped"][0]["held_s"] >= 0.2  # it slept that long before reaping (a lower bound)
    assert rep["delay_s"] == 0.2 and rep["left_zombies"] == []


def test_never_reaper_leaves_the_orphan_a_zombie_then_cleans_up(tmp_path):
    pid, rep = _reap(tmp_path, "--reap", "never")
    assert rep["reaped"] == [] and rep["left_zombies"] == [pid] and rep["left_alive"] == []
    assert not Path(f"/proc/{pid}").exists()  # reaped by the reaper on its way out


def test_reaper_rejects_bad_options():
    for opts in (["--reap", "sometimes"], ["--delay", "-1"], ["--reap", "never"]):
        out = subprocess.run([sys.executable, "-m", "workbench.libvirt9.reaper", *opts],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "usage:" in out.stderr
