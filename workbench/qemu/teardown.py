"""How a probe's emulator is stopped: libvirt 9.0's way (the default), libvirt 5.x's, and the fix.

libvirt 9.0 ends every probe launch in qemuProcessQMPFree -> qemuProcessQMPStop
(src/qemu/qemu_process.c:9281-9311, Debian's 9.0.0-4+deb12u2 source): it closes the monitor,
unlinks the socket, then calls `virProcessKillPainfully(proc->pid, true)` (line 9300), which is
`virProcessKillPainfullyDelay(pid, force=true, extradelay=0, group=false)`
(src/util/virprocess.c:369-435):

    polldelay = (force ? 200 : 75) + extradelay*5          # 200 rounds         (line 373)
    for i in 0..polldelay-1:
        signum = SIGTERM if i == 0                                               (line 395)
                 SIGKILL if i == 50 and force   # after 10 s                     (line 396)
                 0 otherwise                    # "Just check for existence"     (line 409)
        if kill(pid, signum) < 0: ESRCH -> return (gone); other errno -> error   (line 424)
        g_usleep(200 * 1000)                                                     (line 427)
    EBUSY "Failed to terminate process"         # gave up after 200 x 0.2 s = 40 s (line 430)

So every launch pays at least one 200 ms sleep, and `kill(pid, 0)` succeeds on a zombie: the
wait lasts until QEMU's parent reaps it. QEMU was started with `-daemonize` (line 9480; QEMU
forks, setsid()s and forks again, and the middle process exits), so its parent is not libvirt but
the nearest child subreaper, else PID 1: the reaper is part of the setup (`Reaper` below). (The
issue that asked for this said "give up after 15 s": that is the force=false budget, 75 rounds;
the probe passes force=true, 200 rounds, 40 s, which is what the 40.3 s measured under a parent
that never reaps shows.)

libvirt before 9.0 (qemuProcessQMPStop as read in 5.6.0, in 6.x and in a 7.x-era tree; the
2019 series measured with it) sent `virProcessKill(pid, SIGKILL)` once and went on without
waiting: `libvirt5`, named after the series' libvirt. docs/model.md says which releases paid which
teardown.

The fix (`pidfd`): SIGTERM through a pidfd opened before it (no pid-reuse race), then wait for the
exit on that pidfd, which the kernel makes readable when the process exits (not when it is
reaped), so neither a poll interval nor the reaper is in the wait; the same escalation (SIGKILL
after 10 s, give up after 40 s).

Every mode returns a `TeardownOutcome`: the signals sent in order (0 = an existence check), the
seconds taken and whether the process was seen gone. The clock, kill and the wait are injectable
(`Hooks`) so tests count checks and signals without timing anything.
"""
from __future__ import annotations

import atexit
import os
import select
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from workbench.errors import UsageError

MODES = ("libvirt9", "libvirt5", "pidfd")
DEFAULT_MODE = "libvirt9"  # the model mirrors libvirt 9.0, for every strategy

POLL_S = 0.2        # g_usleep(200 * 1000), virprocess.c:427
ROUNDS = 200        # polldelay with force=true and no extra delay, virprocess.c:373
KILL_ROUND = 50     # `i == 50 && force`: SIGKILL 10 s after SIGTERM, virprocess.c:396


@dataclass
class Hooks:
    """What a teardown does to the world; tests replace them to count, never to time."""
    kill: Callable[[int, int], None] = os.kill
    # libvirt's poll interval: sleeping here IS the behaviour being modelled (g_usleep(200 *
    # 1000), virprocess.c:427), not a stand-in for work. Looked up at call time, so a test that
    # traps time.sleep sees it.
    sleep: Callable[[float], None] = lambda s: time.sleep(s)
    clock: Callable[[], float] = time.perf_counter
    # pidfd mode: (pid) -> handle, (handle, signum), (handle, timeout_s) -> exited?, (handle)
    pidfd_open: Callable[[int], int] = os.pidfd_open
    pidfd_signal: Callable[[int, int], None] = signal.pidfd_send_signal
    pidfd_wait: Callable[[int, float], bool] = lambda fd, t: bool(select.select([fd], [], [], t)[0])
    close: Callable[[int], None] = os.close


@dataclass
class TeardownOutcome:
    mode: str
    signals: list[int] = field(default_factory=list)  # in order; 0 = kill(pid, 0)
    gone: bool = False        # seen gone: ESRCH (libvirt9), pidfd readable (pidfd); libvirt5: unknown
    gave_up: bool = False     # the whole budget passed with the process still there
    error: str = ""           # a kill() failing with something other than ESRCH
    seconds: float = 0.0

    @property
    def existence_checks(self) -> int:
        return sum(1 for s in self.signals if s == 0)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"unknown teardown {mode!r}; choose from {', '.join(MODES)}")
    return mode


def stop(pid: int, mode: str = DEFAULT_MODE, hooks: Hooks | None = None) -> TeardownOutcome:
    """End the emulator `pid` the way `mode` says; returns what was done. Never reaps: the
    process's parent (the reaper) does that, as it does for libvirt."""
    h = hooks or Hooks()
    out = TeardownOutcome(check_mode(mode))
    t0 = h.clock()
    if mode == "libvirt9":
        _kill_painfully(pid, h, out)
    elif mode == "libvirt5":
        _send(pid, signal.SIGKILL, h, out)
    else:
        _pidfd_stop(pid, h, out)
    out.seconds = h.clock() - t0
    return out


def _send(pid: int, signum: int, h: Hooks, out: TeardownOutcome) -> bool:
    """One kill(pid, signum), recorded; False when the process is gone (ESRCH) or kill failed."""
    out.signals.append(signum)
    try:
        h.kill(pid, signum)
    except ProcessLookupError:
        out.gone = True
        return False
    except OSError as e:
        out.error = f"kill({pid}, {signum}): {e.strerror or e}"
        return False
    return True


def _kill_painfully(pid: int, h: Hooks, out: TeardownOutcome) -> None:
    """virProcessKillPainfullyDelay(pid, force=true, extradelay=0, group=false), line by line."""
    for i in range(ROUNDS):
        signum = signal.SIGTERM if i == 0 else signal.SIGKILL if i == KILL_ROUND else 0
        if not _send(pid, signum, h, out):
            return
        h.sleep(POLL_S)
    out.gave_up = True


def _pidfd_stop(pid: int, h: Hooks, out: TeardownOutcome) -> None:
    """SIGTERM, wait for the exit on a pidfd; SIGKILL at libvirt's 10 s, give up at its 40 s."""
    try:
        fd = h.pidfd_open(pid)
    except ProcessLookupError:
        out.gone = True
        return
    try:
        budget = ((signal.SIGTERM, KILL_ROUND * POLL_S),
                  (signal.SIGKILL, (ROUNDS - KILL_ROUND) * POLL_S))
        for signum, wait_s in budget:
            out.signals.append(signum)
            try:
                h.pidfd_signal(fd, signum)
            except ProcessLookupError:  # exited (and reaped) between open and signal
                out.gone = True
                return
            if h.pidfd_wait(fd, wait_s):
                out.gone = True
                return
        out.gave_up = True
    finally:
        h.close(fd)


# --- the reaper: who waits for the emulator after it exits --------------------------------

REAPER_KINDS = ("prompt", "late", "never")


@dataclass(frozen=True)
class ReaperSetting:
    """How QEMU's parent (for the model: this process, a child subreaper) collects it.

    prompt: reaps as soon as the process exits (an init or subreaper that waits at once; the
    default, as on a host with systemd). late: reaps `delay_s` after the exit (an init that reaps
    on a timer; this delay is the setting being modelled, so it is a real wait). never: leaves the
    zombie (a container whose PID 1 does not wait); the workbench still collects it once the
    teardown is over, outside what the teardown is timed for, so nothing outlives the probe."""
    kind: str = "prompt"
    delay_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "ReaperSetting":
        """'prompt', 'never' or 'late:SECONDS' (e.g. late:1)."""
        kind, _, arg = text.partition(":")
        if kind == "late":
            try:
                delay = float(arg)
            except ValueError:
                delay = -1.0
            if delay < 0:
                raise UsageError(f"reaper 'late:SECONDS' needs seconds >= 0, got {text!r}")
            return cls("late", delay)
        if kind in ("prompt", "never") and not arg:
            return cls(kind)
        raise UsageError(f"unknown reaper {text!r}; choose prompt, late:SECONDS or never")

    def __str__(self) -> str:
        return f"late:{self.delay_s:g}" if self.kind == "late" else self.kind


class Reaper:
    """Collects emulators this process is the parent of (it is a child subreaper, process.py):
    one thread, like one init, blocked on the pidfds of the processes it watches until the kernel
    reports an exit, then reaping at once (prompt) or `delay_s` later (late)."""

    def __init__(self, setting: ReaperSetting = ReaperSetting(),
                 waitpid: Callable[[int, int], tuple[int, int]] = os.waitpid) -> None:
        self.setting = setting
        self._waitpid = waitpid
        self._lock = threading.Condition()
        self._watched: dict[int, tuple[int, bool]] = {}  # pidfd -> (pid, reap at once)
        self._due: list[tuple[float, int]] = []            # (monotonic time, pid): late reaps
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    def watch(self, pid: int) -> None:
        """From now on, reap `pid` when it exits, as the setting says. `never`: nothing does."""
        if self.setting.kind != "never":
            self._add(pid, at_once=self.setting.kind == "prompt")

    def finish(self, pid: int) -> None:
        """After the teardown, without waiting for it: a `never` reaper's zombie (or a process
        still dying after libvirt 5.x's SIGKILL) is collected behind the caller as soon as it has
        exited, so nothing outlives the probe and the caller's time holds only the teardown's."""
        with self._lock:
            if any(p == pid for p, _ in self._watched.values()) or any(p == pid for _, p in self._due):
                return
        self._add(pid, at_once=True)

    def drain(self) -> None:
        """Wait until every process handed to this reaper has been collected."""
        with self._lock:
            self._lock.wait_for(lambda: not self._watched and not self._due)

    def collect(self, pid: int) -> None:
        """Reap `pid` if it is our child and still there (blocks until it has exited)."""
        try:
            self._waitpid(pid, 0)
        except ChildProcessError:
            pass  # not ours (no subreaper) or already collected

    def _add(self, pid: int, at_once: bool) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        with self._lock:
            if self._thread is None:
                self._wake_r, self._wake_w = os.pipe()
                self._thread = threading.Thread(target=self._run, daemon=True, name="reaper")
                self._thread.start()
            self._watched[fd] = (pid, at_once)
        os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while True:
            with self._lock:
                fds = list(self._watched)
                timeout = None
                if self._due:
                    timeout = max(0.0, min(t for t, _ in self._due) - time.monotonic())
            # Blocks until an exit, a new process to watch, or the late reaper's next due time
            # (its timer is the modelled setting, so waiting for it is the behaviour).
            ready, _, _ = select.select([self._wake_r] + fds, [], [], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            now = time.monotonic()
            for fd in ready:
                if fd == self._wake_r:
                    continue
                with self._lock:
                    pid, at_once = self._watched.pop(fd)
                os.close(fd)
                if at_once:
                    self._reaped(pid)
                else:
                    with self._lock:
                        self._due.append((now + self.setting.delay_s, pid))
            with self._lock:
                due = [(t, p) for t, p in self._due if t <= now]
                self._due = [(t, p) for t, p in self._due if t > now]
            for _, pid in due:
                self._reaped(pid)

    def _reaped(self, pid: int) -> None:
        self.collect(pid)
        with self._lock:
            self._lock.notify_all()


_reaper: Reaper | None = None


def reaper() -> Reaper:
    """This process's reaper; `WORKBENCH_REAPER` (prompt | late:SECONDS | never) sets it for a
    process and the workers it starts, `set_reaper` for this process only."""
    global _reaper
    if _reaper is None:
        _reaper = Reaper(ReaperSetting.parse(os.environ.get("WORKBENCH_REAPER", "prompt")))
        atexit.register(_reaper.drain)
    return _reaper


def set_reaper(setting: ReaperSetting) -> None:
    reaper().setting = setting
