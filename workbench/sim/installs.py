"""The installs a sweep shares: made once per (emulator count, latency, QEMU mix), atomically,
then only read; and links to the host's real binaries of the same targets.

The sweep makes them before its first job; a benchmark script run alone makes its own under its
temporary root. Either way a script finds its install here by its parameters.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from workbench.sim.catalog import INSTALL_ORDER
from workbench.sim.install import MANIFEST, install


REAL_QEMU_DIR = Path("/usr/bin")


def ensure_real_install(root: Path, n: int) -> Path | None:
    """Links to the host's real binaries of the first `n` targets in the install order (the
    same targets as a simulated install of n), made once; None if any is absent here."""
    names = [f"qemu-system-{t}" for t in INSTALL_ORDER[:n]]
    if not all((REAL_QEMU_DIR / name).is_file() for name in names):
        return None
    dest = Path(root).absolute() / f"n{n}-real"
    if dest.is_dir():
        return dest

    def link(tmp: Path) -> None:
        for name in names:
            (tmp / name).symlink_to(REAL_QEMU_DIR / name)
    return fill_once(dest, link)


def qemu_label(spec: str, n: int | str) -> str:
    """The mix an install of n emulators gets from a --qemu spec: "aarch64@4.2.0+x86_64@8.0.0"."""
    from workbench.sim.libvirt_replies import parse_qemu_spec, spec_label

    targets = list(INSTALL_ORDER if n == "all" else INSTALL_ORDER[:int(n)])
    return spec_label(parse_qemu_spec(spec, targets, ignore_absent=True))


def ensure_install(root: Path, n: int, latency: str, qemu: str = "") -> Path:
    """The read-only install for (n, latency, qemu), written once (atomically) and then reused."""
    mix = qemu_label(qemu, n)
    dest = Path(root).absolute() / (f"n{n}-{latency}" + (f"-{mix}" if mix else ""))
    if (dest / MANIFEST).is_file():
        return dest
    return fill_once(dest, lambda tmp: install(tmp, n, latency=latency, qemu=qemu,
                                                  qemu_ignore_absent=True))


def fill_once(dest: Path, fill: Callable[[Path], Any]) -> Path:
    """Make `dest` atomically: fill(a temporary dir beside it), then rename it into place. Where
    another process won the race, its dir is used and ours removed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        fill(tmp)
    except BaseException:  # a half-filled dir must not outlive the failure
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, dest)
    except OSError:  # another process won the race: use its dir
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


