"""A bounded pool of threads that looks up many emulators at once (parallel, background).

Threads are enough: a probe spends its time waiting on the emulator process and its QMP socket,
and each probe runs its own asyncio loop in its own thread. The cache's per-binary locks
let the pool's lookups of different binaries run at once.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable

from workbench import trace
from workbench.errors import ProbeError, UsageError

if TYPE_CHECKING:
    from workbench.qemu.cache import QemuCapsCache
    from workbench.qemu.capsdata import QemuCaps

WORKERS_ENV = "WORKBENCH_PROBE_WORKERS"


def pool_size(requested: int | None = None) -> int:
    """The pool's size: asked for, else $WORKBENCH_PROBE_WORKERS, else the number of cores."""
    if requested is None:
        env = os.environ.get(WORKERS_ENV, "").strip()
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise UsageError(f"{WORKERS_ENV}={env!r}: expected a whole number of workers") from None
        else:
            requested = os.cpu_count() or 1
    if requested < 1:
        raise UsageError(f"probe workers must be at least 1, got {requested}")
    return requested


def lookup_all(cache: "QemuCapsCache", binaries: Iterable[str], workers: int
               ) -> dict[str, "QemuCaps | ProbeError"]:
    """Each binary's caps (or the ProbeError it raised), looked up by at most `workers` threads."""
    todo = list(dict.fromkeys(binaries))
    out: dict[str, QemuCaps | ProbeError] = {}
    with trace.span("pool.lookup_all", binaries=len(todo), workers=workers):
        if workers == 1 or len(todo) <= 1:
            futures = None
        else:
            from concurrent.futures import ThreadPoolExecutor  # only a multi-emulator call needs it

            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as ex:
                futures = {b: ex.submit(cache.lookup, b) for b in todo}
        for b in todo:
            try:
                out[b] = futures[b].result() if futures else cache.lookup(b)
            except ProbeError as e:  # the caller decides (the arch walk drops that arch)
                out[b] = e
    return out
