"""Probe teardown on real libvirt 9.0 under a parent that reaps promptly, late, or never.

libvirt 9.0's qemuProcessQMPStop ends each probe QEMU with virProcessKillPainfully: SIGTERM, then
kill(pid, 0) every 200 ms. QEMU ran with -daemonize, so it is an orphan whose parent is whoever
inherits orphans (here the reaper, workbench.libvirt9.reaper); kill(pid, 0) succeeds on a zombie,
so libvirt waits until that parent reaps, and under one that never does it sends SIGKILL at 10 s
and gives up at 40 s. The pidfd-teardown patch waits on a pidfd instead, which is readable at
the exit itself, reaped or not.

One run per (build, reaper mode, repeat): a fresh root (a cold cache), open + getCapabilities
with libvirt's debug log on. Per probe launch the teardown is libvirt's own `kill_wait` phase
(debuglog.py: from "Killing QMP caps process" to the probing thread's next line, ms resolution);
what was left is what the reaper found below itself when the worker ended (then it reaps them).
Everything here is measured on the real libvirt; a build that cannot run is a skipped row.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.libvirt9 import backend, debuglog
from workbench.libvirt9.backend import ReaperMode
from workbench.libvirt9.builds import LibvirtBuild

DEFAULT_REAPERS = ("prompt", "late:1", "never")
POLLING = ("kill(pid, 0) every 200 ms after SIGTERM: a zombie answers, so the wait ends when the "
           "parent reaps (SIGKILL at 10 s, gives up at 40 s)")
PIDFD = "poll() on a pidfd: readable when QEMU exits, reaped or not"


def mechanism(build: LibvirtBuild) -> str:
    """How `build` waits for the probe QEMU to go: by its patches (the source, not a guess)."""
    return PIDFD if any("pidfd" in p for p in build.patches) else POLLING


@dataclass
class HazardRow:
    system: str
    reaper: str
    runs: int = 0
    probes: int = 0
    teardown_median_s: float | None = None
    teardown_max_s: float | None = None
    get_capabilities_s: float | None = None       # median over runs
    held_by_parent_s: float | None = None         # median: orphan exit -> reaped (late/prompt)
    left_zombies: int = 0                         # summed over runs
    left_alive: int = 0
    sigkill: int = 0                              # probe launches that escalated to SIGKILL
    waited_in: list[str] = field(default_factory=list)  # libvirt's function that waited (its log)
    mechanism: str = ""
    skipped: str | None = None
    teardown_s: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def one_run(install: Path, build: LibvirtBuild, mode: ReaperMode, timeout: float) -> dict:
    """A cold open + getCapabilities: per-probe kill_wait, the call's time, the reaper's report."""
    import json

    work = Path(tempfile.mkdtemp(prefix="lv9h", dir="/tmp"))
    root = backend.new_root()
    try:
        log, report = work / "libvirt.log", work / "reaper.json"
        recs = backend.run_job(install, root, [{"op": "open"}, {"op": "capabilities"}], log_file=log,
                               timeout=timeout, build=build, log_filters=backend.TEARDOWN_LOG_FILTERS,
                               reaper=ReaperMode(mode.reap, mode.delay_s, report))
        if not all(r.ok for r in recs):
            raise backend.LibvirtError(f"getCapabilities on {install} with {build.describe()}: "
                                       f"{[r.error for r in recs if not r.ok]}")
        probes = debuglog.parse_file(log)
        left = json.loads(report.read_text())
        return {"caps_s": recs[1].time_s,
                "kill_wait_s": [p.phases()["kill_wait"] for p in probes
                                if p.phases()["kill_wait"] is not None],
                "probes": len(probes), "held_s": [r["held_s"] for r in left["reaped"]],
                "sigkill": sum(p.sigkill for p in probes),
                "waited_in": sorted({p.kill_fn for p in probes if p.kill_fn}),
                "zombies": len(left["left_zombies"]), "alive": len(left["left_alive"])}
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def measure(install: Path, builds: list[LibvirtBuild], reapers: list, repeat: int = 1) -> list[HazardRow]:
    """Every build under every reaper setting (qemu.teardown.ReaperSetting: kind, delay_s),
    `repeat` cold runs each, on the same install."""
    n = sum(1 for p in Path(install).glob("qemu-system-*") if p.is_file())
    # never-reaping stock libvirt spends 40 s per probe launch (x86 may launch twice)
    timeout = 120.0 + 2 * 45.0 * max(n, 1)
    rows = []
    for build in builds:
        reason = backend.unavailable_reason(build)
        for setting in reapers:
            mode = ReaperMode(setting.kind, setting.delay_s)
            row = HazardRow(build.label, str(setting), mechanism=mechanism(build))
            rows.append(row)
            if reason is not None:
                row.skipped = reason
                continue
            caps, held = [], []
            for _ in range(repeat):
                r = one_run(install, build, mode, timeout)
                row.runs += 1
                row.probes += r["probes"]
                row.teardown_s += r["kill_wait_s"]
                caps.append(r["caps_s"])
                held += r["held_s"]
                row.left_zombies += r["zombies"]
                row.left_alive += r["alive"]
                row.sigkill += r["sigkill"]
                row.waited_in = sorted(set(row.waited_in) | set(r["waited_in"]))
            if row.teardown_s:
                row.teardown_median_s = statistics.median(row.teardown_s)
                row.teardown_max_s = max(row.teardown_s)
            row.get_capabilities_s = statistics.median(caps)
            row.held_by_parent_s = statistics.median(held) if held else None
    return rows


def format_table(rows: list[HazardRow], install: Path) -> str:
    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"
    head = ("system", "reaper", "runs", "probes", "teardown median s", "max s", "getCapabilities s",
            "reaped after s", "SIGKILL", "left zombies", "left alive", "waited in")
    cells = [head]
    for r in rows:
        if r.skipped:
            cells.append((r.system, r.reaper, "skipped: " + r.skipped) + ("",) * (len(head) - 3))
            continue
        cells.append((r.system, r.reaper, str(r.runs), str(r.probes), s(r.teardown_median_s),
                      s(r.teardown_max_s), s(r.get_capabilities_s), s(r.held_by_parent_s),
                      str(r.sigkill), str(r.left_zombies), str(r.left_alive), ",".join(r.waited_in) or "-"))
    widths = [max(len(c[i]) for c in cells if not c[2].startswith("skipped")) for i in range(len(head))]
    lines = []
    for c in cells:
        if c[2].startswith("skipped"):
            lines.append(f"{c[0].ljust(widths[0])}  {c[1].ljust(widths[1])}  {c[2]}")
        else:
            lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"measured on real libvirt, install {install} ({n_text(install)}); teardown = libvirt's "
                 "kill_wait per probe launch (debug log, ms resolution); left = below the reaper when "
                 "the worker ended (reaped afterwards)")
    for system, mech in dict((r.system, r.mechanism) for r in rows).items():
        lines.append(f"  {system}: {mech}")
    return "\n".join(lines)


def n_text(install: Path) -> str:
    n = sum(1 for p in Path(install).glob("qemu-system-*") if p.is_file())
    return f"{n} emulator{'s' if n != 1 else ''}"
