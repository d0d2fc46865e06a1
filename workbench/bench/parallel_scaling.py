"""The parallel strategy's speed-up against its pool size: a cold get_capabilities
(startup, then every emulator probed by the pool) with 1, 2, 4 and 8 probe workers.

TCG probes are CPU-bound, so the speed-up should flatten near the machine's core count, which
is recorded beside every value (`wb_cores`). One benchmark per pool size; the pool size is in the
benchmark's name and in `wb_case`. Where the host has the real binaries of the same targets, the
same benchmarks run on them too (`wb_emulators` real): how far the replays' speed-up is the real
one is part of replay fidelity (probe_anatomy).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from workbench import trace
from workbench.bench.common import Bench, CacheDirs, measure, preload
from workbench.sim.installs import ensure_real_install

WORKERS = (1, 2, 4, 8)


def time_func(b: Bench, workers: int, install: Path):
    from workbench.qemu.driver import QemuDriver

    caches = CacheDirs(b, install)
    preload()
    started = []

    def setup():
        trace.TRACER.reset()
        return caches.new()

    def op(cache_dir) -> None:
        opts = replace(b.options(install, cache_dir), probe_workers=workers)
        drv = QemuDriver.startup(opts)
        started.append(drv)
        drv.get_capabilities()

    def cleanup(cache_dir) -> None:
        while started:
            started.pop().stop()
        caches.done(cache_dir)

    return lambda loops: measure(loops, setup, op, cleanup)


def main() -> None:
    b = Bench("parallel_scaling", strategy="parallel")  # about this strategy's pool
    real = ensure_real_install(b.args.install_root, b.args.emulators)
    sides = [("simulated", b.install())] + ([("real", real)] if real else [])
    for kind, install in sides:
        for w in WORKERS:
            meta = b.meta("parallel_scaling", case=f"workers={w}", phase="get_capabilities",
                          real=kind == "real", workers=w, cores=os.cpu_count() or 1)
            name = f"parallel_scaling.workers{w}" + (".real" if kind == "real" else "")
            b.add(name, time_func(b, w, install), metadata=meta)


if __name__ == "__main__":
    main()
