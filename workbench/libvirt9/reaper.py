"""Run one command as the child of a child subreaper, which reaps the orphans it inherits
promptly (the default), late, or never.

libvirt 9.0 ends each probed QEMU (which daemonized, so it is an orphan) with SIGTERM and then
checks with kill(pid, 0) every 200 ms until the pid is gone (virProcessKillPainfully; see
workbench/qemu/teardown.py for the source lines). kill(pid, 0) succeeds on a zombie, so the wait
lasts until the orphan's parent reaps it: on this container orphans go to an init that reaps
them only every couple of seconds, which adds ~1.6 s per probe. Here the orphans are re-parented
to this process instead (by default a prompt reaper: the model's default too). It runs in its own
process (not in the caller) so the caller's own children and Popen objects are never reaped
behind its back, and libvirt's own waitpid calls on its direct children are untouched (only
orphans come here).

Usage: python -m workbench.libvirt9.reaper [--reap prompt|late|never] [--delay S]
                                          [--report FILE] [--] CMD ARGS...
  prompt  reap every exited child at once (the default: the fastest libvirt can be)
  late    reap each exited orphan S seconds (default 1) after learning of its exit, one at a time
          (a busy or slow parent: a container runtime's init, a supervisor that reaps on a timer)
  never   never reap orphans while the command runs (a container whose PID 1 does not wait)
The command itself is always reaped at once; when it has ended, whatever it left below this
process is SIGKILLed and reaped. Exits with CMD's status. --report FILE: JSON with
the mode, every orphan exit seen (pid, seconds from its exit to its reaping) and what was left
below this process when the command ended (zombies, live processes); then those are reaped, so
nothing outlives the run. On SIGTERM it SIGKILLs and reaps every process below it (the command
and the orphans it left) and exits 143.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """SIGTERM to us when our parent dies (even by SIGKILL), so a killed caller never leaves this
    reaper, its worker and their QEMUs behind: the SIGTERM unwinds like the caller's own would.
    The kernel ties it to the parent thread; the callers spawn from their main thread. False
    when the parent was already gone by the time the request was made."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return True  # not available: the caller's own SIGTERM handling still applies
    return os.getppid() == parent


class _Stop(Exception):
    """SIGTERM: the caller gives up on the job (a stopped sweep, a time limit)."""


def _on_sigterm(signum, frame) -> None:
    raise _Stop


MODES = ("prompt", "late", "never")


@dataclass
class Report:
    mode: str
    delay_s: float | None
    reaped: list[dict] = field(default_factory=list)  # {"pid", "held_s"}: exit -> reaped
    left_zombies: list[int] = field(default_factory=list)
    left_alive: list[int] = field(default_factory=list)


def _exited_child() -> int | None:
    """Block until some child has exited; its pid, left unreaped (WNOWAIT). None: no children."""
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        return None
    return info.si_pid if info is not None else None


def _reap(pid: int) -> int | None:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _reap_as(mode: str, pid: int, delay_s: float, report: Report | None) -> None:
    """Reap an exited orphan now (prompt) or `delay_s` after noticing its exit (late)."""
    seen = time.monotonic()
    if mode == "late":
        time.sleep(delay_s)  # the parent gets round to it late; SIGTERM still interrupts this
    _reap(pid)
    if report is not None:
        report.reaped.append({"pid": pid, "held_s": round(time.monotonic() - seen, 4)})


def _drain(mode: str, delay_s: float, report: Report | None) -> None:
    """Orphans that exited before the command ended: reaped as the mode reaps them."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None:
            return
        _reap_as(mode, info.si_pid, delay_s, report)


def run(argv: list[str], mode: str = "prompt", delay_s: float = 1.0,
        report: Report | None = None) -> int:
    become_subreaper()
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if not die_with_parent():
            return 143  # orphaned before starting: nobody wants the result
        pid = os.spawnvp(os.P_NOWAIT, argv[0], argv)
    except _Stop:
        kill_descendants()
        return 143
    try:
        if mode == "never":
            status = _reap(pid)  # orphans stay zombies until the command has ended
            return _exit_code(status) if status is not None else 1
        while (got := _exited_child()) is not None:
            if got != pid:
                _reap_as(mode, got, delay_s, report)
                continue
            status = _reap(pid)
            _drain(mode, delay_s, report)  # what is still below us after this was left behind
            return _exit_code(status) if status is not None else 1
        return 1
    except _Stop:
        kill_descendants()
        return 143


def _account_left(report: Report) -> None:
    """What the command left below this process: zombies and live processes."""
    for kid in _children():
        try:
            with open(f"/proc/{kid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        (report.left_zombies if state == b"Z" else report.left_alive).append(kid)


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


def command(argv: list[str], options: list[str] = ()) -> list[str]:
    """The command line that runs `argv` under this reaper (this interpreter, `options` first)."""
    return [sys.executable, "-m", "workbench.libvirt9.reaper", *options, "--", *argv]


def stop(proc) -> None:
    """End a reaper started with `command` (a subprocess.Popen): SIGTERM, on which it kills and
    reaps its command and every process left below it; SIGKILL only if it has not ended within
    10 s. Called when its caller gives up (a time limit, SIGTERM), before the caller removes the
    folders those processes work in."""
    import subprocess
    proc.terminate()
    try:
        proc.wait(timeout=10)  # the reaper's own exit: a blocking wait, bounded
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _parse(args: list[str]) -> tuple[str, float, str | None, list[str]]:
    mode, delay, report = "prompt", 1.0, None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        if opt not in ("--reap", "--delay", "--report") or not args:
            raise ValueError(f"bad option {opt!r}")
        value = args.pop(0)
        if opt == "--reap":
            if value not in MODES:
                raise ValueError(f"--reap {value!r}: choose from {', '.join(MODES)}")
            mode = value
        elif opt == "--delay":
            delay = float(value)
            if not 0 <= delay <= 60:
                raise ValueError("--delay must be 0..60 seconds")
        else:
            report = value
    if not args:
        raise ValueError("no command")
    return mode, delay, report, args


def main() -> None:
    try:
        mode, delay, report_path, argv = _parse(sys.argv[1:])
    except ValueError as e:
        print(f"usage: python -m workbench.libvirt9.reaper [--reap {'|'.join(MODES)}] [--delay S] "
              f"[--report FILE] [--] CMD [ARGS...]: {e}", file=sys.stderr)
        sys.exit(2)
    report = Report(mode, delay if mode == "late" else None) if report_path else None
    code = run(argv, mode, delay, report)
    if report is not None:
        _account_left(report)
        with open(report_path, "w") as f:
            json.dump(asdict(report), f)
    kill_descendants()  # whatever was left (zombies under `never`): nothing outlives the run
    sys.exit(code)


if __name__ == "__main__":
    main()
