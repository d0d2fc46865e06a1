"""Fixed-shipped: per-emulator-fixed, plus what a package can ship because no host changes it.

The APIs of per-emulator-fixed (no full virCaps unless it is returned), the prebuilt
capabilities of the package (used when valid on this host: every foreign-arch, TCG-only
emulator), and the package's build-constant QMP replies for the probes that must still run (a
native emulator on a KVM host: its KVM view depends on this host, its schema does not). New
replies a probe learns go to a store beside the cache, as with schema-reuse. The staleness
risks are those of prebuilt and schema-reuse together.
"""
from __future__ import annotations

from workbench.qemu.designs.prebuilt import load_prebuilt, shipped_replies
from workbench.qemu.designs.schema_store import ReplyStore
from workbench.qemu.options import DriverOptions
from workbench.qemu.strategies.base import CacheHooks
from workbench.qemu.strategies.per_emulator_fixed import PerEmulatorFixed
from workbench.qemu.strategies.schema_reuse import store_dir


class FixedShipped(PerEmulatorFixed):
    name = "fixed-shipped"
    uses_package_files = True
    description = "per-emulator-fixed, with prebuilt caps and build-constant replies shipped by the package"
    staleness = ("prebuilt's and schema-reuse's together: shipped caps and replies trusted while "
                 "the binary's bytes (and the module files) match")

    def __init__(self, options: DriverOptions) -> None:
        self.store = ReplyStore(store_dir(options.cache_dir), shipped=shipped_replies)

    def cache_hooks(self) -> CacheHooks:
        store = self.store
        return CacheHooks(before_probe=load_prebuilt,
                          probe_kwargs=lambda binary: {"known_replies": store.known_for(binary)},
                          after_probe=store.remember)
