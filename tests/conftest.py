"""Shared fixtures: simulated installs (no QEMU needed) and the real QEMU, where present."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import trace
from workbench.sim.install import install

REAL_QEMU_DIR = Path("/usr/bin")
HAVE_REAL_QEMU = (REAL_QEMU_DIR / "qemu-system-x86_64").exists()
needs_real_qemu = pytest.mark.skipif(
    not HAVE_REAL_QEMU, reason="real QEMU is not installed (apt-get install qemu-system-x86 ...); CI installs it")
# The real libvirt tests run on one small real emulator: a single launch of ~0.3 s.
SMALL_REAL_QEMU = REAL_QEMU_DIR / "qemu-system-cris"


def libvirt_unavailable(build=None) -> str | None:
    """Why real libvirt 9.0 (the system's, or `build`) cannot probe SMALL_REAL_QEMU here; None
    when it can."""
    from workbench.libvirt9 import backend, builds

    return backend.unavailable_reason(build or builds.SYSTEM) or (
        None if SMALL_REAL_QEMU.exists() else f"{SMALL_REAL_QEMU} not installed")


@pytest.fixture
def make_install(tmp_path_factory):
    """make_install(n, latency="none", misbehave=None) -> install directory."""
    def make(n: int | str = 3, latency: str = "none", misbehave: dict | None = None,
             targets: list[str] | None = None) -> Path:
        dest = tmp_path_factory.mktemp("inst")
        install(dest, n, latency=latency, misbehave=misbehave, targets=targets)
        return dest
    return make


@pytest.fixture
def real_install(tmp_path) -> Path:
    """An install of SMALL_REAL_QEMU alone (a link to the real binary), for real libvirt."""
    d = tmp_path / "i"
    d.mkdir()
    (d / SMALL_REAL_QEMU.name).symlink_to(SMALL_REAL_QEMU)
    return d


@pytest.fixture
def libvirt_root():
    """A fresh root for libvirt's embedded driver (short: its monitor socket path must fit),
    removed after the test."""
    import shutil

    from workbench.libvirt9 import backend

    root = backend.new_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


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


def zombie_children(parent: int, group: int | None = None) -> list[int]:
    """The zombies whose parent is `parent` (and, given `group`, in that process group)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:  # after the command name: state, parent, process group, ...
                state, ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            except OSError:
                continue
            if state == "Z" and int(ppid) == parent and group in (None, int(pgrp)):
                out.append(int(entry.name))
    return out


def assert_nothing_left(inst: Path, tmp: Path, err: str = "") -> None:
    """Nothing a probe, a parse or a daemon started outlives it: no traceback in its stderr
    `err`, no emulator of `inst` running, no helper one escaped with (the `escape-at` fault), no
    probe temp dir in `tmp` (the WORKBENCH_TMP it ran with)."""
    assert "Traceback" not in err, err
    assert processes_mentioning(str(inst)) == [], "emulator left running"
    assert processes_mentioning("wbfault-child:") == [], "an escaped helper left running"
    assert list(tmp.glob("qmp-*")) == [], "probe temp folder left"


def start_daemon(inst: Path, sock: Path, tmp: Path, *flags: str) -> subprocess.Popen:
    """`workbench daemon --socket SOCK --install INST FLAGS...`, its probes' temp dirs in `tmp`
    (WORKBENCH_TMP), stdout and stderr piped as text; returns once it says `ready`."""
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                          "--install", str(inst), *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, WORKBENCH_TMP=str(tmp)))
    if p.stdout.readline().strip() != "ready":
        p.kill()
        _, err = p.communicate()
        pytest.fail(f"the daemon did not start: {err}")
    return p


class HeldInstall:
    """Installs whose emulator for one arch stops at a QMP command until the test lets it go on
    (the `hold-at` fault, through two FIFOs): `wait_held()` returns once it has stopped there."""

    def __init__(self, make_install, tmp: Path) -> None:
        self._make = make_install
        self.fifo = tmp / "release"
        os.mkfifo(self.fifo)
        os.mkfifo(f"{self.fifo}.held")

    def __call__(self, n: int, arch: str, command: str) -> Path:
        return self._make(n, misbehave={arch: f"hold-at:{command}={self.fifo}"})

    def wait_held(self) -> None:
        with open(f"{self.fifo}.held") as held:  # blocks until the emulator writes it
            assert held.readline() == "held\n"

    def release(self) -> None:
        with open(self.fifo, "w") as release:
            release.write("go\n")


@pytest.fixture
def held_install(make_install, tmp_path) -> HeldInstall:
    return HeldInstall(make_install, tmp_path)


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
