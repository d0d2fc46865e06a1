"""Shared fixtures: simulated installs (no QEMU needed) and the real QEMU, where present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench import trace
from workbench.sim.install import install

REAL_QEMU_DIR = Path("/usr/bin")
HAVE_REAL_QEMU = (REAL_QEMU_DIR / "qemu-system-x86_64").exists()
needs_real_qemu = pytest.mark.skipif(
    not HAVE_REAL_QEMU, reason="real QEMU is not installed (apt-get install qemu-system-x86 ...); CI installs it")


@pytest.fixture
def make_install(tmp_path_factory):
    """make_install(n, latency="none", misbehave=None) -> install directory."""
    def make(n: int | str = 3, latency: str = "none", misbehave: dict | None = None,
             targets: list[str] | None = None) -> Path:
        dest = tmp_path_factory.mktemp("inst")
        install(dest, n, latency=latency, misbehave=misbehave, targets=targets)
        return dest
    return make


@pytest.fixture(scope="session")
def install30(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("inst30")
    install(dest, 30, latency="none")
    return dest


@pytest.fixture
def private_tmp(tmp_path_factory, monkeypatch) -> Path:
    """Probe temporary directories go here, so a test sees only its own (others may run)."""
    d = tmp_path_factory.mktemp("q")
    monkeypatch.setenv("WORKBENCH_TMP", str(d))
    return d


@pytest.fixture(autouse=True)
def _fresh_tracer():
    trace.TRACER.reset()
    yield


def qmp_tmpdirs() -> set[str]:
    root = os.environ.get("WORKBENCH_TMP", "/tmp")
    return {p.name for p in Path(root).glob("qmp-*")}


def processes_mentioning(marker: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


class HangEvents:
    """The FIFO a hanging replay announces itself on ($WORKBENCH_TMP/replay-hangs): `wait()`
    blocks until a replay says it hangs (select on the FIFO, bounded: an event, not a poll)."""

    def __init__(self, tmp: Path) -> None:
        from workbench.sim.replay import HANG_FIFO

        self.path = tmp / HANG_FIFO
        os.mkfifo(self.path)
        self.read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep_fd = os.open(self.path, os.O_WRONLY)  # a writer always open: no EOF between replays

    def wait(self, limit_s: float = 120) -> int:
        import select

        ready, _, _ = select.select([self.read_fd], [], [], limit_s)
        assert ready, f"no replay announced a hang within {limit_s} s"
        return int(os.read(self.read_fd, 64).split()[0])

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.keep_fd)
        self.path.unlink()


@pytest.fixture
def hang_events(tmp_path_factory, monkeypatch):
    """HangEvents in a fresh WORKBENCH_TMP (set for this test and the processes it starts)."""
    tmp = tmp_path_factory.mktemp("hang")
    monkeypatch.setenv("WORKBENCH_TMP", str(tmp))
    events = HangEvents(tmp)
    yield events
    events.close()
