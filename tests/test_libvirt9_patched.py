"""The patched libvirt 9.0 (scripts/build-libvirt.sh) on one real emulator: it is the build that
runs, and it waits for the probe QEMU on a pidfd, so a parent that never reaps does not hold it
up. Skipped where the build or real libvirt/QEMU are absent (CI does not build libvirt)."""
from __future__ import annotations

import pytest
from conftest import libvirt_unavailable

from workbench.libvirt9 import backend, builds, debuglog
from workbench.libvirt9.backend import ReaperMode

PREFIX = builds.default_prefix("pidfd-teardown")


def _reason() -> str | None:
    if not (PREFIX / builds.RECORD).exists():
        return f"no patched build at {PREFIX} (scripts/build-libvirt.sh makes it; ~30 min)"
    return libvirt_unavailable(builds.from_prefix(PREFIX))


_why = _reason()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"patched libvirt: {_why}")


def test_patched_build_waits_on_a_pidfd_even_when_nobody_reaps(real_install, libvirt_root, tmp_path):
    build = builds.from_prefix(PREFIX)
    assert build.label == "libvirt 9.0 + pidfd-teardown"
    log, report = tmp_path / "l.log", tmp_path / "reaper.json"
    recs = backend.run_job(real_install, libvirt_root, [{"op": "open"}, {"op": "capabilities"}],
                           log_file=log, build=build, reaper=ReaperMode("never", report=report),
                           log_filters=backend.TEARDOWN_LOG_FILTERS)
    assert all(r.ok for r in recs), [r.error for r in recs]  # the worker checked its mapped libvirt
    text = log.read_text()
    assert "package: pidfd-teardown (virtcaps-workbench)" in text  # libvirt.so is the build's
    (probe,) = debuglog.parse(text)
    # QEMU exited on SIGTERM and the pidfd said so: no escalation although it stayed a zombie
    assert probe.kill_fn == "virProcessKillPainfullyPidfd" and not probe.sigkill
    assert f"process {probe.pid} exited after SIGTERM" in text
    import json
    left = json.loads(report.read_text())
    # QEMU's -daemonize forks twice: its middle process is an orphan too, a zombie beside it
    assert probe.pid in left["left_zombies"] and left["left_alive"] == [] and left["reaped"] == []


def test_the_worker_refuses_a_build_it_did_not_load(real_install, libvirt_root, monkeypatch):
    """The label says patched but the environment loads the system's: no figures, an error."""
    build = builds.from_prefix(PREFIX)
    monkeypatch.setattr(builds.LibvirtBuild, "env", lambda self: {})
    with pytest.raises(backend.LibvirtError, match="wrong libvirt build"):
        backend.run_job(real_install, libvirt_root, [{"op": "open"}], build=build)


# Runs a command with pidfd_open(2) answering ENOSYS (a kernel older than 5.3, or a seccomp
# policy that refuses it): libseccomp through ctypes; the filter survives exec.
_NO_PIDFD = """\
import ctypes, errno, os, sys
lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
ctx = lib.seccomp_init(ctypes.c_uint32(0x7fff0000))                     # SCMP_ACT_ALLOW
nr = lib.seccomp_syscall_resolve_name(b"pidfd_open")
if not ctx or nr < 0 or lib.seccomp_rule_add(ctypes.c_void_p(ctx), ctypes.c_uint32(0x00050000 | errno.ENOSYS),
                                             nr, 0) != 0 or lib.seccomp_load(ctypes.c_void_p(ctx)) != 0:
    sys.exit("seccomp setup failed")
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _has_libseccomp() -> bool:
    import ctypes
    try:
        ctypes.CDLL("libseccomp.so.2")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_libseccomp(), reason="libseccomp.so.2 not installed (no way to refuse pidfd_open)")
def test_without_pidfd_open_the_patch_falls_back_to_libvirts_polling(real_install, libvirt_root, tmp_path):
    import json
    import os
    import subprocess
    import sys

    build = builds.from_prefix(PREFIX)
    log, out = tmp_path / "l.log", tmp_path / "out.json"
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"uri": f"qemu:///embed?root={libvirt_root}", "prefix": str(build.prefix),
                               "label": build.label, "steps": [{"op": "open"}, {"op": "capabilities"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBVIRT_")}
    env.update(build.env(), PATH=str(real_install), LIBVIRT_LOG_FILTERS=backend.TEARDOWN_LOG_FILTERS,
               LIBVIRT_LOG_OUTPUTS=f"1:file:{log}")
    p = subprocess.run([sys.executable, "-m", "workbench.libvirt9.reaper", "--",
                        sys.executable, "-c", _NO_PIDFD,
                        sys.executable, "-m", "workbench.libvirt9.worker", str(job), str(out)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert all(r["ok"] for r in json.loads(out.read_text()))
    text = log.read_text()
    assert "failed: Function not implemented, polling with kill(pid, 0)" in text
    (probe,) = debuglog.parse(text)
    assert probe.kill_fn == "virProcessKillPainfullyPidfd"  # it tried first ...
    assert "virProcessKillPainfullyDelay" in text            # ... then waited libvirt's old way
