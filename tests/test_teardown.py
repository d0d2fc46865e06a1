"""The three ways a probe's emulator is ended (qemu/teardown.py), checked by what they do: the
signals and existence checks sent, what they wait for. No timing is asserted: the kill, sleep and
pidfd hooks count; real processes show that a zombie keeps libvirt 9.0's wait going until it is
reaped and that the pidfd wait ends at the exit."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.qemu import process, teardown
from workbench.qemu.teardown import Hooks, Reaper, ReaperSetting, stop

TERM, KILL = int(signal.SIGTERM), int(signal.SIGKILL)


class FakeProcess:
    """kill() answers as a process that is there for `alive_checks` calls (the SIGTERM
    included), then gone; sleep() only counts."""

    def __init__(self, alive_checks: int | None) -> None:
        self.alive_checks = alive_checks  # None: never goes away
        self.calls: list[int] = []
        self.sleeps: list[float] = []

    def kill(self, pid: int, signum: int) -> None:
        self.calls.append(signum)
        if self.alive_checks is not None and len(self.calls) > self.alive_checks:
            raise ProcessLookupError

    def hooks(self) -> Hooks:
        return Hooks(kill=self.kill, sleep=self.sleeps.append, clock=lambda: 0.0)


def test_libvirt9_sigterm_then_existence_checks_every_200ms_until_gone() -> None:
    fake = FakeProcess(alive_checks=3)  # SIGTERM and two checks succeed, the third is ESRCH
    out = stop(1234, "libvirt9", fake.hooks())
    assert out.signals == [TERM, 0, 0, 0]
    assert fake.sleeps == [0.2, 0.2, 0.2]  # one g_usleep(200 ms) after each success
    assert out.gone and not out.gave_up and out.existence_checks == 3


def test_libvirt9_always_pays_one_poll_even_when_sigterm_ends_it_at_once() -> None:
    fake = FakeProcess(alive_checks=1)
    out = stop(1234, "libvirt9", fake.hooks())
    assert out.signals == [TERM, 0] and fake.sleeps == [0.2]


def test_libvirt9_escalates_to_sigkill_at_round_50_and_gives_up_after_200() -> None:
    fake = FakeProcess(alive_checks=None)
    out = stop(1234, "libvirt9", fake.hooks())
    assert out.signals == [TERM] + [0] * 49 + [KILL] + [0] * 149
    assert len(fake.sleeps) == 200  # 40 s of 200 ms polls (force=true), then EBUSY
    assert out.gave_up and not out.gone


def test_libvirt9_reports_a_kill_error_other_than_esrch() -> None:
    def kill(pid: int, signum: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    out = stop(1234, "libvirt9", Hooks(kill=kill, sleep=lambda s: None))
    assert out.signals == [TERM] and "not permitted" in out.error and not out.gone


def test_libvirt5_one_sigkill_and_no_wait() -> None:
    fake = FakeProcess(alive_checks=None)
    out = stop(1234, "libvirt5", fake.hooks())
    assert out.signals == [KILL] and fake.sleeps == [] and not out.gave_up


@pytest.mark.parametrize("exits_after, signals, gone", [
    (1, [TERM], True),           # exits on SIGTERM: the wait returns at the exit
    (2, [TERM, KILL], True),     # ignores SIGTERM for the 10 s: SIGKILL, then exits
    (None, [TERM, KILL], False),  # never exits: gives up
])
def test_pidfd_waits_on_the_exit_with_libvirts_escalation(exits_after, signals, gone) -> None:
    sent, waits = [], []

    def wait(fd: int, timeout_s: float) -> bool:
        waits.append(timeout_s)
        return exits_after is not None and len(waits) >= exits_after

    hooks = Hooks(pidfd_open=lambda pid: 99, pidfd_signal=lambda fd, s: sent.append(s),
                  pidfd_wait=wait, close=lambda fd: None, sleep=lambda s: pytest.fail("polled"))
    out = stop(1234, "pidfd", hooks)
    assert out.signals == signals == sent and out.gone is gone and out.gave_up is (not gone)
    assert waits == [10.0, 30.0][:len(waits)]  # SIGKILL at 10 s, give up at 40 s, as libvirt


def test_unknown_mode_and_reaper_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="libvirt9, libvirt5, pidfd"):
        stop(1234, "sigkill")
    with pytest.raises(UsageError):
        ReaperSetting.parse("late:soon")
    assert ReaperSetting.parse("late:1") == ReaperSetting("late", 1.0)
    assert str(ReaperSetting.parse("never")) == "never"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _sleeper() -> subprocess.Popen:
    # Our own child: nobody else reaps it, so its zombie stays until we do.
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def test_a_zombie_keeps_the_libvirt9_wait_going_until_it_is_reaped() -> None:
    child = _sleeper()
    states: list[str] = []

    def poll(seconds: float) -> None:  # a late reaper: it reaps at the 3rd poll after the exit
        fd = os.pidfd_open(child.pid)  # first let the SIGTERM take effect (no clock involved)
        try:
            select.select([fd], [], [])
        finally:
            os.close(fd)
        states.append(_state(child.pid))
        if len(states) == 3:
            os.waitpid(child.pid, 0)
            child.returncode = 0

    out = stop(child.pid, "libvirt9", Hooks(sleep=poll))
    assert states == ["Z", "Z", "Z"]  # dead, yet kill(pid, 0) kept succeeding
    assert out.signals == [TERM, 0, 0, 0] and out.gone


def test_pidfd_returns_at_the_exit_while_nobody_has_reaped_it() -> None:
    child = _sleeper()
    out = stop(child.pid, "pidfd")
    try:
        assert out.gone and out.signals == [TERM]
        assert _state(child.pid) == "Z"  # the wait did not need the reaper
    finally:
        child.wait()


def test_prompt_reaper_ends_the_libvirt9_wait_at_the_first_check_after_exit() -> None:
    child = _sleeper()
    r = Reaper(ReaperSetting("prompt"))
    r.watch(child.pid)
    waited: list[str] = []

    def poll(seconds: float) -> None:
        r.drain()  # wait (on the reaper, not on a clock) until it has collected the child
        waited.append(_state(child.pid))

    out = stop(child.pid, "libvirt9", Hooks(sleep=poll))
    child.returncode = 0  # reaped by the reaper
    assert waited == ["gone"] and out.signals == [TERM, 0] and out.gone


def test_never_reaper_leaves_the_zombie_to_finish(monkeypatch) -> None:
    child = _sleeper()
    r = Reaper(ReaperSetting("never"))
    r.watch(child.pid)
    out = stop(child.pid, "pidfd")
    assert out.gone and _state(child.pid) == "Z"
    r.finish(child.pid)
    r.drain()
    child.returncode = 0
    assert _state(child.pid) == "gone"


@pytest.mark.parametrize("mode", teardown.MODES)
def test_a_replay_ends_by_each_mode_and_nothing_is_left(mode, make_install, private_tmp) -> None:
    binary = str(make_install(targets=["x86_64"], latency="none") / "qemu-system-x86_64")
    proc = process.launch(binary, "tcg", 10.0)
    out = process.cleanup(proc.tmpdir, proc.pid, mode)
    teardown.reaper().drain()
    assert out is not None and out.mode == mode and not out.gave_up and not out.error
    if mode == "libvirt5":
        assert out.signals == [KILL]
    else:
        assert out.signals[0] == TERM and KILL not in out.signals  # the replay exits on SIGTERM
        assert out.gone
    assert _state(proc.pid) == "gone" and not list(private_tmp.iterdir())
