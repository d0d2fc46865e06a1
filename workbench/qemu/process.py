"""Start one emulator the way libvirt's prober does, and always end it.

libvirt runs `<binary> -S -no-user-config -nodefaults -nographic -machine none,accel=A
-qmp unix:SOCK,server=on,wait=off -pidfile PID -daemonize` in a private temporary directory and
waits for the parent to exit: by then the socket exists, so nothing polls for it. Here the
parent's exit is awaited on a pidfd with a selector (a bounded blocking wait, woken by the kernel
at the exit), never with `Popen.wait(timeout=...)`, which CPython implements as a sleep loop
(1, 2, 4, ... 50 ms) that quantised every recorded start time. All phases use one clock,
`time.perf_counter_ns`. The daemonized
QEMU is reparented; we make this process a child subreaper so it is reparented to us: this
process is the reaper libvirt's teardown waits on (qemu/teardown.py; prompt by default, the
setting can make it late or absent). How a launch is ended is `cleanup`'s `mode`.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import LaunchRefused, ProbeError, ProbeTimeout, sigterm_deferred
from workbench.qemu import teardown

_PR_SET_CHILD_SUBREAPER = 36
_subreaper_set = False


def become_subreaper() -> bool:
    global _subreaper_set
    if not _subreaper_set:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper_set = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper_set = False
    return _subreaper_set


def probe_argv(binary: str, tmpdir: Path, accel: str) -> list[str]:
    return [binary, "-S", "-no-user-config", "-nodefaults", "-nographic",
            "-machine", f"none,accel={accel}",
            "-qmp", f"unix:{tmpdir / 'qmp.monitor'},server=on,wait=off",
            "-pidfile", str(tmpdir / "qmp.pid"), "-daemonize"]


def _tmp_root() -> str:
    # A UNIX socket path must fit in 107 bytes: keep the directory short.
    return os.environ.get("WORKBENCH_TMP", "/tmp")


@dataclass
class EmulatorProcess:
    binary: str
    accel: str
    tmpdir: Path
    pid: int
    t0_ns: int  # perf_counter_ns just before fork: the origin of every phase of this launch
    spawned_ns: int  # fork + exec returned (Popen's own cost, the prober's side)
    daemonized_ns: int  # the daemonizing parent exited: socket listening, pidfile written
    exited_ns: int | None = None  # set by wait_exit: the emulator exited after `quit`

    @property
    def ready_s(self) -> float:
        return (self.daemonized_ns - self.t0_ns) / 1e9

    @property
    def spawn_s(self) -> float:
        return (self.spawned_ns - self.t0_ns) / 1e9

    @property
    def socket(self) -> str:
        return str(self.tmpdir / "qmp.monitor")


def launch(binary: str, accel: str, timeout_s: float) -> EmulatorProcess:
    """Start the emulator daemonized; on any failure nothing is left running or on disk."""
    become_subreaper()
    _end_all_at_exit()
    tmpdir = parent = None
    try:
        # Until the folder is in _live and the emulator's parent in _owned, a SIGTERM waits:
        # after that, whatever unwinds (here, the caller, or the exit) finds and ends them.
        with sigterm_deferred():
            with _live_lock:
                if _shutting_down:
                    raise ProbeError(binary, "launch", "the workbench is shutting down")
                tmpdir = Path(tempfile.mkdtemp(prefix="qmp-", dir=_tmp_root()))
                _live[tmpdir] = None
            errlog = tmpdir / "stderr"
            with open(errlog, "wb") as err:
                t0 = time.perf_counter_ns()
                try:
                    parent = subprocess.Popen(probe_argv(binary, tmpdir, accel), stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=err, close_fds=True,
                                              env=_probe_env(tmpdir), start_new_session=True)  # own group: killed whole
                except OSError as e:
                    raise ProbeError(binary, "launch", f"cannot execute: {e.strerror}") from None
                spawned = time.perf_counter_ns()
                _owned.add(parent.pid)  # waited for below: never a zombie for the daemon's reaper
        if not _wait_exit_blocking(parent.pid, timeout_s):
            _killpg(parent.pid)  # the whole group: a hostile emulator's children too
            parent.kill()
            parent.wait()  # untimed: a blocking waitpid on a SIGKILLed child
            raise ProbeTimeout(binary, "launch", f"did not daemonize within {timeout_s:g} s") from None
        daemonized = time.perf_counter_ns()
        status = parent.wait()  # already exited: reaps at once, no timeout, no sleep
        _owned.discard(parent.pid)
        if status != 0:
            raise LaunchRefused(binary, status, errlog.read_text(errors="replace")[-2000:],
                                (daemonized - t0) / 1e9)
        pid = _read_pid(binary, tmpdir)
        with _live_lock:
            _live[tmpdir] = pid
        if not Path(tmpdir / "qmp.monitor").exists():
            raise ProbeError(binary, "launch", "daemonized but created no QMP socket")
        return EmulatorProcess(binary, accel, tmpdir, pid, t0, spawned, daemonized)
    except BaseException:
        with sigterm_deferred():
            if parent is not None and parent.returncode is None:  # a zombie names no folder: reap it here
                _killpg(parent.pid)
                parent.kill()
                parent.wait()  # untimed: a blocking waitpid on a SIGKILLed child
            if parent is not None:
                _owned.discard(parent.pid)
            if tmpdir is not None:
                cleanup(tmpdir, None)
        raise


def _wait_exit_blocking(pid: int, timeout_s: float) -> bool:
    """Block until `pid` (our child, not yet reaped) exits, or the time limit passes.

    A pidfd becomes readable when the process exits; the selector sleeps in the kernel until
    then, so the wake-up is at the exit, not at a polling checkpoint.
    """
    fd = os.pidfd_open(pid)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            return bool(sel.select(timeout_s))
    finally:
        os.close(fd)


def _probe_env(tmpdir: Path) -> dict[str, str]:
    # libvirt passes only a small set of variables through to the prober. The marker names this
    # probe in the environment of everything the emulator starts, which inherits it through
    # fork, setsid and exec: kill_escaped finds them by it.
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "WORKBENCH_TMP")
    return {k: v for k, v in os.environ.items() if k in keep} | {PROBE_MARKER: str(tmpdir)}


# Every launch not yet cleaned up: its directory and, once known, its emulator's pid. A daemon
# shutting down ends them all itself (end_all) instead of waiting for the threads probing.
_live: dict[Path, int | None] = {}
_live_lock = threading.Lock()
_shutting_down = False


_exit_hook = False


def _end_all_at_exit() -> None:
    # The last net: a launch whose caller unwound before it could end it (a SIGTERM between
    # `launch` returning and the caller holding the result) is ended as the interpreter exits.
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        atexit.register(end_all)


def end_all() -> int:
    """Refuse new launches and end every launch in flight (emulator, helpers, directory), from
    whichever thread calls it; the probing threads then fail on a closed socket. Returns how many."""
    global _shutting_down
    with _live_lock:
        _shutting_down = True
        live = list(_live.items())
    for tmpdir, pid in live:
        cleanup(tmpdir, pid)
    return len(live)


# The probe's marker variable (see _probe_env).
PROBE_MARKER = "WORKBENCH_PROBE"
# Children this module waits for itself (launch's daemonizing parent): the daemon's reaper of
# orphans leaves them alone. Anything else that dies as our child is an orphan to reap.
_owned: set[int] = set()


def kill_escaped(tmpdir: Path, timeout_s: float = 10.0) -> list[int]:
    """SIGKILL and reap every process that carries this probe's marker: whatever the emulator
    started, even after setsid() took it out of the emulator's group and session (a process
    that also cleared its environment is beyond this; a PID namespace would catch it)."""
    tail = f"{PROBE_MARKER}={tmpdir}".encode() + b"\0"
    fds: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                env = b"\0" + f.read()
        except OSError:
            continue
        if b"\0" + tail in env or env.endswith(b"\0" + tail[:-1]):
            pid = int(entry.name)
            try:
                fds[pid] = os.pidfd_open(pid)
                signal.pidfd_send_signal(fds[pid], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    try:
        # Each is dead once its pidfd is readable; by then its children were handed to us.
        with selectors.DefaultSelector() as sel:
            for fd in fds.values():
                sel.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout_s
            while sel.get_map() and time.monotonic() < deadline:
                for key, _ in sel.select(deadline - time.monotonic()):
                    sel.unregister(key.fileobj)
    finally:
        for fd in fds.values():
            os.close(fd)
    for pid in fds:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not ours: its own parent reaps it
    # The exited middle of a fork-setsid-fork, reparented to us: a session leader. Emulators
    # (never session leaders once daemonized) are left to the teardown's own reaper.
    reap_unowned_zombies(session_leaders_only=True)
    return list(fds)


def reap_unowned_zombies(session_leaders_only: bool = False) -> list[int]:
    """Reap our zombie children that nobody here waits for (orphans handed to us as subreaper:
    an emulator's helpers, the exited middle of a double fork)."""
    me, reaped = os.getpid(), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        if fields[0] == "Z" and int(fields[1]) == me and pid not in _owned and (
                not session_leaders_only or int(fields[3]) == pid):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped.append(pid)
            except ChildProcessError:
                pass
    return reaped


def _read_pid(binary: str, tmpdir: Path) -> int:
    try:
        pid = int((tmpdir / "qmp.pid").read_text().strip())
    except (OSError, ValueError):
        raise ProbeError(binary, "launch", "no valid pidfile after daemonizing") from None
    if not _is_ours(pid, tmpdir):
        raise ProbeError(binary, "launch", f"pidfile names pid {pid}, which is not the emulator we started")
    return pid


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_ours(pid: int, tmpdir: Path) -> bool:
    # The private directory is on the emulator's command line and nowhere else.
    return pid > 1 and str(tmpdir).encode() in _cmdline(pid)


def _is_child(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()


def _session_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])  # state ppid pgrp session


def _reap_intermediate(pid: int | None) -> None:
    # QEMU's -daemonize forks twice (fork, setsid, fork): the middle process leads the session
    # and exits at once; as subreaper we inherit it and must reap it, or it stays a zombie.
    sid = _session_of(pid) if pid is not None else None
    if sid is not None and sid != pid and _is_child(sid):
        try:
            os.waitpid(sid, 0)  # already exited or exiting: returns at once
        except ChildProcessError:
            pass


def _processes_using(tmpdir: Path) -> list[int]:
    marker = str(tmpdir).encode()
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and marker in _cmdline(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != pgid:
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(int(entry.name))
    return out


def _killpg(pid: int) -> None:
    """SIGKILL the process group `pid` leads (never ours)."""
    try:
        if os.getpgid(pid) == pid and pid != os.getpgrp():
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # not our child (no subreaper): init reaps it; the process is already dead


def _kill_group_remnants(pgid: int, helpers: list[int]) -> None:
    """Containment after the teardown: SIGKILL what is left of the group the emulator led (it
    leads its own session after -daemonize; the group outlives its leader while members remain)
    and reap the helpers, reparented to us (the subreaper)."""
    if pgid != os.getpgrp():
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for h in helpers:
        _kill_and_reap(h)


def cleanup(tmpdir: Path, pid: int | None,
            mode: str = teardown.DEFAULT_MODE) -> teardown.TeardownOutcome | None:
    """End the emulator as `mode` says (qemu/teardown.py: libvirt 9.0's SIGTERM and 200 ms
    existence checks by default), with this process's reaper collecting it as QEMU's parent
    would; then SIGKILL and reap what it forked and any stray naming its directory, and remove
    the directory. Returns what the teardown did (None when there was no emulator to end)."""
    with sigterm_deferred():  # run whole: a SIGTERM unwinds once the folder is gone
        return _cleanup(tmpdir, pid, mode)


def _cleanup(tmpdir: Path, pid: int | None, mode: str) -> teardown.TeardownOutcome | None:
    # A dying emulator has no cmdline any more, but while it is our (unreaped) child its pid
    # cannot be reused: end it either way.
    _reap_intermediate(pid)
    outcome = None
    if pid is not None and (_is_ours(pid, tmpdir) or _is_child(pid)):
        helpers = _group_members(pid)
        reaper = teardown.reaper()
        reaper.watch(pid)
        outcome = teardown.stop(pid, mode)
        reaper.finish(pid)
        _kill_group_remnants(pid, helpers)
    for stray in _processes_using(tmpdir):
        if stray != pid:  # the emulator itself is the reaper's (libvirt5 may leave it dying)
            _kill_and_reap(stray)
    kill_escaped(tmpdir)  # what it forked outside its group and session (fork, setsid, fork)
    shutil.rmtree(tmpdir, ignore_errors=True)
    with _live_lock:
        _live.pop(tmpdir, None)
    return outcome


def rss_kib(pid: int) -> int | None:
    """The process's resident memory (VmRSS), KiB; None if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def wait_exit(proc: EmulatorProcess, timeout_s: float) -> float:
    """After `quit`: wait for the emulator to exit on its own; returns seconds taken and sets
    `proc.exited_ns`."""
    t0 = time.perf_counter_ns()
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        proc.exited_ns = t0
        return 0.0
    try:
        ready, _, _ = select.select([fd], [], [], timeout_s)
    finally:
        os.close(fd)
    if not ready:
        raise ProbeError(proc.binary, "quit", f"did not exit within {timeout_s:g} s of quit")
    proc.exited_ns = time.perf_counter_ns()
    took = (proc.exited_ns - t0) / 1e9
    try:
        os.waitpid(proc.pid, 0)
    except ChildProcessError:
        pass
    return took
