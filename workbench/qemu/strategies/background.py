"""Background: startup returns at once; a pool of threads warms the caps cache behind it.

The parse path is per-emulator's. A call that needs one emulator (define, domain
capabilities) waits only for that one: probed now by the caller if still queued, joined if a
warm-up thread has it. A call that needs them all (get_capabilities, get_version, the security
model, as libvirt builds virCaps for them) waits for the rest. The driver's stop (daemon
shutdown) stops the warm-up and waits for the probes in flight.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.qemu.capabilities import walk_binaries
from workbench.qemu.designs.pool import pool_size
from workbench.qemu.designs.warmer import Warmer
from workbench.qemu.options import DriverOptions
from workbench.qemu.strategies.base import DriverView
from workbench.qemu.strategies.per_emulator import PerEmulator

if TYPE_CHECKING:
    from workbench.qemu.capabilities import LookupMany
    from workbench.qemu.capsdata import QemuCaps


class Background(PerEmulator):
    name = "background"
    description = "per-emulator, with the cache warmed by background threads from startup on"
    staleness = ("as per-emulator (every answer goes through the validated cache); the warm-up "
                 "costs CPU and emulator launches nobody may ask for")

    def __init__(self, options: DriverOptions) -> None:
        self.warmer = Warmer(pool_size(options.probe_workers))

    def on_startup(self, driver: DriverView) -> None:
        pairs = walk_binaries(driver.host_arch, driver.search_path)
        host_first = sorted(pairs, key=lambda p: p[0] != driver.host_arch)  # stable otherwise
        self.warmer.start(driver.cache, (b for _, b in host_first))

    def lookup_one(self, driver: DriverView, binary: str) -> QemuCaps:
        self.warmer.bump(binary)  # still queued: the caller probes it now
        return driver.cache.lookup(binary)

    def on_stop(self, driver: DriverView) -> None:
        self.warmer.stop()

    def lookup_many(self, driver: DriverView) -> LookupMany:
        return self.warmer.wait
