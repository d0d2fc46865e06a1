"""How many probe launches end inside a sweep job's wall time: a model for the job-cost estimate.

Each probe launch the model ends with libvirt 9.0's teardown (the default, `libvirt9`) sleeps at
least one 200 ms poll round (workbench/qemu/teardown.py); the pidfd fix and libvirt 5.x's SIGKILL
do not sleep. A run from before the teardown model (tests/data/full-grid-run, the full grid of
2026-12-05) holds what every job cost without that sleep; this module says how many launches a
job's workers end, so the estimate can add the sleep to those costs. Counts are per value of one
benchmark in one worker process, as launch-equivalents on the wall clock (launches that sleep
side by side in a pool of threads count 1/pool each). They follow the code of the benchmark
scripts and strategies, with the all-emulator count of an install of n taken from what the
scenarios counted in that run (`wb_launches`: 2, 4, 6, 10, 18, 27 launches at 1, 2, 4, 8, 16,
30 emulators). A model, not a measurement: docs/full-grid-cost.md compares it with the jobs the
reference run measured with the teardown.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.qemu.strategy_names import FULL_CAPS

HOST_ARCH_LAUNCHES = 2   # the host arch's emulator on a KVM host: the probe and a TCG-only second launch
POOL = os.cpu_count() or 1  # parallel's and background's probe threads (pool_size's default)
# Per-emulator strategies whose get_version reads one entry instead of building virCaps.
FIXED_VERSION = ("per-emulator-fixed", "fixed-shipped")
# Strategies that load shipped capabilities: only the host's native arches are probed.
SHIPPED = ("prebuilt", "fixed-shipped")
POOLED = ("parallel", "background")
# Benchmarks whose values end no model probe: real libvirt's own teardown is what it measures.
NO_MODEL_PROBES = ("libvirt_real",)


@dataclass
class LaunchCounts:
    """Launches the scenarios counted per (strategy, case, n) in a finished run."""
    counted: dict[tuple[str, str, int], int] = field(default_factory=dict)

    @classmethod
    def from_run(cls, run_dir: Path) -> "LaunchCounts":
        out = cls()
        for path in sorted(Path(run_dir).glob("scenarios--*.json")):
            try:
                doc = json.loads(path.read_bytes())
                top = doc.get("metadata", {})
                for bench in doc["benchmarks"]:
                    md = {**top, **bench.get("metadata", {})}
                    if "wb_launches" in md:
                        key = (md["wb_strategy"], md["wb_case"], int(md["wb_n_emulators"]))
                        out.counted[key] = int(md["wb_launches"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return out

    def all_emulators(self, n: int) -> int:
        """Launches of probing every emulator an install of n offers (full-caps' startup walk);
        n where the run did not count it (one launch per emulator: a floor)."""
        return self.counted.get((FULL_CAPS, "cold_container", n), n)

    def scenario(self, strategy: str, case: str, n: int) -> int:
        if case == "steady_host":
            return 0
        return self.counted.get((strategy, case, n), self.all_emulators(n))


def _api(api: str, strategy: str, n: int, counts: LaunchCounts) -> float:
    """One cold API call on a driver just started from a copy of the cold startup's cache."""
    if strategy == FULL_CAPS:
        return 0.0  # its startup put every emulator in memory
    everything = counts.all_emulators(n) / (POOL if strategy in POOLED else 1)
    if strategy in SHIPPED:
        everything = float(counts.scenario("prebuilt", "cold_container", n))  # native arches only
    if api == "get_capabilities":
        return everything
    if api == "get_version":
        return float(HOST_ARCH_LAUNCHES) if strategy in FIXED_VERSION else everything
    return float(HOST_ARCH_LAUNCHES)  # get_domain_capabilities, define_xml: the host arch's emulator


def _replay_target(name: str) -> float:
    from workbench.paths import TRANSCRIPTS_DIR
    from workbench.sim.transcript import load_raw, transcript_filename

    target = name.split(".")[1] if name.count(".") >= 2 else ""
    try:
        return float(len(load_raw(Path(TRANSCRIPTS_DIR) / transcript_filename(target))["launches"]))
    except (OSError, ValueError, KeyError, TypeError):  # no recording of it: one launch (the floor)
        return 1.0


def per_value(benchmark: str, name: str, strategy: str | None, n: int | None, cache: str | None,
              teardown: str, counts: LaunchCounts) -> float:
    """Launch-equivalents one value of the pyperf benchmark `name` (of script `benchmark`) ends
    with libvirt 9.0's teardown; 0 under any other teardown."""
    if teardown != "libvirt9" or benchmark in NO_MODEL_PROBES:
        return 0.0
    if benchmark == "replay_fidelity":
        return _replay_target(name)
    if cache == "warm" or n is None or strategy is None:
        return 0.0
    short = name.split("[", 1)[0]
    if benchmark in ("daemon_startup", "driver_startup", "tracing_overhead"):
        if strategy == FULL_CAPS:
            return float(counts.all_emulators(n))
        return 1.0 if strategy == "background" else 0.0  # the warm-up's launches in flight at stop
    if benchmark == "apis":
        return _api(short.split(".", 1)[-1], strategy, n, counts)
    if benchmark == "parse":  # the first parse probes the domain's emulator (post-parse)
        return 0.0 if strategy == FULL_CAPS else float(HOST_ARCH_LAUNCHES)
    if benchmark == "scenarios":  # a pool's threads sleep side by side (get_version probes all)
        return counts.scenario(strategy, short.split(".", 1)[-1], n) / (POOL if strategy in POOLED else 1)
    if benchmark == "parallel_scaling":  # every emulator, by a pool of `workers` threads
        workers = int(short.rsplit("workers", 1)[-1].split(".", 1)[0] or 1)
        return counts.all_emulators(n) / workers
    return 0.0


def counting_run(benchmark: str, names: list[str], strategy: str | None, n: int | None,
                 teardown: str, counts: LaunchCounts) -> float:
    """Launch-equivalents of the scenarios' untimed counting run, once per job in the manager:
    one client run per scenario."""
    if benchmark != "scenarios":
        return 0.0
    return sum(per_value(benchmark, nm, strategy, n, "cold", teardown, counts) for nm in names)
