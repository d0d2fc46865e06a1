"""The launch path never sleeps or polls between exec and the last QMP reply.

Every sleep primitive the prober could reach is replaced by one that fails the test; the
replaying emulator (a separate process) still sleeps its recorded times, which is its job. The
probes here end with the `pidfd` teardown: the default, libvirt 9.0's, sleeps 200 ms between
existence checks after the last reply because libvirt does (tests/test_teardown.py counts them).
"""
from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from conftest import REAL_QEMU_DIR, needs_real_qemu
from workbench.sim.recorder import launches_from
from workbench.qemu.probe import probe


class SleptError(AssertionError):
    pass


@pytest.fixture
def no_sleep(monkeypatch):
    def sleep(*_a, **_k):
        raise SleptError("time.sleep reached during a probe")

    real_wait = subprocess.Popen.wait

    def wait(self, timeout=None):
        if timeout is not None:
            raise SleptError(f"Popen.wait(timeout={timeout}) reached: CPython polls it with sleeps")
        return real_wait(self)

    real_asleep = asyncio.sleep

    async def asleep(delay, *a, **k):
        if delay:  # sleep(0) is a yield to the event loop, not a wait
            raise SleptError(f"asyncio.sleep({delay}) reached during a probe")
        return await real_asleep(0, *a, **k)

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(subprocess.Popen, "wait", wait)
    monkeypatch.setattr(asyncio, "sleep", asleep)


def test_the_trap_springs(no_sleep) -> None:
    with pytest.raises(SleptError):
        time.sleep(0.001)
    p = subprocess.Popen(["true"])
    with pytest.raises(SleptError):
        p.wait(timeout=5)
    p.wait()


def _check(binary: str, quit: bool) -> None:
    seen = []
    result = probe(binary, quit=quit, on_exchange=seen.append, teardown="pidfd")
    assert result.phases
    for ph in result.phases:
        # One clock: every instant in order (an ordering check, not a timing one).
        order = [ph.t0_ns, ph.spawned_ns, ph.daemonized_ns, ph.connected_ns, ph.greeting_ns]
        assert order == sorted(order) and 0 not in order, order
        for c in ph.commands:
            assert ph.greeting_ns <= c.sent_ns <= c.received_ns
        if quit:
            assert ph.quit_sent_ns is not None and ph.exited_ns is not None
            assert ph.commands[-1].received_ns <= ph.quit_sent_ns <= ph.exited_ns
    assert len(seen) == sum(len(ph.commands) for ph in result.phases)
    launches = launches_from(result.phases, seen)
    assert [len(ln.exchanges) for ln in launches] == [len(ph.commands) for ph in result.phases]


@pytest.mark.parametrize("quit", [False, True])
def test_replay_probe_never_sleeps(make_install, private_tmp, no_sleep, quit: bool) -> None:
    dest = make_install(targets=["x86_64"], latency="recorded")
    _check(str(dest / "qemu-system-x86_64"), quit)
    assert not list(private_tmp.iterdir())


@needs_real_qemu
def test_real_probe_never_sleeps(private_tmp, no_sleep) -> None:
    _check(str(REAL_QEMU_DIR / "qemu-system-x86_64"), quit=True)
    assert not list(private_tmp.iterdir())
