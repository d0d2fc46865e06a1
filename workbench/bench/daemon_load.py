"""Daemon load figures, a benchmark, not a test: requests per second and p99 latency
with C concurrent clients (one connection per request, like `workbench call`), and the daemon's
RSS before and after R requests. Measured on replaying emulators (a simulated install).

    python3 -m workbench.bench.daemon_load [--clients 200] [--requests 10000] [--method list_domains]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from workbench.daemon import call


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--method", default="list_domains")
    ap.add_argument("--emulators", type=int, default=4)
    a = ap.parse_args(argv)
    from workbench.sim.install import install
    with tempfile.TemporaryDirectory(prefix="wb-load-") as d:
        root = Path(d)
        install(root / "inst", a.emulators, latency="none")
        sock = root / "d.sock"
        p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "daemon", "--socket", str(sock),
                              "--install", str(root / "inst")], stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "ready"
            call(sock, a.method, {})  # warm: first call may probe
            before = rss_kib(p.pid)
            lat: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            per = [a.requests // a.clients + (i < a.requests % a.clients) for i in range(a.clients)]

            def client(n: int) -> None:
                mine = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    try:
                        call(sock, a.method, {}, timeout_s=300)
                    except Exception as e:
                        errors.append(repr(e))
                    mine.append(time.perf_counter() - t0)
                with lock:
                    lat.extend(mine)
            threads = [threading.Thread(target=client, args=(n,)) for n in per]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            after = rss_kib(p.pid)
        finally:
            p.terminate()
            p.wait(timeout=60)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(f"measured (replaying emulators): {len(lat)} requests of {a.method}, {a.clients} concurrent clients, "
          f"one connection each")
    print(f"  requests/s {len(lat) / wall:.0f}   median {statistics.median(lat) * 1e3:.1f} ms   "
          f"p99 {p99 * 1e3:.1f} ms   errors {len(errors)}")
    print(f"  daemon RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
