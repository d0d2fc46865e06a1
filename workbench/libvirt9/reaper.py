"""Run one command as the child of a child subreaper that reaps every orphan at once.

libvirt 9.0 ends each probed QEMU (which daemonized, so it is an orphan) with SIGTERM and then
checks with kill(pid, 0) every 200 ms until the pid is gone (virProcessKillPainfully; see
workbench/qemu/teardown.py for the source lines). kill(pid, 0) succeeds on a zombie, so the wait
lasts until the orphan's parent reaps it: on this container orphans go to an init that reaps
them only every couple of seconds, which adds ~1.6 s per probe. Here the orphans are re-parented
to this process, which waits for them immediately (a prompt reaper: the model's default too). It runs in its own process (not in the caller) so the
caller's own children and Popen objects are never reaped behind its back, and libvirt's own
waitpid calls on its direct children are untouched (only orphans come here).

Usage: python -m workbench.libvirt9.reaper CMD ARGS... ; exits with CMD's status. On SIGTERM it
SIGKILLs and reaps every process below it (the command and the orphans it left) and exits 143.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


class _Stop(Exception):
    """SIGTERM: the caller gives up on the job (a stopped sweep, a time limit)."""


def _on_sigterm(signum, frame) -> None:
    raise _Stop


def run(argv: list[str]) -> int:
    become_subreaper()
    signal.signal(signal.SIGTERM, _on_sigterm)
    pid = os.spawnvp(os.P_NOWAIT, argv[0], argv)
    code = 1
    try:
        while True:
            try:
                got, status = os.wait()
            except ChildProcessError:
                return code
            if got == pid:
                code = os.waitstatus_to_exitcode(status)
                code = code if code >= 0 else 128 - code
    except _Stop:
        kill_descendants()
        return 143


def _children() -> list[int]:
    me, out = os.getpid(), []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == me:
                out.append(int(entry.name))
    return out


def kill_descendants() -> None:
    """SIGKILL every child and reap it, until none is left: as subreaper, whatever they leave
    behind (libvirt's QEMU processes, daemonized and so already orphans) is re-parented here."""
    while kids := _children():
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m workbench.libvirt9.reaper CMD [ARGS...]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
