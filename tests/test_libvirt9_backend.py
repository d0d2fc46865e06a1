"""Real libvirt 9.0 on a one-emulator install of a real QEMU binary (skipped when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import libvirt_unavailable

from workbench.errors import UsageError
from workbench.libvirt9 import backend, capsxml, debuglog

_reason = libvirt_unavailable()
_X86_HOST = __import__("platform").machine() == "x86_64"
needs_libvirt = pytest.mark.skipif(_reason is not None, reason=f"real libvirt backend: {_reason}")


def test_refuses_a_root_too_long_for_the_monitor_socket(real_install, tmp_path):
    with pytest.raises(UsageError, match="too long"):
        backend.run_job(real_install, tmp_path / ("x" * 80), [{"op": "open"}])


def test_refuses_a_missing_install(tmp_path):
    with pytest.raises(UsageError, match="not an install directory"):
        backend.run_job(tmp_path / "nope", tmp_path, [{"op": "open"}])


@needs_libvirt
@pytest.mark.skipif(not _X86_HOST, reason="the getVersion message names the host arch x86_64")
def test_cold_then_warm_on_one_real_emulator(real_install, libvirt_root, tmp_path):
    log = tmp_path / "cold.log"
    cold = backend.run_job(real_install, libvirt_root, [{"op": "open"}, {"op": "capabilities"},
                                           {"op": "version"}], log_file=log)
    assert [r.ok for r in cold] == [True, True, False], [r.error for r in cold]
    # libvirt 9.0's getVersion wants an emulator for the host's own arch
    assert cold[2].error == "internal error: Cannot find suitable emulator for x86_64"
    assert [g.arch for g in capsxml.guests(cold[1].result)] == ["cris"]
    probes = debuglog.parse_file(log)
    assert len(probes) == 1 and probes[0].sequence()[:3] == ["qmp_capabilities", "query-version",
                                                             "query-target"]
    assert probes[0].cache_file is not None and Path(probes[0].cache_file).is_file()

    warm_log = tmp_path / "warm.log"
    warm = backend.run_job(real_install, libvirt_root, [{"op": "open"}, {"op": "capabilities"}],
                           log_file=warm_log)
    assert warm[1].ok and debuglog.parse_file(warm_log) == []  # served from the cache


@needs_libvirt
def test_define_errors_are_records_not_failures(real_install, libvirt_root):
    xml = "<domain type='qemu'><name>t</name><memory>65536</memory><os><type arch='{}'>hvm</type></os></domain>"
    recs = backend.run_job(real_install, libvirt_root, [{"op": "open"},
                                           {"op": "define", "xml": xml.format("cris")},
                                           {"op": "define", "xml": xml.format("nosucharch")}])
    assert recs[0].ok
    assert not recs[1].ok and "No PCI buses available" in recs[1].error
    assert not recs[2].ok and "nosucharch" in recs[2].error


def test_cold_container_is_the_kubevirt_client_and_times_the_whole_sequence():
    from workbench.libvirt9 import measure

    ops = [s["op"] for s in measure.steps_for("cold_container")]
    assert ops == ["open", "version", "domcaps", "define"]  # as bench/scenarios.py's client asks
    assert "cold_container" in measure.SEQUENCES and measure.BENCHMARK["cold_container"] == "scenario"
    with pytest.raises(ValueError, match="unknown case"):
        measure.steps_for("nope")


def test_reaper_on_sigterm_leaves_no_process_behind(tmp_path) -> None:
    """The reaper (no libvirt needed): SIGTERM kills its command and the orphans it left."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import processes_mentioning

    marker = str(tmp_path / "orphan-marker")
    # The subshell's child is orphaned at once (re-parented to the reaper); the command waits.
    script = f"(exec -a {marker} sleep 300 &) ; echo started ; exec -a {marker}-cmd sleep 300"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.libvirt9.reaper", "bash", "-c", script],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"  # blocks until both are running
    assert len(processes_mentioning(marker)) >= 2  # the orphan, and the command (bash or its sleep)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait() == 143
    proc.stdout.close()
    assert processes_mentioning(marker) == []
