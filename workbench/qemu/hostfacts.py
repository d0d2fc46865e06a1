"""Host facts the cache validity rules read on every lookup; standard library only."""
from __future__ import annotations

import os


def kernel_version() -> str:
    u = os.uname()
    return f"{u.release} {u.version}"


def microcode_version() -> str:
    """libvirt re-reads this from the first 4 KiB of /proc/cpuinfo on every cache lookup."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    for line in head.splitlines():
        if line.startswith(b"microcode"):
            return line.split(b":", 1)[1].strip().decode()
    return ""
