"""Do replays keep their cost under parallel load? (`workbench fidelity --parallel`)

The parallel strategy's cold get_capabilities on N emulators with 1, 2, 4 and 8 probe workers,
on the host's real binaries and on their replaying emulators (recorded latency), alternated
(which side goes first alternates per round), each startup in a fresh Python process as a
benchmark worker does. Per worker count: both sides' medians, each side's speed-up over one
worker, the replays' speed-up over the real binaries' (1.00: the replays scale as QEMU does;
above: replays overstate the speed-up), and the paired ratio replay / real with its 95% CI.
Measured on both sides; nothing modelled. The parallel_scaling benchmark is the same question
in a sweep; this is the quick check (a few minutes at N = 30 with 3 rounds).
"""
from __future__ import annotations

import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from workbench.errors import UsageError
from workbench.analysis.stats import fidelity_verdict, paired_ratio

WORKERS = (1, 2, 4, 8)

# One cold startup + get_capabilities with the parallel strategy, in a fresh process; prints seconds.
_ONE_STARTUP = r"""
import sys, tempfile, time
from pathlib import Path
from workbench.qemu.driver import DriverOptions, QemuDriver
with tempfile.TemporaryDirectory(prefix="fp-") as cache:
    t = time.perf_counter()
    drv = QemuDriver.startup(DriverOptions(sys.argv[1], "parallel", Path(cache), probe_workers=int(sys.argv[2])))
    drv.get_capabilities()
    took = time.perf_counter() - t
    drv.stop()
print(took)
"""


def _startup_in_fresh_process(install: Path, workers: int) -> float:
    done = subprocess.run([sys.executable, "-c", _ONE_STARTUP, str(install), str(workers)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise UsageError(f"get_capabilities on {install} with {workers} workers failed: "
                         f"{done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.split()[-1])


def measure(n: int, rounds: int, workers: tuple[int, ...] = WORKERS) -> dict[tuple[int, str], list[float]]:
    """Seconds per (workers, side) over `rounds`, real and simulated alternated."""
    from workbench.sim.installs import ensure_install, ensure_real_install

    with tempfile.TemporaryDirectory(prefix="fidpar-") as tmp:
        real = ensure_real_install(Path(tmp), n)
        if real is None:
            raise UsageError(f"the real binaries of the first {n} targets are not all in /usr/bin")
        sides = [("real", real), ("simulated", ensure_install(Path(tmp), n, "recorded"))]
        times: dict[tuple[int, str], list[float]] = {}
        for i in range(rounds):
            for w in workers:
                for side, install in sides[::-1] if i % 2 else sides:
                    times.setdefault((w, side), []).append(_startup_in_fresh_process(install, w))
    return times


def scaling_rows(times: dict[tuple[int, str], list[float]]) -> list[dict]:
    """Per worker count: medians, speed-ups over the smallest pool, their ratio, paired CI."""
    workers = sorted({w for w, _ in times})
    base = {side: statistics.median(times[(workers[0], side)]) for side in ("real", "simulated")}
    rows = []
    for w in workers:
        real, sim = times[(w, "real")], times[(w, "simulated")]
        eff = paired_ratio(real, sim)
        sp_real = base["real"] / statistics.median(real)
        sp_sim = base["simulated"] / statistics.median(sim)
        rows.append({"workers": w, "real_s": statistics.median(real), "simulated_s": statistics.median(sim),
                     "speedup_real": sp_real, "speedup_simulated": sp_sim, "speedup_ratio": sp_sim / sp_real,
                     "ratio": eff.ratio, "ci_low": eff.ci_low, "ci_high": eff.ci_high,
                     "verdict": fidelity_verdict(eff)})
    return rows


def format_rows(rows: list[dict], n: int) -> str:
    lines = [f"parallel strategy, cold get_capabilities on {n} emulators (measured: real binaries and "
             f"replays, medians; ratio: paired)",
             f"{'workers':>7} {'real s':>8} {'sim s':>8} {'speed-up real':>13} {'speed-up sim':>12} "
             f"{'sim/real speed-up':>17} {'sim/real [95% CI]':>24} verdict"]
    for r in rows:
        ci = "-" if math.isnan(r["ci_low"]) else f"{r['ratio']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        lines.append(f"{r['workers']:>7} {r['real_s']:8.3f} {r['simulated_s']:8.3f} {r['speedup_real']:13.2f} "
                     f"{r['speedup_simulated']:12.2f} {r['speedup_ratio']:17.3f} {ci:>24} {r['verdict']}")
    return "\n".join(lines)
