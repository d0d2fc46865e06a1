"""In-process QemuDriver.startup(...) on a cold (fresh, empty) or warm (filled) cache dir,
with --domains M persistent configs (copies of corpus x86_64 domains) loaded at startup."""
from __future__ import annotations

from workbench import trace
from workbench.bench.common import Bench, CacheDirs, make_config_dir, measure, preload


def startup_time_func(b: Bench, benchmark: str):
    """The time_func shared with tracing_overhead: one startup per value, setup untimed."""
    from workbench.qemu.driver import QemuDriver

    install = b.install()
    config_dir = make_config_dir(b, b.args.domains)
    caches = CacheDirs(b, install)
    preload()

    def setup():
        trace.TRACER.reset()
        return caches.new()

    started = []

    def op(cache_dir) -> None:
        started.append(QemuDriver.startup(b.options(install, cache_dir, config_dir)))

    def cleanup(cache_dir) -> None:  # untimed: a background warm-up stops before its dir goes
        while started:
            started.pop().stop()
        caches.done(cache_dir)

    return lambda loops: measure(loops, setup, op, cleanup)


def main() -> None:
    b = Bench("driver_startup")
    b.add("driver_startup", startup_time_func(b, "driver_startup"),
          metadata=b.meta("driver_startup"))


if __name__ == "__main__":
    main()
