"""Parallel: any multi-emulator request probes its emulators in a bounded pool of threads.

The parse path is per-emulator's (same verdicts). What changes: the cache takes one lock per
binary, and the arch walk (get_capabilities, get_version, the security model) looks its
binaries up through the pool, `probe_workers` at a time (default: the number of cores).
Replaying emulators mostly sleep, so they scale past the cores; real TCG probes are CPU-bound.
"""
from __future__ import annotations

from workbench.qemu.designs.pool import lookup_all, pool_size
from workbench.qemu.options import DriverOptions
from workbench.qemu.strategies.per_emulator import PerEmulator


class Parallel(PerEmulator):
    name = "parallel"
    description = "per-emulator, with multi-emulator requests probed by a bounded thread pool"

    def __init__(self, options: DriverOptions) -> None:
        self.workers = pool_size(options.probe_workers)

    def lookup_many(self, driver):
        return lambda binaries: lookup_all(driver.cache, binaries, self.workers)
