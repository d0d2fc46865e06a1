"""Drive the host's libvirt 9.0 (embedded QEMU driver) on an install directory of emulators.

Each job is one worker process (the Python binding, one connection) run under
`workbench.libvirt9.reaper`, with PATH holding only the install directory: libvirt finds
emulators by searching PATH for `qemu-system-<arch>` over its own arch list, so what the install
holds is exactly what libvirt sees. The root directory (`qemu:///embed?root=ROOT`) holds the
capabilities cache: a fresh root is a cold cache, a reused one is warm. Keep ROOT short: QEMU's
monitor socket lives under it and a UNIX socket path must fit in 107 bytes.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UsageError, WorkbenchError
from workbench.libvirt9 import builds, reaper as reaper_process
from workbench.libvirt9.builds import LibvirtBuild

SYSTEM = builds.SYSTEM_LABEL
# Log filters that give every probe phase (see debuglog.py for what is read from them).
LOG_FILTERS = "1:qemu.qemu_monitor 1:qemu.qemu_process 1:qemu.qemu_capabilities 1:util.command 4:*"
# ... and the teardown's own lines: which function waited for the probe QEMU, whether it escalated
TEARDOWN_LOG_FILTERS = LOG_FILTERS.replace(" 4:*", " 1:util.process 4:*")
_MAX_SOCKET_ROOT = 60  # root + "/lib/qemu/qmp-XXXXXX/qmp.monitor" etc. must stay under 107


@dataclass(frozen=True)
class ReaperMode:
    """How the process QEMU is re-parented to reaps it (workbench.libvirt9.reaper --reap)."""
    reap: str = "prompt"           # prompt | late | never
    delay_s: float = 1.0           # late: seconds after the exit
    report: Path | None = None     # JSON: the exits seen and what was left when the worker ended

    def argv(self) -> list[str]:
        """The reaper's options (reaper.command puts the command after them)."""
        out = ["--reap", self.reap]
        if self.reap == "late":
            out += ["--delay", repr(self.delay_s)]
        if self.report is not None:
            out += ["--report", str(self.report)]
        return out


class LibvirtError(WorkbenchError):
    """The libvirt worker failed (not an API error: those are records with ok=False)."""


@dataclass
class StepRecord:
    op: str
    label: str
    ok: bool
    time_s: float
    error: str | None
    result: Any


def unavailable_reason(build: LibvirtBuild = builds.SYSTEM) -> str | None:
    """Why the real-libvirt backend cannot run `build` here, or None when it can."""
    if importlib.util.find_spec("libvirt") is None:
        return "the libvirt Python binding is not installed (pip install 'virtcaps-workbench[libvirt]')"
    if not build.is_system:
        # the binding loads the build's libraries in the worker only; here: its files, the user
        reason = build.unavailable_reason()
        return f"{build.label}: {reason}" if reason else _qemu_user_missing()
    try:
        import libvirt
    except ImportError as e:
        return f"the libvirt binding does not load: {e}"
    try:
        libvirt.getVersion()
    except libvirt.libvirtError as e:
        return f"libvirt library unusable: {e}"
    if not Path("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so").exists() \
            and not any(Path(p).glob("libvirt/connection-driver/libvirt_driver_qemu.so")
                        for p in ("/usr/lib", "/usr/lib64")):
        return "libvirt's QEMU driver (libvirt-daemon-driver-qemu) is not installed"
    return _qemu_user_missing()


def _qemu_user_missing() -> str | None:
    if os.geteuid() == 0:
        import pwd
        try:
            pwd.getpwnam("libvirt-qemu")  # libvirt 9.0 resolves its built-in user before qemu.conf
        except KeyError:
            return "user libvirt-qemu missing (install libvirt-daemon-system, or useradd --system libvirt-qemu)"
    return None


def new_root() -> Path:
    """A fresh, short, empty root directory (a cold cache)."""
    root = Path(tempfile.mkdtemp(prefix="lv9", dir="/tmp"))
    write_qemu_conf(root)
    return root


def write_qemu_conf(root: Path) -> None:
    """ROOT/etc/qemu.conf: run QEMU as the current user. Debian's built-in default user
    (libvirt-qemu) exists only with libvirt-daemon-system, which this backend does not need."""
    import grp
    import pwd
    conf = Path(root, "etc", "qemu.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    conf.write_text(f'user = "{user}"\ngroup = "{group}"\n')


def run_job(install: Path, root: Path, steps: list[dict], *, log_file: Path | None = None,
            timeout: float = 600.0, build: LibvirtBuild = builds.SYSTEM,
            reaper: ReaperMode | None = None, log_filters: str = LOG_FILTERS) -> list[StepRecord]:
    """Run `steps` in one worker on `qemu:///embed?root=ROOT` with PATH = `install`, using
    `build`'s libvirt (checked in the worker), under a reaper of mode `reaper` (default: one
    that reaps at once). With `reaper.report` set, the reaper writes what was left behind."""
    install, root = Path(install).resolve(), Path(root).resolve()
    if not install.is_dir():
        raise UsageError(f"{install}: not an install directory")
    if len(str(root)) > _MAX_SOCKET_ROOT:
        raise UsageError(f"{root}: root path too long for QEMU's monitor socket "
                         f"(keep it under {_MAX_SOCKET_ROOT} characters)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBVIRT_")}
    env["PATH"] = str(install)
    env.update(build.env())
    if log_file is not None:
        env["LIBVIRT_LOG_FILTERS"] = log_filters
        env["LIBVIRT_LOG_OUTPUTS"] = f"1:file:{Path(log_file).resolve()}"
    with tempfile.TemporaryDirectory(prefix="lv9job") as tmp:
        job, out = Path(tmp, "job.json"), Path(tmp, "out.json")
        job.write_text(json.dumps({"uri": f"qemu:///embed?root={root}", "steps": steps,
                                   "prefix": None if build.prefix is None else str(build.prefix),
                                   "label": build.label}))
        cmd = reaper_process.command([sys.executable, "-m", "workbench.libvirt9.worker", str(job), str(out)],
                                     (reaper or ReaperMode()).argv())
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            try:
                _, stderr = proc.communicate(timeout=timeout)
            except BaseException as e:  # a time limit, or this process told to stop (SIGTERM unwinds)
                reaper_process.stop(proc)
                if isinstance(e, subprocess.TimeoutExpired):
                    raise LibvirtError(f"libvirt worker on {install}: no answer within {timeout:.0f} s") from e
                raise
        if proc.returncode != 0 or not out.exists():
            tail = (stderr or "").strip().splitlines()[-3:]
            raise LibvirtError(f"libvirt worker on {install} exited {proc.returncode}: "
                               + " | ".join(tail))
        return [StepRecord(**r) for r in json.loads(out.read_text())]
