"""Schema-reuse: per-emulator, with build-constant QMP replies reused across binaries and runs.

A probe still launches the emulator (host- and accelerator-dependent answers must be asked),
but skips query-qmp-schema and the other replies fixed at QEMU's build, when a probe of the
same build (binary sha256, version, package, module dir) already stored them. The store lives
beside the cache dir (`<cache_dir>.replies/`); see qemu/designs/schema_store.py for the staleness risk.
"""
from __future__ import annotations

from pathlib import Path

from workbench.qemu.designs.schema_store import ReplyStore
from workbench.qemu.options import DriverOptions
from workbench.qemu.strategies.base import CacheHooks
from workbench.qemu.strategies.per_emulator import PerEmulator


def store_dir(cache_dir: Path | None) -> Path | None:
    return None if cache_dir is None else Path(cache_dir).with_name(Path(cache_dir).name + ".replies")


class SchemaReuse(PerEmulator):
    name = "schema-reuse"
    description = "per-emulator, reusing query-qmp-schema and other build-constant replies"
    staleness = ("reused replies are wrong if the same bytes, version, package and module dir "
                 "answer differently (modules elsewhere, config-dependent registration, an "
                 "edited store)")

    def __init__(self, options: DriverOptions) -> None:
        self.store = ReplyStore(store_dir(options.cache_dir))

    def cache_hooks(self) -> CacheHooks:
        store = self.store
        return CacheHooks(probe_kwargs=lambda binary: {"known_replies": store.known_for(binary)},
                          after_probe=store.remember)
