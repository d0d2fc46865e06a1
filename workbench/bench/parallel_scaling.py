"""The parallel strategy's speed-up against its pool size (issue 13): a cold get_capabilities
(startup, then every emulator probed by the pool) with 1, 2, 4 and 8 probe workers.

TCG probes are CPU-bound, so the speed-up should flatten near the machine's core count, which
is recorded beside every value (`wb_cores`). One benchmark per pool size; the pool size is in the
benchmark's name and in `wb_case`.
"""
from __future__ import annotations

import os
from dataclasses import replace

from workbench import trace
from workbench.bench.common import Bench, CacheDirs, measure, preload

WORKERS = (1, 2, 4, 8)


def time_func(b: Bench, workers: int):
    from workbench.qemu.driver import QemuDriver

    install = b.install()
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
    b = Bench("parallel_scaling")
    b.args.strategy = "parallel"  # the benchmark is about this strategy's pool, whatever --strategy says
    for w in WORKERS:
        meta = b.meta("parallel_scaling", case=f"workers={w}", phase="get_capabilities")
        meta["wb_workers"] = w
        meta["wb_cores"] = os.cpu_count() or 1
        b.add(f"parallel_scaling.workers{w}", time_func(b, w), metadata=meta)


if __name__ == "__main__":
    main()
