"""Prebuilt: per-emulator, with capabilities shipped beside the emulator at package build time.

Before probing a binary the cache looks for its prebuilt file (qemu/designs/prebuilt.py): used when it
was made from these exact bytes and passes the cache's own validity rules, else a probe. Build
the files for an install with `workbench prebuild DIR`.
"""
from __future__ import annotations

from workbench.qemu.designs.prebuilt import load_prebuilt
from workbench.qemu.strategies.base import CacheHooks
from workbench.qemu.strategies.per_emulator import PerEmulator


class Prebuilt(PerEmulator):
    name = "prebuilt"
    uses_package_files = True
    description = "per-emulator, loading capabilities shipped with the package before probing"
    staleness = ("shipped caps are trusted while the binary's bytes match: wrong if the package "
                 "build saw other modules or firmware than the host; native arches on a KVM host "
                 "are probed anyway")

    def cache_hooks(self) -> CacheHooks:
        return CacheHooks(before_probe=load_prebuilt)
