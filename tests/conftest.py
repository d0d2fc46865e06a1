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
