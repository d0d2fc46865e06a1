"""`workbench daemon` from spawn to its first answered API call (list_domains over the socket).

The daemon says `ready` on stdout once it accepts requests: we block on that line (no polling),
call list_domains, stop the clock, then SIGTERM it and wait for it, outside the timed region.
Cold: a fresh empty cache dir per value; warm: one cache dir filled beforehand.
"""
from __future__ import annotations

import time
from pathlib import Path

from workbench.bench.common import Bench, CacheDirs, make_config_dir
from workbench.bench.daemon_client import Daemon


def spawn_and_call(install: Path, strategy: str, cache_dir: Path, config_dir: Path | None,
                   teardown: str) -> float:
    """Spawn to the first answered call, in seconds; the stop happens outside the clock."""
    daemon = Daemon(install, cache_dir, strategy, config_dir, teardown=teardown)
    try:
        t0 = time.perf_counter()
        daemon.start()
        daemon.call("list_domains")
        return time.perf_counter() - t0
    finally:
        daemon.stop()


def main() -> None:
    b = Bench("daemon_startup")
    install = b.install()
    config_dir = make_config_dir(b, b.args.domains)
    caches = CacheDirs(b, install)

    def time_func(loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            d = caches.new()
            total += spawn_and_call(install, b.args.strategy, d, config_dir, b.args.teardown)
            caches.done(d)
        return total

    b.add("daemon_startup", time_func, metadata=b.meta("daemon_startup"))


if __name__ == "__main__":
    main()
