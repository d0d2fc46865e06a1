"""The startup traces the report's timeline draws: `workbench trace` (one driver startup on a cold
cache plus one domain parse, Chrome trace JSON) once per strategy on a fresh simulated install.
Each runs in its own process, as the command does, so nothing of the caller's state leaks in.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.qemu.strategy_names import LIBVIRT_STRATEGIES

TRACE_EMULATORS = 8  # enough rows to see the probes one after another, few enough to read them
STRATEGIES = LIBVIRT_STRATEGIES
TRACES_DIR = "traces"  # inside a run directory


class TraceError(WorkbenchError):
    """`workbench trace` failed while making the report's startup traces."""


def trace_path(dest: Path, strategy: str, emulators: int = TRACE_EMULATORS) -> Path:
    return Path(dest) / f"startup-{strategy}-n{emulators:02d}.json"


def make_traces(dest: Path, emulators: int = TRACE_EMULATORS, latency: str = "recorded",
                strategies: tuple[str, ...] = STRATEGIES) -> list[Path]:
    """Write one trace per strategy into dest (made if missing); returns their paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in strategies:
        path = trace_path(dest, s, emulators)
        cmd = [sys.executable, "-m", "workbench.cli", "trace", "--strategy", s,
               "--emulators", str(emulators), "--latency", latency, "-o", str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise TraceError(f"{' '.join(cmd[2:])} failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[-500:]}")
        paths.append(path)
    return paths


def run_traces(run_dir: Path, emulators: int = TRACE_EMULATORS) -> list[Path] | None:
    """The traces `workbench run` made into run_dir/traces, or None when it has none."""
    paths = [trace_path(Path(run_dir) / TRACES_DIR, s, emulators) for s in STRATEGIES]
    return paths if all(p.is_file() for p in paths) else None
